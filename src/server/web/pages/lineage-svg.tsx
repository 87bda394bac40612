/**
 * The lineage graph drawn as inline SVG at its natural size (one unit, one CSS pixel; the page scrolls it rather than
 * shrinking it), styled by classes of 30-file.css and presentation attributes only (no style attribute: the CSP). Run
 * nodes link to their run, file nodes to their file; each node's <title> holds its whole text and names the link.
 */
import type { FC } from 'hono/jsx';
import type { LaidOut, Point } from '../graph.js';
import type { LineageNode } from './lineage-graph.js';

/** The labels' size in the drawing's units, which are CSS pixels. */
export const FONT_SIZE = 13;

const r1 = (n: number) => Math.round(n * 10) / 10;

/** A smooth route through dagre's points: straight to the first, quadratic curves through the middle ones. */
function route(points: readonly Point[]): string {
  const [first, ...rest] = points;
  if (!first) return '';
  let d = `M${r1(first.x)},${r1(first.y)}`;
  for (let i = 0; i < rest.length - 1; i++) {
    const p = rest[i]!;
    const q = rest[i + 1]!;
    d += ` Q${r1(p.x)},${r1(p.y)} ${r1((p.x + q.x) / 2)},${r1((p.y + q.y) / 2)}`;
  }
  const last = rest[rest.length - 1];
  if (last) d += ` L${r1(last.x)},${r1(last.y)}`;
  return d;
}

const Node: FC<{ n: LineageNode & Point }> = ({ n }) => {
  const cls = ['node', `node-${n.kind}`, n.current ? 'current' : '', n.status ? `status-${n.status}` : ''].filter(Boolean).join(' ');
  const shape = (
    <>
      <rect width={n.width} height={n.height} rx={n.kind === 'run' ? 4 : 14} />
      {n.kind === 'run' && <rect class="run-bar" width="5" height={n.height} rx="2" />}
      <text x="14" y="21" class="line1">
        {n.lines[0]}
      </text>
      <text x="14" y="39" class="line2">
        {n.lines[1]}
      </text>
    </>
  );
  return (
    <g class={cls} transform={`translate(${r1(n.x)},${r1(n.y)})`} data-node={n.id}>
      {n.href === null ? (
        <>
          <title>{n.title}</title>
          {shape}
        </>
      ) : (
        <a href={n.href} aria-current={n.current ? 'page' : undefined}>
          <title>{n.title}</title>
          {shape}
        </a>
      )}
    </g>
  );
};

export const LineageSvg: FC<{ graph: LaidOut<LineageNode>; label: string }> = ({ graph, label }) => (
  <svg
    xmlns="http://www.w3.org/2000/svg"
    class="lineage-svg"
    width={graph.width}
    height={graph.height}
    viewBox={`0 0 ${graph.width} ${graph.height}`}
    font-size={FONT_SIZE}
    role="group"
    aria-label={label}
  >
    <defs>
      <marker id="lineage-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
        <path d="M0,0 L10,5 L0,10 z" class="arrow-head" />
      </marker>
    </defs>
    <g class="edges">
      {graph.edges.map((e) => (
        <path class="edge" d={route(e.points)} fill="none" marker-end="url(#lineage-arrow)" data-from={e.from} data-to={e.to} />
      ))}
    </g>
    <g class="nodes">
      {graph.nodes.map((n) => (
        <Node n={n} />
      ))}
    </g>
  </svg>
);

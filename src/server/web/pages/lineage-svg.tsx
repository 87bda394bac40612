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

/**
 * A uniform cubic B-spline through a route's points, clamped to its ends (d3's curveBasis, the curve dagre's own
 * renderers draw): it stays within the route's control polygon, so it never loops or overshoots a node.
 */
function curve(points: readonly Point[]): string {
  const [p0, p1] = points;
  if (!p0) return '';
  if (!p1) return `M${r1(p0.x)},${r1(p0.y)}`;
  let d = `M${r1(p0.x)},${r1(p0.y)} L${r1((5 * p0.x + p1.x) / 6)},${r1((5 * p0.y + p1.y) / 6)}`;
  const piece = (a: Point, b: Point, c: Point) =>
    ` C${r1((2 * a.x + b.x) / 3)},${r1((2 * a.y + b.y) / 3)} ${r1((a.x + 2 * b.x) / 3)},${r1((a.y + 2 * b.y) / 3)} ${r1((a.x + 4 * b.x + c.x) / 6)},${r1((a.y + 4 * b.y + c.y) / 6)}`;
  for (let i = 2; i < points.length; i++) d += piece(points[i - 2]!, points[i - 1]!, points[i]!);
  const a = points[points.length - 2]!;
  const b = points[points.length - 1]!;
  if (points.length > 2) d += piece(a, b, b);
  return `${d} L${r1(b.x)},${r1(b.y)}`;
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
        <path class="edge" d={curve(e.points)} fill="none" marker-end="url(#lineage-arrow)" data-from={e.from} data-to={e.to} />
      ))}
    </g>
    <g class="nodes">
      {graph.nodes.map((n) => (
        <Node n={n} />
      ))}
    </g>
  </svg>
);

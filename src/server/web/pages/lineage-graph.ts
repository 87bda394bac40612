/**
 * A file's lineage as a graph for the File page: the files (by content) and the runs between them, from the origins
 * to the file, then the runs that read the file and what they wrote. Inputs without a content hash (a lavfi graph,
 * a URL) are source nodes that link nowhere. Every text is recorded, hence hostile: it passes displayText and is
 * cut to fit its node, the whole of it kept for the node's <title>.
 */
import type { FileRecord } from '../../../core/entry.js';
import type { Lineage, LineageRun } from '../../../lineage/walk.js';
import { displayText } from '../../../render/display-text.js';
import type { GraphEdge, GraphNode } from '../graph.js';
import { runHref } from './run-row.js';

export type NodeKind = 'file' | 'run' | 'source';

export interface LineageNode extends GraphNode {
  kind: NodeKind;
  /** Two lines of text, each already cut to fit. */
  lines: [string, string];
  /** The whole description (the node's <title>, its accessible name). */
  title: string;
  href: string | null;
  /** The node of the file the page is about. */
  current: boolean;
  /** A run's status (ok, failed…), for its style. */
  status: string | null;
}

export const NODE = { width: 232, height: 50 };
/** The characters that fit one line of a node at the page's 13 px (an average sans-serif glyph is under 7.5 px). */
const FIT = 28;

function fit(text: string, max = FIT): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

/** A path cut from its start, where it says least (the end names the file), after a slash when one is in reach. */
function fitPath(path: string, max = FIT): string {
  const chars = [...path];
  if (chars.length <= max) return path;
  const tail = chars.slice(chars.length - (max - 1)).join('');
  const slash = tail.indexOf('/');
  return `…${slash >= 0 && slash < tail.length - 1 ? tail.slice(slash) : tail}`;
}
const runNodeId = (r: LineageRun, home: string) => `r:${r.log ?? home}/${r.id}`;

/** The paths each content is known by in the lineage, in the order the runs name them (the producer's first). */
export function knownPaths(l: Lineage): Map<string, string[]> {
  const paths = new Map<string, string[]>();
  const add = (f: FileRecord) => {
    if (f.sha256 === null) return;
    const list = paths.get(f.sha256) ?? [];
    if (!list.includes(f.path)) list.push(f.path);
    paths.set(f.sha256, list);
  };
  for (const r of [...l.runs, ...l.readBy]) for (const f of [...r.outputs, ...r.inputs]) add(f);
  for (const n of l.notes) for (const f of n.files) add(f);
  return paths;
}

export function lineageGraph(l: Lineage): { nodes: LineageNode[]; edges: GraphEdge[] } {
  const paths = knownPaths(l);
  const nodes = new Map<string, LineageNode>();
  const edges = new Map<string, GraphEdge>();
  const edge = (from: string, to: string) => edges.set(`${from}\n${to}`, { from, to });

  const fileNode = (sha: string): string => {
    const id = `f:${sha}`;
    if (!nodes.has(id)) {
      const names = (paths.get(sha) ?? []).map(displayText);
      nodes.set(id, {
        id,
        ...NODE,
        kind: 'file',
        lines: [fitPath(names[0] ?? '(no recorded name)'), `sha256:${sha.slice(0, 16)}…`],
        title: `File ${names.length > 0 ? names.join(', ') : '(no recorded name)'}, sha256:${sha}`,
        href: `/file/${sha}`,
        current: sha === l.file.sha256,
        status: null,
      });
    }
    return id;
  };
  const inputNode = (f: FileRecord): string => {
    if (f.sha256 !== null) return fileNode(f.sha256);
    const id = `s:${f.path}`;
    const name = displayText(f.path);
    if (!nodes.has(id)) nodes.set(id, { id, ...NODE, kind: 'source', lines: [fitPath(name), 'not a file: no content hash'], title: `Source ${name} (not a file: no content hash)`, href: null, current: false, status: null });
    return id;
  };
  const runNode = (r: LineageRun): string => {
    const id = runNodeId(r, l.log);
    if (!nodes.has(id)) {
      const host = displayText(r.host);
      const user = displayText(r.user);
      const actor = r.asserted_actor === null ? '' : ` (for ${displayText(r.asserted_actor)})`;
      nodes.set(id, {
        id,
        ...NODE,
        kind: 'run',
        lines: [fit(`${r.tool} on ${host}`), fit(`${user} · ${r.started_at.slice(0, 10)} · ${r.status}`)],
        title: `Run ${r.id}: ${r.tool} on ${host} by ${user}${actor}, started ${r.started_at}, ${r.status}; log ${displayText(r.log ?? l.log)}`,
        href: runHref({ id: r.id, log: r.log ?? l.log, entries: r.entries }),
        current: false,
        status: r.status,
      });
    }
    return id;
  };

  // What the lineage needs: the file and every input of its runs; other outputs of those runs are left out.
  const needed = new Set([l.file.sha256, ...l.runs.flatMap((r) => r.inputs.map((i) => i.sha256))]);
  fileNode(l.file.sha256);
  for (const r of l.runs) {
    const run = runNode(r);
    for (const i of r.inputs) edge(inputNode(i), run);
    for (const o of r.outputs) if (o.sha256 !== null && needed.has(o.sha256)) edge(run, fileNode(o.sha256));
  }
  for (const r of l.readBy) {
    const run = runNode(r);
    edge(fileNode(l.file.sha256), run);
    for (const o of r.outputs) if (o.sha256 !== null) edge(run, fileNode(o.sha256));
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()] };
}

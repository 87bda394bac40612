/**
 * A layered layout of a directed graph for the pages, left to right (Sugiyama's method as @dagrejs/dagre implements
 * it: ranks, crossing reduction, coordinates). dagre is loaded on the first layout, not with the server: only the
 * File page draws a graph.
 */

export interface GraphNode {
  id: string;
  width: number;
  height: number;
}

export interface GraphEdge {
  from: string;
  to: string;
}

export interface Point {
  x: number;
  y: number;
}

export interface LaidOut<N extends GraphNode> {
  /** The drawing's natural size: one unit is one CSS pixel. */
  width: number;
  height: number;
  /** Each node with its top-left corner. */
  nodes: (N & Point)[];
  /** Each edge as the points of its route, from the right side of `from` to the left side of `to`. */
  edges: (GraphEdge & { points: Point[] })[];
}

const SPACING = { nodesep: 18, ranksep: 64, edgesep: 10, marginx: 16, marginy: 16 };

/**
 * What is used of dagre's graph (graphlib's Graph). dagre 3.1's declarations name graphlib's types through an import
 * that does not resolve under NodeNext, which leaves them `any`: this states them instead.
 */
interface DagreGraph {
  setGraph(label: typeof SPACING & { rankdir: 'LR' }): void;
  setDefaultEdgeLabel(label: () => object): void;
  setNode(id: string, label: { width: number; height: number }): void;
  setEdge(from: string, to: string): void;
  graph(): { width?: number; height?: number };
  node(id: string): { x: number; y: number };
  edges(): { v: string; w: string }[];
  edge(e: { v: string; w: string }): { points?: Point[] };
}
interface Dagre {
  graphlib: { Graph: new () => DagreGraph };
  layout(this: void, g: DagreGraph): void;
}

/** Lays out `nodes` and `edges` (every edge's ends among the nodes; an edge given twice is drawn once). */
export async function layOut<N extends GraphNode>(nodes: readonly N[], edges: readonly GraphEdge[]): Promise<LaidOut<N>> {
  const { graphlib, layout } = (await import('@dagrejs/dagre')) as unknown as Dagre;
  const g = new graphlib.Graph();
  g.setGraph({ rankdir: 'LR', ...SPACING });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: n.width, height: n.height });
  for (const e of edges) g.setEdge(e.from, e.to);
  layout(g);
  const size = g.graph();
  const byId = new Map<string, GraphNode>(nodes.map((n) => [n.id, n]));
  return {
    width: Math.ceil(size.width ?? 0),
    height: Math.ceil(size.height ?? 0),
    nodes: nodes.map((n) => {
      const p = g.node(n.id);
      return { ...n, x: p.x - n.width / 2, y: p.y - n.height / 2 };
    }),
    edges: g.edges().map((e) => ({ from: e.v, to: e.w, points: route(g.node(e.v), g.node(e.w), byId.get(e.v)!, byId.get(e.w)!, g.edge(e).points ?? []) })),
  };
}

/** How far an edge runs straight out of its node and into the next, so that it leaves and arrives level. */
const LEAD = 14;

/**
 * An edge's route from the middle of its source's right side to the middle of its target's left side, through the
 * points dagre placed between the ranks (it ends its routes where the line to a node's centre crosses the border,
 * which on wide nodes lands on their tops and bottoms).
 */
function route(from: Point, to: Point, a: GraphNode, b: GraphNode, points: readonly Point[]): Point[] {
  const start = { x: from.x + a.width / 2, y: from.y };
  const end = { x: to.x - b.width / 2, y: to.y };
  return [start, { x: start.x + LEAD, y: start.y }, ...points.slice(1, -1), { x: end.x - LEAD, y: end.y }, end];
}

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
  /** Each edge as the points of its route, from the side of `from` to the side of `to`. */
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
  return {
    width: Math.ceil(size.width ?? 0),
    height: Math.ceil(size.height ?? 0),
    nodes: nodes.map((n) => {
      const p = g.node(n.id);
      return { ...n, x: p.x - n.width / 2, y: p.y - n.height / 2 };
    }),
    edges: g.edges().map((e) => ({ from: e.v, to: e.w, points: g.edge(e).points ?? [] })),
  };
}

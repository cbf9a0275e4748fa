/**
 * The counter store: totals and live counts keyed by context path and counter name.
 *
 * The store is a tree of path nodes, one per distinct context path that has counted something.
 * Every node keeps one {@linkcode Cell} per counter name, holding both the total and the live
 * count. A context resolves its node and cells once and keeps them, so that counting on a hot
 * path is one map look-up and one addition.
 *
 * Bound: the store keeps at most `maxCounterKeys` cells (see {@linkcode configure}). Past it,
 * the nodes of paths no running context uses any more are folded, oldest first, into a `*` node
 * beside them: `global.chat.alice.messages` becomes part of `global.chat.*.messages`. Deep totals
 * of every ancestor stay exact; only the own totals of a folded path read 0 afterwards.
 *
 * @module
 */

import { config } from "./config.ts";
import { escapeSegment } from "./names.ts";

/** One counter of one path: its total and its live count. */
export class Cell {
  /** Everything ever added. Never goes down. */
  total = 0;
  /** The current live count. Never below zero. */
  live = 0;
  /** Whether a live count was ever kept here (decides whether `live_…` keys are listed). */
  hasLive = false;

  /**
   * Whether the total is worth showing: it was ever raised, or the counter is a total only. A
   * live-only counter (`incrementLive`) shows no `0` total beside its live count.
   */
  get showsTotal(): boolean {
    return this.total > 0 || !this.hasLive;
  }
}

/** The segment that holds folded counters of ended paths. */
export const FOLDED_SEGMENT = "*";

/** One context path in the store. */
export class PathNode {
  readonly segment: string;
  readonly parent: PathNode | undefined;
  children: Map<string, PathNode> | undefined;
  cells: Map<string, Cell> | undefined;
  /** How many live contexts have this path resolved. */
  users = 0;
  #path: string | undefined;

  constructor(segment: string, parent: PathNode | undefined) {
    this.segment = segment;
    this.parent = parent;
  }

  /** The dotted path, with segments escaped. */
  get path(): string {
    return this.#path ??= this.parent ? `${this.parent.path}.${this.segment}` : this.segment;
  }
}

/** Writes a counter name as the last segment of a key; a name starting `live_` gets `%6C`. */
export function counterKey(name: string): string {
  const s = escapeSegment(name);
  return s.startsWith("live_") ? `%6C${s.slice(1)}` : s;
}

/** A tree's counter store. */
export class CounterStore {
  readonly #roots = new Map<string, PathNode>();
  readonly #idle = new Set<PathNode>();
  /** The number of cells kept. */
  size = 0;
  /** How many paths were folded so far. */
  folded = 0;

  /** Gets or makes the node for `segment` under `parent` (a root when `parent` is undefined). */
  node(parent: PathNode | undefined, segment: string): PathNode {
    const map = parent ? (parent.children ??= new Map()) : this.#roots;
    let node = map.get(segment);
    if (node === undefined) {
      node = new PathNode(segment, parent);
      map.set(segment, node);
      if (parent && segment !== FOLDED_SEGMENT) this.#idle.delete(parent);
    }
    return node;
  }

  /** Marks a node used by one more live context. */
  acquire(node: PathNode): void {
    if (node.users++ === 0) this.#idle.delete(node);
  }

  /** Marks a node used by one fewer live context; unused leaves become candidates to fold. */
  release(node: PathNode): void {
    if (--node.users === 0 && foldable(node)) this.#idle.add(node);
  }

  /** Gets or makes the cell for counter `name` at `node`; may fold old paths to stay bounded. */
  cell(node: PathNode, name: string): Cell {
    const cells = node.cells ??= new Map();
    let cell = cells.get(name);
    if (cell === undefined) {
      cell = new Cell();
      cells.set(name, cell);
      if (++this.size > config.maxCounterKeys) {
        // The caller is about to count in this cell: its node (unused when an ended context
        // counts) must not be folded away under it, or the count would be lost.
        node.users++;
        try {
          this.#fold();
        } finally {
          this.release(node);
        }
      }
    }
    return cell;
  }

  /** Finds the node of a dotted (escaped) path, or undefined. */
  find(path: string): PathNode | undefined {
    const segments = path.split(".");
    let node = this.#roots.get(segments[0]);
    for (let i = 1; i < segments.length && node; i++) node = node.children?.get(segments[i]);
    return node;
  }

  /** The sum of counter `name` at `node` and every node below it. */
  sum(node: PathNode, name: string, live: boolean): number {
    let sum = 0;
    const stack: PathNode[] = [node];
    while (stack.length > 0) {
      const n = stack.pop()!;
      const cell = n.cells?.get(name);
      if (cell) sum += live ? cell.live : cell.total;
      if (n.children) { for (const c of n.children.values()) stack.push(c); }
    }
    return sum;
  }

  /** Every key under `prefix` (or everything when undefined) with its value. */
  entries(prefix: string | undefined): Record<string, number> {
    const out: Record<string, number> = {};
    let starts: Iterable<PathNode>;
    if (prefix === undefined || prefix === "") {
      starts = this.#roots.values();
    } else {
      const node = this.find(prefix);
      starts = node ? [node] : [];
    }
    const stack = [...starts].reverse();
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n.cells) {
        for (const [name, cell] of n.cells) {
          const key = counterKey(name);
          if (cell.showsTotal) out[`${n.path}.${key}`] = cell.total;
          if (cell.hasLive) out[`${n.path}.live_${escapeSegment(name)}`] = cell.live;
        }
      }
      if (n.children) {
        const kids = [...n.children.values()];
        for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]);
      }
    }
    return out;
  }

  #fold(): void {
    for (const node of this.#idle) {
      if (this.size <= config.maxCounterKeys) return;
      this.#idle.delete(node);
      if (node.users > 0 || !foldable(node)) continue;
      const parent = node.parent!;
      const into = this.node(parent, FOLDED_SEGMENT);
      const target = into.cells ??= new Map();
      // The node's own cells and those of its `*` child (if any) all go to the parent's `*`.
      for (const source of [node, node.children?.get(FOLDED_SEGMENT)]) {
        if (source?.cells === undefined) continue;
        for (const [name, cell] of source.cells) {
          let t = target.get(name);
          if (t === undefined) {
            t = new Cell();
            target.set(name, t);
            this.size++;
          }
          t.total += cell.total;
          t.live += cell.live;
          t.hasLive ||= cell.hasLive;
        }
        this.size -= source.cells.size;
      }
      parent.children!.delete(node.segment);
      this.folded++;
      // A parent no context uses, left with only its `*` child, can be folded in its turn.
      if (parent.users === 0 && foldable(parent)) this.#idle.add(parent);
    }
  }
}

// A node can be folded into its parent's `*` when it is not a root, not a `*` node itself, and
// has no children but (possibly) its own `*`.
function foldable(node: PathNode): boolean {
  if (node.parent === undefined || node.segment === FOLDED_SEGMENT) return false;
  const kids = node.children;
  return kids === undefined || kids.size === 0 ||
    (kids.size === 1 && kids.has(FOLDED_SEGMENT));
}

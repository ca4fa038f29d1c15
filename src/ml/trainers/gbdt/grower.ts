/**
 * Grows one regression tree on binned inputs from per-row gradients and hessians (second-order boosting).
 *
 * Growth is best-first, as in LightGBM and scikit-learn's HistGradientBoosting: the leaf whose best split
 * gains the most is split next, until `maxLeafNodes` leaves, `maxDepth`, or no split gains anything.
 * A node's best split comes from its histogram (per feature and bin: sum of gradients, sum of hessians,
 * row count). Only the smaller child's histogram is built from rows; the larger one is the parent's minus
 * the smaller's (the histogram subtraction trick), which roughly halves the work per level.
 * Missing values sit in their own bin and are sent to whichever side gains more; when a node has none,
 * they go to the child with more rows, so predictions on data with missing values stay sensible.
 */
import { BINS_PER_FEATURE, MISSING_BIN } from './binning';
import { FEATURE_STRIDE, HistogramBuilder, SLOT } from './histograms';

/** The settings that shape a tree. */
export interface GrowerSettings {
  maxLeafNodes: number;
  /** Largest depth of a leaf (the root is at depth 0); Infinity for no limit. */
  maxDepth: number;
  minSamplesLeaf: number;
  l2Regularization: number;
  learningRate: number;
}

/**
 * A fitted tree, as arrays indexed by node (node 0 is the root). A leaf has `left = -1`. A row goes left
 * when its bin is ≤ `bin` (raw value ≤ `threshold`), or, when its value is missing, when `missingLeft` is 1.
 */
export interface Tree {
  feature: number[];
  bin: number[];
  threshold: number[];
  missingLeft: number[];
  left: number[];
  right: number[];
  value: number[];
}

/** Below this sum of hessians a child is not worth creating (scikit-learn's `min_hessian_to_split`). */
const MIN_HESSIAN = 1e-3;
/** Histograms are large (6 KB per feature); at most this much memory holds them at once. */
const HISTOGRAM_MEMORY = 256 * 1024 * 1024;

interface Split {
  gain: number;
  feature: number;
  bin: number;
  missingLeft: boolean;
  leftG: number;
  leftH: number;
  leftCount: number;
}

interface Node {
  id: number;
  start: number;
  end: number;
  depth: number;
  sumG: number;
  sumH: number;
  /** Offset of the node's histogram in the builder's pool, while it has one. */
  hist: number | null;
  split: Split | null;
}

/** A leaf's rows (a range of `TreeGrower.rows`) and its value, for updating raw predictions in place. */
export interface LeafRows {
  start: number;
  end: number;
  value: number;
}

/** Grows trees over one binned training matrix, reusing its buffers from tree to tree. */
export class TreeGrower {
  /** Row indices, grouped by node as the tree grows: each leaf owns a contiguous range. */
  readonly rows: Uint32Array;
  private readonly columns: Uint8Array;
  private columnsReady = false;
  private readonly builder: HistogramBuilder;
  private readonly pool: Float64Array;
  private readonly F: number;

  /** Row-major binned inputs (`rowCount × features`): fill it (e.g. with `binRows`) before growing trees. */
  readonly binned: Uint8Array;

  constructor(
    private readonly rowCount: number,
    private readonly realBins: Int32Array,
    private readonly thresholds: Float64Array[],
    private readonly settings: GrowerSettings,
    threads = 1,
  ) {
    this.F = realBins.length;
    // Every open leaf keeps its histogram until it is split, plus two for the node being split.
    const leaves = Math.min(settings.maxLeafNodes, 2 ** Math.min(settings.maxDepth, 30), Math.floor(rowCount / settings.minSamplesLeaf) + 1);
    const affordable = Math.max(8, Math.floor(HISTOGRAM_MEMORY / (8 * this.F * FEATURE_STRIDE)));
    this.builder = new HistogramBuilder(rowCount, this.F, Math.min(leaves + 2, affordable), threads);
    this.binned = this.builder.binned;
    this.rows = this.builder.rows;
    this.pool = this.builder.pool;
    this.columns = this.builder.columns;
  }

  /** Partitioning reads one feature of many rows: a column-major copy keeps those reads close together. */
  private copyColumns(): void {
    const { binned, columns, rowCount, F } = this;
    for (let i = 0, o = 0; i < rowCount; i++) for (let f = 0; f < F; f++, o++) columns[f * rowCount + i] = binned[o];
    this.columnsReady = true;
  }

  /** Where `grow` reads gradients from; write them here directly when there is one tree per iteration. */
  get gradientBuffer(): Float64Array {
    return this.builder.gh;
  }

  /** Releases the worker threads, if any. */
  close(): void {
    this.builder.close();
  }

  /**
   * Grows one tree for the given gradients and hessians, interleaved (`rowCount × 2`). Passing
   * `gradientBuffer` itself, filled in place, spares a copy.
   */
  grow(gh: Float64Array): { tree: Tree; leaves: LeafRows[] } {
    const s = this.settings;
    if (!this.columnsReady) this.copyColumns();
    if (gh !== this.builder.gh) this.builder.gh.set(gh);
    for (let i = 0; i < this.rowCount; i++) this.rows[i] = i;
    const nodes: Node[] = [];
    const root: Node = { id: 0, start: 0, end: this.rowCount, depth: 0, sumG: 0, sumH: 0, hist: this.builder.take()!, split: null };
    nodes.push(root);
    this.builder.build(root.hist!, 0, this.rowCount, true);
    [root.sumG, root.sumH] = this.sumsOf(root.hist!);
    const open: Node[] = [];
    if (this.findSplit(root)) open.push(root);
    else this.release(root);
    const children = new Map<number, [Node, Node]>();
    let leafCount = 1;
    while (open.length > 0 && leafCount < s.maxLeafNodes) {
      const node = popBest(open);
      leafCount++;
      // The split that reaches maxLeafNodes makes two final leaves: their histograms would go unused.
      const [left, right] = this.splitNode(node, nodes.length, leafCount < s.maxLeafNodes);
      nodes.push(left, right);
      children.set(node.id, [left, right]);
      for (const child of [left, right]) {
        if (this.findSplit(child)) open.push(child);
        else this.release(child);
      }
    }
    for (const node of open) this.release(node);
    return this.finish(nodes, children);
  }

  private finish(nodes: Node[], children: Map<number, [Node, Node]>): { tree: Tree; leaves: LeafRows[] } {
    const s = this.settings;
    const tree: Tree = { feature: [], bin: [], threshold: [], missingLeft: [], left: [], right: [], value: [] };
    const leaves: LeafRows[] = [];
    for (const node of nodes) {
      const kids = children.get(node.id);
      if (kids && node.split) {
        const { feature, bin, missingLeft } = node.split;
        const thr = this.thresholds[feature];
        tree.feature.push(feature);
        tree.bin.push(bin);
        // "All real values left" has no threshold; the largest double stands in for +Infinity (JSON has none).
        tree.threshold.push(bin < thr.length ? thr[bin] : Number.MAX_VALUE);
        tree.missingLeft.push(missingLeft ? 1 : 0);
        tree.left.push(kids[0].id);
        tree.right.push(kids[1].id);
        tree.value.push(0);
      } else {
        const value = (-s.learningRate * node.sumG) / (node.sumH + s.l2Regularization);
        tree.feature.push(-1);
        tree.bin.push(0);
        tree.threshold.push(0);
        tree.missingLeft.push(0);
        tree.left.push(-1);
        tree.right.push(-1);
        tree.value.push(value);
        leaves.push({ start: node.start, end: node.end, value });
      }
    }
    return { tree, leaves };
  }

  /** Partitions the node's rows (stable), builds the smaller child's histogram and derives the larger's. */
  private splitNode(node: Node, nextId: number, mayGrow: boolean): [Node, Node] {
    const split = node.split!;
    const nl = this.builder.partition(node.start, node.end, split.feature, split.bin, split.missingLeft);
    const depth = node.depth + 1;
    const left: Node = { id: nextId, start: node.start, end: nl, depth, sumG: split.leftG, sumH: split.leftH, hist: null, split: null };
    const right: Node = { id: nextId + 1, start: nl, end: node.end, depth, sumG: node.sumG - split.leftG, sumH: node.sumH - split.leftH, hist: null, split: null };
    const parent = node.hist!;
    node.hist = null;
    const canSplit = (c: Node) => c.end - c.start >= 2 * this.settings.minSamplesLeaf && c.depth < this.settings.maxDepth;
    const small = left.end - left.start <= right.end - right.start ? left : right;
    const large = small === left ? right : left;
    const slot = mayGrow && (canSplit(left) || canSplit(right)) ? this.builder.take() : undefined;
    if (slot === undefined) {
      // Neither child can split (or the tree is full, or, rarely, histogram memory ran out): both stay leaves.
      this.builder.release(parent);
      return [left, right];
    }
    this.builder.build(slot, small.start, small.end, false);
    const pool = this.pool;
    for (let j = 0, len = this.F * FEATURE_STRIDE; j < len; j++) pool[parent + j] -= pool[slot + j];
    small.hist = slot;
    large.hist = parent;
    return [left, right];
  }

  /** Finds the node's best split; returns whether it has one worth making. */
  private findSplit(node: Node): boolean {
    const s = this.settings;
    const count = node.end - node.start;
    if (node.hist === null || count < 2 * s.minSamplesLeaf || node.depth >= s.maxDepth) return false;
    const hist = this.pool;
    const nodeBase = node.hist;
    const l2 = s.l2Regularization;
    const minLeaf = s.minSamplesLeaf;
    const G = node.sumG;
    const H = node.sumH;
    const parentScore = (G * G) / (H + l2);
    let best: Split | null = null;
    let bestGain = 0;
    for (let f = 0; f < this.F; f++) {
      const base = nodeBase + f * FEATURE_STRIDE;
      const nb = this.realBins[f];
      const mo = base + MISSING_BIN * SLOT;
      const missG = hist[mo];
      const missH = hist[mo + 1];
      const missC = hist[mo + 2];
      const hasMissing = missC > 0;
      // Pass 1: missing values go right. With missing values, the last bin splits "real values" from "missing".
      let gl = 0;
      let hl = 0;
      let cl = 0;
      const lastBin = hasMissing ? nb - 1 : nb - 2;
      for (let b = 0; b <= lastBin; b++) {
        const o = base + b * SLOT;
        gl += hist[o];
        hl += hist[o + 1];
        cl += hist[o + 2];
        if (cl < minLeaf || hl < MIN_HESSIAN) continue;
        const cr = count - cl;
        const hr = H - hl;
        if (cr < minLeaf || hr < MIN_HESSIAN) break;
        const gr = G - gl;
        const gain = (gl * gl) / (hl + l2) + (gr * gr) / (hr + l2) - parentScore;
        if (gain > bestGain) {
          bestGain = gain;
          best = { gain, feature: f, bin: b, missingLeft: hasMissing ? false : cl > cr, leftG: gl, leftH: hl, leftCount: cl };
        }
      }
      if (!hasMissing) continue;
      // Pass 2: missing values go left, with bins 0..b.
      gl = missG;
      hl = missH;
      cl = missC;
      for (let b = 0; b <= nb - 2; b++) {
        const o = base + b * SLOT;
        gl += hist[o];
        hl += hist[o + 1];
        cl += hist[o + 2];
        if (cl < minLeaf || hl < MIN_HESSIAN) continue;
        const cr = count - cl;
        const hr = H - hl;
        if (cr < minLeaf || hr < MIN_HESSIAN) break;
        const gr = G - gl;
        const gain = (gl * gl) / (hl + l2) + (gr * gr) / (hr + l2) - parentScore;
        if (gain > bestGain) {
          bestGain = gain;
          best = { gain, feature: f, bin: b, missingLeft: true, leftG: gl, leftH: hl, leftCount: cl };
        }
      }
    }
    node.split = best;
    return best !== null;
  }

  /** The node's sums of gradients and hessians, read from the first feature's histogram (every row is in it). */
  private sumsOf(offset: number): [number, number] {
    let sg = 0;
    let sh = 0;
    for (let b = 0; b < BINS_PER_FEATURE; b++) {
      sg += this.pool[offset + b * SLOT];
      sh += this.pool[offset + b * SLOT + 1];
    }
    return [sg, sh];
  }

  private release(node: Node): void {
    if (node.hist !== null) this.builder.release(node.hist);
    node.hist = null;
  }
}

/** Removes and returns the open node with the largest gain (the earliest created on ties, for determinism). */
function popBest(open: Node[]): Node {
  let bi = 0;
  for (let i = 1; i < open.length; i++) {
    const a = open[i].split!.gain;
    const b = open[bi].split!.gain;
    if (a > b || (a === b && open[i].id < open[bi].id)) bi = i;
  }
  const [node] = open.splice(bi, 1);
  return node;
}

/** The raw prediction of one tree for row `i` of a row-major binned matrix with F features. */
export function predictBinned(tree: Tree, binned: Uint8Array, F: number, i: number): number {
  let node = 0;
  const row = i * F;
  while (tree.left[node] >= 0) {
    const v = binned[row + tree.feature[node]];
    node = (v === MISSING_BIN ? tree.missingLeft[node] === 1 : v <= tree.bin[node]) ? tree.left[node] : tree.right[node];
  }
  return tree.value[node];
}

/** The raw prediction of one tree for row `i` of raw input columns (NaN is missing). */
export function predictRaw(tree: Pick<Tree, 'feature' | 'threshold' | 'missingLeft' | 'left' | 'right' | 'value'>, columns: Float64Array[], i: number): number {
  let node = 0;
  while (tree.left[node] >= 0) {
    const v = columns[tree.feature[node]][i];
    node = (v !== v ? tree.missingLeft[node] === 1 : v <= tree.threshold[node]) ? tree.left[node] : tree.right[node];
  }
  return tree.value[node];
}

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
 *
 * A categorical feature (bins are category codes) splits by a set of categories, found as LightGBM and
 * scikit-learn find it (Fisher's grouping): the categories with enough support at the node (hessian sum,
 * scaled to rows, of at least CATEGORY_SUPPORT; missing values count as a category) are sorted by
 * gradient / (hessian + CATEGORY_SUPPORT), and prefixes of that order are scanned from both ends, up to
 * half the categories, as the left set. Categories below the support go right; bins with no rows at the
 * node (a category, "other" or missing values the node never saw) go to the child with more rows.
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
 * At a categorical split (`categories[node]` not null) a row goes left when its category code is in
 * `categories[node]`, or, when missing, when `missingLeft` is 1; `threshold` and `bin` are then 0.
 */
export interface Tree {
  feature: number[];
  bin: number[];
  threshold: number[];
  missingLeft: number[];
  left: number[];
  right: number[];
  value: number[];
  /** Per node, the category codes going left at a categorical split, else null; absent when no feature is categorical. */
  categories?: (number[] | null)[];
}

/** Below this sum of hessians a child is not worth creating (scikit-learn's `min_hessian_to_split`). */
const MIN_HESSIAN = 1e-3;
/** Histograms are large (6 KB per feature); at most this much memory holds them at once. */
const HISTOGRAM_MEMORY = 256 * 1024 * 1024;
/** Least support (rows, or hessian scaled to rows) for a category to be placed on its own; also the smoothing of its ratio. */
const CATEGORY_SUPPORT = 10;

interface Split {
  gain: number;
  feature: number;
  bin: number;
  missingLeft: boolean;
  leftG: number;
  leftH: number;
  leftCount: number;
  /** For a categorical split, 1 for each bin (the missing one included) that goes left. */
  leftBins?: Uint8Array;
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
  private readonly categorical: boolean;
  /** Scratch for the categorical split search: the bins in use, and their sort keys. */
  private readonly catBins = new Int32Array(BINS_PER_FEATURE);
  private readonly catKeys = new Float64Array(BINS_PER_FEATURE);

  /** Row-major binned inputs (`rowCount × features`): fill it (e.g. with `binRows`) before growing trees. */
  readonly binned: Uint8Array;

  constructor(
    private readonly rowCount: number,
    private readonly realBins: Int32Array,
    private readonly thresholds: Float64Array[],
    private readonly settings: GrowerSettings,
    threads = 1,
    /** Per feature, the number of category codes of a categorical feature, 0 for a numeric one. */
    private readonly categoryCodes: Int32Array = new Int32Array(realBins.length),
  ) {
    this.F = realBins.length;
    this.categorical = categoryCodes.some((c) => c > 0);
    // Every open leaf keeps its histogram until it is split, plus two for the node being split.
    const leaves = Math.min(
      settings.maxLeafNodes,
      2 ** Math.min(settings.maxDepth, 30),
      Math.floor(rowCount / settings.minSamplesLeaf) + 1,
    );
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
    const categories: (number[] | null)[] = [];
    if (this.categorical) tree.categories = categories;
    const leaves: LeafRows[] = [];
    for (const node of nodes) {
      const kids = children.get(node.id);
      const leftBins = node.split?.leftBins;
      categories.push(kids && leftBins ? leftCodes(leftBins, this.realBins[node.split!.feature]) : null);
      if (kids && leftBins) {
        tree.feature.push(node.split!.feature);
        tree.bin.push(0);
        tree.threshold.push(0);
        tree.missingLeft.push(leftBins[MISSING_BIN]);
        tree.left.push(kids[0].id);
        tree.right.push(kids[1].id);
        tree.value.push(0);
      } else if (kids && node.split) {
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
    const nl = split.leftBins
      ? this.builder.partitionByBins(node.start, node.end, split.feature, split.leftBins)
      : this.builder.partition(node.start, node.end, split.feature, split.bin, split.missingLeft);
    const depth = node.depth + 1;
    const left: Node = { id: nextId, start: node.start, end: nl, depth, sumG: split.leftG, sumH: split.leftH, hist: null, split: null };
    const right: Node = {
      id: nextId + 1,
      start: nl,
      end: node.end,
      depth,
      sumG: node.sumG - split.leftG,
      sumH: node.sumH - split.leftH,
      hist: null,
      split: null,
    };
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
      if (this.categoryCodes[f] > 0) {
        const split = this.categoricalSplit(f, base, count, G, H, parentScore, bestGain);
        if (split) {
          best = split;
          bestGain = split.gain;
        }
        continue;
      }
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

  /**
   * The best categorical split of feature f gaining more than `minGain`, if any (see the module comment):
   * the bins with enough support, sorted by gradient / (hessian + support), prefixes scanned from both ends.
   */
  private categoricalSplit(
    f: number,
    base: number,
    count: number,
    G: number,
    H: number,
    parentScore: number,
    minGain: number,
  ): Split | null {
    const hist = this.pool;
    const { l2Regularization: l2, minSamplesLeaf: minLeaf } = this.settings;
    const supportFactor = count / H;
    const bins = this.catBins;
    const keys = this.catKeys;
    let used = 0;
    const consider = (b: number) => {
      const o = base + b * SLOT;
      if (hist[o + 1] * supportFactor >= CATEGORY_SUPPORT) {
        bins[used] = b;
        keys[b] = hist[o] / (hist[o + 1] + CATEGORY_SUPPORT);
        used++;
      }
    };
    for (let b = 0; b < this.realBins[f]; b++) consider(b);
    consider(MISSING_BIN);
    if (used <= 1) return null;
    const order = Array.from(bins.subarray(0, used)).sort((a, b) => keys[a] - keys[b] || a - b);
    let best: Split | null = null;
    let bestGain = minGain;
    let bestEnd = 0;
    let bestFromEnd = false;
    for (const fromEnd of [false, true]) {
      const middle = fromEnd ? ((used + 1) >> 1) - 1 : (used + 1) >> 1;
      let gl = 0;
      let hl = 0;
      let cl = 0;
      for (let i = 0; i < middle; i++) {
        const o = base + order[fromEnd ? used - 1 - i : i] * SLOT;
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
          best = { gain, feature: f, bin: 0, missingLeft: false, leftG: gl, leftH: hl, leftCount: cl };
          bestEnd = i + 1;
          bestFromEnd = fromEnd;
        }
      }
    }
    if (!best) return null;
    // Bins without rows here follow the larger child; then the chosen prefix goes left, everything else right.
    const leftBins = new Uint8Array(BINS_PER_FEATURE);
    const emptyLeft = best.leftCount > count - best.leftCount ? 1 : 0;
    for (let b = 0; b < BINS_PER_FEATURE; b++) if (hist[base + b * SLOT + 2] === 0) leftBins[b] = emptyLeft;
    for (let i = 0; i < bestEnd; i++) leftBins[order[bestFromEnd ? used - 1 - i : i]] = 1;
    best.leftBins = leftBins;
    best.missingLeft = leftBins[MISSING_BIN] === 1;
    return best;
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

/** The codes (bins below the missing one) a categorical split sends left, in increasing order. */
function leftCodes(leftBins: Uint8Array, codes: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < codes; b++) if (leftBins[b] === 1) out.push(b);
  return out;
}

/**
 * Per node of a tree, null or (at a categorical split) a 256-entry table: 1 where that code, or missing
 * (MISSING_BIN), goes left. Built once per tree and kept while the tree lives.
 */
const leftTables = new WeakMap<object, (Uint8Array | null)[]>();

function leftTablesOf(tree: PredictTree): (Uint8Array | null)[] | undefined {
  const categories = tree.categories;
  if (!categories) return undefined;
  let tables = leftTables.get(categories);
  if (!tables) {
    tables = categories.map((codes, node) => {
      if (!codes) return null;
      const t = new Uint8Array(BINS_PER_FEATURE);
      for (const c of codes) t[c] = 1;
      t[MISSING_BIN] = tree.missingLeft[node] === 1 ? 1 : 0;
      return t;
    });
    leftTables.set(categories, tables);
  }
  return tables;
}

/** What prediction reads from a tree (a stored model's trees have no bins). */
export type PredictTree = Pick<Tree, 'feature' | 'threshold' | 'missingLeft' | 'left' | 'right' | 'value' | 'categories'>;

/** Adds one tree's raw prediction for rows 0..n−1 of a row-major binned matrix with F features to `out[offset + i]`. */
export function addBinnedPredictions(tree: Tree, binned: Uint8Array, F: number, n: number, out: Float64Array, offset: number): void {
  const tables = leftTablesOf(tree);
  const { feature, bin, missingLeft, left, right, value } = tree;
  for (let i = 0, row = 0; i < n; i++, row += F) {
    let node = 0;
    while (left[node] >= 0) {
      const v = binned[row + feature[node]];
      const table = tables?.[node];
      const goLeft = table ? table[v] === 1 : v === MISSING_BIN ? missingLeft[node] === 1 : v <= bin[node];
      node = goLeft ? left[node] : right[node];
    }
    out[offset + i] += value[node];
  }
}

/** Adds one tree's raw prediction for rows 0..n−1 of raw input columns (NaN is missing) to `out[offset + i]`. */
export function addRawPredictions(tree: PredictTree, columns: Float64Array[], n: number, out: Float64Array, offset: number): void {
  const tables = leftTablesOf(tree);
  const { feature, threshold, missingLeft, left, right, value } = tree;
  for (let i = 0; i < n; i++) {
    let node = 0;
    while (left[node] >= 0) {
      const v = columns[feature[node]][i];
      const table = tables?.[node];
      let goLeft: boolean;
      if (v !== v) goLeft = missingLeft[node] === 1;
      else if (table) goLeft = table[v] === 1;
      else goLeft = v <= threshold[node];
      node = goLeft ? left[node] : right[node];
    }
    out[offset + i] += value[node];
  }
}

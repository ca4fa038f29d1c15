/**
 * The model card's charts as inline SVG strings: a confusion-matrix heatmap, ROC curves, a residual
 * plot and reference-vs-current histograms. Drawn by hand rather than through a charting library so a
 * card renders in about a millisecond, needs no fonts, scripts or network to view, and comes out
 * byte-identical for identical data (cards are stored content-addressed). Hovering a cell, bar or
 * curve shows its numbers through SVG <title> tooltips, which need no script.
 */
import type { ConfusionMatrix } from '../ml/metrics';
import { axisPct, blues, clip, esc, pct, round, scale, seriesColour, short, ticks } from './html';
import type { HistogramComparison, ResidualSample, RocSeries } from './types';

/** Approximate width of one character of the 11 px sans-serif labels. */
const CHAR = 6.2;

/** Most points drawn per ROC curve; closer points are merged (a curve's path is at most 2 long). */
const ROC_POINTS = 300;

function svg(width: number, height: number, title: string, body: string[]): string {
  const w = Math.ceil(width);
  const h = Math.ceil(height);
  return (
    `<svg viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${esc(title)}" font-family="system-ui, ` +
    `-apple-system, 'Segoe UI', sans-serif" font-size="11" fill="#222"><title>${esc(title)}</title>${body.join('')}</svg>`
  );
}

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${round(x)}" y="${round(y)}"${attrs ? ` ${attrs}` : ''}>${esc(content)}</text>`;
}

/** Horizontal grid lines with labels on the left, for values `vs` on the scale `y`. */
function yAxis(vs: number[], y: (v: number) => number, x0: number, x1: number, label: (v: number) => string): string {
  return vs
    .map(
      (v) =>
        `<line x1="${x0}" x2="${x1}" y1="${y(v)}" y2="${y(v)}" stroke="#e3e3e3"/>${text(x0 - 5, y(v) + 3.5, label(v), 'text-anchor="end" fill="#555"')}`,
    )
    .join('');
}

/** Vertical grid lines with labels below, for values `vs` on the scale `x`. */
function xAxis(vs: number[], x: (v: number) => number, y0: number, y1: number, label: (v: number) => string): string {
  return vs
    .map(
      (v) =>
        `<line x1="${x(v)}" x2="${x(v)}" y1="${y0}" y2="${y1}" stroke="#e3e3e3"/>${text(x(v), y1 + 14, label(v), 'text-anchor="middle" fill="#555"')}`,
    )
    .join('');
}

function longest(labels: string[], max: number): number {
  return Math.min(max, Math.max(1, ...labels.map((l) => l.length)));
}

/**
 * A confusion matrix as a heatmap: rows are true classes, columns predicted ones; a cell's shade is
 * its share of the true class (its row), so the diagonal reads as per-class recall at any class size.
 */
export function confusionHeatmap(cm: ConfusionMatrix, title: string): string {
  const labels = cm.labels.map(String);
  const k = labels.length;
  const cell = Math.max(22, Math.min(60, Math.floor(360 / Math.max(1, k))));
  const labelWidth = longest(labels, 16) * CHAR + 8;
  const left = 22 + labelWidth;
  const top = 26;
  const bottom = labelWidth * 0.72 + 30;
  const size = k * cell;
  const fontSize = Math.min(12, Math.max(8, cell / 3.2));
  const body: string[] = [text(left, 16, title, 'font-weight="600"')];
  cm.matrix.forEach((row, i) => {
    const total = row.reduce((s, v) => s + v, 0);
    row.forEach((count, j) => {
      const share = total > 0 ? count / total : 0;
      const x = left + j * cell;
      const y = top + i * cell;
      const ofClass = total > 0 ? `${pct(share)} of ${labels[i]}` : `no rows of ${labels[i]}`;
      body.push(
        `<g><title>${esc(`true ${labels[i]}, predicted ${labels[j]}: ${count} (${ofClass})`)}</title>` +
          `<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${blues(share)}" stroke="#fff"/>` +
          text(
            x + cell / 2,
            y + cell / 2 + fontSize / 3,
            String(count),
            `text-anchor="middle" font-size="${round(fontSize)}" fill="${share > 0.55 ? '#fff' : '#222'}"`,
          ) +
          '</g>',
      );
    });
    body.push(text(left - 6, top + i * cell + cell / 2 + 4, clip(labels[i]!, 16), 'text-anchor="end"'));
  });
  labels.forEach((l, j) => {
    const x = left + j * cell + cell / 2;
    const y = top + size + 8;
    body.push(text(x, y, clip(l, 16), `text-anchor="end" transform="rotate(-45 ${round(x)} ${round(y)})"`));
  });
  body.push(text(10, top + size / 2, 'true class', `text-anchor="middle" fill="#555" transform="rotate(-90 10 ${round(top + size / 2)})"`));
  body.push(text(left + size / 2, top + size + bottom - 6, 'predicted class', 'text-anchor="middle" fill="#555"'));
  return svg(Math.max(left + size + 12, 220), top + size + bottom, title, body);
}

/** Keeps the first and last points and every point at least `step` (L1) from the last one kept. */
export function thinCurve(xs: number[], ys: number[], maxPoints = ROC_POINTS): [number, number][] {
  const out: [number, number][] = [];
  const step = 2 / maxPoints;
  for (let i = 0; i < xs.length; i++) {
    const last = out[out.length - 1];
    if (!last || i === xs.length - 1 || Math.abs(xs[i]! - last[0]) + Math.abs(ys[i]! - last[1]) >= step) out.push([xs[i]!, ys[i]!]);
  }
  return out;
}

/** ROC curves on the unit square, with the chance diagonal and a legend of areas. */
export function rocChart(curves: RocSeries[], title: string): string {
  const plot = 300;
  const left = 46;
  const top = 28;
  const legend = curves.map(
    (c) =>
      `${clip(c.label, 20)}  AUC ${Number.isFinite(c.auc) ? c.auc.toFixed(3) : 'undefined'}${c.positives !== undefined ? `  n=${c.positives}` : ''}`,
  );
  const legendWidth = longest(legend, 40) * CHAR + 40;
  const x = scale(0, 1, left, left + plot);
  const y = scale(0, 1, top + plot, top);
  const grid = [0, 0.2, 0.4, 0.6, 0.8, 1];
  const body: string[] = [
    text(left, 16, title, 'font-weight="600"'),
    yAxis(grid, y, left, left + plot, short),
    xAxis(grid, x, top, top + plot, short),
    `<rect x="${left}" y="${top}" width="${plot}" height="${plot}" fill="none" stroke="#999"/>`,
    `<line x1="${x(0)}" y1="${y(0)}" x2="${x(1)}" y2="${y(1)}" stroke="#aaa" stroke-dasharray="4 4"/>`,
  ];
  curves.forEach((c, i) => {
    const colour = seriesColour(i);
    const drawable = c.fpr.every(Number.isFinite) && c.tpr.every(Number.isFinite);
    if (drawable) {
      const points = thinCurve(c.fpr, c.tpr)
        .map(([fx, ty]) => `${x(fx)},${y(ty)}`)
        .join(' ');
      body.push(
        `<polyline points="${points}" fill="none" stroke="${colour}" stroke-width="2"><title>${esc(legend[i]!)}</title></polyline>`,
      );
    }
    const ly = top + 8 + i * 18;
    body.push(`<line x1="${left + plot + 16}" x2="${left + plot + 34}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="3"/>`);
    body.push(text(left + plot + 40, ly + 4, drawable ? legend[i]! : `${clip(c.label, 20)}: not in the holdout`));
  });
  body.push(text(left + plot / 2, top + plot + 32, 'false positive rate', 'text-anchor="middle" fill="#555"'));
  body.push(
    text(12, top + plot / 2, 'true positive rate', `text-anchor="middle" fill="#555" transform="rotate(-90 12 ${top + plot / 2})"`),
  );
  return svg(left + plot + legendWidth, Math.max(top + plot + 42, top + 18 * curves.length + 12), title, body);
}

/** Extent of values with 5% padding on each side (a constant gets ±1). */
function padded(values: number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo)) return [0, 1];
  if (lo === hi) return [lo - 1, hi + 1];
  const pad = (hi - lo) * 0.05;
  return [lo - pad, hi + pad];
}

/** Residuals (actual − predicted) against predictions, with the zero line a perfect model would sit on. */
export function residualChart(sample: ResidualSample, title: string): string {
  const width = 420;
  const height = 260;
  const left = 56;
  const top = 28;
  const [x0, x1] = padded(sample.predicted);
  const [r0, r1] = padded(sample.residual);
  const bound = Math.max(Math.abs(r0), Math.abs(r1));
  const x = scale(x0, x1, left, left + width);
  const y = scale(-bound, bound, top + height, top);
  const body: string[] = [
    text(left, 16, title, 'font-weight="600"'),
    yAxis(ticks(-bound, bound), y, left, left + width, short),
    xAxis(ticks(x0, x1), x, top, top + height, short),
    `<rect x="${left}" y="${top}" width="${width}" height="${height}" fill="none" stroke="#999"/>`,
    `<line x1="${left}" x2="${left + width}" y1="${y(0)}" y2="${y(0)}" stroke="#c94a4a" stroke-dasharray="4 4"/>`,
    `<g fill="${seriesColour(0)}" fill-opacity="0.45">`,
    ...sample.predicted.map((p, i) => `<circle cx="${x(p)}" cy="${y(sample.residual[i]!)}" r="2"/>`),
    '</g>',
    text(left + width / 2, top + height + 32, 'predicted value', 'text-anchor="middle" fill="#555"'),
    text(12, top + height / 2, 'actual − predicted', `text-anchor="middle" fill="#555" transform="rotate(-90 12 ${top + height / 2})"`),
  ];
  return svg(left + width + 12, top + height + 42, title, body);
}

/**
 * A column's distribution in the reference and the current data as side-by-side bars per bin, in
 * shares of each side's rows (the two sides usually differ in size). Numeric bins are the
 * reference's quantile bins, drawn equally wide.
 */
export function histogramChart(h: HistogramComparison, names: { reference: string; current: string }): string {
  const share = (counts: number[]) => {
    const total = counts.reduce((s, c) => s + c, 0);
    return counts.map((c) => (total > 0 ? c / total : 0));
  };
  const ref = share(h.reference);
  const cur = share(h.current);
  const n = h.bins.length;
  const band = Math.max(26, Math.min(48, Math.floor(420 / Math.max(1, n))));
  const plotWidth = n * band;
  const plotHeight = 150;
  const left = 44;
  const top = 44;
  const axisLabels = h.edges && h.edges.length === n - 1 ? h.edges : h.bins;
  const labelRoom = longest(axisLabels, 14) * CHAR * 0.72 + 14;
  const max = Math.max(0.01, ...ref, ...cur) * 1.08;
  const y = scale(0, max, top + plotHeight, top);
  const title = `${h.column}: PSI ${Number.isFinite(h.psi) ? h.psi.toFixed(3) : 'undefined'}`;
  const body: string[] = [
    text(left, 16, title, 'font-weight="600"'),
    `<rect x="${left}" y="24" width="10" height="10" fill="${seriesColour(0)}"/>`,
    text(left + 14, 33, names.reference),
    `<rect x="${left + 24 + names.reference.length * CHAR}" y="24" width="10" height="10" fill="${seriesColour(1)}"/>`,
    text(left + 38 + names.reference.length * CHAR, 33, names.current),
    yAxis(ticks(0, max, 4), y, left, left + plotWidth, axisPct),
  ];
  const bar = band * 0.38;
  h.bins.forEach((label, i) => {
    const x = left + i * band + band * 0.1;
    const tip = `${h.column} ${label}: ${names.reference} ${pct(ref[i]!)} (${h.reference[i]}), ${names.current} ${pct(cur[i]!)} (${h.current[i]})`;
    body.push(
      `<g><title>${esc(tip)}</title>` +
        `<rect x="${round(x)}" y="${y(ref[i]!)}" width="${round(bar)}" height="${round(y(0) - y(ref[i]!))}" fill="${seriesColour(0)}"/>` +
        `<rect x="${round(x + bar)}" y="${y(cur[i]!)}" width="${round(bar)}" height="${round(y(0) - y(cur[i]!))}" fill="${seriesColour(1)}"/></g>`,
    );
  });
  // Bin labels sit under their bars; edge labels under the boundaries between bars.
  const edgeLabels = axisLabels !== h.bins;
  axisLabels.forEach((label, i) => {
    const lx = left + (edgeLabels ? (i + 1) * band : i * band + band / 2);
    const ly = top + plotHeight + 10;
    if (edgeLabels)
      body.push(`<line x1="${round(lx)}" x2="${round(lx)}" y1="${top + plotHeight}" y2="${top + plotHeight + 4}" stroke="#999"/>`);
    body.push(text(lx, ly, clip(label, 14), `text-anchor="end" font-size="10" transform="rotate(-40 ${round(lx)} ${ly})"`));
  });
  body.push(`<line x1="${left}" x2="${left + plotWidth}" y1="${y(0)}" y2="${y(0)}" stroke="#999"/>`);
  const legendWidth = 52 + (names.reference.length + names.current.length) * CHAR;
  return svg(Math.max(left + plotWidth + 12, left + legendWidth, title.length * CHAR + left), top + plotHeight + labelRoom, title, body);
}

/**
 * The small vocabulary the model card is written in: escaping, number formatting, colours and axis
 * ticks. Every string that came from a user or from data goes through `esc` before it reaches the page.
 */

/** Escapes text for HTML and SVG, in element content and in quoted attribute values alike. */
export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** A count or statistic for reading: integers with thousands separators, others to five significant digits. */
export function num(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e7) return v.toExponential(2);
  return String(Number(v.toPrecision(5)));
}

/** A metric value, as the approval summary shows it: four decimals, one from 100 up. */
export function metric(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return v.toFixed(Math.abs(v) >= 100 ? 1 : 4);
}

/** A number on an axis or a bin edge: three significant digits, trailing zeros dropped. */
export function short(v: number): string {
  if (!Number.isFinite(v)) return num(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(1);
  return String(Number(v.toPrecision(3)));
}

/** A value of a `datetime` column (epoch milliseconds) as its UTC date, with the time when it has one and `days` is not set. */
export function date(ms: number, days = false): string {
  if (!Number.isFinite(ms)) return '–';
  const iso = new Date(ms).toISOString();
  return days || iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso.slice(0, 19).replace('T', ' ');
}

/** A share on an axis: whole percentages unless the ticks are closer than 1%. */
export function axisPct(fraction: number): string {
  return `${Number((fraction * 100).toPrecision(3))}%`;
}

/** A fraction as a percentage. */
export function pct(fraction: number): string {
  if (!Number.isFinite(fraction)) return '–';
  return `${(fraction * 100).toFixed(fraction > 0 && fraction < 0.1 ? 1 : 0)}%`;
}

/** Distinguishable colours for series (classes, reference vs current), in order. */
export const SERIES = ['#3b6fb6', '#e07b39', '#4f9a55', '#c94a4a', '#8a6cb8', '#8c6d4f', '#d46fae', '#7f7f7f', '#b5b336', '#3ba9b8'];

/** The colour of series i, repeating after ten. */
export function seriesColour(i: number): string {
  return SERIES[i % SERIES.length]!;
}

/** A colour from white-blue (0) to deep blue (1), for heatmaps. */
export function blues(t: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0));
  const lo = [244, 248, 252];
  const hi = [16, 62, 128];
  const c = lo.map((l, i) => Math.round(l + (hi[i]! - l) * x));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** About `count` round tick values covering [lo, hi] (1, 2 or 5 times a power of ten apart). */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(Number.isFinite(lo) && Number.isFinite(hi))) return [];
  if (lo === hi) return [lo];
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  return out;
}

/** Maps [d0, d1] linearly onto [r0, r1]. */
export function scale(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return (v) => round(r0 + (v - d0) * k);
}

/** Rounds a coordinate to 0.1 px, which keeps the SVG short. */
export function round(v: number): number {
  return Math.round(v * 10) / 10;
}

/** Shortens a label to `max` characters, marking the cut with an ellipsis. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

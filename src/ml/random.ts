/**
 * A small seeded pseudo-random number generator, so splits, shuffles and initialisations are
 * reproducible from a seed recorded in the run's lineage.
 *
 * mulberry32: 32-bit state, period 2^32, passes the usual quick statistical batteries; more than
 * enough for shuffling and sampling, not for cryptography.
 */

/** A seeded source of uniform random numbers. */
export interface Rng {
  /** A float uniformly distributed in [0, 1). */
  next(): number;
  /** An integer uniformly distributed in [0, n). */
  int(n: number): number;
}

/** A mulberry32 generator from an integer seed (the same seed always yields the same sequence). */
export function createRng(seed: number): Rng {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n) };
}

/** Shuffles an array in place (Fisher–Yates) and returns it. */
export function shuffleInPlace<T, A extends { length: number; [i: number]: T }>(items: A, rng: Rng): A {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
  return items;
}

/** The integers 0..n-1 in a seeded random order. */
export function permutation(n: number, rng: Rng): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return shuffleInPlace<number, Uint32Array>(out, rng);
}

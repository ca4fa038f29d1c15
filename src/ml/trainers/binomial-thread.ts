/**
 * An objective thread of logistic regression (started by `BinomialObjective`): for each evaluation it takes
 * chunks of rows off the shared counter and writes each chunk's loss and gradient into that chunk's slot.
 */
import { workerData } from 'node:worker_threads';
import { DONE, NEXT, READY, SEQ, STOP, binomialChunk, type ObjectiveThreadData } from './binomial-objective';

const { ctrl, X, y, w, d, n, chunkRows, partials, slot } = workerData as ObjectiveThreadData;
const chunks = Math.ceil(n / chunkRows);
Atomics.store(ctrl, READY + slot, 1);
Atomics.notify(ctrl, READY + slot);

let seen = 0;
for (;;) {
  Atomics.wait(ctrl, SEQ, seen);
  seen = Atomics.load(ctrl, SEQ);
  if (Atomics.load(ctrl, STOP) !== 0) break;
  for (;;) {
    const c = Atomics.add(ctrl, NEXT, 1);
    if (c >= chunks) break;
    binomialChunk(X, y, w, d, c * chunkRows, Math.min(n, (c + 1) * chunkRows), partials, c * (d + 2));
  }
  Atomics.store(ctrl, DONE + slot, seen);
  Atomics.notify(ctrl, DONE + slot);
}

/**
 * A histogram thread of gbdt (started by `HistogramBuilder`): it waits on the shared control words for a
 * task, fills its share of the features of the histogram named there, and reports it done. It owns no
 * data; everything it reads and writes lives in the memory shared with the training thread.
 */
import { workerData } from 'node:worker_threads';
import { DONE, FAILED, READY, SEQ, TASK, makeRunner, type WorkerData } from './histograms';

const data = workerData as WorkerData;
const ctrl = data.ctrl;
let run: ReturnType<typeof makeRunner> | undefined;
try {
  run = makeRunner(data);
  Atomics.store(ctrl, READY + data.slot, 1);
} catch {
  Atomics.store(ctrl, READY + data.slot, 2);
}
Atomics.notify(ctrl, READY + data.slot);

let seen = 0;
while (run) {
  Atomics.wait(ctrl, SEQ, seen);
  seen = Atomics.load(ctrl, SEQ);
  const offset = ctrl[TASK];
  if (offset < 0) break;
  try {
    run(offset, ctrl[TASK + 1], ctrl[TASK + 2], ctrl[TASK + 3]);
  } catch {
    Atomics.store(ctrl, FAILED, 1);
  }
  Atomics.store(ctrl, DONE + data.slot, seen);
  Atomics.notify(ctrl, DONE + data.slot);
}

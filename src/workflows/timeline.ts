/** The stage timeline shown by `status`: plain deterministic bookkeeping, fed the workflow's clock. */
import { STAGES, type StageName, type StageStatus } from '../contracts';

/** Tracks when each stage started and ended. */
export class Timeline {
  readonly stages: StageStatus[] = STAGES.map((name) => ({ name, state: 'pending' }));
  current: StageName | 'finished' = 'ingest';

  start(name: StageName, now: Date): void {
    const s = this.get(name);
    s.state = 'running';
    s.startedAt = now.toISOString();
    this.current = name;
  }

  end(name: StageName, state: 'done' | 'failed', now: Date, note?: string): void {
    const s = this.get(name);
    s.state = state;
    s.endedAt = now.toISOString();
    if (s.startedAt) s.durationMs = now.getTime() - Date.parse(s.startedAt);
    if (note) s.note = note;
  }

  /** Sets a finished stage's state after the fact (ingest ran, but its data blocks the run), keeping its timings. */
  mark(name: StageName, state: 'done' | 'failed', note: string): void {
    const s = this.get(name);
    s.state = state;
    s.note = note;
  }

  /** Adds a note to a stage (what it found). */
  note(name: StageName, note: string): void {
    this.get(name).note = note;
  }

  /** Marks one stage as skipped, with why. */
  skip(name: StageName, note: string): void {
    const s = this.get(name);
    s.state = 'skipped';
    s.note = note;
  }

  /** Marks every stage not yet run as skipped, with why. */
  finish(note: string): void {
    for (const s of this.stages) {
      if (s.state === 'pending') {
        s.state = 'skipped';
        s.note = note;
      }
    }
    this.current = 'finished';
  }

  private get(name: StageName): StageStatus {
    return this.stages.find((s) => s.name === name)!;
  }
}

/**
 * The default bounds of one ingest on a worker, in a module of their own (no imports), so the configuration can
 * name them without loading the engine. Operators change them with MLOPS_INGEST_MEMORY_LIMIT and MLOPS_SCRATCH_BUDGET.
 */

/**
 * The engine's memory limit at ingest: the typed rows of a text source stay in memory up to about this size
 * (the typed table of a 1 GB CSV is about 1.2 GB) and spill to the scratch directory past it. At 1 GB, about 200 MB of
 * that table spilled and the validation and profile scans (whose aggregates need memory too) read it back: their CPU
 * time on the 1 GB CSV was 6.2-6.7 s against 4.3-4.8 s at 1.6 GB, for about 200 MB more peak RSS. Parquet sources
 * are read in place and use far less.
 */
export const INGEST_MEMORY_LIMIT = '1600MB';

/** Default disk budget for copies of remote sources: 20 GiB. */
export const DEFAULT_SCRATCH_BUDGET = 20 * 1024 ** 3;

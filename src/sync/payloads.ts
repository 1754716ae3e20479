/**
 * The data that flows through the datalake-sync state machine, stage to stage, in the article's
 * snake_case shapes: the execution input the planner builds, and each stage's task input and
 * output as the definition's InputPath/ResultPath/Parameters cut them. Kept in one module so the
 * planner, the stage handlers and the definition cannot drift apart. Everything here is small;
 * lists that grow with the data (raw keys, Prepare summaries) stay in the object store and only
 * their keys travel.
 */

/**
 * A replay's range of received days, `YYYY-MM-DD`, both ends inclusive (UTC). It rides on
 * `cleanup_input` so Cleanup can mark the report as a replay.
 */
export interface ReplayRange {
  from: string;
  to: string;
}

/** The error a Catch puts at `$.cleanup.error`, as AWS writes it. */
export interface CaughtError {
  Error: string;
  Cause?: string;
}

/** One Map item of `$.prepare_inputs`: a chunk of raw objects, named by its manifest. */
export interface PrepareTaskInput {
  source_id: string;
  sync_id: string;
  chunk_id: string;
  /** Object-store key of the chunk's manifest (`{ "rawKeys": [...] }`) in the lake store. */
  manifest_key: string;
  objects: number;
  bytes: number;
}

/** What Prepare returns per chunk; the full summary stays at `summary_key`. */
export interface PrepareTaskOutput {
  chunk_id: string;
  summary_key: string;
  read: number;
  prepared: number;
  duplicates: number;
  quarantined: number;
}

/** Load's input (`$.load_input`): the sync and, after PrepareAll, the chunks' outputs. */
export interface LoadTaskInput {
  source_id: string;
  sync_id: string;
  prepare_outputs: PrepareTaskOutput[];
  /** Overrides the default 7-day dedup window. */
  dedup_window_days?: number;
}

/** Load's output (`$.follow_input.load_output`): the load job to follow. */
export interface LoadTaskOutput {
  job_id: string;
}

/** Follow's input (`$.follow_input`). */
export interface FollowTaskInput {
  source_id: string;
  sync_id: string;
  load_output: LoadTaskOutput;
}

/** Follow's output (`$.cleanup_input.follow_output`): the committed load, in numbers. */
export interface FollowTaskOutput {
  job_id: string;
  loaded: number;
  staged: number;
  cross_chunk_duplicates: number;
  cross_sync_duplicates: number;
  tables: number;
  already_committed: boolean;
}

/** What Cleanup is handed through the definition's Parameters. */
export interface CleanupTaskInput {
  cleanup_input: {
    source_id: string;
    sync_id: string;
    database?: string;
    replay?: ReplayRange;
    follow_output?: FollowTaskOutput;
  };
  /** Null unless a stage failed and was caught. */
  error: CaughtError | null;
  execution_id?: string;
  started_at?: string;
}

/** Cleanup's output, which becomes the execution's output (`$.run_output`). */
export interface CleanupTaskOutput {
  status: 'finished' | 'failed';
  source_id: string;
  sync_id: string;
  report_key: string;
  read: number;
  loaded: number;
  duplicates: number;
  quarantined: number;
  not_loaded: number;
  /** Present when failed: the first error's cause. */
  error?: string;
  /** Present when failed: the first error's name, e.g. `Inlet.LoadJobFailed`. */
  error_code?: string;
}

/** The execution input of one sync. */
export interface SyncExecutionInput {
  source_id: string;
  sync_id: string;
  prepare_inputs: PrepareTaskInput[];
  load_input: { source_id: string; sync_id: string; dedup_window_days?: number };
  follow_input: { source_id: string; sync_id: string };
  cleanup_input: { source_id: string; sync_id: string; database?: string; replay?: ReplayRange };
  /** Seeded so `$.cleanup.error` exists on the success path, where no Catch wrote it. */
  cleanup: { error: null };
}

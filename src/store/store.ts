/**
 * The engine's persistence interface. Everything the engine must not lose goes through it:
 * state machines and activities, executions with their runtime state, history events, the
 * inbox of wake-ups (timers and task outcomes are both rows with a due time), and the activity
 * task queue. Each method is one transaction. The one that matters most, {@link Store.commitAdvance},
 * writes an execution's new runtime, its new history events, the inbox rows it consumed and
 * created, and its task rows atomically — which is the whole crash-safety argument.
 *
 * Backends implement it with the same semantics: sqlite/, and postgres/, where claims are
 * `FOR UPDATE SKIP LOCKED` and new tasks are announced to other processes with `LISTEN/NOTIFY`.
 */

/** A state machine (its current revision). */
export interface DbStateMachine {
  arn: string;
  name: string;
  definition: string;
  role_arn: string;
  type: 'STANDARD' | 'EXPRESS';
  created_ms: number;
  updated_ms: number;
  revision: number;
  description: string;
}

/** A published, immutable version of a state machine. */
export interface DbStateMachineVersion {
  arn: string;
  state_machine_arn: string;
  version: number;
  definition: string;
  role_arn: string;
  created_ms: number;
  description: string;
}

/** An activity: a named task queue. */
export interface DbActivity {
  arn: string;
  name: string;
  created_ms: number;
}

/** An execution row; `runtime` is the interpreter's JSON state while it runs. */
export interface DbExecution {
  arn: string;
  state_machine_arn: string;
  /** The ARN it was started with (a version ARN, when one was used). */
  started_with_arn: string;
  name: string;
  status: string;
  input: string;
  output: string | null;
  error: string | null;
  cause: string | null;
  start_ms: number;
  stop_ms: number | null;
  definition: string;
  role_arn: string;
  runtime: string;
  transitions: number;
  redrive_count: number;
  redrive_ms: number | null;
  /** Bumped by every commit (optimistic concurrency, runtime caching). */
  version: number;
}

/** An execution row without its large columns (`definition`, `runtime`). */
export type DbExecutionHead = Omit<DbExecution, 'definition' | 'runtime'>;

/** The columns of {@link DbExecutionHead}, for every backend's SELECTs (tables also have `id`, which keys history and stays inside). */
export const EXECUTION_HEAD_COLUMNS = `arn, state_machine_arn, started_with_arn, name, status, input, output, error, cause, start_ms,
  stop_ms, role_arn, transitions, redrive_count, redrive_ms, version`;
/** The columns of {@link DbExecution}. */
export const EXECUTION_COLUMNS = `${EXECUTION_HEAD_COLUMNS}, definition, runtime`;

/** One history event row. `details` is the JSON of the `*EventDetails` member. */
export interface DbHistoryEvent {
  execution_arn: string;
  id: number;
  type: string;
  timestamp_ms: number;
  previous_event_id: number;
  details: string | null;
}

/** A wake-up for an execution, due at `due_ms` (timers are future rows; outcomes are due now). */
export interface DbInboxRow {
  id: number;
  execution_arn: string;
  due_ms: number;
  /** For timers of a task (heartbeat, timeout): its token, so a heartbeat can push it back. */
  token: string | null;
  kind: string;
  wake: string;
}

/** An activity task: scheduled → started → closed (succeeded, failed, timed out, aborted). */
export interface DbActivityTask {
  token: string;
  activity_arn: string;
  execution_arn: string;
  input: string;
  status: 'scheduled' | 'started' | 'closed';
  closed_reason: string | null;
  created_ms: number;
  started_ms: number | null;
  worker_name: string | null;
  heartbeat_seconds: number | null;
}

/** A new inbox row. */
export type NewInboxRow = Omit<DbInboxRow, 'id'>;

/** Everything one advance of one execution writes, atomically. */
export interface AdvanceCommit {
  executionArn: string;
  /** The version the advance started from; the commit fails if someone else changed the row meanwhile. */
  expectedVersion: number;
  execution: Pick<DbExecution, 'status' | 'runtime' | 'transitions' | 'output' | 'error' | 'cause' | 'stop_ms'>;
  events: DbHistoryEvent[];
  consumedInbox: number[];
  newInbox: NewInboxRow[];
  newTasks: Omit<DbActivityTask, 'started_ms' | 'worker_name' | 'closed_reason'>[];
  /** Tokens to close, with why (`succeeded`, `failed`, `timed_out`, `aborted`). */
  closedTasks: { token: string; reason: string }[];
}

/** Filters and paging for listing executions. */
export interface ListExecutionsQuery {
  stateMachineArn?: string;
  status?: string;
  limit: number;
  /** Opaque: the `start_ms` and `arn` of the last row of the previous page. */
  after?: { start_ms: number; arn: string };
}

/** Work another process committed to the store, announced by a store that can (see {@link Store.listen}). */
export interface StoreWake {
  kind: 'task';
  /** The activity that has a new scheduled task. */
  activityArn: string;
}

/** The persistence the engine needs. */
export interface Store {
  /**
   * Optional: calls `onWake` when another process sharing the store (an engine on the same
   * database) schedules work this one's pollers may take, so they need not wait for their next
   * look. Resolves with a function that stops listening. Stores without it are polled.
   */
  listen?(onWake: (wake: StoreWake) => void): Promise<() => Promise<void>>;

  putStateMachine(sm: DbStateMachine): Promise<void>;
  getStateMachine(arn: string): Promise<DbStateMachine | undefined>;
  getStateMachineByName(name: string): Promise<DbStateMachine | undefined>;
  listStateMachines(limit: number, afterName?: string): Promise<DbStateMachine[]>;
  deleteStateMachine(arn: string): Promise<void>;
  putStateMachineVersion(version: DbStateMachineVersion): Promise<void>;
  getStateMachineVersion(arn: string): Promise<DbStateMachineVersion | undefined>;
  listStateMachineVersions(stateMachineArn: string): Promise<DbStateMachineVersion[]>;

  putActivity(activity: DbActivity): Promise<void>;
  getActivity(arn: string): Promise<DbActivity | undefined>;
  listActivities(limit: number, afterName?: string): Promise<DbActivity[]>;
  deleteActivity(arn: string): Promise<void>;

  /** Inserts an execution and its first inbox rows; false if the ARN exists. */
  insertExecution(execution: DbExecution, inbox: NewInboxRow[]): Promise<boolean>;
  getExecution(arn: string): Promise<DbExecution | undefined>;
  getExecutionHead(arn: string): Promise<DbExecutionHead | undefined>;
  listExecutions(query: ListExecutionsQuery): Promise<DbExecution[]>;
  /** Events with id > afterId (or < beforeId when reversed), at most `limit`. */
  getHistory(arn: string, options: { afterId?: number; beforeId?: number; limit: number; reverse: boolean }): Promise<DbHistoryEvent[]>;
  /** Updates an execution's row (redrive) and adds inbox rows, if its version still matches. */
  resetExecution(arn: string, expectedVersion: number, execution: Partial<DbExecution>, inbox: NewInboxRow[]): Promise<boolean>;

  /** Inbox rows due at or before `nowMs`, oldest first. */
  dueInbox(nowMs: number, limit: number): Promise<DbInboxRow[]>;
  /** When the next inbox row is due, if any. */
  nextDue(): Promise<number | undefined>;
  /**
   * The `taskStarted` rows of an execution, due or not: an advance takes them early, so a task's
   * start rides along with whatever else wakes its execution.
   */
  taskStartsOf(executionArn: string): Promise<DbInboxRow[]>;
  addInbox(rows: NewInboxRow[]): Promise<void>;
  /** Moves the due time of the inbox rows of `token` and `kind` (a heartbeat). */
  postponeTimer(token: string, kind: string, dueMs: number): Promise<void>;
  /**
   * Writes an advance, or nothing and false when the execution's version moved on or one of the
   * consumed inbox rows is gone (another engine applied it first).
   */
  commitAdvance(commit: AdvanceCommit): Promise<boolean>;

  /**
   * Claims the oldest scheduled task of an activity for a worker and queues the start wake, due
   * at `startDueMs` (default `nowMs`); the wake carries `nowMs` as the start time.
   */
  claimActivityTask(activityArn: string, workerName: string, nowMs: number, startDueMs?: number): Promise<DbActivityTask | undefined>;
  getActivityTask(token: string): Promise<DbActivityTask | undefined>;
  /** Closes an open task with an outcome wake for its execution; false if it was not open. */
  closeActivityTask(token: string, reason: string, wake: NewInboxRow): Promise<boolean>;
  /** Open tasks whose resource is not an activity (in-process handlers), to re-run after a restart. */
  openTasksOfResources(prefix: string): Promise<DbActivityTask[]>;

  /** Adds or replaces tags on a resource. */
  tagResource(arn: string, tags: Record<string, string>): Promise<void>;
  untagResource(arn: string, keys: readonly string[]): Promise<void>;
  listTags(arn: string): Promise<Record<string, string>>;

  /** Deletes closed executions that stopped before `beforeMs`, with their history; returns how many. */
  purgeExecutions(beforeMs: number): Promise<number>;
  close(): Promise<void>;
}

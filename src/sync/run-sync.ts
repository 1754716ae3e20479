/**
 * Starting and watching syncs: plan a source's unsynced raw data, start the datalake-sync
 * execution for it, follow its progress from the execution history, and read the outcome from
 * the catalog's sync record and the report. This is what `inlet sync` and the scheduler call.
 * The stages themselves run on activity workers; this module only talks to the Step Functions
 * API, so it drives Inlet's engine in process, over HTTP, or AWS alike.
 */
import type { Catalog, SyncRecord } from '../catalog/index.ts';
import type { ObjectStore } from '../lake/storage/object-store.ts';
import { listField, runningSyncs, stringField, type SyncApi } from './api.ts';
import { executionNameFor, planSync, syncExecutionInput, type PlanSyncOptions, type SyncPlan } from './plan.ts';

/** Raised when a source already has a sync running: two at once could race each other's Load. */
export class SyncAlreadyRunningError extends Error {
  constructor(
    readonly sourceId: string,
    readonly executionArn: string,
  ) {
    super(`source '${sourceId}' already has a sync running (${executionArn})`);
    this.name = 'SyncAlreadyRunningError';
  }
}

/** Options for {@link startSync}. */
export interface StartSyncOptions extends Omit<PlanSyncOptions, 'rawStore' | 'lakeStore' | 'catalog'> {
  api: SyncApi;
  stateMachineArn: string;
  rawStore: ObjectStore;
  lakeStore: ObjectStore;
  catalog: Catalog;
  /** Catalog database name for reports; the source id by default. */
  database?: string;
  dedupWindowDays?: number;
}

/** A started sync. */
export interface StartedSync {
  sourceId: string;
  syncId: string;
  executionArn: string;
  plan: SyncPlan;
}

/** Sources being started by this process right now, so two callers here cannot both pass the check. */
const starting = new Set<string>();

/**
 * Plans and starts one sync of a source. Resolves undefined when no raw data waits (no execution
 * is started); throws {@link SyncAlreadyRunningError} when the source has a running sync.
 */
export async function startSync(options: StartSyncOptions): Promise<StartedSync | undefined> {
  const { api, stateMachineArn, sourceId } = options;
  if (starting.has(sourceId)) throw new SyncAlreadyRunningError(sourceId, '(being started)');
  starting.add(sourceId);
  try {
    const running = (await runningSyncs(api, stateMachineArn)).find((r) => r.sourceId === sourceId);
    if (running !== undefined) throw new SyncAlreadyRunningError(sourceId, running.executionArn);
    const plan = await planSync(options);
    if (plan.chunks.length === 0) return undefined;
    const input = syncExecutionInput(plan, {
      ...(options.database === undefined ? {} : { database: options.database }),
      ...(options.dedupWindowDays === undefined ? {} : { dedupWindowDays: options.dedupWindowDays }),
    });
    const started = await api.startExecution({
      stateMachineArn,
      name: executionNameFor(sourceId, plan.syncId),
      input: JSON.stringify(input),
    });
    const executionArn = stringField(started, 'executionArn');
    if (executionArn === undefined) throw new Error('StartExecution returned no executionArn');
    return { sourceId, syncId: plan.syncId, executionArn, plan };
  } finally {
    starting.delete(sourceId);
  }
}

/** Where a running sync is, for progress display. */
export interface SyncProgress {
  /** The state most recently entered: PrepareAll, Prepare, Load, Follow, Cleanup … */
  stage: string;
  chunksDone: number;
  chunksTotal: number;
  /** Task attempts that failed or timed out so far (each is retried or caught). */
  failures: number;
}

/** Options for {@link waitForSync}. */
export interface WaitForSyncOptions {
  /** Default 500 ms. */
  pollMs?: number;
  /** Called after each poll while the execution runs (reads the history, so costs a request). */
  onProgress?: (progress: SyncProgress) => void;
  /** Gives up (resolving with the RUNNING status) after this long; default: wait forever. */
  timeoutMs?: number;
  chunksTotal?: number;
}

/** How an execution ended, as DescribeExecution tells it. */
export interface ExecutionEnd {
  status: string;
  output?: string;
  error?: string;
  cause?: string;
}

async function readProgress(api: SyncApi, executionArn: string, chunksTotal: number): Promise<SyncProgress> {
  const progress: SyncProgress = { stage: '', chunksDone: 0, chunksTotal, failures: 0 };
  let nextToken: string | undefined;
  do {
    const page = await api.getExecutionHistory({
      executionArn,
      maxResults: 1000,
      ...(nextToken === undefined ? {} : { nextToken }),
    });
    for (const event of listField(page, 'events')) {
      const type = stringField(event, 'type') ?? '';
      if (type.endsWith('StateEntered')) {
        const name = stringField(
          (event as Record<string, unknown>)['stateEnteredEventDetails'],
          'name',
        );
        if (name !== undefined) progress.stage = name;
      } else if (type === 'MapIterationSucceeded') {
        progress.chunksDone++;
      } else if (type === 'ActivityFailed' || type === 'ActivityTimedOut') {
        progress.failures++;
      }
    }
    nextToken = stringField(page, 'nextToken');
  } while (nextToken !== undefined);
  return progress;
}

/** Polls an execution until it ends, reporting progress on the way. */
export async function waitForSync(api: SyncApi, executionArn: string, options: WaitForSyncOptions = {}): Promise<ExecutionEnd> {
  const pollMs = options.pollMs ?? 500;
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  for (;;) {
    const described = await api.describeExecution({ executionArn });
    const status = stringField(described, 'status') ?? 'UNKNOWN';
    if (status !== 'RUNNING' || Date.now() >= deadline) {
      const end: ExecutionEnd = { status };
      for (const name of ['output', 'error', 'cause'] as const) {
        const value = stringField(described, name);
        if (value !== undefined) end[name] = value;
      }
      return end;
    }
    if (options.onProgress) options.onProgress(await readProgress(api, executionArn, options.chunksTotal ?? 0));
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** Options for {@link runSyncNow}. */
export interface RunSyncNowOptions extends StartSyncOptions, Omit<WaitForSyncOptions, 'chunksTotal'> {}

/** The result of one sync, for `inlet sync`. */
export interface SyncOutcome {
  sourceId: string;
  /** `nothing_to_sync` when no raw data waited and no execution was started. */
  status: 'finished' | 'failed' | 'nothing_to_sync';
  syncId?: string;
  executionArn?: string;
  executionStatus?: string;
  /** The first error's cause, when failed. */
  error?: string;
  errorCode?: string;
  reportKey?: string;
  /** The report's NDJSON rows (one `source` row, one `event` row per table). */
  report?: Record<string, unknown>[];
  sync?: SyncRecord;
  plan?: SyncPlan;
}

async function readReport(store: ObjectStore, key: string): Promise<Record<string, unknown>[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.get(key)) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks)
    .toString('utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/**
 * Runs one sync now and waits for it: plan, start, follow, then read the sync record and its
 * report. Workers for the four activities must be running somewhere. Throws
 * {@link SyncAlreadyRunningError} when the source is already syncing.
 */
export async function runSyncNow(options: RunSyncNowOptions): Promise<SyncOutcome> {
  const started = await startSync(options);
  if (started === undefined) return { sourceId: options.sourceId, status: 'nothing_to_sync' };
  const wait: WaitForSyncOptions = { chunksTotal: started.plan.chunks.length };
  if (options.pollMs !== undefined) wait.pollMs = options.pollMs;
  if (options.onProgress !== undefined) wait.onProgress = options.onProgress;
  if (options.timeoutMs !== undefined) wait.timeoutMs = options.timeoutMs;
  const end = await waitForSync(options.api, started.executionArn, wait);
  const sync = await options.catalog.getSync(started.syncId);
  const outcome: SyncOutcome = {
    sourceId: started.sourceId,
    syncId: started.syncId,
    executionArn: started.executionArn,
    executionStatus: end.status,
    status: end.status === 'SUCCEEDED' && sync?.status === 'finished' ? 'finished' : 'failed',
    plan: started.plan,
  };
  if (sync !== undefined) outcome.sync = sync;
  if (outcome.status === 'failed') {
    const error = sync?.error ?? end.cause ?? end.error ?? `the execution ended ${end.status}`;
    outcome.error = error;
    if (end.error !== undefined) outcome.errorCode = end.error;
  }
  if (sync?.reportKey !== undefined) {
    outcome.reportKey = sync.reportKey;
    outcome.report = await readReport(options.lakeStore, sync.reportKey);
  }
  return outcome;
}

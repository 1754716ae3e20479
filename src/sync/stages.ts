/**
 * The four stage handlers of a sync, as activity handlers for the worker runtime: Prepare (one
 * chunk), Load (submits the load job, returns its id), Follow (polls the job until it ends) and
 * Cleanup (reports, commits or rolls back, removes staging). They are plain functions of the
 * task input, so `inlet worker` registers them with a Worker and the bench calls them directly.
 *
 * Errors are named for the state machine's Retry: `Inlet.StageFailed` is what a retry can cure
 * (I/O, a busy database, a crashed job runner) and is retried with back-off; `Inlet.InvalidInput`,
 * `Inlet.Inconsistent` and `Inlet.LoadJobFailed` would fail the same way again, so they go
 * straight to Cleanup through the Catch. The first error's message is kept as the cause.
 *
 * Exactly once rests on the lake's contract, not on these handlers: a retried Prepare overwrites
 * its own chunk's staging; a raw object is marked synced only in the Load's catalog commit; a
 * Load of a committed sync returns the stored result. So every handler may run more than once.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Catalog, SyncRecord } from '../catalog/index.ts';
import { ABANDONED, LoadJobs, type LoadJob, type LoadJobsOptions } from '../lake/load-job.ts';
import { LoadConsistencyError, type LoadResult, type LoadSpec } from '../lake/load.ts';
import { PreparePool } from '../lake/prepare-pool.ts';
import { ReportReconciliationError, writeSyncReport, type SyncReport } from '../lake/report.ts';
import type { ObjectStore } from '../lake/storage/object-store.ts';
import { assertSafeId, summaryKey, type PrepareLimits, type PrepareSummary } from '../lake/types.ts';
import type { ActivityHandler, Worker } from '../worker/index.ts';
import { field, listField, stringField, type SyncApi } from './api.ts';
import type { SyncActivityArns } from './definition.ts';
import type {
  CaughtError,
  CleanupTaskOutput,
  FollowTaskOutput,
  LoadTaskOutput,
  PrepareTaskOutput,
} from './payloads.ts';
import { manifestKey, replayBounds, syncQuarantinePrefix, syncStagingPrefix, type ChunkManifest } from './plan.ts';

/** Error names the definition's Retry and Catch see. */
export const SyncErrorName = {
  /** Transient: retried with back-off (the definition's Retry lists it). */
  StageFailed: 'Inlet.StageFailed',
  /** The task input is not what the planner writes; retrying cannot help. */
  InvalidInput: 'Inlet.InvalidInput',
  /** Staging or counts do not add up; retrying would repeat it. */
  Inconsistent: 'Inlet.Inconsistent',
  /** The load job ended failed (e.g. the lake location is not writable). */
  LoadJobFailed: 'Inlet.LoadJobFailed',
  /** Cleanup found no committed Load and no caught error (a path the machine should not take). */
  NotCommitted: 'Inlet.NotCommitted',
} as const;
/** One of {@link SyncErrorName}. */
export type SyncErrorName = (typeof SyncErrorName)[keyof typeof SyncErrorName];

/** A stage failure with the name the state machine matches on. */
export class SyncStageError extends Error {
  constructor(
    readonly error: SyncErrorName,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = error;
  }
}

/** Where one source's raw data and lake live. */
export interface SourceStores {
  rawStore: ObjectStore;
  lakeStore: ObjectStore;
  /** Catalog database name shown in reports; the source id by default. */
  database?: string;
}

/** Options for {@link createSyncStages}. */
export interface SyncStageOptions {
  catalog: Catalog;
  /** Resolves a source id to its stores; the worker's own configuration, never the payload. */
  stores(sourceId: string): SourceStores | Promise<SourceStores>;
  /** Load job settings (DuckDB memory, threads, scratch dir, job heartbeats). */
  load?: Omit<LoadJobsOptions, 'catalog' | 'lakeStore'>;
  /**
   * Prepare's scratch directory, quarantine limits, and the threads chunks are prepared on at
   * once (default: the machine's cores), so that several Prepare pollers of one process really
   * run in parallel instead of taking turns on its event loop.
   */
  prepare?: { tempDir?: string; limits?: Partial<PrepareLimits>; threads?: number };
  /**
   * Where Cleanup reads its execution's state transitions for the report (what AWS would bill).
   * Inlet's DescribeExecution gives `stateTransitions`; AWS's, and the SDK's parse of any
   * response, do not, and the report then says null.
   */
  executions?: Pick<SyncApi, 'describeExecution'>;
  /** How often Follow polls the load job; default 500 ms. */
  followPollMs?: number;
  /** Times Follow resubmits a job whose runner died before it gives up; default 2. */
  followResubmits?: number;
  now?: () => Date;
}

/** What a handler may be given besides its input (the worker's ActivityContext fits). */
export interface StageContext {
  signal?: AbortSignal;
}

/** The stage handlers. Each takes the task input exactly as the state machine hands it over. */
export interface SyncStages {
  prepare(input: unknown, context?: StageContext): Promise<PrepareTaskOutput>;
  load(input: unknown, context?: StageContext): Promise<LoadTaskOutput>;
  follow(input: unknown, context?: StageContext): Promise<FollowTaskOutput>;
  cleanup(input: unknown, context?: StageContext): Promise<CleanupTaskOutput>;
  /** Resolves when every load job this process runs has ended (for graceful shutdown). */
  idle(): Promise<void>;
}

function invalid(message: string): SyncStageError {
  return new SyncStageError(SyncErrorName.InvalidInput, message);
}

function requireString(value: unknown, name: string): string {
  const v = stringField(value, name);
  if (v === undefined) throw invalid(`task input has no string '${name}'`);
  return v;
}

/** The source and sync ids of a task input, checked to be safe key segments. */
function idsOf(value: unknown): { sourceId: string; syncId: string } {
  const sourceId = requireString(value, 'source_id');
  const syncId = requireString(value, 'sync_id');
  try {
    assertSafeId('source_id', sourceId);
    assertSafeId('sync_id', syncId);
  } catch (e) {
    throw invalid(e instanceof Error ? e.message : String(e));
  }
  return { sourceId, syncId };
}

/**
 * Runs a stage body and gives any unexpected error the retryable name, keeping its message as
 * the cause; errors that retrying cannot cure keep (or get) a permanent name.
 */
async function asStage<T>(stage: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof SyncStageError) throw e;
    const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    if (e instanceof LoadConsistencyError || e instanceof ReportReconciliationError) {
      throw new SyncStageError(SyncErrorName.Inconsistent, `${stage}: ${message}`, { cause: e });
    }
    throw new SyncStageError(SyncErrorName.StageFailed, `${stage}: ${message}`, { cause: e });
  }
}

async function readText(store: ObjectStore, key: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.get(key)) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks).toString('utf8');
}

async function listKeys(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await store.list(prefix, nextToken === undefined ? {} : { nextToken });
    for (const o of page.objects) keys.push(o.key);
    nextToken = page.nextToken;
  } while (nextToken !== undefined);
  return keys;
}

/** Deletes every object under a prefix, in batches. */
async function deletePrefix(store: ObjectStore, prefix: string): Promise<number> {
  const keys = await listKeys(store, prefix);
  for (let i = 0; i < keys.length; i += 1000) await store.delete(keys.slice(i, i + 1000));
  return keys.length;
}

/** The finished chunks' summaries of a sync (chunks without `summary.json` never finished). */
export async function readSyncSummaries(lakeStore: ObjectStore, sourceId: string, syncId: string): Promise<PrepareSummary[]> {
  const prefix = syncStagingPrefix(sourceId, syncId);
  const keys = (await listKeys(lakeStore, prefix)).filter((k) => /^[A-Za-z0-9][A-Za-z0-9._-]*\/summary\.json$/.test(k.slice(prefix.length)));
  const summaries: PrepareSummary[] = [];
  for (const key of keys.sort()) summaries.push(JSON.parse(await readText(lakeStore, key)) as PrepareSummary);
  return summaries;
}

function followOutput(job: LoadJob): FollowTaskOutput {
  const result = job.result;
  if (result === undefined) throw new SyncStageError(SyncErrorName.Inconsistent, `load job ${job.id} succeeded without a result`);
  return {
    job_id: job.id,
    loaded: result.loaded,
    staged: result.staged,
    cross_chunk_duplicates: result.crossChunkDuplicates,
    cross_sync_duplicates: result.crossSyncDuplicates,
    tables: Object.keys(result.tables).length,
    already_committed: result.alreadyCommitted === true,
  };
}

function cleanupOutput(status: 'finished' | 'failed', sourceId: string, syncId: string, report: SyncReport): CleanupTaskOutput {
  return {
    status,
    source_id: sourceId,
    sync_id: syncId,
    report_key: report.key,
    read: report.read,
    loaded: report.loaded,
    duplicates: report.duplicates.total,
    quarantined: Object.values(report.quarantined).reduce((a, b) => a + b, 0),
    not_loaded: report.notLoaded,
  };
}

function caughtError(value: unknown): CaughtError | undefined {
  const error = stringField(value, 'Error');
  if (error === undefined) return undefined;
  const cause = stringField(value, 'Cause');
  return cause === undefined ? { Error: error } : { Error: error, Cause: cause };
}

/** The instants of `cleanup_input.replay`, if the sync is a replay; a malformed range is invalid input. */
function replayOf(target: unknown): { from: Date; to: Date } | undefined {
  const replay = field(target, 'replay');
  if (replay === undefined || replay === null) return undefined;
  try {
    return replayBounds({ from: requireString(replay, 'from'), to: requireString(replay, 'to') });
  } catch (e) {
    throw e instanceof SyncStageError ? e : invalid(`replay: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function isCommitted(sync: SyncRecord | undefined): boolean {
  return sync !== undefined && (sync.status === 'committed' || sync.status === 'finished');
}

/** Builds the stage handlers over a catalog and the sources' stores. */
export function createSyncStages(options: SyncStageOptions): SyncStages {
  const { catalog } = options;
  const now = options.now ?? (() => new Date());
  const jobsBySource = new Map<string, LoadJobs>();
  const preparePool = new PreparePool(options.prepare?.threads === undefined ? {} : { threads: options.prepare.threads });
  const storesOf = async (sourceId: string) => options.stores(sourceId);
  const jobsFor = async (sourceId: string): Promise<LoadJobs> => {
    let jobs = jobsBySource.get(sourceId);
    if (jobs === undefined) {
      const { lakeStore } = await storesOf(sourceId);
      jobs = new LoadJobs({ ...options.load, catalog, lakeStore, now });
      jobsBySource.set(sourceId, jobs);
    }
    return jobs;
  };

  const prepare = async (input: unknown): Promise<PrepareTaskOutput> => {
    const { sourceId, syncId } = idsOf(input);
    const chunkId = requireString(input, 'chunk_id');
    const key = requireString(input, 'manifest_key');
    let expected: string;
    try {
      expected = manifestKey(sourceId, syncId, chunkId);
    } catch (e) {
      throw invalid(e instanceof Error ? e.message : String(e));
    }
    if (key !== expected) throw invalid(`manifest_key '${key}' is not this chunk's manifest`);
    return await asStage(`Prepare ${chunkId}`, async () => {
      const { rawStore, lakeStore } = await storesOf(sourceId);
      const manifest = JSON.parse(await readText(lakeStore, key)) as ChunkManifest;
      const summary = await preparePool.prepare(
        { sourceId, syncId, chunkId, rawKeys: manifest.rawKeys },
        {
          rawStore,
          lakeStore,
          ...(options.prepare?.limits === undefined ? {} : { limits: options.prepare.limits }),
          ...(options.prepare?.tempDir === undefined ? {} : { tempDir: options.prepare.tempDir }),
        },
      );
      return {
        chunk_id: chunkId,
        summary_key: summaryKey(sourceId, syncId, chunkId),
        read: summary.read,
        prepared: summary.prepared,
        duplicates: summary.duplicates,
        quarantined: Object.values(summary.quarantined).reduce((a, b) => a + b, 0),
      };
    });
  };

  const load = async (input: unknown): Promise<LoadTaskOutput> => {
    const { sourceId, syncId } = idsOf(input);
    const outputs = listField(input, 'prepare_outputs');
    const keys = outputs.map((o) => {
      const chunkId = requireString(o, 'chunk_id');
      const key = requireString(o, 'summary_key');
      if (key !== summaryKey(sourceId, syncId, chunkId)) throw invalid(`summary_key '${key}' is not chunk ${chunkId}'s`);
      return key;
    });
    const window = field(input, 'dedup_window_days');
    return await asStage('Load', async () => {
      const { lakeStore } = await storesOf(sourceId);
      const summaries: PrepareSummary[] = [];
      for (const key of keys) summaries.push(JSON.parse(await readText(lakeStore, key)) as PrepareSummary);
      const spec: LoadSpec = { sourceId, syncId, summaries };
      if (typeof window === 'number') spec.dedupWindowDays = window;
      const job = await (await jobsFor(sourceId)).submitLoadJob(spec);
      return { job_id: job.id };
    });
  };

  const follow = async (input: unknown, context: StageContext = {}): Promise<FollowTaskOutput> => {
    const { sourceId } = idsOf(input);
    let jobId = requireString(field(input, 'load_output'), 'job_id');
    const pollMs = options.followPollMs ?? 500;
    let resubmits = options.followResubmits ?? 2;
    const jobs = await asStage('Follow', () => jobsFor(sourceId));
    for (;;) {
      if (context.signal?.aborted === true) throw new SyncStageError(SyncErrorName.StageFailed, 'Follow: the task was lost');
      const job = await asStage('Follow', () => jobs.getLoadJob(jobId));
      if (job === undefined) throw invalid(`no load job '${jobId}'`);
      if (job.status === 'succeeded') return followOutput(job);
      if (job.status === 'failed') {
        // A runner that died (its process was killed) left a sound spec: run it again here,
        // since a Load is idempotent per sync. Any other failure would repeat.
        const record = job.cause?.startsWith(ABANDONED) === true ? await catalog.getLoadJob(jobId) : undefined;
        if (record === undefined || resubmits <= 0) {
          throw new SyncStageError(SyncErrorName.LoadJobFailed, `load job ${jobId} failed: ${job.cause ?? 'no cause recorded'}`);
        }
        resubmits--;
        jobId = (await asStage('Follow', () => jobs.submitLoadJob(record.spec as LoadSpec))).id;
        continue;
      }
      await delay(pollMs, undefined, context.signal === undefined ? {} : { signal: context.signal }).catch(() => undefined);
    }
  };

  /**
   * The execution's state transitions so far: every state up to this Cleanup, the two after it
   * (the outcome Choice and Succeed or Fail) not yet. Undefined when they cannot be read: the
   * report says null rather than fail the sync over a number.
   */
  const transitionsOf = async (executionArn: string | undefined): Promise<number | undefined> => {
    if (options.executions === undefined || executionArn === undefined) return undefined;
    try {
      const count = field(await options.executions.describeExecution({ executionArn }), 'stateTransitions');
      return typeof count === 'number' && Number.isSafeInteger(count) ? count : undefined;
    } catch {
      return undefined;
    }
  };

  const cleanup = async (input: unknown): Promise<CleanupTaskOutput> => {
    const target = field(input, 'cleanup_input');
    const { sourceId, syncId } = idsOf(target);
    const caught = caughtError(field(input, 'error'));
    const startedText = stringField(input, 'started_at');
    const replay = replayOf(target);
    return await asStage('Cleanup', async () => {
      const stores = await storesOf(sourceId);
      const { lakeStore } = stores;
      const summaries = await readSyncSummaries(lakeStore, sourceId, syncId);
      const sync = await catalog.getSync(syncId);
      const startedAt = new Date(startedText ?? sync?.startedAt ?? now().toISOString());
      const stateTransitions = await transitionsOf(stringField(input, 'execution_id'));
      const finishedAt = now();
      const database = stringField(target, 'database') ?? stores.database;
      const common = {
        sourceId,
        syncId,
        startedAt,
        finishedAt,
        summaries,
        bucket: lakeStore.url,
        ...(database === undefined ? {} : { database }),
        ...(replay === undefined ? {} : { replay }),
        ...(stateTransitions === undefined ? {} : { stateTransitions }),
      };
      // The catalog commit decides: a committed Load is visible data, so the sync finished even
      // if a later stage (Follow) failed; anything else is rolled back.
      if (isCommitted(sync)) {
        const loaded = sync?.loadResult as LoadResult;
        const report = await writeSyncReport(
          { ...common, status: 'finished', load: loaded, timings: { load: loaded.durationMs, total: finishedAt.getTime() - startedAt.getTime() } },
          { catalog, lakeStore },
        );
        await deletePrefix(lakeStore, syncStagingPrefix(sourceId, syncId));
        return cleanupOutput('finished', sourceId, syncId, report);
      }
      const error = caught ?? { Error: SyncErrorName.NotCommitted, Cause: 'the sync ended without a committed Load' };
      const message = error.Cause !== undefined && error.Cause !== '' ? error.Cause : error.Error;
      const report = await writeSyncReport(
        { ...common, status: 'failed', error: { message, code: error.Error }, timings: { total: finishedAt.getTime() - startedAt.getTime() } },
        { catalog, lakeStore },
      );
      // Roll back: nothing was committed, so the raw objects stay unmarked and the next sync
      // reads them again; its quarantine records would be written again too.
      await deletePrefix(lakeStore, syncStagingPrefix(sourceId, syncId));
      await deletePrefix(lakeStore, syncQuarantinePrefix(sourceId, syncId));
      return { ...cleanupOutput('failed', sourceId, syncId, report), error: message, error_code: error.Error };
    });
  };

  return {
    prepare: (input) => prepare(input),
    load: (input) => load(input),
    follow,
    cleanup: (input) => cleanup(input),
    async idle() {
      await Promise.all([...jobsBySource.values()].map((jobs) => jobs.idle()));
    },
  };
}

/** Per-activity worker settings for {@link registerSyncStages}. */
export interface RegisterSyncStagesOptions {
  /** Prepare tasks this worker runs at once; default 2. */
  preparePollers?: number;
  /** Seconds between automatic heartbeats; keep it under a third of the machine's HeartbeatSeconds. */
  heartbeatIntervalSeconds?: number;
}

/** Registers the four stage handlers on a worker, one activity each. */
export function registerSyncStages(
  worker: Worker,
  activities: SyncActivityArns,
  stages: SyncStages,
  options: RegisterSyncStagesOptions = {},
): Worker {
  const beat = options.heartbeatIntervalSeconds === undefined ? {} : { heartbeatIntervalSeconds: options.heartbeatIntervalSeconds };
  const handler =
    <O>(run: (input: unknown, context: StageContext) => Promise<O>): ActivityHandler<unknown, O> =>
    (input, context) =>
      run(input, { signal: context.signal });
  worker.register(activities.prepare, handler(stages.prepare), { pollers: options.preparePollers ?? 2, ...beat });
  worker.register(activities.load, handler(stages.load), beat);
  worker.register(activities.follow, handler(stages.follow), beat);
  worker.register(activities.cleanup, handler(stages.cleanup), beat);
  return worker;
}

/**
 * Load jobs: the EMR-job interface of the Load/Follow split. The Load activity submits a job and
 * returns at once; the Follow activity polls it until it ends, heartbeating its own task. All of
 * a job's state lives in the catalog database (spec, status, heartbeat, result or cause) and the
 * lake store, so any process sharing them can run or poll a job; this module runs submitted jobs
 * in-process. A runner that dies stops heartbeating, and the next poll fails the job as
 * abandoned rather than letting Follow wait forever; re-running is safe because a Load is
 * idempotent per sync.
 */
import { randomUUID } from 'node:crypto';
import { LoadJobStatus, type Catalog, type LoadJobRecord } from '../catalog/index.ts';
import { runLoad, type LoadOptions, type LoadResult, type LoadSpec } from './load.ts';

/** How in-process jobs run and when a silent one counts as dead. */
export interface LoadJobsOptions extends LoadOptions {
  /** How often a running job records it is alive; default 5 s. */
  heartbeatMs?: number;
  /** A running (or unclaimed queued) job silent for this long is failed as abandoned; default 60 s. */
  staleAfterMs?: number;
}

/** A load job as pollers see it. */
export interface LoadJob {
  id: string;
  sourceId: string;
  syncId: string;
  status: LoadJobStatus;
  /** Present once succeeded. */
  result?: LoadResult;
  /** Present once failed: `<ErrorName>: <message>`. */
  cause?: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
}

/** The `cause` prefix of a job whose runner stopped heartbeating. */
export const ABANDONED = 'LoadJobAbandoned';

function toLoadJob(record: LoadJobRecord): LoadJob {
  const job: LoadJob = {
    id: record.id,
    sourceId: record.sourceId,
    syncId: record.syncId,
    status: record.status,
    createdAt: record.createdAt,
  };
  if (record.result !== undefined) job.result = record.result as LoadResult;
  if (record.cause !== undefined) job.cause = record.cause;
  if (record.startedAt !== undefined) job.startedAt = record.startedAt;
  if (record.finishedAt !== undefined) job.finishedAt = record.finishedAt;
  return job;
}

/** Keeps the first error's name and message as the job's cause (never a later one). */
function causeOf(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return `Error: ${String(err)}`;
}

/** Submits, runs and polls load jobs stored in the catalog. */
export class LoadJobs {
  private readonly running = new Set<Promise<void>>();
  private readonly catalog: Catalog;

  /** @param options where Loads run (catalog, lake store, DuckDB limits) and the heartbeat policy. */
  constructor(private readonly options: LoadJobsOptions) {
    this.catalog = options.catalog;
  }

  private nowIso(): string {
    return (this.options.now ?? (() => new Date()))().toISOString();
  }

  private isStale(record: LoadJobRecord): boolean {
    const last = record.heartbeatAt ?? record.createdAt;
    const age = Date.parse(this.nowIso()) - Date.parse(last);
    return age > (this.options.staleAfterMs ?? 60_000);
  }

  /**
   * Stores a queued job for the sync and starts it in this process; returns without waiting.
   * A live job of the same sync is returned instead of starting a second one that would race it.
   */
  async submitLoadJob(spec: LoadSpec): Promise<LoadJob> {
    const active = await this.catalog.findActiveLoadJob(spec.syncId);
    if (active !== undefined) {
      const current = await this.getLoadJob(active.id);
      if (current !== undefined && (current.status === 'queued' || current.status === 'running'))
        return current;
    }
    const record = await this.catalog.createLoadJob({
      id: randomUUID(),
      sourceId: spec.sourceId,
      syncId: spec.syncId,
      spec,
      createdAt: this.nowIso(),
    });
    const run = this.runLoadJob(record.id).then(
      () => undefined,
      () => undefined,
    );
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
    return toLoadJob(record);
  }

  /** The job's current state; a running job whose runner went silent is failed here as abandoned. */
  async getLoadJob(id: string): Promise<LoadJob | undefined> {
    const record = await this.catalog.getLoadJob(id);
    if (record === undefined) return undefined;
    if ((record.status === 'running' || record.status === 'queued') && this.isStale(record)) {
      await this.catalog.finishLoadJob(id, {
        status: 'failed',
        finishedAt: this.nowIso(),
        cause: `${ABANDONED}: no heartbeat since ${record.heartbeatAt ?? record.createdAt}`,
      });
      const ended = await this.catalog.getLoadJob(id);
      return ended === undefined ? undefined : toLoadJob(ended);
    }
    return toLoadJob(record);
  }

  /**
   * Claims a queued job and runs it to the end (any process may call this for a job it did not
   * submit). Resolves with the final state; a job claimed elsewhere is left alone.
   */
  async runLoadJob(id: string): Promise<LoadJob | undefined> {
    const record = await this.catalog.getLoadJob(id);
    if (record === undefined || !(await this.catalog.claimLoadJob(id, this.nowIso())))
      return this.getLoadJob(id);
    const beat = setInterval(() => {
      this.catalog.heartbeatLoadJob(id, this.nowIso()).catch(() => undefined);
    }, this.options.heartbeatMs ?? 5000);
    beat.unref();
    try {
      const result = await runLoad(record.spec as LoadSpec, this.options);
      await this.catalog.finishLoadJob(id, { status: 'succeeded', finishedAt: this.nowIso(), result });
    } catch (err) {
      await this.catalog.finishLoadJob(id, {
        status: 'failed',
        finishedAt: this.nowIso(),
        cause: causeOf(err),
      });
    } finally {
      clearInterval(beat);
    }
    return this.getLoadJob(id);
  }

  /** Polls until the job ends (Follow does the same through its activity). */
  async waitForLoadJob(id: string, pollMs = 50): Promise<LoadJob> {
    for (;;) {
      const job = await this.getLoadJob(id);
      if (job === undefined) throw new Error(`no load job '${id}'`);
      if (job.status === 'succeeded' || job.status === 'failed') return job;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  /** Resolves when every job started by this process has ended (for shutdown). */
  async idle(): Promise<void> {
    await Promise.all([...this.running]);
  }
}

export { LoadJobStatus };

/**
 * The scheduler: the "brain" of the seed article, which decides when each source syncs. A
 * source syncs every N minutes (Segment's default: 120), or as soon as at least M bytes of
 * unsynced raw data wait, whichever comes first; never while a sync of it is running; and after
 * downtime, once for everything that piled up rather than once per missed tick, because the
 * interval is measured from the last start kept in the store, not counted in ticks.
 *
 * It may import only src/store, so starting a sync, measuring unsynced bytes and asking whether
 * a sync runs are handed in as functions (`inlet start` wires them to src/sync and the engine).
 * Several schedulers may share a database (an `inlet start` per machine): only the holder of
 * the lease in the store starts syncs. It renews the lease before each source it looks at; the
 * others stand by and take over once the lease expires (a crashed leader) or is given back (a
 * stopped one).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Database } from 'better-sqlite3';
import { migrateSqlite } from '../store/migrate.ts';
import { SCHEDULER_MIGRATIONS } from './migrations.ts';

/** Segment syncs every two hours by default. */
export const DEFAULT_INTERVAL_MINUTES = 120;
/** How often the scheduler looks at its sources. */
export const DEFAULT_TICK_MS = 30_000;
/** How long a leader's lease lasts unrenewed: three ticks, so one slow tick does not lose it. */
export const DEFAULT_LEASE_TICKS = 3;

/** One source's schedule. */
export interface SourceSchedule {
  sourceId: string;
  /** Minutes between syncs; default {@link DEFAULT_INTERVAL_MINUTES}. */
  intervalMinutes?: number;
  /** Sync as soon as this many bytes of unsynced raw data wait; no byte trigger when absent. */
  thresholdBytes?: number;
  /** False pauses the source; default true. */
  enabled?: boolean;
}

/** What made the scheduler start a sync. */
export type SyncTrigger = 'interval' | 'bytes';

/** Functions the scheduler needs from the rest of Inlet. */
export interface SchedulerOptions {
  /** The shared SQLite database; the scheduler's tables are migrated into it. */
  db: Database;
  /** The sources and their schedules, read at every tick so configuration changes apply. */
  sources(): readonly SourceSchedule[] | Promise<readonly SourceSchedule[]>;
  /** Starts one sync; resolves undefined when there was nothing to sync. */
  startSync(sourceId: string, trigger: SyncTrigger): Promise<{ syncId: string } | undefined>;
  /** Compressed bytes of raw data not yet synced. Called only for sources with a byte threshold. */
  unsyncedBytes(sourceId: string): Promise<number>;
  /** Whether a sync of the source is running now (e.g. a RUNNING execution for it). */
  isSyncRunning(sourceId: string): Promise<boolean>;
  /** Epoch ms; injected so tests can move time. */
  now?: () => number;
  tickMs?: number;
  /** How long the lease lasts unrenewed; default {@link DEFAULT_LEASE_TICKS} ticks. */
  leaseMs?: number;
  /** This scheduler's name in the lease; host, pid and a random part by default. */
  holder?: string;
  /** Where failures to start a sync are reported (they are also in the run log). */
  onError?: (sourceId: string, error: unknown) => void;
}

/** What one tick decided for one source. */
export interface TickDecision {
  sourceId: string;
  /**
   * - `started`: a sync was started;
   * - `running`: a sync of the source is still running, so none was started;
   * - `waiting`: neither trigger fired;
   * - `nothing_to_sync`: the interval fired but no raw data waited;
   * - `failed`: starting the sync threw (retried on the next tick);
   * - `disabled`: the source is paused;
   * - `standby`: another scheduler holds the lease, so this one decides nothing.
   */
  action: 'started' | 'running' | 'waiting' | 'nothing_to_sync' | 'failed' | 'disabled' | 'standby';
  trigger?: SyncTrigger;
  syncId?: string;
  pendingBytes?: number;
  error?: string;
}

/** One row of the scheduler's run log. */
export interface ScheduledRun {
  id: number;
  sourceId: string;
  at: Date;
  trigger: SyncTrigger;
  outcome: 'started' | 'nothing_to_sync' | 'failed';
  syncId?: string;
  pendingBytes?: number;
  error?: string;
}

interface DbSourceRow {
  source_id: string;
  first_seen_ms: number;
  last_started_ms: number | null;
}

interface DbRunRow {
  id: number;
  source_id: string;
  at_ms: number;
  trigger: SyncTrigger;
  outcome: ScheduledRun['outcome'];
  sync_id: string | null;
  pending_bytes: number | null;
  error: string | null;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** See the module comment. */
export class Scheduler {
  private readonly db: Database;
  private readonly now: () => number;
  private readonly tickMs: number;
  private readonly leaseMs: number;
  /** This scheduler's name in the lease. */
  readonly holder: string;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<TickDecision[]> | undefined;

  constructor(private readonly options: SchedulerOptions) {
    this.db = options.db;
    migrateSqlite(this.db, SCHEDULER_MIGRATIONS);
    this.now = options.now ?? Date.now;
    this.tickMs = options.tickMs ?? DEFAULT_TICK_MS;
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_TICKS * this.tickMs;
    this.holder = options.holder ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  }

  /** Ticks now and then every `tickMs` until {@link stop}. */
  start(): void {
    if (this.timer !== undefined) return;
    const loop = () => {
      this.tick()
        .catch((e: unknown) => this.options.onError?.('*', e))
        .finally(() => {
          if (this.timer !== undefined) this.timer = setTimeout(loop, this.tickMs);
        });
    };
    this.timer = setTimeout(loop, 0);
  }

  /** Stops ticking and gives the lease back; resolves once a tick in progress has ended. */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.ticking?.catch(() => undefined);
    this.db.prepare('DELETE FROM scheduler_lease WHERE holder = ?').run(this.holder);
  }

  /**
   * Takes or renews the lease: it is this scheduler's if free, expired or already its own.
   * One statement under SQLite's write lock, so two schedulers never both win.
   */
  private holdLease(): boolean {
    const now = this.now();
    const { changes } = this.db
      .prepare(
        'INSERT INTO scheduler_lease (id, holder, expires_ms) VALUES (1, ?, ?) ' +
          'ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms ' +
          'WHERE scheduler_lease.holder = excluded.holder OR scheduler_lease.expires_ms <= ?',
      )
      .run(this.holder, now + this.leaseMs, now);
    return changes === 1;
  }

  /** The lease's holder now, or undefined when it is free or expired. */
  leader(): string | undefined {
    const row = this.db.prepare('SELECT holder, expires_ms FROM scheduler_lease WHERE id = 1').get() as
      | { holder: string; expires_ms: number }
      | undefined;
    return row !== undefined && row.expires_ms > this.now() ? row.holder : undefined;
  }

  /**
   * Looks at every source once and starts the syncs that are due. Ticks never overlap: a call
   * while one runs returns that tick's decisions.
   */
  tick(): Promise<TickDecision[]> {
    this.ticking ??= this.runTick().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async runTick(): Promise<TickDecision[]> {
    const decisions: TickDecision[] = [];
    for (const source of await this.options.sources()) {
      // Renewed before each source, so a tick slower than the lease cannot outlive it.
      if (!this.holdLease()) {
        decisions.push({ sourceId: source.sourceId, action: 'standby' });
        continue;
      }
      try {
        decisions.push(await this.decide(source));
      } catch (e) {
        // One source's bad schedule or broken store must not stop the others from syncing.
        this.options.onError?.(source.sourceId, e);
        decisions.push({ sourceId: source.sourceId, action: 'failed', error: describe(e) });
      }
    }
    return decisions;
  }

  private sourceRow(sourceId: string, now: number): DbSourceRow {
    this.db
      .prepare('INSERT INTO scheduler_sources (source_id, first_seen_ms) VALUES (?, ?) ON CONFLICT (source_id) DO NOTHING')
      .run(sourceId, now);
    return this.db.prepare('SELECT * FROM scheduler_sources WHERE source_id = ?').get(sourceId) as DbSourceRow;
  }

  private async decide(source: SourceSchedule): Promise<TickDecision> {
    const { sourceId } = source;
    if (source.enabled === false) return { sourceId, action: 'disabled' };
    const now = this.now();
    const row = this.sourceRow(sourceId, now);
    if (await this.options.isSyncRunning(sourceId)) return { sourceId, action: 'running' };
    const minutes = source.intervalMinutes ?? DEFAULT_INTERVAL_MINUTES;
    if (!(minutes > 0)) throw new RangeError(`source '${sourceId}': intervalMinutes must be above 0, got ${minutes}`);
    if (source.thresholdBytes !== undefined && !(source.thresholdBytes >= 0)) {
      throw new RangeError(`source '${sourceId}': thresholdBytes must be 0 or more, got ${source.thresholdBytes}`);
    }
    const intervalMs = minutes * 60_000;
    // Measured from the last start (or from when the source was first seen), so any length of
    // downtime makes one sync due, never a backlog of them.
    const intervalDue = now - (row.last_started_ms ?? row.first_seen_ms) >= intervalMs;
    let pendingBytes: number | undefined;
    let trigger: SyncTrigger | undefined;
    if (source.thresholdBytes !== undefined) {
      pendingBytes = await this.options.unsyncedBytes(sourceId);
      if (pendingBytes >= source.thresholdBytes && pendingBytes > 0) trigger = 'bytes';
    }
    if (trigger === undefined && intervalDue) trigger = 'interval';
    const base: TickDecision = pendingBytes === undefined ? { sourceId, action: 'waiting' } : { sourceId, action: 'waiting', pendingBytes };
    if (trigger === undefined) return base;
    try {
      const started = await this.options.startSync(sourceId, trigger);
      const outcome = started === undefined ? 'nothing_to_sync' : 'started';
      this.record(sourceId, now, trigger, outcome, started?.syncId, pendingBytes);
      return started === undefined ? { ...base, action: outcome, trigger } : { ...base, action: outcome, trigger, syncId: started.syncId };
    } catch (e) {
      this.options.onError?.(sourceId, e);
      this.record(sourceId, now, trigger, 'failed', undefined, pendingBytes, describe(e));
      return { ...base, action: 'failed', trigger, error: describe(e) };
    }
  }

  /** Logs a decision; a start (or an interval with nothing to sync) restarts the source's interval. */
  private record(
    sourceId: string,
    now: number,
    trigger: SyncTrigger,
    outcome: ScheduledRun['outcome'],
    syncId: string | undefined,
    pendingBytes: number | undefined,
    error?: string,
  ): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          'INSERT INTO scheduler_runs (source_id, at_ms, trigger, outcome, sync_id, pending_bytes, error) VALUES (?, ?, ?, ?, ?, ?, ?)',
        )
        .run(sourceId, now, trigger, outcome, syncId ?? null, pendingBytes ?? null, error ?? null);
      if (outcome !== 'failed') {
        this.db
          .prepare('UPDATE scheduler_sources SET last_started_ms = ?, last_sync_id = ?, last_trigger = ? WHERE source_id = ?')
          .run(now, syncId ?? null, trigger, sourceId);
      }
    })();
  }

  /** The run log, most recent first (default the last 100, as Segment's sync history). */
  history(options: { sourceId?: string; limit?: number } = {}): ScheduledRun[] {
    const limit = options.limit ?? 100;
    const rows = (
      options.sourceId === undefined
        ? this.db.prepare('SELECT * FROM scheduler_runs ORDER BY id DESC LIMIT ?').all(limit)
        : this.db.prepare('SELECT * FROM scheduler_runs WHERE source_id = ? ORDER BY id DESC LIMIT ?').all(options.sourceId, limit)
    ) as DbRunRow[];
    return rows.map((r) => {
      const run: ScheduledRun = { id: r.id, sourceId: r.source_id, at: new Date(r.at_ms), trigger: r.trigger, outcome: r.outcome };
      if (r.sync_id !== null) run.syncId = r.sync_id;
      if (r.pending_bytes !== null) run.pendingBytes = r.pending_bytes;
      if (r.error !== null) run.error = r.error;
      return run;
    });
  }

  /** When the source's interval clock last restarted, or undefined if it never synced. */
  lastStarted(sourceId: string): Date | undefined {
    const row = this.db.prepare('SELECT last_started_ms FROM scheduler_sources WHERE source_id = ?').get(sourceId) as
      | { last_started_ms: number | null }
      | undefined;
    return row?.last_started_ms == null ? undefined : new Date(row.last_started_ms);
  }
}

/**
 * The Store on SQLite (better-sqlite3 12, WAL). One connection per process; better-sqlite3 is
 * synchronous, so each method runs as one transaction with nothing interleaved. With WAL and
 * `synchronous = NORMAL` a committed transaction survives the process being killed (the
 * guarantee the engine's crash test checks); `durability: 'full'` also survives power loss.
 */
import Database from 'better-sqlite3';
import type { Database as DatabaseHandle, Statement } from 'better-sqlite3';
import { migrateSqlite } from '../migrate.ts';
import { hasPayloads, moveOutOfLine, restorePayloads } from '../payloads.ts';
import { EXECUTION_COLUMNS, EXECUTION_HEAD_COLUMNS } from '../store.ts';
import { engineMigrations } from './migrations.ts';
import type {
  AdvanceCommit,
  DbActivity,
  DbActivityTask,
  DbExecution,
  DbExecutionHead,
  DbHistoryEvent,
  DbInboxRow,
  DbStateMachine,
  DbStateMachineVersion,
  ListExecutionsQuery,
  NewInboxRow,
  Store,
} from '../store.ts';

export { OUT_OF_LINE_BYTES } from '../payloads.ts';

/** Options for {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  /** `normal` (default): safe against process crashes; `full`: also against power loss. */
  durability?: 'normal' | 'full';
  /** WAL pages that trigger a checkpoint; default {@link DEFAULT_WAL_CHECKPOINT_PAGES}. */
  walCheckpointPages?: number;
}

/** SQLite's own default: about 4 MB of WAL with 4 KiB pages; the WAL file stays near that size. */
export const DEFAULT_WAL_CHECKPOINT_PAGES = 1_000;

/** Opens (creating and migrating) the engine's tables in a SQLite file; `:memory:` for tests. */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): SqliteStore {
  return sqliteStoreIn(openSqliteDatabase(path, options));
}

/** The engine's store in an open SQLite database (from {@link openSqliteDatabase}), its tables migrated. */
export function sqliteStoreIn(db: DatabaseHandle): SqliteStore {
  migrateSqlite(db, engineMigrations);
  return new SqliteStore(db);
}

/**
 * Opens a SQLite file as the store does (WAL, durability, busy timeout, checkpoints) without the
 * engine's tables: for the catalog and the scheduler when the engine keeps its state elsewhere.
 */
export function openSqliteDatabase(path: string, options: SqliteStoreOptions = {}): DatabaseHandle {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`);
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  // The commit that fills the WAL past this runs the checkpoint and waits for its fsyncs. More
  // pages means rarer but longer stalls: 4,000 and 10,000 gave the same bench ratios as
  // SQLite's 1,000 and a p99 of 16-40 ms instead of 8-10 ms (docs/benchmarks.md).
  db.pragma(`wal_autocheckpoint = ${options.walCheckpointPages ?? DEFAULT_WAL_CHECKPOINT_PAGES}`);
  return db;
}

/** See {@link openSqliteStore}. */
export class SqliteStore implements Store {
  private readonly statements = new Map<string, Statement>();

  constructor(readonly db: DatabaseHandle) {}

  private st(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  async putStateMachine(sm: DbStateMachine): Promise<void> {
    this.st(
      `INSERT INTO state_machines (arn, name, definition, role_arn, type, created_ms, updated_ms, revision, description)
       VALUES (@arn, @name, @definition, @role_arn, @type, @created_ms, @updated_ms, @revision, @description)
       ON CONFLICT (arn) DO UPDATE SET definition = excluded.definition, role_arn = excluded.role_arn,
         updated_ms = excluded.updated_ms, revision = excluded.revision, description = excluded.description`,
    ).run(sm);
  }

  async getStateMachine(arn: string): Promise<DbStateMachine | undefined> {
    return this.st('SELECT * FROM state_machines WHERE arn = ?').get(arn) as DbStateMachine | undefined;
  }

  async getStateMachineByName(name: string): Promise<DbStateMachine | undefined> {
    return this.st('SELECT * FROM state_machines WHERE name = ?').get(name) as DbStateMachine | undefined;
  }

  async listStateMachines(limit: number, afterName = ''): Promise<DbStateMachine[]> {
    return this.st('SELECT * FROM state_machines WHERE name > ? ORDER BY name LIMIT ?').all(afterName, limit) as DbStateMachine[];
  }

  async deleteStateMachine(arn: string): Promise<void> {
    this.db.transaction(() => {
      this.st('DELETE FROM state_machines WHERE arn = ?').run(arn);
      this.st('DELETE FROM state_machine_versions WHERE state_machine_arn = ?').run(arn);
      this.st('DELETE FROM tags WHERE resource_arn = ?').run(arn);
    })();
  }

  async putStateMachineVersion(version: DbStateMachineVersion): Promise<void> {
    this.st(
      `INSERT INTO state_machine_versions (arn, state_machine_arn, version, definition, role_arn, created_ms, description)
       VALUES (@arn, @state_machine_arn, @version, @definition, @role_arn, @created_ms, @description)`,
    ).run(version);
  }

  async getStateMachineVersion(arn: string): Promise<DbStateMachineVersion | undefined> {
    return this.st('SELECT * FROM state_machine_versions WHERE arn = ?').get(arn) as DbStateMachineVersion | undefined;
  }

  async listStateMachineVersions(stateMachineArn: string): Promise<DbStateMachineVersion[]> {
    return this.st('SELECT * FROM state_machine_versions WHERE state_machine_arn = ? ORDER BY version DESC').all(
      stateMachineArn,
    ) as DbStateMachineVersion[];
  }

  async putActivity(activity: DbActivity): Promise<void> {
    this.st('INSERT INTO activities (arn, name, created_ms) VALUES (@arn, @name, @created_ms) ON CONFLICT (arn) DO NOTHING').run(activity);
  }

  async getActivity(arn: string): Promise<DbActivity | undefined> {
    return this.st('SELECT * FROM activities WHERE arn = ?').get(arn) as DbActivity | undefined;
  }

  async listActivities(limit: number, afterName = ''): Promise<DbActivity[]> {
    return this.st('SELECT * FROM activities WHERE name > ? ORDER BY name LIMIT ?').all(afterName, limit) as DbActivity[];
  }

  async deleteActivity(arn: string): Promise<void> {
    this.st('DELETE FROM activities WHERE arn = ?').run(arn);
  }

  private insertInbox(rows: readonly NewInboxRow[]): void {
    const insert = this.st('INSERT INTO inbox (execution_arn, due_ms, token, kind, wake) VALUES (@execution_arn, @due_ms, @token, @kind, @wake)');
    for (const row of rows) insert.run(row);
  }

  async insertExecution(execution: DbExecution, inbox: NewInboxRow[]): Promise<boolean> {
    return this.db.transaction(() => {
      const inserted = this.st(
        `INSERT INTO executions (arn, state_machine_arn, started_with_arn, name, status, input, output, error, cause, start_ms,
           stop_ms, definition, role_arn, runtime, transitions, redrive_count, redrive_ms, version, id)
         VALUES (@arn, @state_machine_arn, @started_with_arn, @name, @status, @input, @output, @error, @cause, @start_ms,
           @stop_ms, @definition, @role_arn, @runtime, @transitions, @redrive_count, @redrive_ms, @version,
           (SELECT coalesce(max(id), 0) + 1 FROM executions))
         ON CONFLICT (arn) DO NOTHING`,
      ).run(execution);
      if (inserted.changes === 0) return false;
      this.insertInbox(inbox);
      return true;
    }).immediate();
  }

  async getExecution(arn: string): Promise<DbExecution | undefined> {
    return this.st(`SELECT ${EXECUTION_COLUMNS} FROM executions WHERE arn = ?`).get(arn) as DbExecution | undefined;
  }

  /** The integer that keys an execution's history rows. */
  private executionId(arn: string): number | undefined {
    return this.st('SELECT id FROM executions WHERE arn = ?').pluck().get(arn) as number | undefined;
  }

  async getExecutionHead(arn: string): Promise<DbExecutionHead | undefined> {
    return this.st(`SELECT ${EXECUTION_HEAD_COLUMNS} FROM executions WHERE arn = ?`).get(arn) as DbExecutionHead | undefined;
  }

  async listExecutions(query: ListExecutionsQuery): Promise<DbExecution[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.stateMachineArn) {
      where.push('(state_machine_arn = ? OR started_with_arn = ?)');
      params.push(query.stateMachineArn, query.stateMachineArn);
    }
    if (query.status) {
      where.push('status = ?');
      params.push(query.status);
    }
    if (query.after) {
      where.push('(start_ms < ? OR (start_ms = ? AND arn < ?))');
      params.push(query.after.start_ms, query.after.start_ms, query.after.arn);
    }
    const sql = `SELECT ${EXECUTION_COLUMNS} FROM executions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY start_ms DESC, arn DESC LIMIT ?`;
    return this.st(sql).all(...params, query.limit) as DbExecution[];
  }

  async getHistory(arn: string, options: { afterId?: number; beforeId?: number; limit: number; reverse: boolean }): Promise<DbHistoryEvent[]> {
    const executionId = this.executionId(arn);
    if (executionId === undefined) return [];
    const [where, order, from] = options.reverse ? ['id < ?', 'DESC', options.beforeId ?? Number.MAX_SAFE_INTEGER] : ['id > ?', '', options.afterId ?? 0];
    return this.inLine(
      this.st(
        `SELECT ? AS execution_arn, id, type, timestamp_ms, previous_event_id, details FROM history
         WHERE execution_id = ? AND ${where} ORDER BY id ${order} LIMIT ?`,
      ).all(arn, executionId, from, options.limit) as DbHistoryEvent[],
    );
  }

  async resetExecution(arn: string, expectedVersion: number, execution: Partial<DbExecution>, inbox: NewInboxRow[]): Promise<boolean> {
    return this.db.transaction(() => {
      const sets = Object.keys(execution).map((k) => `"${k.replaceAll('"', '""')}" = @${k}`);
      const updated = this.db
        .prepare(`UPDATE executions SET ${sets.join(', ')}, version = version + 1 WHERE arn = @__arn AND version = @__expected`)
        .run({ ...execution, __arn: arn, __expected: expectedVersion });
      if (updated.changes === 0) return false;
      this.insertInbox(inbox);
      return true;
    }).immediate();
  }

  async dueInbox(nowMs: number, limit: number): Promise<DbInboxRow[]> {
    return this.st('SELECT * FROM inbox WHERE due_ms <= ? ORDER BY due_ms, id LIMIT ?').all(nowMs, limit) as DbInboxRow[];
  }

  async nextDue(): Promise<number | undefined> {
    const row = this.st('SELECT MIN(due_ms) AS due FROM inbox').get() as { due: number | null };
    return row.due ?? undefined;
  }

  async addInbox(rows: NewInboxRow[]): Promise<void> {
    this.db.transaction(() => this.insertInbox(rows))();
  }

  async postponeTimer(token: string, kind: string, dueMs: number): Promise<void> {
    this.st('UPDATE inbox SET due_ms = ? WHERE token = ? AND kind = ?').run(dueMs, token, kind);
  }

  async commitAdvance(commit: AdvanceCommit): Promise<boolean> {
    return this.db.transaction(() => {
      // A worker's answer that was acknowledged while this advance timed its task out wins:
      // refuse the commit, so the advance is redone with the answer in its batch.
      const status = this.st('SELECT status FROM activity_tasks WHERE token = ?').pluck();
      for (const { token, reason } of commit.closedTasks) {
        if (reason === 'timed_out' && status.get(token) === 'closed') return false;
      }
      // The wake-ups this advance applied must still be there: another engine on the same
      // database may have applied them first (and moved the version on before this one read it).
      const present = this.st('SELECT 1 FROM inbox WHERE id = ?').pluck();
      for (const id of commit.consumedInbox) if (present.get(id) === undefined) return false;
      const executionId = this.st(
        `UPDATE executions SET status = @status, runtime = @runtime, transitions = @transitions, output = @output,
           error = @error, cause = @cause, stop_ms = @stop_ms, version = version + 1
         WHERE arn = @arn AND version = @expected RETURNING id`,
      )
        .pluck()
        .get({ ...commit.execution, arn: commit.executionArn, expected: commit.expectedVersion }) as number | undefined;
      if (executionId === undefined) return false;
      this.insertEvents(executionId, commit.events);
      const consume = this.st('DELETE FROM inbox WHERE id = ?');
      for (const id of commit.consumedInbox) consume.run(id);
      this.insertInbox(commit.newInbox);
      const insertTask = this.st(
        `INSERT INTO activity_tasks (token, activity_arn, execution_arn, input, status, created_ms, heartbeat_seconds)
         VALUES (@token, @activity_arn, @execution_arn, @input, @status, @created_ms, @heartbeat_seconds)`,
      );
      for (const task of commit.newTasks) insertTask.run(task);
      const close = this.st(`UPDATE activity_tasks SET status = 'closed', closed_reason = ? WHERE token = ? AND status <> 'closed'`);
      const dropTimers = this.st('DELETE FROM inbox WHERE token = ? AND kind IN (\'taskTimeout\', \'heartbeat\')');
      for (const { token, reason } of commit.closedTasks) {
        close.run(reason, token);
        dropTimers.run(token);
      }
      if (commit.execution.status !== 'RUNNING') {
        this.st('DELETE FROM inbox WHERE execution_arn = ?').run(commit.executionArn);
        this.st(`UPDATE activity_tasks SET status = 'closed', closed_reason = 'aborted' WHERE execution_arn = ? AND status <> 'closed'`).run(
          commit.executionArn,
        );
      }
      return true;
    }).immediate();
  }

  /** Stores the large strings of an event's details once, by hash (`src/store/payloads.ts`). */
  private outOfLine(details: string | null): string | null {
    const moved = moveOutOfLine(details);
    const put = this.st('INSERT INTO payloads (hash, body) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING');
    for (const { hash, body } of moved.payloads) put.run(hash, body);
    return moved.details;
  }

  /** Reads back what {@link outOfLine} stored, transparently. */
  private inLine(rows: DbHistoryEvent[]): DbHistoryEvent[] {
    const get = this.st('SELECT body FROM payloads WHERE hash = ?').pluck();
    for (const row of rows) {
      if (hasPayloads(row.details)) row.details = restorePayloads(row.details, (hash) => get.get(hash) as string | undefined);
    }
    return rows;
  }

  /** History rows go in as multi-row INSERTs of up to 64 rows: far fewer statement runs per advance. */
  private insertEvents(executionId: number, events: readonly DbHistoryEvent[]): void {
    const BATCH = 64;
    for (let start = 0; start < events.length; start += BATCH) {
      const batch = events.slice(start, start + BATCH);
      const statement = this.st(
        `INSERT INTO history (execution_id, id, type, timestamp_ms, previous_event_id, details) VALUES ${batch.map(() => '(?, ?, ?, ?, ?, ?)').join(', ')}`,
      );
      const params: unknown[] = [];
      for (const e of batch) params.push(executionId, e.id, e.type, e.timestamp_ms, e.previous_event_id, this.outOfLine(e.details));
      statement.run(...params);
    }
  }

  async taskStartsOf(executionArn: string): Promise<DbInboxRow[]> {
    return this.st(`SELECT * FROM inbox WHERE execution_arn = ? AND kind = 'taskStarted' ORDER BY id`).all(executionArn) as DbInboxRow[];
  }

  async claimActivityTask(activityArn: string, workerName: string, nowMs: number, startDueMs = nowMs): Promise<DbActivityTask | undefined> {
    // Look before taking the write lock: most polls of an idle queue find nothing.
    if (!this.st(`SELECT 1 FROM activity_tasks WHERE activity_arn = ? AND status = 'scheduled' LIMIT 1`).get(activityArn)) return undefined;
    return this.db.transaction(() => {
      const task = this.st(
        `SELECT * FROM activity_tasks WHERE activity_arn = ? AND status = 'scheduled' ORDER BY created_ms LIMIT 1`,
      ).get(activityArn) as DbActivityTask | undefined;
      if (!task) return undefined;
      this.st(`UPDATE activity_tasks SET status = 'started', started_ms = ?, worker_name = ? WHERE token = ?`).run(nowMs, workerName, task.token);
      this.insertInbox([
        {
          execution_arn: task.execution_arn,
          due_ms: startDueMs,
          token: null,
          kind: 'taskStarted',
          wake: JSON.stringify({ kind: 'taskStarted', token: task.token, workerName, startedMs: nowMs }),
        },
      ]);
      return { ...task, status: 'started' as const, started_ms: nowMs, worker_name: workerName };
    }).immediate();
  }

  async getActivityTask(token: string): Promise<DbActivityTask | undefined> {
    return this.st('SELECT * FROM activity_tasks WHERE token = ?').get(token) as DbActivityTask | undefined;
  }

  async closeActivityTask(token: string, reason: string, wake: NewInboxRow): Promise<boolean> {
    return this.db.transaction(() => {
      const closed = this.st(`UPDATE activity_tasks SET status = 'closed', closed_reason = ? WHERE token = ? AND status <> 'closed'`).run(
        reason,
        token,
      );
      if (closed.changes === 0) return false;
      this.st(`DELETE FROM inbox WHERE token = ? AND kind IN ('taskTimeout', 'heartbeat')`).run(token);
      this.insertInbox([wake]);
      return true;
    }).immediate();
  }

  async openTasksOfResources(prefix: string): Promise<DbActivityTask[]> {
    // substr, not LIKE: LIKE ignores case and reads '_' and '%' in the prefix as wildcards.
    return this.st(`SELECT * FROM activity_tasks WHERE status <> 'closed' AND substr(activity_arn, 1, ?) <> ? ORDER BY created_ms`).all(
      prefix.length,
      prefix,
    ) as DbActivityTask[];
  }

  async tagResource(arn: string, tags: Record<string, string>): Promise<void> {
    this.db.transaction(() => {
      const put = this.st('INSERT INTO tags (resource_arn, key, value) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET value = excluded.value');
      for (const [key, value] of Object.entries(tags)) put.run(arn, key, value);
    })();
  }

  async untagResource(arn: string, keys: readonly string[]): Promise<void> {
    this.db.transaction(() => {
      for (const key of keys) this.st('DELETE FROM tags WHERE resource_arn = ? AND key = ?').run(arn, key);
    })();
  }

  async listTags(arn: string): Promise<Record<string, string>> {
    const rows = this.st('SELECT key, value FROM tags WHERE resource_arn = ? ORDER BY key').all(arn) as { key: string; value: string }[];
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  }

  async purgeExecutions(beforeMs: number): Promise<number> {
    return this.db.transaction(() => {
      const arns = this.st(`SELECT arn FROM executions WHERE stop_ms IS NOT NULL AND stop_ms < ? AND status <> 'RUNNING'`)
        .pluck()
        .all(beforeMs) as string[];
      for (const arn of arns) {
        this.st('DELETE FROM history WHERE execution_id = (SELECT id FROM executions WHERE arn = ?)').run(arn);
        this.st('DELETE FROM activity_tasks WHERE execution_arn = ?').run(arn);
        this.st('DELETE FROM executions WHERE arn = ?').run(arn);
      }
      if (arns.length > 0) {
        this.st(
          `DELETE FROM payloads WHERE NOT EXISTS (
             SELECT 1 FROM history WHERE instr(history.details, payloads.hash) > 0)`,
        ).run();
      }
      return arns.length;
    }).immediate();
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

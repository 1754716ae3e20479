/**
 * The Store on PostgreSQL (`pg`), for engines that keep their state in a database server: one
 * the team already backs up and watches, or one that several Inlet nodes share. Same tables and
 * semantics as the SQLite store; what SQLite gets from its single writer, PostgreSQL gets from
 * row locks:
 *
 * - a commit is guarded by the execution row's version (`UPDATE … WHERE version = $n`), so two
 *   engines advancing one execution cannot both win: the loser's commit is refused and it
 *   re-reads, as on SQLite;
 * - an activity task is claimed with `FOR UPDATE SKIP LOCKED`, so concurrent pollers, in one
 *   process or many, never get the same task and never wait on each other's claims;
 * - a timeout closing a task locks the task row first, so a worker's answer acknowledged at the
 *   same moment either lands before it (and the advance is redone with it) or after (and is
 *   refused as TaskTimedOut), never both.
 *
 * Several engines on one database hand each other work through the tables. A commit that
 * schedules activity tasks also `NOTIFY`s (delivered only if it commits), so a worker long-polling
 * another engine gets the task at once; everything else an engine finds by its loop, which
 * looks at the inbox at least every second, and an engine handles the wake-ups it writes itself.
 */
import { createHash, randomUUID } from 'node:crypto';
import pg from 'pg';
import { migratePostgres } from '../migrate.ts';
import { hasPayloads, moveOutOfLine, payloadHashes, restorePayloads } from '../payloads.ts';
import type {
  AdvanceCommit,
  StoreWake,
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
import { postgresEngineMigrations } from './migrations.ts';

/** Options for {@link openPostgresStore}. */
export interface PostgresStoreOptions {
  /**
   * `postgres://user@host:port/database`; `pg`'s defaults and the PG* environment variables
   * (PGHOST, PGPASSWORD …) fill in what it leaves out, so a password need not be in a config file.
   */
  connectionString?: string;
  /** The schema holding the engine's tables, created if missing; default `inlet`. */
  schema?: string;
  /** Connections in the pool; default 10. */
  max?: number;
}

/** The default schema of the engine's tables. */
export const DEFAULT_POSTGRES_SCHEMA = 'inlet';
/** A schema name that needs no quoting anywhere (it also goes into the connection's search_path). */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** History rows per INSERT: well under PostgreSQL's 65,535 parameters. */
const HISTORY_BATCH = 500;

const EXECUTION_HEAD_COLUMNS = `arn, state_machine_arn, started_with_arn, name, status, input, output, error, cause, start_ms,
  stop_ms, role_arn, transitions, redrive_count, redrive_ms, version`;
const EXECUTION_COLUMNS = `${EXECUTION_HEAD_COLUMNS}, definition, runtime`;
/** Columns a redrive may reset (`resetExecution`); anything else is a bug in the caller. */
const RESETTABLE = new Set([
  'status', 'output', 'error', 'cause', 'stop_ms', 'runtime', 'transitions', 'redrive_count', 'redrive_ms',
]);

/** BIGINT (epoch ms, ids) as numbers: every value the engine stores is far below 2^53. */
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

type Client = pg.PoolClient;

/**
 * Opens a pool on the database, creates the schema if missing and migrates the engine's tables
 * into it. Throws for a schema name that is not lower-case letters, digits and `_`.
 */
export async function openPostgresStore(options: PostgresStoreOptions = {}): Promise<PostgresStore> {
  const schema = options.schema ?? DEFAULT_POSTGRES_SCHEMA;
  if (!SCHEMA_NAME.test(schema)) {
    throw new RangeError(`schema '${schema}' must be lower-case letters, digits and '_', starting with a letter or '_'`);
  }
  const connection: pg.ClientConfig = {
    ...(options.connectionString === undefined ? {} : { connectionString: options.connectionString }),
    // Every connection works in the schema: the SQL names its tables unqualified.
    options: `-c search_path=${schema}`,
    types,
  };
  const pool = new pg.Pool({ ...connection, max: options.max ?? 10 });
  // An idle connection that breaks (the server restarted) is dropped by the pool; without a
  // listener its error would crash the process.
  pool.on('error', () => undefined);
  const client = await pool.connect();
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await migratePostgres(client, postgresEngineMigrations);
  } catch (err) {
    client.release();
    await pool.end();
    throw err;
  }
  client.release();
  return new PostgresStore(pool, schema, connection);
}

/** `$1, $2, …` for the `count` parameters after the first `from`. */
function placeholders(count: number, from = 0): string {
  return Array.from({ length: count }, (_, i) => `$${from + i + 1}`).join(', ');
}

/** Multi-row VALUES lists: `($1, $2), ($3, $4)` for rows of `width` parameters. */
function valuesRows(rows: number, width: number): string {
  return Array.from({ length: rows }, (_, r) => `(${placeholders(width, r * width)})`).join(', ');
}

/** See {@link openPostgresStore}. */
export class PostgresStore implements Store {
  /** Tells this store's own announcements from other processes'. */
  private readonly node = randomUUID();
  /** The NOTIFY channel of the schema (hashed: a channel name, like any identifier, stops at 63 bytes). */
  private readonly channel: string;

  constructor(
    private readonly pool: pg.Pool,
    /** The schema holding the tables. */
    readonly schema: string,
    /** How to open a connection of its own, for LISTEN. */
    private readonly connection: pg.ClientConfig = {},
  ) {
    this.channel = `inlet_${createHash('sha256').update(schema).digest('hex').slice(0, 24)}`;
  }

  /**
   * Listens on the schema's channel with a connection of its own, reconnecting after a second
   * when it breaks (meanwhile the pollers' own looks every second still find the tasks).
   */
  async listen(onWake: (wake: StoreWake) => void): Promise<() => Promise<void>> {
    let client: pg.Client | undefined;
    let closed = false;
    const connect = async (): Promise<void> => {
      const next = new pg.Client(this.connection);
      next.on('notification', (message) => {
        const [node, activityArn] = (message.payload ?? '').split(' ');
        if (node !== this.node && activityArn) onWake({ kind: 'task', activityArn });
      });
      next.on('error', () => {
        void next.end().catch(() => undefined);
        if (!closed) setTimeout(() => void connect().catch(() => undefined), 1000).unref();
      });
      await next.connect();
      await next.query(`LISTEN ${this.channel}`);
      if (closed) await next.end();
      else client = next;
    };
    await connect();
    return async () => {
      closed = true;
      await client?.end().catch(() => undefined);
    };
  }

  private async rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.pool.query(sql, params)).rows as T[];
  }

  private async row<T>(sql: string, params: unknown[] = []): Promise<T | undefined> {
    return (await this.rows<T>(sql, params))[0];
  }

  /** Runs `work` in one transaction; a thrown error rolls it back, and so does a false result. */
  private async transaction<T>(work: (client: Client) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query(result === false ? 'ROLLBACK' : 'COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async putStateMachine(sm: DbStateMachine): Promise<void> {
    await this.pool.query(
      `INSERT INTO state_machines (arn, name, definition, role_arn, type, created_ms, updated_ms, revision, description)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (arn) DO UPDATE SET definition = excluded.definition, role_arn = excluded.role_arn,
         updated_ms = excluded.updated_ms, revision = excluded.revision, description = excluded.description`,
      [sm.arn, sm.name, sm.definition, sm.role_arn, sm.type, sm.created_ms, sm.updated_ms, sm.revision, sm.description],
    );
  }

  async getStateMachine(arn: string): Promise<DbStateMachine | undefined> {
    return this.row('SELECT * FROM state_machines WHERE arn = $1', [arn]);
  }

  async getStateMachineByName(name: string): Promise<DbStateMachine | undefined> {
    return this.row('SELECT * FROM state_machines WHERE name = $1', [name]);
  }

  async listStateMachines(limit: number, afterName = ''): Promise<DbStateMachine[]> {
    return this.rows('SELECT * FROM state_machines WHERE name > $1 ORDER BY name LIMIT $2', [afterName, limit]);
  }

  async deleteStateMachine(arn: string): Promise<void> {
    await this.transaction(async (client) => {
      await client.query('DELETE FROM state_machines WHERE arn = $1', [arn]);
      await client.query('DELETE FROM state_machine_versions WHERE state_machine_arn = $1', [arn]);
      await client.query('DELETE FROM tags WHERE resource_arn = $1', [arn]);
    });
  }

  async putStateMachineVersion(version: DbStateMachineVersion): Promise<void> {
    await this.pool.query(
      `INSERT INTO state_machine_versions (arn, state_machine_arn, version, definition, role_arn, created_ms, description)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [version.arn, version.state_machine_arn, version.version, version.definition, version.role_arn, version.created_ms, version.description],
    );
  }

  async getStateMachineVersion(arn: string): Promise<DbStateMachineVersion | undefined> {
    return this.row('SELECT * FROM state_machine_versions WHERE arn = $1', [arn]);
  }

  async listStateMachineVersions(stateMachineArn: string): Promise<DbStateMachineVersion[]> {
    return this.rows('SELECT * FROM state_machine_versions WHERE state_machine_arn = $1 ORDER BY version DESC', [stateMachineArn]);
  }

  async putActivity(activity: DbActivity): Promise<void> {
    await this.pool.query('INSERT INTO activities (arn, name, created_ms) VALUES ($1, $2, $3) ON CONFLICT (arn) DO NOTHING', [
      activity.arn,
      activity.name,
      activity.created_ms,
    ]);
  }

  async getActivity(arn: string): Promise<DbActivity | undefined> {
    return this.row('SELECT * FROM activities WHERE arn = $1', [arn]);
  }

  async listActivities(limit: number, afterName = ''): Promise<DbActivity[]> {
    return this.rows('SELECT * FROM activities WHERE name > $1 ORDER BY name LIMIT $2', [afterName, limit]);
  }

  async deleteActivity(arn: string): Promise<void> {
    await this.pool.query('DELETE FROM activities WHERE arn = $1', [arn]);
  }

  private async insertInbox(client: Client, rows: readonly NewInboxRow[]): Promise<void> {
    if (rows.length === 0) return;
    await client.query(
      `INSERT INTO inbox (execution_arn, due_ms, token, kind, wake) VALUES ${valuesRows(rows.length, 5)}`,
      rows.flatMap((r) => [r.execution_arn, r.due_ms, r.token, r.kind, r.wake]),
    );
  }

  async insertExecution(execution: DbExecution, inbox: NewInboxRow[]): Promise<boolean> {
    return this.transaction(async (client) => {
      const e = execution;
      const inserted = await client.query(
        `INSERT INTO executions (arn, state_machine_arn, started_with_arn, name, status, input, output, error, cause, start_ms,
           stop_ms, definition, role_arn, runtime, transitions, redrive_count, redrive_ms, version)
         VALUES (${placeholders(18)}) ON CONFLICT (arn) DO NOTHING`,
        [e.arn, e.state_machine_arn, e.started_with_arn, e.name, e.status, e.input, e.output, e.error, e.cause, e.start_ms,
          e.stop_ms, e.definition, e.role_arn, e.runtime, e.transitions, e.redrive_count, e.redrive_ms, e.version],
      );
      if (inserted.rowCount === 0) return false;
      await this.insertInbox(client, inbox);
      return true;
    });
  }

  async getExecution(arn: string): Promise<DbExecution | undefined> {
    return this.row(`SELECT ${EXECUTION_COLUMNS} FROM executions WHERE arn = $1`, [arn]);
  }

  async getExecutionHead(arn: string): Promise<DbExecutionHead | undefined> {
    return this.row(`SELECT ${EXECUTION_HEAD_COLUMNS} FROM executions WHERE arn = $1`, [arn]);
  }

  async listExecutions(query: ListExecutionsQuery): Promise<DbExecution[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (value: unknown): string => `$${params.push(value)}`;
    if (query.stateMachineArn) {
      const arn = param(query.stateMachineArn);
      where.push(`(state_machine_arn = ${arn} OR started_with_arn = ${arn})`);
    }
    if (query.status) where.push(`status = ${param(query.status)}`);
    if (query.after) {
      const start = param(query.after.start_ms);
      where.push(`(start_ms < ${start} OR (start_ms = ${start} AND arn < ${param(query.after.arn)}))`);
    }
    const filter = where.length ? `WHERE ${where.join(' AND ')}` : '';
    return this.rows(
      `SELECT ${EXECUTION_COLUMNS} FROM executions ${filter} ORDER BY start_ms DESC, arn DESC LIMIT ${param(query.limit)}`,
      params,
    );
  }

  async getHistory(arn: string, options: { afterId?: number; beforeId?: number; limit: number; reverse: boolean }): Promise<DbHistoryEvent[]> {
    const [where, order, from] = options.reverse
      ? ['h.id < $2::bigint', 'DESC', options.beforeId ?? Number.MAX_SAFE_INTEGER]
      : ['h.id > $2::bigint', 'ASC', options.afterId ?? 0];
    const rows = await this.rows<DbHistoryEvent>(
      `SELECT e.arn AS execution_arn, h.id, h.type, h.timestamp_ms, h.previous_event_id, h.details
       FROM executions AS e JOIN history AS h ON h.execution_id = e.id
       WHERE e.arn = $1 AND ${where} ORDER BY h.id ${order} LIMIT $3`,
      [arn, from, options.limit],
    );
    return this.inLine(rows);
  }

  async resetExecution(arn: string, expectedVersion: number, execution: Partial<DbExecution>, inbox: NewInboxRow[]): Promise<boolean> {
    const entries = Object.entries(execution);
    for (const [column] of entries) {
      if (!RESETTABLE.has(column)) throw new Error(`resetExecution cannot set '${column}'`);
    }
    return this.transaction(async (client) => {
      const sets = entries.map(([column], i) => `${column} = $${i + 3}`);
      const updated = await client.query(
        `UPDATE executions SET ${[...sets, 'version = version + 1'].join(', ')} WHERE arn = $1 AND version = $2`,
        [arn, expectedVersion, ...entries.map(([, value]) => value)],
      );
      if (updated.rowCount === 0) return false;
      await this.insertInbox(client, inbox);
      return true;
    });
  }

  async dueInbox(nowMs: number, limit: number): Promise<DbInboxRow[]> {
    return this.rows('SELECT * FROM inbox WHERE due_ms <= $1 ORDER BY due_ms, id LIMIT $2', [nowMs, limit]);
  }

  async nextDue(): Promise<number | undefined> {
    const row = await this.row<{ due: number | null }>('SELECT MIN(due_ms) AS due FROM inbox');
    return row?.due ?? undefined;
  }

  async taskStartsOf(executionArn: string): Promise<DbInboxRow[]> {
    return this.rows(`SELECT * FROM inbox WHERE execution_arn = $1 AND kind = 'taskStarted' ORDER BY id`, [executionArn]);
  }

  async addInbox(rows: NewInboxRow[]): Promise<void> {
    await this.transaction(async (client) => this.insertInbox(client, rows));
  }

  async postponeTimer(token: string, kind: string, dueMs: number): Promise<void> {
    await this.pool.query('UPDATE inbox SET due_ms = $1 WHERE token = $2 AND kind = $3', [dueMs, token, kind]);
  }

  async commitAdvance(commit: AdvanceCommit): Promise<boolean> {
    return this.transaction(async (client) => {
      const tokens = commit.closedTasks.map((t) => t.token);
      if (tokens.length > 0) {
        // Locked, so an answer to one of these tasks cannot be acknowledged until this commits.
        const { rows } = await client.query<{ token: string; status: string }>(
          'SELECT token, status FROM activity_tasks WHERE token = ANY($1) ORDER BY token FOR UPDATE',
          [tokens],
        );
        const status = new Map(rows.map((r) => [r.token, r.status]));
        // A worker's answer acknowledged while this advance timed its task out wins: refuse the
        // commit, so the advance is redone with the answer in its batch.
        for (const { token, reason } of commit.closedTasks) {
          if (reason === 'timed_out' && status.get(token) === 'closed') return false;
        }
      }
      const e = commit.execution;
      const updated = await client.query<{ id: number }>(
        `UPDATE executions SET status = $1, runtime = $2, transitions = $3, output = $4, error = $5, cause = $6, stop_ms = $7,
           version = version + 1
         WHERE arn = $8 AND version = $9 RETURNING id`,
        [e.status, e.runtime, e.transitions, e.output, e.error, e.cause, e.stop_ms, commit.executionArn, commit.expectedVersion],
      );
      const executionId = updated.rows[0]?.id;
      if (executionId === undefined) return false;
      await this.insertEvents(client, executionId, commit.events);
      if (commit.consumedInbox.length > 0) await client.query('DELETE FROM inbox WHERE id = ANY($1)', [commit.consumedInbox]);
      await this.insertInbox(client, commit.newInbox);
      if (commit.newTasks.length > 0) {
        await client.query(
          `INSERT INTO activity_tasks (token, activity_arn, execution_arn, input, status, created_ms, heartbeat_seconds)
           VALUES ${valuesRows(commit.newTasks.length, 7)}`,
          commit.newTasks.flatMap((t) => [t.token, t.activity_arn, t.execution_arn, t.input, t.status, t.created_ms, t.heartbeat_seconds]),
        );
        // Delivered at COMMIT, and only then: listeners never hear of a task that is not there.
        const activities = [...new Set(commit.newTasks.map((t) => `${this.node} ${t.activity_arn}`))];
        await client.query('SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload', [this.channel, activities]);
      }
      for (const { token, reason } of commit.closedTasks) {
        await client.query(`UPDATE activity_tasks SET status = 'closed', closed_reason = $1 WHERE token = $2 AND status <> 'closed'`, [reason, token]);
      }
      if (tokens.length > 0) {
        await client.query(`DELETE FROM inbox WHERE token = ANY($1) AND kind IN ('taskTimeout', 'heartbeat')`, [tokens]);
      }
      if (e.status !== 'RUNNING') {
        await client.query('DELETE FROM inbox WHERE execution_arn = $1', [commit.executionArn]);
        await client.query(
          `UPDATE activity_tasks SET status = 'closed', closed_reason = 'aborted' WHERE execution_arn = $1 AND status <> 'closed'`,
          [commit.executionArn],
        );
      }
      return true;
    });
  }

  /** History rows as multi-row INSERTs; large details go to `payloads` once (`src/store/payloads.ts`). */
  private async insertEvents(client: Client, executionId: number, events: readonly DbHistoryEvent[]): Promise<void> {
    for (let start = 0; start < events.length; start += HISTORY_BATCH) {
      const batch = events.slice(start, start + HISTORY_BATCH);
      const params: unknown[] = [];
      for (const event of batch) {
        const moved = moveOutOfLine(event.details);
        for (const { hash, body } of moved.payloads) {
          await client.query('INSERT INTO payloads (hash, body) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING', [hash, body]);
        }
        params.push(executionId, event.id, event.type, event.timestamp_ms, event.previous_event_id, moved.details);
      }
      await client.query(
        `INSERT INTO history (execution_id, id, type, timestamp_ms, previous_event_id, details) VALUES ${valuesRows(batch.length, 6)}`,
        params,
      );
    }
  }

  /** Puts back the bodies {@link insertEvents} stored out of line. */
  private async inLine(rows: DbHistoryEvent[]): Promise<DbHistoryEvent[]> {
    const wanted = new Set<string>();
    for (const row of rows) if (hasPayloads(row.details)) for (const hash of payloadHashes(row.details)) wanted.add(hash);
    if (wanted.size === 0) return rows;
    const found = await this.rows<{ hash: string; body: string }>('SELECT hash, body FROM payloads WHERE hash = ANY($1)', [[...wanted]]);
    const bodies = new Map(found.map((p) => [p.hash, p.body]));
    for (const row of rows) if (hasPayloads(row.details)) row.details = restorePayloads(row.details, bodies);
    return rows;
  }

  async claimActivityTask(activityArn: string, workerName: string, nowMs: number, startDueMs = nowMs): Promise<DbActivityTask | undefined> {
    // Look before opening a transaction: most polls of an idle queue find nothing.
    const waiting = await this.row(`SELECT 1 FROM activity_tasks WHERE activity_arn = $1 AND status = 'scheduled' LIMIT 1`, [activityArn]);
    if (waiting === undefined) return undefined;
    const claimed = await this.transaction(async (client) => {
      // SKIP LOCKED: a task another poller is claiming right now is passed over, not waited for.
      const { rows } = await client.query<DbActivityTask>(
        `SELECT * FROM activity_tasks WHERE activity_arn = $1 AND status = 'scheduled'
         ORDER BY created_ms LIMIT 1 FOR UPDATE SKIP LOCKED`,
        [activityArn],
      );
      const task = rows[0];
      if (task === undefined) return undefined;
      await client.query(`UPDATE activity_tasks SET status = 'started', started_ms = $1, worker_name = $2 WHERE token = $3`, [
        nowMs,
        workerName,
        task.token,
      ]);
      await this.insertInbox(client, [
        {
          execution_arn: task.execution_arn,
          due_ms: startDueMs,
          token: null,
          kind: 'taskStarted',
          wake: JSON.stringify({ kind: 'taskStarted', token: task.token, workerName, startedMs: nowMs }),
        },
      ]);
      return { ...task, status: 'started' as const, started_ms: nowMs, worker_name: workerName };
    });
    return claimed;
  }

  async getActivityTask(token: string): Promise<DbActivityTask | undefined> {
    return this.row('SELECT * FROM activity_tasks WHERE token = $1', [token]);
  }

  async closeActivityTask(token: string, reason: string, wake: NewInboxRow): Promise<boolean> {
    return this.transaction(async (client) => {
      const closed = await client.query(
        `UPDATE activity_tasks SET status = 'closed', closed_reason = $1 WHERE token = $2 AND status <> 'closed'`,
        [reason, token],
      );
      if (closed.rowCount === 0) return false;
      await client.query(`DELETE FROM inbox WHERE token = $1 AND kind IN ('taskTimeout', 'heartbeat')`, [token]);
      await this.insertInbox(client, [wake]);
      return true;
    });
  }

  async openTasksOfResources(prefix: string): Promise<DbActivityTask[]> {
    return this.rows(`SELECT * FROM activity_tasks WHERE status <> 'closed' AND NOT starts_with(activity_arn, $1) ORDER BY created_ms`, [
      prefix,
    ]);
  }

  async tagResource(arn: string, tags: Record<string, string>): Promise<void> {
    const entries = Object.entries(tags);
    if (entries.length === 0) return;
    await this.pool.query(
      `INSERT INTO tags (resource_arn, key, value) VALUES ${valuesRows(entries.length, 3)}
       ON CONFLICT (resource_arn, key) DO UPDATE SET value = excluded.value`,
      entries.flatMap(([key, value]) => [arn, key, value]),
    );
  }

  async untagResource(arn: string, keys: readonly string[]): Promise<void> {
    await this.pool.query('DELETE FROM tags WHERE resource_arn = $1 AND key = ANY($2)', [arn, [...keys]]);
  }

  async listTags(arn: string): Promise<Record<string, string>> {
    const rows = await this.rows<{ key: string; value: string }>('SELECT key, value FROM tags WHERE resource_arn = $1 ORDER BY key', [arn]);
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  }

  async purgeExecutions(beforeMs: number): Promise<number> {
    return this.transaction(async (client) => {
      const { rows } = await client.query<{ id: number; arn: string }>(
        `DELETE FROM executions WHERE stop_ms IS NOT NULL AND stop_ms < $1 AND status <> 'RUNNING' RETURNING id, arn`,
        [beforeMs],
      );
      if (rows.length === 0) return 0;
      await client.query('DELETE FROM history WHERE execution_id = ANY($1)', [rows.map((r) => r.id)]);
      await client.query('DELETE FROM activity_tasks WHERE execution_arn = ANY($1)', [rows.map((r) => r.arn)]);
      await client.query(`DELETE FROM payloads WHERE NOT EXISTS (SELECT 1 FROM history WHERE strpos(history.details, payloads.hash) > 0)`);
      return rows.length;
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

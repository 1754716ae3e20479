/**
 * The Store on PostgreSQL (`pg`), for engines that keep their state in a database server: one
 * the team already backs up and watches, or one that several Inlet nodes share. Same tables and
 * semantics as the SQLite store; what SQLite gets from its single writer, PostgreSQL gets from
 * row locks:
 *
 * - a commit is guarded by the execution row's version (`UPDATE … WHERE version = $n`) and by
 *   the wake-ups it consumed still being there, so two engines advancing one execution cannot
 *   both win, nor apply one wake-up twice: the loser's commit is refused and it re-reads;
 * - an activity task is claimed with `FOR UPDATE SKIP LOCKED`, so concurrent pollers, in one
 *   process or many, never get the same task and never wait on each other's claims;
 * - a timeout closing a task locks the task row first, so a worker's answer acknowledged at the
 *   same moment either lands before it (and the advance is redone with it) or after (and is
 *   refused as TaskTimedOut), never both; and every commit takes task rows before inbox rows,
 *   as an answer does, so the two never deadlock.
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
import { EXECUTION_COLUMNS, EXECUTION_HEAD_COLUMNS } from '../store.ts';
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
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * A free-form string as PostgreSQL text can hold it: text is UTF-8 without NUL, so U+0000 and
 * lone surrogates become U+FFFD (encoding to UTF-8 would make the surrogates that anyway; the
 * NUL would make the whole statement fail, again on every retry). JSON text needs none of this:
 * it escapes both.
 */
function storable(value: string): string;
function storable(value: string | null): string | null;
function storable(value: string | null): string | null {
  return value === null ? null : value.replace(UNSTORABLE, '\ufffd');
}

/** A schema name that needs no quoting anywhere (it also goes into the connection's search_path). */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Columns a redrive may reset (`resetExecution`); anything else is a bug in the caller. */
const RESETTABLE = new Set([
  'status', 'output', 'error', 'cause', 'stop_ms', 'runtime', 'transitions', 'redrive_count', 'redrive_ms',
]);

/** BIGINT ids as numbers: they count rows, far below 2^53. (Times are DOUBLE PRECISION, numbers already.) */
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
  const connection: pg.ClientConfig = { ...withSearchPath(options.connectionString, schema), types };
  const pool = new pg.Pool({ ...connection, max: options.max ?? 10 });
  // A connection that breaks (the server restarted) must not crash the process: an idle one is
  // dropped by the pool, and one checked out fails its query, which the caller sees; without
  // these listeners the error event itself would be unhandled.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  const client = await pool.connect();
  try {
    await createSchema(client, schema);
    await migratePostgres(client, postgresEngineMigrations);
  } catch (err) {
    client.release();
    await pool.end();
    throw err;
  }
  client.release();
  return new PostgresStore(pool, schema, connection);
}

/**
 * The connection settings with the schema as the search path (the SQL names its tables
 * unqualified). An `options` parameter in the URL would replace a startup option given beside
 * it, so it is taken out of the URL and the two are joined.
 */
function withSearchPath(connectionString: string | undefined, schema: string): pg.ClientConfig {
  const searchPath = `-c search_path=${schema}`;
  if (connectionString === undefined) return { options: searchPath };
  const url = new URL(connectionString);
  const given = url.searchParams.get('options');
  url.searchParams.delete('options');
  return { connectionString: url.toString(), options: given === null ? searchPath : `${given} ${searchPath}` };
}

/**
 * Creates the schema unless it exists: looked up first, so a role that only owns a schema a DBA
 * made for it needs no CREATE on the database, and a creation raced by another engine starting
 * at the same moment counts as done.
 */
async function createSchema(client: Client, schema: string): Promise<void> {
  const found = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
  if (found.rows.length > 0) return;
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  } catch (err) {
    const code = (err as { code?: string }).code;
    // duplicate_schema, or the catalog's unique index when both creations ran at once.
    if (code !== '42P06' && code !== '23505') throw err;
  }
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
    let reconnecting = false;
    /** Tries again, waiting longer each time (1 s to 30 s), until it listens or is closed. */
    const reconnect = async (): Promise<void> => {
      if (reconnecting) return;
      reconnecting = true;
      for (let wait = 1000; !closed; wait = Math.min(wait * 2, 30_000)) {
        await new Promise((resolve) => setTimeout(resolve, wait).unref());
        if (closed) break;
        try {
          await connect();
          break;
        } catch {
          // The database is still away; the pollers' own looks find the tasks meanwhile.
        }
      }
      reconnecting = false;
    };
    const connect = async (): Promise<void> => {
      const next = new pg.Client({ ...this.connection, keepAlive: true });
      next.on('notification', (message) => {
        const [node, activityArn] = (message.payload ?? '').split(' ');
        if (node !== this.node && activityArn) onWake({ kind: 'task', activityArn });
      });
      next.on('error', () => {
        void next.end().catch(() => undefined);
        if (client === next) client = undefined;
        if (!closed) void reconnect();
      });
      try {
        await next.connect();
        await next.query(`LISTEN ${this.channel}`);
      } catch (err) {
        await next.end().catch(() => undefined);
        throw err;
      }
      if (closed) await next.end();
      else client = next;
    };
    try {
      await connect();
    } catch (err) {
      closed = true;
      throw err;
    }
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
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query(result === false ? 'ROLLBACK' : 'COMMIT');
      return result;
    } catch (err) {
      // A connection that cannot even roll back is not given back to the pool.
      await client.query('ROLLBACK').catch((rollback: unknown) => (broken = rollback instanceof Error ? rollback : new Error(String(rollback))));
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async putStateMachine(sm: DbStateMachine): Promise<void> {
    await this.pool.query(
      `INSERT INTO state_machines (arn, name, definition, role_arn, type, created_ms, updated_ms, revision, description)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (arn) DO UPDATE SET definition = excluded.definition, role_arn = excluded.role_arn,
         updated_ms = excluded.updated_ms, revision = excluded.revision, description = excluded.description`,
      [sm.arn, sm.name, sm.definition, sm.role_arn, sm.type, sm.created_ms, sm.updated_ms, sm.revision, storable(sm.description)],
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
      [version.arn, version.state_machine_arn, version.version, version.definition, version.role_arn, version.created_ms, storable(version.description)],
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
    const e = execution;
    // One statement: the inbox rows go in only if the execution did.
    const { rows } = await this.pool.query(
      `WITH e AS (
         INSERT INTO executions (arn, state_machine_arn, started_with_arn, name, status, input, output, error, cause, start_ms,
           stop_ms, definition, role_arn, runtime, transitions, redrive_count, redrive_ms, version)
         VALUES (${placeholders(18)}) ON CONFLICT (arn) DO NOTHING RETURNING arn),
       i AS (
         INSERT INTO inbox (execution_arn, due_ms, token, kind, wake)
         SELECT x.arn, x.due, x.token, x.kind, x.wake FROM e, unnest($19::text[], $20::float8[], $21::text[], $22::text[], $23::text[])
           AS x(arn, due, token, kind, wake))
       SELECT arn FROM e`,
      [e.arn, e.state_machine_arn, e.started_with_arn, e.name, e.status, e.input, e.output, storable(e.error), storable(e.cause), e.start_ms,
        e.stop_ms, e.definition, e.role_arn, e.runtime, e.transitions, e.redrive_count, e.redrive_ms, e.version,
        inbox.map((r) => r.execution_arn), inbox.map((r) => r.due_ms), inbox.map((r) => r.token), inbox.map((r) => r.kind),
        inbox.map((r) => r.wake)],
    );
    return rows.length === 1;
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
        [arn, expectedVersion, ...entries.map(([, value]) => (typeof value === 'string' ? storable(value) : value))],
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
    const statement = this.advanceStatement(commit);
    if (!commit.closedTasks.some((t) => t.reason === 'timed_out')) {
      // One statement is one transaction: the whole commit is a single round trip.
      const { rows } = await this.pool.query(statement.sql, statement.params);
      return rows.length === 1;
    }
    return this.transaction(async (client) => {
      // Locked, so an answer to one of these tasks cannot be acknowledged until this commits.
      const { rows } = await client.query<{ token: string; status: string }>(
        'SELECT token, status FROM activity_tasks WHERE token = ANY($1) ORDER BY token FOR UPDATE',
        [commit.closedTasks.map((t) => t.token)],
      );
      const status = new Map(rows.map((r) => [r.token, r.status]));
      // A worker's answer acknowledged while this advance timed its task out wins: refuse the
      // commit, so the advance is redone with the answer in its batch.
      for (const { token, reason } of commit.closedTasks) {
        if (reason === 'timed_out' && status.get(token) === 'closed') return false;
      }
      return (await client.query(statement.sql, statement.params)).rows.length === 1;
    });
  }

  /**
   * The whole of an advance's commit as one statement of data-modifying CTEs, each acting only
   * if the execution's version still matched (`FROM e`). The CTEs share one snapshot and do not
   * see each other's rows, so what SQLite does in steps is settled here first: an ended
   * execution gets no new wake-ups (its others are deleted), and a new task is inserted already
   * closed when this commit closes it or ends its execution. Returns the execution's id when it
   * committed, no row when the version was stale.
   */
  private advanceStatement(commit: AdvanceCommit): { sql: string; params: unknown[] } {
    const e = commit.execution;
    const ended = e.status !== 'RUNNING';
    const closing = new Map(commit.closedTasks.map((t) => [t.token, t.reason]));
    const events = commit.events.map((event) => ({ event, ...moveOutOfLine(event.details) }));
    const payloads = events.flatMap((x) => x.payloads).map(({ hash, body }) => ({ hash, body: storable(body) }));
    // A task started and closed in one advance leaves no timers: SQLite deletes them after
    // inserting them, and here the delete cannot see this statement's own inserts.
    const inbox = ended
      ? []
      : commit.newInbox.filter((r) => !(r.token !== null && closing.has(r.token) && (r.kind === 'taskTimeout' || r.kind === 'heartbeat')));
    const tasks = commit.newTasks.map((t) => {
      const reason = closing.get(t.token) ?? (ended ? 'aborted' : undefined);
      return { ...t, status: reason === undefined ? t.status : 'closed', reason: reason ?? null };
    });
    // Delivered at commit, and only then: listeners never hear of a task that is not there.
    const announce = [...new Set(tasks.filter((t) => t.status === 'scheduled').map((t) => `${this.node} ${t.activity_arn}`))];
    const params: unknown[] = [];
    const $ = (value: unknown, type = ''): string => `$${params.push(value)}${type}`;
    // Rows travel as one JSON parameter each: JSON.stringify is native, where pg would escape
    // every element of an array literal in JavaScript (a wide Map's thousands of events).
    const rows = (list: readonly object[]): string => $(JSON.stringify(list), '::json');
    const arn = $(commit.executionArn);
    const consumed = $(commit.consumedInbox, '::bigint[]');
    const closedTokens = $([...closing.keys()], '::text[]');
    // Task rows before inbox rows, as an answer (closeActivityTask) takes them: the deletes wait
    // for these counts, which PostgreSQL computes once, before their first row, by running the
    // task updates to the end. Without it an abort racing a worker's answer could deadlock.
    const tasksFirst = '(SELECT count(*) FROM k) + (SELECT count(*) FROM a) >= 0';
    const sql = `WITH
      e AS (UPDATE executions SET status = ${$(e.status)}, runtime = ${$(e.runtime)}, transitions = ${$(e.transitions)},
              output = ${$(e.output)}, error = ${$(storable(e.error))}, cause = ${$(storable(e.cause))}, stop_ms = ${$(e.stop_ms, '::float8')},
              version = version + 1
            WHERE arn = ${arn} AND version = ${$(commit.expectedVersion)}
              AND (SELECT count(*) FROM inbox WHERE id = ANY(${consumed})) = cardinality(${consumed})
            RETURNING id),
      ${payloads.length === 0 ? '' : `p AS (INSERT INTO payloads (hash, body)
            SELECT x.hash, x.body FROM e, json_to_recordset(${rows(payloads)}) AS x(hash text, body text)
            ON CONFLICT (hash) DO NOTHING),`}
      h AS (INSERT INTO history (execution_id, id, type, timestamp_ms, previous_event_id, details)
            SELECT e.id, x.id, x.type, x.timestamp_ms, x.previous_event_id, x.details
            FROM e, json_to_recordset(${rows(events.map(({ event, details }) => ({ ...event, details })))})
              AS x(id int, type text, timestamp_ms float8, previous_event_id int, details text)),
      t AS (INSERT INTO activity_tasks (token, activity_arn, execution_arn, input, status, closed_reason, created_ms, heartbeat_seconds)
            SELECT x.token, x.activity_arn, x.execution_arn, x.input, x.status, x.reason, x.created_ms, x.heartbeat_seconds
            FROM e, json_to_recordset(${rows(tasks)}) AS x(token text, activity_arn text, execution_arn text, input text,
              status text, reason text, created_ms float8, heartbeat_seconds float8)),
      k AS (UPDATE activity_tasks SET status = 'closed', closed_reason = x.reason
            FROM e, unnest(${closedTokens}, ${$([...closing.values()], '::text[]')}) AS x(token, reason)
            WHERE activity_tasks.token = x.token AND activity_tasks.status <> 'closed' RETURNING activity_tasks.token),
      a AS (UPDATE activity_tasks SET status = 'closed', closed_reason = 'aborted'
            WHERE ${ended ? 'true' : 'false'} AND execution_arn = ${arn} AND status <> 'closed'
              AND NOT (token = ANY(${closedTokens})) AND EXISTS (SELECT 1 FROM e) RETURNING token),
      c AS (DELETE FROM inbox WHERE id = ANY(${consumed}) AND EXISTS (SELECT 1 FROM e) AND ${tasksFirst}),
      i AS (INSERT INTO inbox (execution_arn, due_ms, token, kind, wake)
            SELECT ${arn}, x.due_ms, x.token, x.kind, x.wake
            FROM e, json_to_recordset(${rows(inbox)}) AS x(due_ms float8, token text, kind text, wake text)),
      r AS (DELETE FROM inbox WHERE ${ended ? 'execution_arn' : 'token'} = ${ended ? arn : `ANY(${closedTokens})`}
              ${ended ? '' : "AND kind IN ('taskTimeout', 'heartbeat')"} AND NOT (id = ANY(${consumed})) AND EXISTS (SELECT 1 FROM e)
              AND ${tasksFirst}),
      n AS (SELECT pg_notify(${$(this.channel)}, x) FROM e, unnest(${$(announce, '::text[]')}) AS x)
    SELECT e.id, (SELECT count(*) FROM n) AS announced FROM e`;
    return { sql, params };
  }

  /** Puts back the bodies a commit stored out of line (`src/store/payloads.ts`). */
  private async inLine(rows: DbHistoryEvent[]): Promise<DbHistoryEvent[]> {
    const wanted = new Set<string>();
    for (const row of rows) if (hasPayloads(row.details)) for (const hash of payloadHashes(row.details)) wanted.add(hash);
    if (wanted.size === 0) return rows;
    const found = await this.rows<{ hash: string; body: string }>('SELECT hash, body FROM payloads WHERE hash = ANY($1)', [[...wanted]]);
    const bodies = new Map(found.map((p) => [p.hash, p.body]));
    for (const row of rows) if (hasPayloads(row.details)) row.details = restorePayloads(row.details, (hash) => bodies.get(hash));
    return rows;
  }

  async claimActivityTask(activityArn: string, workerName: string, nowMs: number, startDueMs = nowMs): Promise<DbActivityTask | undefined> {
    // One statement: pick the oldest scheduled task (SKIP LOCKED: a task another poller is
    // claiming right now is passed over, not waited for), start it, and queue its start wake.
    const { rows } = await this.pool.query<DbActivityTask>(
      `WITH picked AS (
         SELECT token FROM activity_tasks WHERE activity_arn = $1 AND status = 'scheduled'
         ORDER BY created_ms LIMIT 1 FOR UPDATE SKIP LOCKED),
       claimed AS (
         UPDATE activity_tasks SET status = 'started', started_ms = $2, worker_name = $3
         FROM picked WHERE activity_tasks.token = picked.token RETURNING activity_tasks.*),
       wake AS (
         INSERT INTO inbox (execution_arn, due_ms, token, kind, wake)
         SELECT execution_arn, $4, NULL, 'taskStarted',
           json_build_object('kind', 'taskStarted', 'token', token, 'workerName', $3::text, 'startedMs', $2::float8)::text
         FROM claimed)
       SELECT * FROM claimed`,
      [activityArn, nowMs, storable(workerName), startDueMs],
    );
    return rows[0];
  }

  async getActivityTask(token: string): Promise<DbActivityTask | undefined> {
    return this.row('SELECT * FROM activity_tasks WHERE token = $1', [token]);
  }

  async closeActivityTask(token: string, reason: string, wake: NewInboxRow): Promise<boolean> {
    // One statement: the timers go and the outcome's wake comes only if this closed the task.
    const { rows } = await this.pool.query(
      `WITH closed AS (
         UPDATE activity_tasks SET status = 'closed', closed_reason = $1 WHERE token = $2 AND status <> 'closed' RETURNING token),
       timers AS (
         DELETE FROM inbox WHERE token = $2 AND kind IN ('taskTimeout', 'heartbeat') AND EXISTS (SELECT 1 FROM closed)),
       outcome AS (
         INSERT INTO inbox (execution_arn, due_ms, token, kind, wake) SELECT $3, $4, $5, $6, $7 FROM closed)
       SELECT token FROM closed`,
      [reason, token, wake.execution_arn, wake.due_ms, wake.token, wake.kind, wake.wake],
    );
    return rows.length === 1;
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
      entries.flatMap(([key, value]) => [arn, storable(key), storable(value)]),
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
      // A commit that reuses a stored payload finds it by ON CONFLICT without locking the row, so
      // this purge could delete one a history row it cannot yet see points to. The lock makes
      // such commits (only those with payloads touch the table) wait for the purge, and the
      // purge for them.
      await client.query('LOCK TABLE payloads IN SHARE ROW EXCLUSIVE MODE');
      await client.query(`DELETE FROM payloads WHERE NOT EXISTS (SELECT 1 FROM history WHERE strpos(history.details, payloads.hash) > 0)`);
      return rows.length;
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

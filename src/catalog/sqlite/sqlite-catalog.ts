/**
 * The catalog in the embedded SQLite database the engine also uses (one file, one backup). The
 * handle is shared, so every multi-statement change runs in a `BEGIN IMMEDIATE` transaction
 * and the schema is migrated under the `catalog` namespace on construction.
 */
import type { Database } from 'better-sqlite3';
import { migrateSqlite } from '../../store/migrate.ts';
import type {
  Catalog,
  FinishSync,
  ListFilesOptions,
  ListSyncsOptions,
  LoadJobOutcome,
  NewLoadJob,
} from '../catalog.ts';
import { partitionLocation } from '../layout.ts';
import { CATALOG_MIGRATIONS } from '../migrations.ts';
import {
  CatalogConflictError,
  COLUMN_TYPES,
  type CatalogColumn,
  type CatalogColumnType,
  type CatalogDatabase,
  type CatalogFile,
  type CatalogPartition,
  type CatalogTable,
  type LoadCommit,
  type LoadJobRecord,
  type LoadJobStatus,
  type SchemaChange,
  type SyncRecord,
  type SyncStatus,
  type TableCommit,
} from '../types.ts';

interface DbDatabase {
  source_id: string;
  name: string;
  created_at: string;
}
interface DbTable {
  source_id: string;
  name: string;
  type_version: number;
  created_at: string;
  created_by_sync: string;
  updated_at: string;
}
interface DbColumn {
  source_id: string;
  table_name: string;
  name: string;
  type: string;
  position: number;
  first_seen_at: string;
  first_seen_sync: string;
}
interface DbSchemaChange {
  source_id: string;
  table_name: string;
  column_name: string;
  change: string;
  from_type: string | null;
  to_type: string;
  sync_id: string;
  changed_at: string;
}
interface DbPartition {
  source_id: string;
  table_name: string;
  day: string;
  hr: string;
  location: string;
  row_count: number;
  bytes: number;
}
interface DbFile {
  key: string;
  source_id: string;
  table_name: string;
  day: string;
  hr: string;
  row_count: number;
  bytes: number;
  type_version: number;
  sync_id: string;
  created_at: string;
}
interface DbSync {
  id: string;
  source_id: string;
  status: string;
  started_at: string;
  committed_at: string | null;
  finished_at: string | null;
  report_key: string | null;
  error: string | null;
  load_result: string | null;
}
interface DbLoadJob {
  id: string;
  source_id: string;
  sync_id: string;
  status: string;
  spec: string;
  result: string | null;
  cause: string | null;
  created_at: string;
  started_at: string | null;
  heartbeat_at: string | null;
  finished_at: string | null;
}

function columnType(value: string): CatalogColumnType {
  const type = COLUMN_TYPES.find((t) => t === value);
  if (type === undefined) throw new Error(`catalog holds an unknown column type '${value}'`);
  return type;
}

function toDatabase(row: DbDatabase): CatalogDatabase {
  return { sourceId: row.source_id, name: row.name, createdAt: row.created_at };
}

function toColumn(row: DbColumn): CatalogColumn {
  return {
    name: row.name,
    type: columnType(row.type),
    position: row.position,
    firstSeenAt: row.first_seen_at,
    firstSeenSync: row.first_seen_sync,
  };
}

function toFile(row: DbFile): CatalogFile {
  return {
    key: row.key,
    sourceId: row.source_id,
    table: row.table_name,
    day: row.day,
    hr: row.hr,
    rowCount: row.row_count,
    bytes: row.bytes,
    typeVersion: row.type_version,
    syncId: row.sync_id,
    createdAt: row.created_at,
  };
}

function toSync(row: DbSync): SyncRecord {
  const statuses: readonly SyncStatus[] = ['running', 'committed', 'finished', 'failed'];
  const status = statuses.find((s) => s === row.status);
  if (status === undefined) throw new Error(`catalog holds an unknown sync status '${row.status}'`);
  const sync: SyncRecord = { id: row.id, sourceId: row.source_id, status, startedAt: row.started_at };
  if (row.committed_at !== null) sync.committedAt = row.committed_at;
  if (row.finished_at !== null) sync.finishedAt = row.finished_at;
  if (row.report_key !== null) sync.reportKey = row.report_key;
  if (row.error !== null) sync.error = row.error;
  if (row.load_result !== null) sync.loadResult = JSON.parse(row.load_result) as unknown;
  return sync;
}

function toLoadJob(row: DbLoadJob): LoadJobRecord {
  const statuses: readonly LoadJobStatus[] = ['queued', 'running', 'succeeded', 'failed'];
  const status = statuses.find((s) => s === row.status);
  if (status === undefined) throw new Error(`catalog holds an unknown load job status '${row.status}'`);
  const job: LoadJobRecord = {
    id: row.id,
    sourceId: row.source_id,
    syncId: row.sync_id,
    status,
    spec: JSON.parse(row.spec) as unknown,
    createdAt: row.created_at,
  };
  if (row.result !== null) job.result = JSON.parse(row.result) as unknown;
  if (row.cause !== null) job.cause = row.cause;
  if (row.started_at !== null) job.startedAt = row.started_at;
  if (row.heartbeat_at !== null) job.heartbeatAt = row.heartbeat_at;
  if (row.finished_at !== null) job.finishedAt = row.finished_at;
  return job;
}

/** The {@link Catalog} stored in a better-sqlite3 database shared with the engine. */
export class SqliteCatalog implements Catalog {
  /** Migrates the catalog schema (idempotent) and wraps the handle. */
  constructor(private readonly db: Database) {
    migrateSqlite(db, CATALOG_MIGRATIONS);
  }

  async ensureDatabase(sourceId: string, name?: string): Promise<CatalogDatabase> {
    return this.db.transaction(() =>
      this.ensureDatabaseSync(sourceId, name ?? sourceId, new Date().toISOString()),
    )();
  }

  private ensureDatabaseSync(sourceId: string, name: string, now: string): CatalogDatabase {
    this.db
      .prepare(
        'INSERT INTO catalog_databases (source_id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (source_id) DO NOTHING',
      )
      .run(sourceId, name, now);
    const row = this.db
      .prepare('SELECT * FROM catalog_databases WHERE source_id = ?')
      .get(sourceId) as DbDatabase;
    return toDatabase(row);
  }

  async listDatabases(): Promise<CatalogDatabase[]> {
    const rows = this.db.prepare('SELECT * FROM catalog_databases ORDER BY source_id').all() as DbDatabase[];
    return rows.map(toDatabase);
  }

  async getTable(sourceId: string, table: string): Promise<CatalogTable | undefined> {
    return this.getTableSync(sourceId, table);
  }

  private getTableSync(sourceId: string, table: string): CatalogTable | undefined {
    const row = this.db
      .prepare('SELECT * FROM catalog_tables WHERE source_id = ? AND name = ?')
      .get(sourceId, table) as DbTable | undefined;
    if (row === undefined) return undefined;
    const columns = this.db
      .prepare('SELECT * FROM catalog_columns WHERE source_id = ? AND table_name = ? ORDER BY position')
      .all(sourceId, table) as DbColumn[];
    return this.toTable(row, columns.map(toColumn));
  }

  private toTable(row: DbTable, columns: CatalogColumn[]): CatalogTable {
    return {
      sourceId: row.source_id,
      name: row.name,
      typeVersion: row.type_version,
      createdAt: row.created_at,
      createdBySync: row.created_by_sync,
      updatedAt: row.updated_at,
      columns,
    };
  }

  async listTables(sourceId?: string): Promise<CatalogTable[]> {
    const tables = (
      sourceId === undefined
        ? this.db.prepare('SELECT * FROM catalog_tables ORDER BY source_id, name').all()
        : this.db.prepare('SELECT * FROM catalog_tables WHERE source_id = ? ORDER BY name').all(sourceId)
    ) as DbTable[];
    const columns = (
      sourceId === undefined
        ? this.db.prepare('SELECT * FROM catalog_columns ORDER BY position').all()
        : this.db.prepare('SELECT * FROM catalog_columns WHERE source_id = ? ORDER BY position').all(sourceId)
    ) as DbColumn[];
    const byTable = new Map<string, CatalogColumn[]>();
    for (const column of columns) {
      const id = JSON.stringify([column.source_id, column.table_name]);
      const list = byTable.get(id) ?? [];
      list.push(toColumn(column));
      byTable.set(id, list);
    }
    return tables.map((t) => this.toTable(t, byTable.get(JSON.stringify([t.source_id, t.name])) ?? []));
  }

  async listPartitions(sourceId: string, table: string): Promise<CatalogPartition[]> {
    const partitions = this.db
      .prepare('SELECT * FROM catalog_partitions WHERE source_id = ? AND table_name = ? ORDER BY day, hr')
      .all(sourceId, table) as DbPartition[];
    const files = await this.listFiles(sourceId, table);
    return partitions.map((p) => ({
      sourceId: p.source_id,
      table: p.table_name,
      day: p.day,
      hr: p.hr,
      location: p.location,
      rowCount: p.row_count,
      bytes: p.bytes,
      files: files.filter((f) => f.day === p.day && f.hr === p.hr),
    }));
  }

  async listFiles(sourceId: string, table: string, options: ListFilesOptions = {}): Promise<CatalogFile[]> {
    const rows = this.db
      .prepare(
        'SELECT * FROM catalog_files WHERE source_id = ? AND table_name = ? AND day >= ? ORDER BY day, hr, key',
      )
      .all(sourceId, table, options.fromDay ?? '') as DbFile[];
    return rows.map(toFile);
  }

  async schemaHistory(sourceId: string, table?: string): Promise<SchemaChange[]> {
    const rows = (
      table === undefined
        ? this.db
            .prepare('SELECT * FROM catalog_schema_changes WHERE source_id = ? ORDER BY id')
            .all(sourceId)
        : this.db
            .prepare(
              'SELECT * FROM catalog_schema_changes WHERE source_id = ? AND table_name = ? ORDER BY id',
            )
            .all(sourceId, table)
    ) as DbSchemaChange[];
    return rows.map((row) => {
      const change: SchemaChange = {
        sourceId: row.source_id,
        table: row.table_name,
        column: row.column_name,
        change: row.change === 'widened' ? 'widened' : 'added',
        toType: columnType(row.to_type),
        syncId: row.sync_id,
        changedAt: row.changed_at,
      };
      if (row.from_type !== null) change.fromType = columnType(row.from_type);
      return change;
    });
  }

  async rawSyncMarks(rawKeys: readonly string[]): Promise<Map<string, string>> {
    const marks = new Map<string, string>();
    const select = this.db.prepare('SELECT sync_id FROM catalog_raw_marks WHERE raw_key = ?');
    for (const key of rawKeys) {
      const row = select.get(key) as { sync_id: string } | undefined;
      if (row !== undefined) marks.set(key, row.sync_id);
    }
    return marks;
  }

  async startSync(sourceId: string, syncId: string, startedAt: string): Promise<SyncRecord> {
    return this.db
      .transaction(() => {
        const existing = this.getSyncSync(syncId);
        if (existing !== undefined && existing.sourceId !== sourceId) {
          throw new CatalogConflictError(`sync '${syncId}' belongs to source '${existing.sourceId}'`);
        }
        if (existing === undefined) {
          this.db
            .prepare(
              "INSERT INTO catalog_syncs (id, source_id, status, started_at) VALUES (?, ?, 'running', ?)",
            )
            .run(syncId, sourceId, startedAt);
        } else if (existing.status === 'failed') {
          this.db
            .prepare(
              "UPDATE catalog_syncs SET status = 'running', finished_at = NULL, error = NULL WHERE id = ?",
            )
            .run(syncId);
        }
        return this.getSyncSync(syncId) as SyncRecord;
      })
      .immediate();
  }

  async getSync(syncId: string): Promise<SyncRecord | undefined> {
    return this.getSyncSync(syncId);
  }

  private getSyncSync(syncId: string): SyncRecord | undefined {
    const row = this.db.prepare('SELECT * FROM catalog_syncs WHERE id = ?').get(syncId) as DbSync | undefined;
    return row === undefined ? undefined : toSync(row);
  }

  async listSyncs(options: ListSyncsOptions = {}): Promise<SyncRecord[]> {
    const limit = options.limit ?? 100;
    const rows = (
      options.sourceId === undefined
        ? this.db.prepare('SELECT * FROM catalog_syncs ORDER BY started_at DESC, id DESC LIMIT ?').all(limit)
        : this.db
            .prepare(
              'SELECT * FROM catalog_syncs WHERE source_id = ? ORDER BY started_at DESC, id DESC LIMIT ?',
            )
            .all(options.sourceId, limit)
    ) as DbSync[];
    return rows.map(toSync);
  }

  async finishSync(syncId: string, finish: FinishSync): Promise<SyncRecord> {
    return this.db
      .transaction(() => {
        const sync = this.getSyncSync(syncId);
        if (sync === undefined) throw new Error(`no sync '${syncId}' in the catalog`);
        if (finish.status === 'failed' && (sync.status === 'committed' || sync.status === 'finished')) {
          throw new CatalogConflictError(`sync '${syncId}' is already committed; it cannot be marked failed`);
        }
        if (finish.status === 'finished' && sync.status !== 'committed' && sync.status !== 'finished') {
          throw new CatalogConflictError(
            `sync '${syncId}' is ${sync.status}; only a committed sync can finish`,
          );
        }
        this.db
          .prepare(
            'UPDATE catalog_syncs SET status = ?, finished_at = ?, report_key = ?, error = ? WHERE id = ?',
          )
          .run(
            finish.status,
            finish.finishedAt,
            finish.reportKey ?? sync.reportKey ?? null,
            finish.error ?? null,
            syncId,
          );
        return this.getSyncSync(syncId) as SyncRecord;
      })
      .immediate();
  }

  async commitLoad(commit: LoadCommit): Promise<void> {
    this.db.transaction(() => this.commitLoadSync(commit)).immediate();
  }

  private commitLoadSync(commit: LoadCommit): void {
    const { sourceId, syncId, committedAt: now } = commit;
    const sync = this.getSyncSync(syncId);
    if (sync !== undefined && sync.sourceId !== sourceId) {
      throw new CatalogConflictError(`sync '${syncId}' belongs to source '${sync.sourceId}'`);
    }
    if (sync !== undefined && (sync.status === 'committed' || sync.status === 'finished')) {
      throw new CatalogConflictError(`sync '${syncId}' is already committed`);
    }
    // Cleanup rolled this sync back (its report says failed): a late Load must not make it visible.
    if (sync !== undefined && sync.status === 'failed') {
      throw new CatalogConflictError(`sync '${syncId}' was rolled back and cannot be committed`);
    }
    this.ensureDatabaseSync(sourceId, sourceId, now);
    for (const table of commit.tables) this.commitTable(sourceId, syncId, now, table);
    const mark = this.db.prepare(
      'INSERT INTO catalog_raw_marks (raw_key, source_id, sync_id, marked_at) VALUES (?, ?, ?, ?) ON CONFLICT (raw_key) DO NOTHING',
    );
    for (const key of commit.rawKeys) mark.run(key, sourceId, syncId, now);
    this.db
      .prepare(
        `INSERT INTO catalog_syncs (id, source_id, status, started_at, committed_at, load_result)
         VALUES (?, ?, 'committed', ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET status = 'committed', committed_at = excluded.committed_at,
           load_result = excluded.load_result, error = NULL, finished_at = NULL`,
      )
      .run(syncId, sourceId, now, now, JSON.stringify(commit.loadResult));
  }

  private commitTable(sourceId: string, syncId: string, now: string, commit: TableCommit): void {
    const current = this.getTableSync(sourceId, commit.table);
    const version = current?.typeVersion ?? 0;
    const columns = current?.columns ?? [];
    if (version !== commit.expectedTypeVersion || columns.length !== commit.expectedColumnCount) {
      throw new CatalogConflictError(
        `table '${commit.table}' changed since the load was planned (type version ${version}, ${columns.length} columns)`,
      );
    }
    const widens = commit.changes.some((c) => c.change === 'widened');
    const nextVersion = widens ? version + 1 : version;
    if (current === undefined) {
      this.db
        .prepare(
          'INSERT INTO catalog_tables (source_id, name, type_version, created_at, created_by_sync, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
        )
        .run(sourceId, commit.table, nextVersion, now, syncId, now);
    } else {
      this.db
        .prepare(
          'UPDATE catalog_tables SET type_version = ?, updated_at = ? WHERE source_id = ? AND name = ?',
        )
        .run(nextVersion, now, sourceId, commit.table);
    }
    this.applyColumnChanges(sourceId, syncId, now, commit, columns);
    this.applyFileChanges(sourceId, syncId, now, commit, nextVersion);
  }

  private applyColumnChanges(
    sourceId: string,
    syncId: string,
    now: string,
    commit: TableCommit,
    columns: readonly CatalogColumn[],
  ): void {
    const types = new Map(columns.map((c) => [c.name, c.type]));
    let nextPosition = columns.length;
    const history = this.db.prepare(
      `INSERT INTO catalog_schema_changes (source_id, table_name, column_name, change, from_type, to_type, sync_id, changed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const change of commit.changes) {
      if (change.change === 'added') {
        if (types.has(change.name) || change.position !== nextPosition) {
          throw new CatalogConflictError(
            `column '${change.name}' of '${commit.table}' cannot be appended at ${change.position}`,
          );
        }
        this.db
          .prepare(
            `INSERT INTO catalog_columns (source_id, table_name, name, type, position, first_seen_at, first_seen_sync)
             VALUES (?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(sourceId, commit.table, change.name, change.type, change.position, now, syncId);
        types.set(change.name, change.type);
        nextPosition++;
        history.run(sourceId, commit.table, change.name, 'added', null, change.type, syncId, now);
      } else {
        if (types.get(change.name) !== change.fromType) {
          throw new CatalogConflictError(
            `column '${change.name}' of '${commit.table}' is not ${change.fromType}`,
          );
        }
        this.db
          .prepare('UPDATE catalog_columns SET type = ? WHERE source_id = ? AND table_name = ? AND name = ?')
          .run(change.toType, sourceId, commit.table, change.name);
        types.set(change.name, change.toType);
        history.run(
          sourceId,
          commit.table,
          change.name,
          'widened',
          change.fromType,
          change.toType,
          syncId,
          now,
        );
      }
    }
  }

  private applyFileChanges(
    sourceId: string,
    syncId: string,
    now: string,
    commit: TableCommit,
    version: number,
  ): void {
    const touched = new Map<string, { day: string; hr: string }>();
    const existing = this.db.prepare('SELECT * FROM catalog_files WHERE key = ?');
    for (const key of commit.removeFiles) {
      const file = existing.get(key) as DbFile | undefined;
      if (file === undefined || file.source_id !== sourceId || file.table_name !== commit.table) {
        throw new CatalogConflictError(`file '${key}' is not a committed file of '${commit.table}'`);
      }
      this.db.prepare('DELETE FROM catalog_files WHERE key = ?').run(key);
      this.db
        .prepare(
          'INSERT INTO catalog_pending_deletes (key, source_id, sync_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO NOTHING',
        )
        .run(key, sourceId, syncId, now);
      touched.set(`${file.day}/${file.hr}`, { day: file.day, hr: file.hr });
    }
    const insert = this.db.prepare(
      `INSERT INTO catalog_files (key, source_id, table_name, day, hr, row_count, bytes, type_version, sync_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const file of commit.addFiles) {
      if (existing.get(file.key) !== undefined) {
        throw new CatalogConflictError(`file '${file.key}' is already committed`);
      }
      insert.run(
        file.key,
        sourceId,
        commit.table,
        file.day,
        file.hr,
        file.rowCount,
        file.bytes,
        version,
        syncId,
        now,
      );
      this.db.prepare('DELETE FROM catalog_pending_deletes WHERE key = ?').run(file.key);
      touched.set(`${file.day}/${file.hr}`, { day: file.day, hr: file.hr });
    }
    const retype = this.db.prepare(
      'UPDATE catalog_files SET type_version = ? WHERE key = ? AND source_id = ? AND table_name = ?',
    );
    for (const key of commit.retypeFiles) retype.run(version, key, sourceId, commit.table);
    for (const { day, hr } of touched.values()) this.refreshPartition(sourceId, commit.table, day, hr, now);
  }

  /** Partition totals are derived from the files inside the same transaction, so they never drift. */
  private refreshPartition(sourceId: string, table: string, day: string, hr: string, now: string): void {
    const totals = this.db
      .prepare(
        'SELECT count(*) AS files, coalesce(sum(row_count), 0) AS row_count, coalesce(sum(bytes), 0) AS bytes FROM catalog_files WHERE source_id = ? AND table_name = ? AND day = ? AND hr = ?',
      )
      .get(sourceId, table, day, hr) as { files: number; row_count: number; bytes: number };
    if (totals.files === 0) {
      this.db
        .prepare(
          'DELETE FROM catalog_partitions WHERE source_id = ? AND table_name = ? AND day = ? AND hr = ?',
        )
        .run(sourceId, table, day, hr);
      return;
    }
    this.db
      .prepare(
        `INSERT INTO catalog_partitions (source_id, table_name, day, hr, location, row_count, bytes, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (source_id, table_name, day, hr) DO UPDATE SET row_count = excluded.row_count,
           bytes = excluded.bytes, updated_at = excluded.updated_at`,
      )
      .run(
        sourceId,
        table,
        day,
        hr,
        partitionLocation(sourceId, table, day, hr),
        totals.row_count,
        totals.bytes,
        now,
        now,
      );
  }

  async pendingDeletes(sourceId: string): Promise<string[]> {
    const rows = this.db
      .prepare('SELECT key FROM catalog_pending_deletes WHERE source_id = ? ORDER BY key')
      .all(sourceId) as { key: string }[];
    return rows.map((r) => r.key);
  }

  async clearPendingDeletes(keys: readonly string[]): Promise<void> {
    const remove = this.db.prepare('DELETE FROM catalog_pending_deletes WHERE key = ?');
    this.db.transaction(() => {
      for (const key of keys) remove.run(key);
    })();
  }

  async createLoadJob(job: NewLoadJob): Promise<LoadJobRecord> {
    this.db
      .prepare(
        "INSERT INTO catalog_load_jobs (id, source_id, sync_id, status, spec, created_at) VALUES (?, ?, ?, 'queued', ?, ?)",
      )
      .run(job.id, job.sourceId, job.syncId, JSON.stringify(job.spec), job.createdAt);
    return (await this.getLoadJob(job.id)) as LoadJobRecord;
  }

  async getLoadJob(id: string): Promise<LoadJobRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM catalog_load_jobs WHERE id = ?').get(id) as
      DbLoadJob | undefined;
    return row === undefined ? undefined : toLoadJob(row);
  }

  async findActiveLoadJob(syncId: string): Promise<LoadJobRecord | undefined> {
    const row = this.db
      .prepare(
        "SELECT * FROM catalog_load_jobs WHERE sync_id = ? AND status IN ('queued', 'running') ORDER BY created_at DESC LIMIT 1",
      )
      .get(syncId) as DbLoadJob | undefined;
    return row === undefined ? undefined : toLoadJob(row);
  }

  async claimLoadJob(id: string, now: string): Promise<boolean> {
    const result = this.db
      .prepare(
        "UPDATE catalog_load_jobs SET status = 'running', started_at = ?, heartbeat_at = ? WHERE id = ? AND status = 'queued'",
      )
      .run(now, now, id);
    return result.changes === 1;
  }

  async heartbeatLoadJob(id: string, now: string): Promise<void> {
    this.db
      .prepare("UPDATE catalog_load_jobs SET heartbeat_at = ? WHERE id = ? AND status = 'running'")
      .run(now, id);
  }

  async finishLoadJob(id: string, outcome: LoadJobOutcome): Promise<boolean> {
    const result =
      outcome.status === 'succeeded'
        ? this.db
            .prepare(
              "UPDATE catalog_load_jobs SET status = 'succeeded', result = ?, finished_at = ? WHERE id = ? AND status IN ('queued', 'running')",
            )
            .run(JSON.stringify(outcome.result), outcome.finishedAt, id)
        : this.db
            .prepare(
              "UPDATE catalog_load_jobs SET status = 'failed', cause = ?, finished_at = ? WHERE id = ? AND status IN ('queued', 'running')",
            )
            .run(outcome.cause, outcome.finishedAt, id);
    return result.changes === 1;
  }
}

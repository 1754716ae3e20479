/**
 * The Load: what EMR/Spark does for Segment Data Lakes, done by DuckDB. It turns one sync's
 * staging rows into committed Parquet: per table it evolves the schema (append, widen), unions
 * the chunks, drops rows whose messageId the lake already holds within the dedup window, keeps
 * the first received of each id, casts every column to the table's type and writes zstd Parquet
 * per `day=/hr=` partition. Then it commits the catalog in one transaction; nothing it wrote is
 * visible before that commit.
 *
 * Why deduplicate against the lake's Parquet files and not a message-id table: the lake is the
 * truth. Reading only the `id` column of the window's committed files is cheap (columnar), cannot
 * drift from the data (a file deleted or replaced is simply no longer in the catalog's list), and
 * keeps the catalog small; a side table would have to be kept in step with every merge, rewrite
 * and retention delete.
 *
 * Why file names come from the sync id: a retried Load writes the same names and overwrites its
 * own uncommitted output, so retries never duplicate. Small files of a partition are merged into
 * the new file and swapped out in the same commit; replaced keys are queued in the catalog and
 * deleted after it (a crash in between leaves them queued, never visible and never lost).
 */
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import {
  assertSafeName,
  partitionLocation,
  planSchemaEvolution,
  quoteIdent,
  quoteString,
  type Catalog,
  type CatalogColumnType,
  type CatalogFile,
  type NewFile,
  type PlannedColumn,
  type SchemaPlan,
  type TableCommit,
} from '../catalog/index.ts';
import { DUCKDB_TYPES, localObjectPath, pathList, readJsonRows } from './query.ts';
import type { ObjectStore } from './storage/object-store.ts';
import { assertSafeId, widenType, type ColumnType, type PrepareSummary, type TableSummary } from './types.ts';

/** Segment deduplicates over seven days. */
export const DEFAULT_DEDUP_WINDOW_DAYS = 7;
/** Files below this size are merged into the next Load's file of the same partition. */
export const DEFAULT_TARGET_FILE_BYTES = 128 * 1024 * 1024;
/** Keeps a 2 GB input under 1 GiB of process memory; DuckDB spills the rest to its temp dir. */
export const DEFAULT_MEMORY_LIMIT = '512MB';

/** Where and how a Load runs. */
export interface LoadOptions {
  catalog: Catalog;
  lakeStore: ObjectStore;
  /** Parent of the Load's scratch directory (DuckDB database, spill files, downloads). */
  workDir?: string;
  /** DuckDB `memory_limit`; default {@link DEFAULT_MEMORY_LIMIT}. */
  memoryLimit?: string;
  /** DuckDB threads, and tables loaded at once (one connection each); default 2. */
  threads?: number;
  /** Default dedup window when the spec gives none. */
  dedupWindowDays?: number;
  /** Files smaller than this are merged; default {@link DEFAULT_TARGET_FILE_BYTES}. */
  targetFileBytes?: number;
  now?: () => Date;
}

/** What to load: one sync's Prepare summaries (which name the staging keys). */
export interface LoadSpec {
  sourceId: string;
  syncId: string;
  summaries: PrepareSummary[];
  /** Days back from the batch's earliest received_at in which a messageId counts as loaded. */
  dedupWindowDays?: number;
}

/** One partition a Load wrote rows to. */
export interface LoadedPartition {
  day: string;
  hr: string;
  /** New rows of this sync in the partition (not counting merged older rows). */
  rows: number;
}

/** What a Load did to one table. */
export interface TableLoadResult {
  /** Staged rows read (after Prepare's in-chunk dedup). */
  staged: number;
  loaded: number;
  /** Same messageId in several chunks of this sync: all but the first received dropped. */
  crossChunkDuplicates: number;
  /** MessageId already committed to the lake within the window: dropped. */
  crossSyncDuplicates: number;
  partitions: LoadedPartition[];
  newColumns: { name: string; type: ColumnType }[];
  widenedColumns: { name: string; fromType: ColumnType; toType: ColumnType }[];
  /** Whether this Load created the table. */
  isNew: boolean;
  filesWritten: number;
  /** Older small files merged into this Load's files. */
  filesMerged: number;
  /** Older files rewritten because a column they hold widened. */
  filesRewritten: number;
  bytesWritten: number;
}

/** The outcome of a Load; stored on the sync record at commit. */
export interface LoadResult {
  sourceId: string;
  syncId: string;
  committedAt: string;
  staged: number;
  loaded: number;
  crossChunkDuplicates: number;
  crossSyncDuplicates: number;
  tables: Record<string, TableLoadResult>;
  rawKeys: number;
  durationMs: number;
  /** True when the sync had already been committed and this call only returned its result. */
  alreadyCommitted?: boolean;
}

/** Raised when staging data does not match its summaries, or counts do not add up. */
export class LoadConsistencyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoadConsistencyError';
  }
}

interface Chunk {
  ordinal: number;
  summary: PrepareSummary;
  table: TableSummary;
}

interface TableWork {
  name: string;
  chunks: Chunk[];
}

/** State of one Load; each table gets a copy with the connection it runs on. */
interface LoadContext {
  spec: LoadSpec;
  options: LoadOptions;
  connection: DuckDBConnection;
  scratch: string;
  windowDays: number;
  targetBytes: number;
  /** Keys this attempt put into the lake, deleted again if it fails before the commit. */
  written: string[];
  /** Numbers the scratch outputs, across the connections. */
  outputs: { count: number };
}

/** The ISO-8601 text DuckDB gives a timestamp that widens to string, in staging's own form. */
function timestampText(expr: string): string {
  return (
    `CASE WHEN microsecond(${expr}) % 1000 = 0 THEN strftime(${expr}, '%Y-%m-%dT%H:%M:%S.%gZ') ` +
    `ELSE strftime(${expr}, '%Y-%m-%dT%H:%M:%S.%fZ') END`
  );
}

/** Casts a column of an existing Parquet file (DuckDB type `from`) to the column's current type. */
function castStored(name: string, from: string | undefined, type: CatalogColumnType): string {
  const column = quoteIdent(name);
  if (from === undefined) return `CAST(NULL AS ${DUCKDB_TYPES[type]})`;
  if (from === DUCKDB_TYPES[type]) return column;
  if (type === 'string' && from.startsWith('TIMESTAMP')) return timestampText(column);
  return `CAST(${column} AS ${DUCKDB_TYPES[type]})`;
}

async function scalarRows(ctx: LoadContext, sql: string): Promise<Record<string, unknown>[]> {
  return readJsonRows(ctx.connection, sql);
}

function count(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
  if (value === null || value === undefined) return 0;
  throw new LoadConsistencyError(`expected a count, got ${String(value)}`);
}

/** Column name → DuckDB type of a Parquet file. */
async function parquetColumns(ctx: LoadContext, path: string): Promise<Map<string, string>> {
  const rows = await scalarRows(ctx, `DESCRIBE SELECT * FROM read_parquet(${quoteString(path)})`);
  return new Map(rows.map((r) => [String(r['column_name']), String(r['column_type'])]));
}

/** SELECT of an existing file cast to the planned schema, in table order, plus `extra` items. */
async function selectStored(
  ctx: LoadContext,
  path: string,
  columns: readonly PlannedColumn[],
  extra: readonly string[] = [],
): Promise<string> {
  const stored = await parquetColumns(ctx, path);
  const list = columns.map(
    (c) => `${castStored(c.name, stored.get(c.name), c.type)} AS ${quoteIdent(c.name)}`,
  );
  return `SELECT ${[...list, ...extra].join(', ')} FROM read_parquet(${quoteString(path)})`;
}

function lakePath(ctx: LoadContext, key: string): Promise<string> {
  return localObjectPath(ctx.options.lakeStore, key, join(ctx.scratch, 'lake'));
}

/** Rows and bytes of one written Parquet file. */
interface Written {
  rows: number;
  bytes: number;
}

/**
 * Writes a query's rows as zstd Parquet to `target` (a file, or a folder with `partitionBy`);
 * returns the rows and bytes of each file written, by path, as the COPY itself reports them.
 */
async function copyParquet(
  ctx: LoadContext,
  query: string,
  target: string,
  partitionBy = '',
): Promise<Map<string, Written>> {
  const stats = await scalarRows(
    ctx,
    `COPY (${query}) TO ${quoteString(target)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880` +
      `${partitionBy}, RETURN_STATS true)`,
  );
  return new Map(
    stats.map((s) => [String(s['filename']), { rows: count(s['count']), bytes: count(s['file_size_bytes']) }]),
  );
}

/** Uploads a Parquet file written in the scratch directory to the lake. */
async function publish(ctx: LoadContext, key: string, path: string): Promise<void> {
  ctx.written.push(key);
  await ctx.options.lakeStore.put(key, { file: path }, { contentType: 'application/vnd.apache.parquet' });
  await fsp.rm(path, { force: true });
}

/** Writes a query's rows to one Parquet object of the lake; returns rows and bytes. */
async function writeParquet(ctx: LoadContext, key: string, query: string): Promise<Written> {
  const path = join(ctx.scratch, 'out', `${ctx.outputs.count++}.parquet`);
  const written = (await copyParquet(ctx, query, path)).get(path);
  if (written === undefined) throw new LoadConsistencyError(`the COPY reported no '${path}'`);
  await publish(ctx, key, path);
  return written;
}

/** Column name → type across the chunks of one table, in order of first appearance. */
function incomingColumns(chunks: readonly Chunk[]): Map<string, ColumnType> {
  const merged = new Map<string, ColumnType>();
  for (const chunk of chunks) {
    for (const [name, type] of Object.entries(chunk.table.columns)) {
      const seen = merged.get(name);
      merged.set(name, seen === undefined ? type : widenType(seen, type));
    }
  }
  for (const required of ['id', 'received_at']) {
    if (!merged.has(required)) throw new LoadConsistencyError(`staged rows have no '${required}' column`);
  }
  return merged;
}

/**
 * Reads one table's staged keys into the DuckDB table `keys`, checks them and finds the
 * duplicates to leave out; returns the counts, the SELECT of the rows to load (streaming from
 * staging) and the SELECT of their keys.
 */
async function stageRows(
  ctx: LoadContext,
  work: TableWork,
  plan: SchemaPlan,
  incoming: Map<string, ColumnType>,
): Promise<{ staged: number; distinct: number; loaded: number; rows: string; keys: string }> {
  const paths: string[] = [];
  for (const chunk of work.chunks) {
    paths.push(
      await localObjectPath(ctx.options.lakeStore, chunk.table.stagingKey, join(ctx.scratch, 'staging')),
    );
  }
  const list = pathList(paths);
  // read_json parses each value straight into the column's type (staging holds every value in
  // a form that casts losslessly to it), which is cheaper than reading text and casting.
  const types = new Map(plan.columns.map((c) => [c.name, c.type]));
  const received =
    types.get('received_at') === 'timestamp'
      ? '"received_at"'
      : 'CAST(CAST("received_at" AS TIMESTAMPTZ) AS TIMESTAMP)';
  /** The staged rows of `columns`, with each row's chunk, received time and partition. */
  const staging = (columns: Iterable<string>): string => {
    const spec = [...columns].map((name) => `${quoteString(name)}: '${DUCKDB_TYPES[types.get(name) ?? 'string']}'`);
    return (
      `(SELECT * EXCLUDE ("__inlet_file"), list_position(${list}, "__inlet_file") AS "__inlet_chunk", ` +
      `${received} AS "__inlet_received", strftime(${received}, '%Y-%m-%d') AS "__inlet_day", ` +
      `strftime(${received}, '%H') AS "__inlet_hr" FROM read_json(${list}, format = 'newline_delimited', ` +
      `filename = '__inlet_file', columns = {${spec.join(', ')}}))`
    );
  };
  // The checks and the dedup need only the keys, so only the keys are kept in memory; the rows
  // stream from staging into the COPY. Materialising every column cost more than parsing twice.
  await ctx.connection.run(`CREATE OR REPLACE TEMP TABLE "keys" AS SELECT * FROM ${staging(['id', 'received_at'])}`);
  const [totals] = await scalarRows(
    ctx,
    `SELECT count(*) AS "staged", ` +
      `strftime(min("__inlet_received") - INTERVAL ${ctx.windowDays} DAY, '%Y-%m-%d') AS "window_start", ` +
      `count(*) FILTER (WHERE "id" IS NULL OR "__inlet_received" IS NULL) AS "unkeyed" FROM "keys"`,
  );
  const staged = count(totals?.['staged']);
  const expected = work.chunks.reduce((sum, c) => sum + c.table.rows, 0);
  if (staged !== expected) {
    throw new LoadConsistencyError(
      `table '${work.name}': staging holds ${staged} rows, summaries say ${expected}`,
    );
  }
  if (count(totals?.['unkeyed']) > 0) {
    throw new LoadConsistencyError(`table '${work.name}': staged rows without id or received_at`);
  }
  const windowStart = String(totals?.['window_start'] ?? '');
  // Only the few duplicated ids go through the window sort, and only the losers are kept (as
  // id and chunk), for the COPY to leave out.
  await ctx.connection.run(
    `CREATE OR REPLACE TEMP TABLE "dropped" AS SELECT "id", "__inlet_chunk" FROM "keys" ` +
      `SEMI JOIN (SELECT "id" FROM "keys" GROUP BY "id" HAVING count(*) > 1) USING ("id") ` +
      `QUALIFY row_number() OVER (PARTITION BY "id" ORDER BY "__inlet_received", "__inlet_chunk") > 1`,
  );
  const [dropped] = await scalarRows(ctx, 'SELECT count(*) AS "n" FROM "dropped"');
  const crossChunk = count(dropped?.['n']);
  const committed = await ctx.options.catalog.listFiles(ctx.spec.sourceId, work.name, {
    fromDay: windowStart,
  });
  // Ids are unique once the losers are out, so each committed id takes exactly one row.
  let crossSync = 0;
  if (committed.length > 0) {
    const paths: string[] = [];
    for (const file of committed) paths.push(await lakePath(ctx, file.key));
    await ctx.connection.run(
      `CREATE OR REPLACE TEMP TABLE "committed" AS SELECT DISTINCT "id" FROM "keys" SEMI JOIN ` +
        `(SELECT CAST("id" AS VARCHAR) AS "id" FROM read_parquet(${pathList(paths)}, union_by_name = true)) USING ("id")`,
    );
    const [found] = await scalarRows(ctx, 'SELECT count(*) AS "n" FROM "committed"');
    crossSync = count(found?.['n']);
  }
  const anti = (source: string): string =>
    `SELECT * FROM ${source}` +
    (crossChunk > 0 ? ' ANTI JOIN "dropped" USING ("id", "__inlet_chunk")' : '') +
    (crossSync > 0 ? ' ANTI JOIN "committed" USING ("id")' : '');
  const distinct = staged - crossChunk;
  return { staged, distinct, loaded: distinct - crossSync, rows: anti(staging(incoming.keys())), keys: anti('"keys"') };
}

/** Smallest-first files of a partition whose total stays under the target size. */
function mergeCandidates(files: readonly CatalogFile[], targetBytes: number): CatalogFile[] {
  const chosen: CatalogFile[] = [];
  let total = 0;
  for (const file of [...files].sort((a, b) => a.bytes - b.bytes || a.key.localeCompare(b.key))) {
    if (total + file.bytes >= targetBytes) break;
    chosen.push(file);
    total += file.bytes;
  }
  return chosen;
}

/** Loads one table; returns its result and its part of the catalog commit. */
async function loadTable(
  ctx: LoadContext,
  work: TableWork,
): Promise<{ result: TableLoadResult; commit: TableCommit }> {
  const { catalog } = ctx.options;
  const { sourceId, syncId } = ctx.spec;
  const current = await catalog.getTable(sourceId, work.name);
  const incoming = incomingColumns(work.chunks);
  const plan = planSchemaEvolution(current?.columns ?? [], incoming, widenType);
  const counts = await stageRows(ctx, work, plan, incoming);

  const existing = await catalog.listFiles(sourceId, work.name);
  const partitions = await scalarRows(
    ctx,
    `SELECT "__inlet_day" AS "day", "__inlet_hr" AS "hr", count(*) AS "rows" FROM (${counts.keys}) GROUP BY ALL ORDER BY ALL`,
  );
  const newRows = plan.columns.map((c) =>
    incoming.has(c.name)
      ? quoteIdent(c.name)
      : `CAST(NULL AS ${DUCKDB_TYPES[c.type]}) AS ${quoteIdent(c.name)}`,
  );
  const addFiles: NewFile[] = [];
  const removeFiles: string[] = [];
  const loadedPartitions: LoadedPartition[] = [];
  let bytesWritten = 0;
  let filesMerged = 0;
  // One partitioned COPY writes every partition in a single pass over the rows; small files of
  // a partition are unioned in with their partition given as literals.
  const parts = [`SELECT ${[...newRows, '"__inlet_day"', '"__inlet_hr"'].join(', ')} FROM (${counts.rows})`];
  for (const row of partitions) {
    const day = String(row['day']);
    const hr = String(row['hr']);
    const merge = mergeCandidates(
      existing.filter((f) => f.day === day && f.hr === hr),
      ctx.targetBytes,
    );
    const literals = [`${quoteString(day)} AS "__inlet_day"`, `${quoteString(hr)} AS "__inlet_hr"`];
    for (const file of merge)
      parts.push(await selectStored(ctx, await lakePath(ctx, file.key), plan.columns, literals));
    removeFiles.push(...merge.map((f) => f.key));
    filesMerged += merge.length;
    loadedPartitions.push({ day, hr, rows: count(row['rows']) });
  }
  const outDir = join(ctx.scratch, 'out', `${ctx.outputs.count++}`);
  const files = await copyParquet(
    ctx,
    parts.join(' UNION ALL '),
    outDir,
    `, PARTITION_BY ("__inlet_day", "__inlet_hr"), FILENAME_PATTERN 'part_{i}'`,
  );
  for (const { day, hr } of loadedPartitions) {
    const dir = join(outDir, `__inlet_day=${day}`, `__inlet_hr=${hr}`);
    const names = (await fsp.readdir(dir)).filter((n) => n.endsWith('.parquet')).sort();
    for (const [i, name] of names.entries()) {
      const key = `${partitionLocation(sourceId, work.name, day, hr)}${syncId}${i === 0 ? '' : `-${i}`}.parquet`;
      const path = join(dir, name);
      const written = files.get(path);
      if (written === undefined) throw new LoadConsistencyError(`the COPY reported no '${path}'`);
      await publish(ctx, key, path);
      addFiles.push({ key, day, hr, rowCount: written.rows, bytes: written.bytes });
      bytesWritten += written.bytes;
    }
  }
  await ctx.connection.run('DROP TABLE "keys"; DROP TABLE "dropped"; DROP TABLE IF EXISTS "committed"');

  // A widened column must not leave any older file holding the old type (Athena refuses a
  // partition whose Parquet type differs from the table's: HIVE_PARTITION_SCHEMA_MISMATCH).
  const retypeFiles: string[] = [];
  let filesRewritten = 0;
  if (plan.widened.length > 0) {
    const merged = new Set(removeFiles);
    for (const file of existing) {
      if (merged.has(file.key)) continue;
      const path = await lakePath(ctx, file.key);
      const stored = await parquetColumns(ctx, path);
      const stale = plan.columns.some((c) => {
        const from = stored.get(c.name);
        return plan.widened.includes(c.name) && from !== undefined && from !== DUCKDB_TYPES[c.type];
      });
      if (!stale) {
        retypeFiles.push(file.key);
        continue;
      }
      const hash = createHash('sha256').update(file.key).digest('hex').slice(0, 12);
      const key = `${partitionLocation(sourceId, work.name, file.day, file.hr)}${syncId}-${hash}.parquet`;
      const written = await writeParquet(ctx, key, await selectStored(ctx, path, plan.columns));
      if (written.rows !== file.rowCount) {
        throw new LoadConsistencyError(
          `rewriting '${file.key}' gave ${written.rows} rows, not ${file.rowCount}`,
        );
      }
      addFiles.push({ key, day: file.day, hr: file.hr, rowCount: written.rows, bytes: written.bytes });
      removeFiles.push(file.key);
      filesRewritten++;
      bytesWritten += written.bytes;
    }
  }

  const crossChunk = counts.staged - counts.distinct;
  const crossSync = counts.distinct - counts.loaded;
  const result: TableLoadResult = {
    staged: counts.staged,
    loaded: counts.loaded,
    crossChunkDuplicates: crossChunk,
    crossSyncDuplicates: crossSync,
    partitions: loadedPartitions,
    newColumns: plan.changes.flatMap((c) => (c.change === 'added' ? [{ name: c.name, type: c.type }] : [])),
    widenedColumns: plan.changes.flatMap((c) =>
      c.change === 'widened' ? [{ name: c.name, fromType: c.fromType, toType: c.toType }] : [],
    ),
    isNew: current === undefined,
    filesWritten: addFiles.length,
    filesMerged,
    filesRewritten,
    bytesWritten,
  };
  const commit: TableCommit = {
    table: work.name,
    expectedTypeVersion: current?.typeVersion ?? 0,
    expectedColumnCount: current?.columns.length ?? 0,
    changes: plan.changes,
    addFiles,
    removeFiles,
    retypeFiles,
  };
  return { result, commit };
}

/** Checks the summaries belong to the sync and each satisfies Prepare's invariant. */
function checkSummaries(spec: LoadSpec): void {
  assertSafeId('sourceId', spec.sourceId);
  assertSafeId('syncId', spec.syncId);
  const chunks = new Set<string>();
  for (const s of spec.summaries) {
    if (s.sourceId !== spec.sourceId || s.syncId !== spec.syncId) {
      throw new LoadConsistencyError(
        `chunk '${s.chunkId}' belongs to ${s.sourceId}/${s.syncId}, not this sync`,
      );
    }
    if (chunks.has(s.chunkId)) throw new LoadConsistencyError(`chunk '${s.chunkId}' is listed twice`);
    chunks.add(s.chunkId);
    const quarantined = Object.values(s.quarantined).reduce((a, b) => a + b, 0);
    if (s.read !== s.prepared + s.duplicates + quarantined) {
      throw new LoadConsistencyError(`chunk '${s.chunkId}' does not reconcile: read ${s.read}`);
    }
    const rows = Object.values(s.tables).reduce((a, t) => a + t.rows, 0);
    if (rows !== s.prepared)
      throw new LoadConsistencyError(`chunk '${s.chunkId}' tables hold ${rows} rows, not ${s.prepared}`);
    for (const table of Object.keys(s.tables)) assertSafeName('table', table);
  }
}

function tableWork(spec: LoadSpec): TableWork[] {
  const tables = new Map<string, Chunk[]>();
  const ordered = [...spec.summaries].sort((a, b) =>
    a.chunkId < b.chunkId ? -1 : a.chunkId > b.chunkId ? 1 : 0,
  );
  ordered.forEach((summary, ordinal) => {
    for (const [name, table] of Object.entries(summary.tables)) {
      if (table.rows === 0) continue;
      const list = tables.get(name) ?? [];
      list.push({ ordinal, summary, table });
      tables.set(name, list);
    }
  });
  return [...tables.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, chunks]) => ({ name, chunks }));
}

/** Deletes objects replaced by earlier commits of the source, then forgets them. */
export async function deleteReplacedFiles(
  catalog: Catalog,
  lakeStore: ObjectStore,
  sourceId: string,
): Promise<number> {
  const keys = await catalog.pendingDeletes(sourceId);
  if (keys.length === 0) return 0;
  await lakeStore.delete(keys);
  await catalog.clearPendingDeletes(keys);
  return keys.length;
}

/**
 * Opens the Load's DuckDB with one connection per thread. In memory: the Load's tables are
 * scratch, and writing them to a database file cost more than the rest of the Load; past
 * `memory_limit` DuckDB spills them to the temp directory all the same.
 */
async function openDuckDb(
  scratch: string,
  options: LoadOptions,
): Promise<{ instance: DuckDBInstance; connections: DuckDBConnection[] }> {
  await fsp.mkdir(join(scratch, 'spill'), { recursive: true });
  await fsp.mkdir(join(scratch, 'out'), { recursive: true });
  const threads = options.threads ?? 2;
  const instance = await DuckDBInstance.create(':memory:', {
    memory_limit: options.memoryLimit ?? DEFAULT_MEMORY_LIMIT,
    threads: String(threads),
    temp_directory: join(scratch, 'spill'),
    preserve_insertion_order: 'false',
  });
  const connections: DuckDBConnection[] = [];
  for (let i = 0; i < threads; i++) {
    const connection = await instance.connect();
    await connection.run("SET TimeZone = 'UTC'");
    connections.push(connection);
  }
  return { instance, connections };
}

/**
 * Loads the tables a few at a time, one per connection: one table's statements leave DuckDB's
 * threads idle much of the time (most tables are too small to split well, and there are steps
 * between statements). Results come back in the order of `works`. After a failure no further table starts, and the first
 * error is thrown once the tables still running have ended, so nothing runs when the caller
 * closes the database.
 */
async function loadTables(
  ctx: LoadContext,
  connections: readonly DuckDBConnection[],
  works: readonly TableWork[],
): Promise<{ name: string; result: TableLoadResult; commit: TableCommit }[]> {
  const done: { name: string; result: TableLoadResult; commit: TableCommit }[] = [];
  let next = 0;
  let failure: { error: unknown } | undefined;
  await Promise.all(
    connections.map(async (connection) => {
      const tableCtx: LoadContext = { ...ctx, connection };
      while (failure === undefined && next < works.length) {
        const work = works[next] as TableWork;
        const at = next++;
        try {
          done[at] = { name: work.name, ...(await loadTable(tableCtx, work)) };
        } catch (error) {
          failure ??= { error };
        }
      }
    }),
  );
  if (failure !== undefined) throw failure.error;
  return done;
}

/**
 * Runs one sync's Load to its catalog commit. Idempotent: a sync already committed returns its
 * stored result without touching the lake, and a retry after a failure rewrites the same keys.
 */
export async function runLoad(spec: LoadSpec, options: LoadOptions): Promise<LoadResult> {
  const now = options.now ?? (() => new Date());
  const started = now();
  checkSummaries(spec);
  const { catalog, lakeStore } = options;
  const sync = await catalog.getSync(spec.syncId);
  if (sync !== undefined && (sync.status === 'committed' || sync.status === 'finished')) {
    const stored = sync.loadResult as LoadResult;
    return { ...stored, alreadyCommitted: true };
  }
  await deleteReplacedFiles(catalog, lakeStore, spec.sourceId);
  await catalog.startSync(spec.sourceId, spec.syncId, sync?.startedAt ?? started.toISOString());
  const windowDays = spec.dedupWindowDays ?? options.dedupWindowDays ?? DEFAULT_DEDUP_WINDOW_DAYS;
  if (!Number.isInteger(windowDays) || windowDays < 0)
    throw new RangeError('dedupWindowDays must be an integer >= 0');
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1))
    throw new RangeError('threads must be an integer >= 1');

  const scratch = await fsp.mkdtemp(join(options.workDir ?? tmpdir(), `inlet-load-${spec.syncId}-`));
  const { instance, connections } = await openDuckDb(scratch, options);
  const ctx: LoadContext = {
    spec,
    options,
    connection: connections[0] as DuckDBConnection,
    scratch,
    windowDays,
    targetBytes: options.targetFileBytes ?? DEFAULT_TARGET_FILE_BYTES,
    written: [],
    outputs: { count: 0 },
  };
  let committed = false;
  try {
    const tables: Record<string, TableLoadResult> = {};
    const commits: TableCommit[] = [];
    for (const { name, result, commit } of await loadTables(ctx, connections, tableWork(spec))) {
      tables[name] = result;
      commits.push(commit);
    }
    const all = Object.values(tables);
    const sum = (pick: (t: TableLoadResult) => number): number => all.reduce((a, t) => a + pick(t), 0);
    const committedAt = now();
    const result: LoadResult = {
      sourceId: spec.sourceId,
      syncId: spec.syncId,
      committedAt: committedAt.toISOString(),
      staged: sum((t) => t.staged),
      loaded: sum((t) => t.loaded),
      crossChunkDuplicates: sum((t) => t.crossChunkDuplicates),
      crossSyncDuplicates: sum((t) => t.crossSyncDuplicates),
      tables,
      rawKeys: new Set(spec.summaries.flatMap((s) => s.rawKeys)).size,
      durationMs: committedAt.getTime() - started.getTime(),
    };
    const prepared = spec.summaries.reduce((a, s) => a + s.prepared, 0);
    if (
      result.staged !== prepared ||
      result.staged !== result.loaded + result.crossChunkDuplicates + result.crossSyncDuplicates
    ) {
      throw new LoadConsistencyError(
        `load does not reconcile: prepared ${prepared}, staged ${result.staged}`,
      );
    }
    await catalog.commitLoad({
      sourceId: spec.sourceId,
      syncId: spec.syncId,
      committedAt: result.committedAt,
      tables: commits,
      rawKeys: [...new Set(spec.summaries.flatMap((s) => s.rawKeys))],
      loadResult: result,
    });
    committed = true;
    await deleteReplacedFiles(catalog, lakeStore, spec.sourceId);
    return result;
  } catch (err) {
    // Uncommitted output is invisible, but removing it keeps Glue/Athena (which read whole
    // partition folders) from seeing it; a crash instead leaves it for the retry to overwrite.
    if (!committed) await lakeStore.delete(ctx.written).catch(() => undefined);
    throw err;
  } finally {
    for (const connection of connections) connection.closeSync();
    instance.closeSync();
    await fsp.rm(scratch, { recursive: true, force: true });
  }
}

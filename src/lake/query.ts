/**
 * Querying the lake with DuckDB. A view per catalog table reads exactly the Parquet files the
 * catalog lists as committed, never a directory glob: a Load's files become visible at its
 * catalog commit and not a moment before, and files replaced by a merge vanish at the same
 * commit even while they still sit in the store. Remote lakes are read through a local cache,
 * because DuckDB's httpfs extension cannot be loaded here.
 */
import { createWriteStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import {
  quoteIdent,
  quoteString,
  type Catalog,
  type CatalogColumnType,
  type CatalogTable,
} from '../catalog/index.ts';
import { assertSafeKey, type ObjectStore } from './storage/object-store.ts';
import { SYNC_REPORT_COLUMNS } from './report.ts';

/** DuckDB type of each lake column type. */
export const DUCKDB_TYPES: Record<CatalogColumnType, string> = {
  bigint: 'BIGINT',
  double: 'DOUBLE',
  boolean: 'BOOLEAN',
  string: 'VARCHAR',
  timestamp: 'TIMESTAMP',
};

/** Segment's Glue database for sync reports; a schema of its own so no event table can clash. */
export const REPORTS_SCHEMA = '__segment_datalake';

/** A JSON value as `runQuery` returns it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Options for {@link openLakeQuery}. */
export interface LakeQueryOptions {
  catalog: Catalog;
  lakeStore: ObjectStore;
  /** Only this source's tables, as unqualified views. */
  sourceId?: string;
  /** Where files of a remote lake are copied; default `<tmpdir>/inlet-lake-cache`. */
  cacheDir?: string;
  /** DuckDB memory_limit; default 1GB. */
  memoryLimit?: string;
}

/** An open DuckDB connection with the lake's views. */
export interface LakeQuery {
  readonly connection: DuckDBConnection;
  /** The views created, qualified when several sources are shown (`"src"."table"`). */
  readonly views: string[];
  /** Runs SQL and returns rows as JSON-safe objects (bigint → number, or string past 2^53). */
  runQuery(sql: string): Promise<Record<string, JsonValue>[]>;
  /** Closes the connection and the database. */
  close(): void;
}

/**
 * A local path holding the object: the store's own file for a local store, else a copy in
 * `cacheDir` under the key's path. Lake objects are immutable (every write takes a new name, a
 * retry rewrites only uncommitted names), so a cached copy of the same size is reused.
 */
export async function localObjectPath(store: ObjectStore, key: string, cacheDir: string): Promise<string> {
  assertSafeKey(key);
  if (store.localPath !== undefined) return store.localPath(key);
  const path = join(cacheDir, ...key.split('/'));
  const head = await store.head(key);
  const cached = await fsp.stat(path).catch(() => undefined);
  if (cached !== undefined && head !== undefined && cached.size === head.size) return path;
  await fsp.mkdir(dirname(path), { recursive: true });
  const partial = `${path}.${process.pid}.partial`;
  await pipeline(await store.get(key), createWriteStream(partial));
  await fsp.rename(partial, path);
  return path;
}

/** Converts one value read by DuckDB into JSON, using DuckDB's own JSON form where JS loses detail. */
function jsonSafe(js: unknown, json: unknown): JsonValue {
  if (js === null || js === undefined) return null;
  if (typeof js === 'bigint') {
    if (typeof json === 'string' && !/^-?\d+$/.test(json)) return json;
    return Number.isSafeInteger(Number(js)) ? Number(js) : js.toString();
  }
  if (typeof js === 'number' || typeof js === 'string' || typeof js === 'boolean') return js;
  if (Array.isArray(js)) return js.map((v, i) => jsonSafe(v, Array.isArray(json) ? json[i] : undefined));
  if (js instanceof Date || js instanceof Uint8Array) return typeof json === 'string' ? json : String(json);
  if (typeof js === 'object') {
    const out: Record<string, JsonValue> = {};
    const other = typeof json === 'object' && json !== null ? (json as Record<string, unknown>) : {};
    for (const [k, v] of Object.entries(js)) out[k] = jsonSafe(v, other[k]);
    return out;
  }
  return String(js);
}

/** Runs SQL on a connection and returns JSON-safe row objects. */
export async function readJsonRows(
  connection: DuckDBConnection,
  sql: string,
): Promise<Record<string, JsonValue>[]> {
  const reader = await connection.runAndReadAll(sql);
  const js = reader.getRowObjectsJS();
  const json = reader.getRowObjectsJson();
  return js.map((row, i) => {
    const other = json[i] ?? {};
    const out: Record<string, JsonValue> = {};
    for (const [k, v] of Object.entries(row)) out[k] = jsonSafe(v, other[k]);
    return out;
  });
}

/** A DuckDB list literal of local paths. */
export function pathList(paths: readonly string[]): string {
  return `[${paths.map(quoteString).join(', ')}]`;
}

/**
 * SELECT list that gives every column its catalog type, in table order. A column no committed
 * file holds (first seen only in rows dropped as duplicates) reads as NULL of its type.
 */
function typedColumns(table: CatalogTable, stored: ReadonlySet<string>): string[] {
  return [...table.columns]
    .sort((a, b) => a.position - b.position)
    .map((c) => {
      const type = DUCKDB_TYPES[c.type];
      const value = stored.has(c.name) ? `CAST(${quoteIdent(c.name)} AS ${type})` : `CAST(NULL AS ${type})`;
      return `${value} AS ${quoteIdent(c.name)}`;
    });
}

async function tableViewSql(
  connection: DuckDBConnection,
  options: LakeQueryOptions,
  table: CatalogTable,
  cacheDir: string,
): Promise<string> {
  const files = await options.catalog.listFiles(table.sourceId, table.name);
  if (files.length === 0) {
    const empty = typedColumns(table, new Set());
    return `SELECT ${[...empty, 'CAST(NULL AS VARCHAR) AS "day"', 'CAST(NULL AS VARCHAR) AS "hr"'].join(', ')} WHERE false`;
  }
  const paths: string[] = [];
  for (const file of files) paths.push(await localObjectPath(options.lakeStore, file.key, cacheDir));
  const source =
    `read_parquet(${pathList(paths)}, hive_partitioning = true, union_by_name = true, ` +
    "hive_types = {'day': VARCHAR, 'hr': VARCHAR})";
  const described = await readJsonRows(connection, `DESCRIBE SELECT * FROM ${source}`);
  const stored = new Set(described.map((r) => String(r['column_name'])));
  return `SELECT ${[...typedColumns(table, stored), '"day"', '"hr"'].join(', ')} FROM ${source}`;
}

async function reportsViewSql(options: LakeQueryOptions, cacheDir: string): Promise<string> {
  const syncs = await options.catalog.listSyncs({
    ...(options.sourceId === undefined ? {} : { sourceId: options.sourceId }),
    limit: Number.MAX_SAFE_INTEGER,
  });
  const paths: string[] = [];
  for (const sync of syncs) {
    if (sync.reportKey !== undefined)
      paths.push(await localObjectPath(options.lakeStore, sync.reportKey, cacheDir));
  }
  const columns = Object.entries(SYNC_REPORT_COLUMNS);
  if (paths.length === 0) {
    return `SELECT ${columns.map(([name, type]) => `CAST(NULL AS ${type}) AS ${quoteIdent(name)}`).join(', ')} WHERE false`;
  }
  const spec = columns.map(([name, type]) => `${quoteString(name)}: ${quoteString(type)}`).join(', ');
  return `SELECT * FROM read_json(${pathList(paths)}, format = 'newline_delimited', columns = {${spec}})`;
}

/**
 * Opens an in-memory DuckDB with one view per catalog table over its committed files (hive
 * partitioning on, so `day` and `hr` are columns) and `"__segment_datalake"."sync_reports"` over
 * the sync reports, where Segment's documented queries expect it.
 * With several sources and no `sourceId`, each source's views live in a schema named after its
 * catalog database.
 */
export async function openLakeQuery(options: LakeQueryOptions): Promise<LakeQuery> {
  const cacheDir = options.cacheDir ?? join(tmpdir(), 'inlet-lake-cache');
  const instance = await DuckDBInstance.create(':memory:', { memory_limit: options.memoryLimit ?? '1GB' });
  const connection = await instance.connect();
  const views: string[] = [];
  try {
    await connection.run("SET TimeZone = 'UTC'");
    const databases = await options.catalog.listDatabases();
    const shown = databases.filter((d) => options.sourceId === undefined || d.sourceId === options.sourceId);
    const qualify = shown.length > 1;
    for (const database of shown) {
      if (qualify) await connection.run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(database.name)}`);
      for (const table of await options.catalog.listTables(database.sourceId)) {
        const name = qualify
          ? `${quoteIdent(database.name)}.${quoteIdent(table.name)}`
          : quoteIdent(table.name);
        await connection.run(
          `CREATE VIEW ${name} AS ${await tableViewSql(connection, options, table, cacheDir)}`,
        );
        views.push(name);
      }
    }
    await connection.run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(REPORTS_SCHEMA)}`);
    const reports = `${quoteIdent(REPORTS_SCHEMA)}."sync_reports"`;
    await connection.run(`CREATE VIEW ${reports} AS ${await reportsViewSql(options, cacheDir)}`);
    views.push(reports);
  } catch (err) {
    connection.closeSync();
    instance.closeSync();
    throw err;
  }
  return {
    connection,
    views,
    runQuery: (sql) => readJsonRows(connection, sql),
    close: () => {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/**
 * Test fixtures for the Load side of the staging contract: a temp lake (local object store +
 * SQLite catalog) and a writer of staging chunks exactly as Prepare writes them (NDJSON rows +
 * a PrepareSummary), so the Load is tested without depending on Prepare.
 */
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteCatalog } from '../../src/catalog/index.ts';
import { LocalObjectStore } from '../../src/lake/storage/local-store.ts';
import type { ObjectStore } from '../../src/lake/storage/object-store.ts';
import {
  stagingKey,
  summaryKey,
  widenType,
  type ColumnType,
  type PrepareSummary,
} from '../../src/lake/types.ts';

/** A scalar staging value. */
export type Scalar = string | number | boolean | null;
/** One staged row: final column names to JSON scalars. */
export type Row = Record<string, Scalar>;

/** A lake in a temp directory. */
export interface TestLake {
  dir: string;
  db: Database.Database;
  catalog: SqliteCatalog;
  lakeStore: ObjectStore;
  cleanup(): Promise<void>;
}

/** Opens a fresh lake; `store` replaces the local store (e.g. an S3 store). */
export async function openTestLake(store?: ObjectStore): Promise<TestLake> {
  const dir = await fsp.mkdtemp(join(tmpdir(), 'inlet-lake-test-'));
  const db = new Database(join(dir, 'inlet.db'));
  return {
    dir,
    db,
    catalog: new SqliteCatalog(db),
    lakeStore: store ?? new LocalObjectStore(join(dir, 'lake')),
    async cleanup() {
      db.close();
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `fn` on a fresh lake (local, or over `store`) and removes it afterwards. */
export async function withLake(fn: (lake: TestLake) => Promise<void>, store?: ObjectStore): Promise<void> {
  const lake = await openTestLake(store);
  try {
    await fn(lake);
  } finally {
    await lake.cleanup();
  }
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

function typeOf(value: Scalar): ColumnType | null {
  if (value === null) return null;
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number') return Number.isInteger(value) ? 'bigint' : 'double';
  return ISO.test(value) ? 'timestamp' : 'string';
}

/** A track-like row with the standard columns; `receivedAt` decides the partition. */
export function event(id: string, receivedAt: string, extra: Row = {}): Row {
  return {
    id,
    received_at: receivedAt,
    timestamp: receivedAt,
    anonymous_id: `anon-${id}`,
    event: 'Order Completed',
    ...extra,
  };
}

/** What a chunk holds. */
export interface ChunkSpec {
  sourceId: string;
  syncId: string;
  chunkId: string;
  tables: Record<string, Row[]>;
  rawKeys?: string[];
  duplicates?: number;
  quarantined?: Record<string, number>;
}

/** Writes a chunk's staging objects and summary as Prepare would, and returns the summary. */
export async function stageChunk(store: ObjectStore, spec: ChunkSpec): Promise<PrepareSummary> {
  const tables: PrepareSummary['tables'] = {};
  let prepared = 0;
  for (const [table, rows] of Object.entries(spec.tables)) {
    const columns: Record<string, ColumnType> = {};
    const partitions: Record<string, number> = {};
    for (const row of rows) {
      for (const [name, value] of Object.entries(row)) {
        const widened = widenType(columns[name] ?? null, typeOf(value));
        if (widened !== null) columns[name] = widened;
      }
      const received = String(row['received_at']);
      const partition = `day=${received.slice(0, 10)}/hr=${received.slice(11, 13)}`;
      partitions[partition] = (partitions[partition] ?? 0) + 1;
    }
    const key = stagingKey(spec.sourceId, spec.syncId, spec.chunkId, table);
    await store.put(key, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    tables[table] = { rows: rows.length, stagingKey: key, columns, partitions };
    prepared += rows.length;
  }
  const quarantined = spec.quarantined ?? {};
  const duplicates = spec.duplicates ?? 0;
  const summary: PrepareSummary = {
    sourceId: spec.sourceId,
    syncId: spec.syncId,
    chunkId: spec.chunkId,
    rawKeys: spec.rawKeys ?? [
      `segment-logs/${spec.sourceId}/1700000000000/${spec.syncId}-${spec.chunkId}.gz`,
    ],
    read: prepared + duplicates + Object.values(quarantined).reduce((a, b) => a + b, 0),
    prepared,
    duplicates,
    quarantined,
    tables,
  };
  await store.put(summaryKey(spec.sourceId, spec.syncId, spec.chunkId), JSON.stringify(summary));
  return summary;
}

/** Every object key under a prefix. */
export async function listKeys(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await store.list(prefix, nextToken === undefined ? {} : { nextToken });
    keys.push(...page.objects.map((o) => o.key));
    nextToken = page.nextToken;
  } while (nextToken !== undefined);
  return keys;
}

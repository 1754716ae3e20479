/**
 * Shared set-up for the sync tests: a temp directory with a SQLite file (engine and catalog
 * share it, as in `inlet start`), a raw and a lake store, the datalake-sync machine deployed with
 * fast retry and heartbeat settings, and helpers to run workers and count what reached the lake.
 * Everything is real: the engine, SQLite, the worker runtime, DuckDB.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteCatalog } from '../../src/catalog/index.ts';
import { Engine } from '../../src/engine/engine.ts';
import { StepFunctions } from '../../src/engine/step-functions.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { generateRaw, type GenerateResult } from '../../src/lake/generate.ts';
import { openLakeQuery } from '../../src/lake/query.ts';
import { LocalObjectStore } from '../../src/lake/storage/local-store.ts';
import type { ObjectStore } from '../../src/lake/storage/object-store.ts';
import type { SyncMachineSettings, SyncStageOptions } from '../../src/sync/index.ts';
import { createSyncStages, registerSyncStages } from '../../src/sync/index.ts';
import type { SyncActivityArns, SyncStages } from '../../src/sync/index.ts';
import { Worker, type ActivityApi } from '../../src/worker/index.ts';

/** Settings that make a lost worker show within seconds. */
export const FAST_SETTINGS: Partial<SyncMachineSettings> = {
  prepareConcurrency: 3,
  heartbeatSeconds: 3,
  retryIntervalSeconds: 1,
  retryMaxAttempts: 3,
  retryBackoffRate: 1,
};

/** Opens the catalog on a SQLite file with the engine store's pragmas, so processes can share it. */
export function openCatalog(path: string): { catalog: SqliteCatalog; db: Database.Database } {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 10000');
  return { catalog: new SqliteCatalog(db), db };
}

/** The engine on a SQLite file with its in-process Step Functions API. */
export interface InProcessEngine {
  engine: Engine;
  sfn: StepFunctions;
  close(): Promise<void>;
}

/** Starts an engine on the file, as `inlet start` runs it. */
export async function startInProcessEngine(dbPath: string): Promise<InProcessEngine> {
  const store = openSqliteStore(dbPath);
  const engine = new Engine({ store });
  await engine.start();
  return {
    engine,
    sfn: new StepFunctions(engine),
    async close() {
      await engine.stop();
      await store.close();
    },
  };
}

/** A temp directory with the stores of one source. */
export interface SyncDirs {
  dir: string;
  dbPath: string;
  rawRoot: string;
  lakeRoot: string;
  rawStore: ObjectStore;
  lakeStore: ObjectStore;
  remove(): Promise<void>;
}

/** Makes the temp directory and stores. */
export async function makeDirs(prefix: string): Promise<SyncDirs> {
  const dir = await mkdtemp(join(tmpdir(), `inlet-${prefix}-`));
  const rawRoot = join(dir, 'raw');
  const lakeRoot = join(dir, 'lake');
  return {
    dir,
    dbPath: join(dir, 'inlet.db'),
    rawRoot,
    lakeRoot,
    rawStore: new LocalObjectStore(rawRoot),
    lakeStore: new LocalObjectStore(lakeRoot),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Generates raw data for a source: `events` lines in objects of `perFile`, with duplicates and bad lines. */
export function generate(store: ObjectStore, sourceId: string, events: number, perFile: number, seed = 7): Promise<GenerateResult> {
  return generateRaw(store, {
    seed,
    sourceId,
    events,
    start: new Date('2024-05-01T10:00:00Z'),
    durationMs: 3 * 3600_000,
    eventsPerFile: perFile,
    duplicateRate: 0.05,
    badLineRate: 0.02,
  });
}

/** Stage handlers over one source's stores, with quick polling. */
export function stagesFor(dirs: SyncDirs, catalog: SyncStageOptions['catalog'], extra: Partial<SyncStageOptions> = {}): SyncStages {
  return createSyncStages({
    catalog,
    stores: () => ({ rawStore: dirs.rawStore, lakeStore: dirs.lakeStore }),
    followPollMs: 50,
    load: { workDir: dirs.dir, heartbeatMs: 500, staleAfterMs: 5000 },
    prepare: { tempDir: dirs.dir },
    ...extra,
  });
}

/** A started worker running the four stages. */
export function startWorker(api: ActivityApi, activities: SyncActivityArns, stages: SyncStages, name: string): Worker {
  const worker = new Worker({ api, workerName: name, heartbeatIntervalSeconds: 0.5, logger: { warn: () => undefined, error: () => undefined } });
  registerSyncStages(worker, activities, stages, { preparePollers: 2, heartbeatIntervalSeconds: 0.5 });
  worker.start();
  return worker;
}

/** Rows in the lake and distinct message ids among them, across every table of the source. */
export async function lakeCounts(
  catalog: SyncStageOptions['catalog'],
  lakeStore: ObjectStore,
  sourceId: string,
): Promise<{ rows: number; distinct: number }> {
  const lq = await openLakeQuery({ catalog, lakeStore, sourceId, cacheDir: join(tmpdir(), 'inlet-sync-test-cache') });
  try {
    const tables = lq.views.filter((v) => !v.startsWith('"__segment_datalake"'));
    if (tables.length === 0) return { rows: 0, distinct: 0 };
    const union = tables.map((v) => `SELECT id FROM ${v}`).join(' UNION ALL ');
    const [row] = await lq.runQuery(`SELECT count(*) AS n, count(DISTINCT id) AS d FROM (${union})`);
    return { rows: Number(row?.['n']), distinct: Number(row?.['d']) };
  } finally {
    lq.close();
  }
}

/** Resolves with the first stdout line of a child that parses as JSON. */
export function firstJsonLine(child: ChildProcess, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    if (!child.stdout) return reject(new Error('child has no stdout'));
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => reject(new Error('child printed nothing in time')), timeoutMs);
    lines.on('line', (line) => {
      try {
        const value = JSON.parse(line) as Record<string, unknown>;
        clearTimeout(timer);
        lines.close();
        resolve(value);
      } catch {
        // not ours (a warning): keep reading
      }
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before printing`)));
  });
}

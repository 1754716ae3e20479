/**
 * The lake bench: how fast one worker turns gzip NDJSON into committed Parquet, and how much
 * memory that takes. Inlet's Prepare + Load (every chunk handed at once to one `PreparePool`, as
 * one worker process's Prepare pollers hand them to its threads, then `runLoad` to its catalog
 * commit) is timed end to end against a plain DuckDB `COPY (SELECT * FROM read_json(<the same
 * events in one .ndjson.gz>)) TO '<x>.parquet'` in the same run, rounds alternating who goes
 * first. The COPY does none of the normalisation (no validation, dedup, flattening, per-table
 * routing, partitioning, catalog), which is why it is the bar: the goal is at least 1.0x
 * its events per second.
 *
 * Each contender runs alone in a fresh child process (`--child`), so one run gives its wall
 * time, its CPU time (DuckDB's threads included) and its peak RSS — a per-process high-water
 * mark that nothing else in the process can inflate. The other goal is a peak RSS under
 * 1 GiB whatever the input size; INLET_BENCH_LAKE_BIG=1 adds one run of each over at least 2 GB
 * of raw NDJSON (many minutes).
 *
 * A second baseline, the *layout COPY*, writes the same lines into Inlet's layout with none of its
 * rules: one zstd Parquet folder per table (track event name or type) and `day=/hr=` of the
 * received time, nested fields left as structs. It is not a goal; it says how much of the gap is
 * the shape of the output (per-table partitions, zstd) rather than the normalisation.
 *
 * And a floor for any Prepare written in JavaScript: the time one thread takes only to gunzip
 * the raw objects and `JSON.parse` each line (`jsParseFloor`), before any validation, flattening
 * or output.
 *
 * The bench checks its own work: every line read, the rows loaded equal the distinct valid
 * events the generator wrote, every redelivery dropped, and the Parquet files hold exactly those
 * rows (the COPY's hold every line). The generated data has 1% redelivered duplicates and no bad
 * lines: one malformed line makes `read_json` fall back to a single JSON column, and the
 * baseline would no longer parse anything.
 *
 *   INLET_BENCH_LAKE_EVENTS      events of the comparison (default 200,000)
 *   INLET_BENCH_LAKE_ROUNDS      rounds of the comparison (default 1)
 *   INLET_BENCH_LAKE_BIG=1       also run both over >= 2 GB uncompressed
 *   INLET_BENCH_LAKE_BIG_EVENTS  events of that input (default 2,000,000, about 2.2 GB)
 *
 *   node --import tsx bench/index.ts --only lake   or   node --import tsx bench/lake.ts
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createGunzip, createGzip, gunzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import Database from 'better-sqlite3';
import { quoteString, SqliteCatalog } from '../src/catalog/index.ts';
import { generateRaw, type GenerateCounts } from '../src/lake/generate.ts';
import { runLoad, type LoadResult } from '../src/lake/load.ts';
import { PreparePool } from '../src/lake/prepare-pool.ts';
import { listRawObjects } from '../src/lake/raw-layout.ts';
import { LocalObjectStore } from '../src/lake/storage/local-store.ts';
import type { PrepareSummary } from '../src/lake/types.ts';
import { DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_OBJECTS, chunkObjects } from '../src/sync/plan.ts';
import { median, perSecond, progress, round, timeOnce } from './util.ts';

const SOURCE = 'bench';
const SYNC_ID = 'bench-sync';
const SEED = 20240501;
const START = new Date('2024-05-01T00:00:00.000Z');
/** Received times span six hours, so each table gets six `hr=` partitions whatever the size. */
const DURATION_MS = 6 * 3_600_000;
const DUPLICATE_RATE = 0.01;
/** The generator's default: one raw object per 10,000 lines. */
const EVENTS_PER_FILE = 10_000;
/** DuckDB threads on both sides: the Load's default, and the cores of the reference machine. */
const THREADS = 2;
/**
 * The baseline's only option beyond the format: the generator drifts a property's type (an
 * `age` that is sometimes "unknown") past DuckDB's inference sample, and without it the COPY
 * fails. With it the misfits become NULL; `sample_size = -1` would keep them but read the file
 * twice, a slower and so weaker bar.
 */
const READ_JSON_OPTIONS = "format = 'newline_delimited', ignore_errors = true";
/** The layout COPY's extra columns: the table and partition of each line, as Inlet names them loosely. */
const LAYOUT_COLUMNS =
  "coalesce(\"event\", \"type\") AS \"segment_type\", " +
  "strftime(CAST(\"receivedAt\" AS TIMESTAMP), '%Y-%m-%d') AS \"day\", " +
  "strftime(CAST(\"receivedAt\" AS TIMESTAMP), '%H') AS \"hr\"";
const DEFAULT_EVENTS = 200_000;
const DEFAULT_ROUNDS = 1;
const DEFAULT_BIG_EVENTS = 2_000_000;
/** The "at least 2 GB uncompressed". */
const BIG_MIN_RAW_BYTES = 2e9;
const GOAL_RATIO = 1.0;
const GOAL_PEAK_RSS_BYTES = 1024 ** 3;
const CHILD_FLAG = '--child';

/** A positive integer from the environment, or the fallback. */
function envInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1)
    throw new RangeError(`${name} must be a positive integer, got '${text}'`);
  return value;
}

const mib = (bytes: number): number => round(bytes / 1024 ** 2, 1);

/** One generated input: raw objects, the baseline's single file, and what the generator wrote. */
interface Input {
  rawDir: string;
  copyFile: string;
  counts: GenerateCounts;
  rawBytes: number;
  storedBytes: number;
  rawObjects: number;
  chunks: number;
}

/** The raw keys split into Prepare chunks exactly as a sync plans them. */
async function planChunks(raw: LocalObjectStore): Promise<string[][]> {
  const objects = [];
  for await (const object of listRawObjects(raw, SOURCE)) objects.push(object);
  return chunkObjects(objects, DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_OBJECTS).map((chunk) =>
    chunk.map((o) => o.key),
  );
}

/** Writes the seeded sample data as raw objects, then the same lines as one gzip file for the COPY. */
async function generateInput(dir: string, events: number): Promise<Input> {
  const raw = new LocalObjectStore(join(dir, 'raw'));
  const { counts, rawBytes, storedBytes } = await generateRaw(raw, {
    seed: SEED,
    sourceId: SOURCE,
    events,
    start: START,
    durationMs: DURATION_MS,
    duplicateRate: DUPLICATE_RATE,
    eventsPerFile: EVENTS_PER_FILE,
  });
  const chunks = await planChunks(raw);
  const keys = chunks.flat();
  async function* lines(): AsyncGenerator<Buffer> {
    for (const key of keys) {
      const gunzip = createGunzip();
      const done = pipeline(await raw.get(key), gunzip);
      for await (const chunk of gunzip) yield chunk as Buffer;
      await done;
    }
  }
  const copyFile = join(dir, 'all.ndjson.gz');
  await pipeline(lines(), createGzip({ level: 1 }), createWriteStream(copyFile));
  return {
    rawDir: raw.root,
    copyFile,
    counts,
    rawBytes,
    storedBytes,
    rawObjects: keys.length,
    chunks: chunks.length,
  };
}

/** Rows in the Parquet files matching `glob` (read from the footers, so cheap). */
async function parquetRows(glob: string): Promise<number> {
  const instance = await DuckDBInstance.create(':memory:', { threads: String(THREADS) });
  const connection = await instance.connect();
  try {
    const reader = await connection.runAndReadAll(`SELECT count(*) FROM read_parquet(${quoteString(glob)})`);
    return Number(reader.getRows()[0]?.[0] ?? Number.NaN);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/**
 * The floor of a JavaScript Prepare on one thread: gunzip every raw object and `JSON.parse` every
 * line, keeping nothing. Runs in this process, after the contenders.
 */
async function jsParseFloor(input: Input): Promise<Record<string, number>> {
  const raw = new LocalObjectStore(input.rawDir);
  const keys = (await planChunks(raw)).flat();
  const compressed: Buffer[] = [];
  for (const key of keys) {
    const parts: Buffer[] = [];
    for await (const part of await raw.get(key)) parts.push(part as Buffer);
    compressed.push(Buffer.concat(parts));
  }
  let lines = 0;
  let gunzipMs = 0;
  const sample = await timeOnce(async () => {
    for (const object of compressed) {
      const started = performance.now();
      const text = gunzipSync(object).toString('latin1');
      gunzipMs += performance.now() - started;
      for (let at = 0, end = text.indexOf('\n'); end >= 0; at = end + 1, end = text.indexOf('\n', at)) {
        JSON.parse(text.slice(at, end));
        lines++;
      }
    }
  });
  assert.equal(lines, input.counts.lines, 'the parse floor parsed every line');
  return {
    oneThreadMs: round(sample.wallMs),
    gunzipMs: round(gunzipMs),
    cpuUsPerEvent: round((sample.cpuMs * 1000) / lines, 2),
  };
}

/** What a child reports on stdout. */
interface ChildReport {
  /** Peak RSS of the whole child process. */
  maxRssBytes: number;
  /** Peak RSS before the work began: Node, tsx and the modules loaded. */
  idleRssBytes: number;
  wallMs: number;
  cpuMs: number;
  /** Rows in the Parquet output, counted after the timing. */
  parquetRows: number;
  /** Inlet only: the split of `wallMs`, and the counts that must reconcile. */
  prepareMs?: number;
  loadMs?: number;
  read?: number;
  loaded?: number;
  quarantined?: number;
  duplicatesDropped?: number;
}

type Contender = 'inlet' | 'copy' | 'layout';
const CONTENDERS: readonly Contender[] = ['copy', 'layout', 'inlet'];
const LABELS: Record<Contender, string> = {
  inlet: 'Inlet Prepare + Load',
  copy: 'plain DuckDB COPY',
  layout: "DuckDB COPY into Inlet's layout",
};

/**
 * Inlet's side, in the child: Prepare every chunk at once through a pool of one thread per core
 * (as one worker process with a poller per chunk does; the threads start inside the timing),
 * then Load, into a fresh catalog and lake under `dir`; the catalog database is opened as the
 * runtime opens it (WAL, NORMAL sync).
 */
async function runInlet(
  rawDir: string,
  dir: string,
): Promise<Omit<ChildReport, 'maxRssBytes' | 'idleRssBytes'>> {
  const raw = new LocalObjectStore(rawDir);
  const chunks = await planChunks(raw);
  const db = new Database(join(dir, 'inlet.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const catalog = new SqliteCatalog(db);
  const lakeStore = new LocalObjectStore(join(dir, 'lake'));
  const pool = new PreparePool();
  let summaries: PrepareSummary[] = [];
  let prepareMs = 0;
  let load: LoadResult | undefined;
  try {
    const sample = await timeOnce(async () => {
      const started = performance.now();
      summaries = await Promise.all(
        chunks.map((rawKeys, i) => {
          const input = { sourceId: SOURCE, syncId: SYNC_ID, chunkId: `c${String(i).padStart(4, '0')}`, rawKeys };
          return pool.prepare(input, { rawStore: raw, lakeStore, tempDir: dir });
        }),
      );
      prepareMs = performance.now() - started;
      load = await runLoad(
        { sourceId: SOURCE, syncId: SYNC_ID, summaries },
        { catalog, lakeStore, workDir: dir, threads: THREADS },
      );
    });
    if (load === undefined) throw new Error('the Load returned nothing');
    const sum = (pick: (s: PrepareSummary) => number): number => summaries.reduce((a, s) => a + pick(s), 0);
    return {
      ...sample,
      prepareMs,
      loadMs: sample.wallMs - prepareMs,
      read: sum((s) => s.read),
      loaded: load.loaded,
      quarantined: sum((s) => Object.values(s.quarantined).reduce((a, b) => a + b, 0)),
      duplicatesDropped: sum((s) => s.duplicates) + load.crossChunkDuplicates + load.crossSyncDuplicates,
      parquetRows: await parquetRows(join(lakeStore.root, 'segment-data', 'data', SOURCE, '**', '*.parquet')),
    };
  } finally {
    db.close();
    await pool.close();
  }
}

/**
 * A baseline, in the child: the plain COPY of the whole file to one Parquet file, or with
 * `layout` the COPY into zstd files per table and partition.
 */
async function runCopy(
  file: string,
  dir: string,
  layout: boolean,
): Promise<Omit<ChildReport, 'maxRssBytes' | 'idleRssBytes'>> {
  const out = join(dir, layout ? 'layout' : 'copy.parquet');
  const read = `read_json(${quoteString(file)}, ${READ_JSON_OPTIONS})`;
  const sql = layout
    ? `COPY (SELECT *, ${LAYOUT_COLUMNS} FROM ${read}) TO ${quoteString(out)} ` +
      `(FORMAT parquet, COMPRESSION zstd, PARTITION_BY ("segment_type", "day", "hr"))`
    : `COPY (SELECT * FROM ${read}) TO ${quoteString(out)} (FORMAT parquet)`;
  const sample = await timeOnce(async () => {
    const instance = await DuckDBInstance.create(':memory:', { threads: String(THREADS) });
    const connection = await instance.connect();
    try {
      await connection.run(sql);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });
  return { ...sample, parquetRows: await parquetRows(layout ? join(out, '**', '*.parquet') : out) };
}

/** The child's main: runs one contender alone in this process and prints its report. */
async function childMain(args: string[]): Promise<void> {
  const [who, input, dir] = args;
  if (!CONTENDERS.includes(who as Contender) || input === undefined || dir === undefined) {
    throw new Error(`usage: bench/lake.ts ${CHILD_FLAG} ${CONTENDERS.join('|')} <raw dir | .ndjson.gz file> <work dir>`);
  }
  const idleRssBytes = process.resourceUsage().maxRSS * 1024;
  const run = who === 'inlet' ? await runInlet(input, dir) : await runCopy(input, dir, who === 'layout');
  const report: ChildReport = { maxRssBytes: process.resourceUsage().maxRSS * 1024, idleRssBytes, ...run };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

/** Runs one contender over `input` in a fresh child process, checks its output, and returns its report. */
async function runChild(who: Contender, input: Input, dir: string): Promise<ChildReport> {
  await mkdir(dir, { recursive: true });
  const args = [CHILD_FLAG, who, who === 'inlet' ? input.rawDir : input.copyFile, dir];
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  try {
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`the ${who} child exited with ${code}: ${err.slice(-1000)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const report = JSON.parse(out) as ChildReport;
  const { counts } = input;
  if (who !== 'inlet') {
    assert.equal(report.parquetRows, counts.lines, `the ${LABELS[who]} wrote one row per line`);
    return report;
  }
  assert.equal(report.read, counts.lines, 'Prepare read every generated line');
  assert.equal(report.quarantined, 0, 'nothing valid was quarantined');
  assert.equal(report.loaded, counts.valid, 'the Load committed one row per distinct valid event');
  assert.equal(report.duplicatesDropped, counts.duplicates, 'every redelivery was dropped');
  assert.equal(report.parquetRows, counts.valid, 'the committed Parquet files hold exactly the loaded rows');
  return report;
}

/** Runs both contenders `rounds` times, alternating who goes first, and summarises speed and memory. */
async function compareOn(
  input: Input,
  rounds: number,
  root: string,
  label: string,
): Promise<Record<string, unknown>> {
  const events = input.counts.lines;
  const runs: Record<Contender, ChildReport[]> = { inlet: [], copy: [], layout: [] };
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? CONTENDERS : [...CONTENDERS].reverse();
    for (const who of order) {
      progress(`lake: ${label} input, round ${r + 1}/${rounds}: ${LABELS[who]}`);
      runs[who].push(await runChild(who, input, join(root, `${label}-${who}-${r}`)));
    }
  }
  const side = (taken: ChildReport[]) => {
    const wall = median(taken.map((t) => t.wallMs));
    return {
      eventsPerSecond: perSecond(events, wall),
      medianMs: round(wall),
      medianCpuMs: round(median(taken.map((t) => t.cpuMs))),
      samplesMs: taken.map((t) => round(t.wallMs)),
      peakRssMiB: mib(Math.max(...taken.map((t) => t.maxRssBytes))),
      idleRssMiB: mib(median(taken.map((t) => t.idleRssBytes))),
    };
  };
  const perRound = (clock: (t: ChildReport) => number, baseline: Contender = 'copy') =>
    round(median(runs.inlet.map((t, i) => clock(runs[baseline][i] as ChildReport) / clock(t))), 2);
  const ratio = perRound((t) => t.wallMs);
  const peakRss = Math.max(...runs.inlet.map((t) => t.maxRssBytes));
  return {
    input: {
      events,
      distinctValid: input.counts.valid,
      duplicates: input.counts.duplicates,
      rawMiB: mib(input.rawBytes),
      gzipMiB: mib(input.storedBytes),
      rawObjects: input.rawObjects,
      prepareChunks: input.chunks,
    },
    rounds,
    inlet: {
      ...side(runs.inlet),
      medianPrepareMs: round(median(runs.inlet.map((t) => t.prepareMs ?? Number.NaN))),
      medianLoadMs: round(median(runs.inlet.map((t) => t.loadMs ?? Number.NaN))),
    },
    copy: side(runs.copy),
    layoutCopy: side(runs.layout),
    ratio,
    cpuRatio: perRound((t) => t.cpuMs),
    layoutRatio: perRound((t) => t.wallMs, 'layout'),
    jsParseFloor: await jsParseFloor(input),
    goalRatio: GOAL_RATIO,
    goalRatioMet: ratio >= GOAL_RATIO,
    goalPeakRssMiB: mib(GOAL_PEAK_RSS_BYTES),
    goalPeakRssMet: peakRss < GOAL_PEAK_RSS_BYTES,
  };
}

/** Runs the lake bench; see the module comment. Returns a JSON-able report. */
export async function bench(): Promise<Record<string, unknown>> {
  const events = envInt('INLET_BENCH_LAKE_EVENTS', DEFAULT_EVENTS);
  const rounds = envInt('INLET_BENCH_LAKE_ROUNDS', DEFAULT_ROUNDS);
  const big = process.env['INLET_BENCH_LAKE_BIG'] === '1';
  const loadBefore = loadavg();
  const root = await mkdtemp(join(tmpdir(), 'inlet-bench-lake-'));
  try {
    progress(`lake: generating ${events.toLocaleString('en')} events`);
    const input = await generateInput(join(root, 'default'), events);
    const report: Record<string, unknown> = {
      duckdbThreads: THREADS,
      baseline: `COPY (SELECT * FROM read_json(<file>, ${READ_JSON_OPTIONS})) TO <x>.parquet`,
      layoutBaseline:
        `COPY (SELECT *, ${LAYOUT_COLUMNS} FROM read_json(<file>, ${READ_JSON_OPTIONS})) TO <dir> ` +
        `(FORMAT parquet, COMPRESSION zstd, PARTITION_BY ("segment_type", "day", "hr"))`,
      default: await compareOn(input, rounds, root, 'default'),
    };
    await rm(join(root, 'default'), { recursive: true, force: true });
    if (big) {
      const bigEvents = envInt('INLET_BENCH_LAKE_BIG_EVENTS', DEFAULT_BIG_EVENTS);
      progress(`lake: generating ${bigEvents.toLocaleString('en')} events for the big input`);
      const bigInput = await generateInput(join(root, 'big'), bigEvents);
      if (bigInput.rawBytes < BIG_MIN_RAW_BYTES) {
        throw new Error(
          `the big input is ${mib(bigInput.rawBytes)} MiB, under 2 GB: raise INLET_BENCH_LAKE_BIG_EVENTS`,
        );
      }
      report['big'] = await compareOn(bigInput, 1, root, 'big');
    }
    report['loadAverage'] = {
      before: loadBefore.map((l) => round(l, 2)),
      after: loadavg().map((l) => round(l, 2)),
    };
    return report;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const script = process.argv[1];
if (script !== undefined && import.meta.url === pathToFileURL(script).href) {
  const at = process.argv.indexOf(CHILD_FLAG);
  if (at >= 0) await childMain(process.argv.slice(at + 1));
  else process.stdout.write(`${JSON.stringify(await bench(), null, 2)}\n`);
}

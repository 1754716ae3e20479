/**
 * Replays through the real engine, worker runtime, SQLite catalog and DuckDB: a replay of a range
 * of received days re-reads every raw object of the range, adds only the rows the lake lacks
 * (exactly one row per unique event, however often it runs), is marked as a replay in its report,
 * and refuses to run beside another sync of the source. `inlet replay` is checked as a subprocess.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { SqliteCatalog } from '../../src/catalog/index.ts';
import { generateRaw, type GenerateResult } from '../../src/lake/generate.ts';
import { DAY_MS } from '../../src/lake/raw-layout.ts';
import {
  SyncAlreadyRunningError,
  ensureSyncMachine,
  runSyncNow,
  startSync,
  waitForSync,
  type SyncMachine,
  type ReplayRange,
  type SyncOutcome,
} from '../../src/sync/index.ts';
import { parseReplayArgs } from '../../src/cli/replay.ts';
import { parseReplayRange, replayBounds } from '../../src/sync/plan.ts';
import { inProcessApi, type Worker } from '../../src/worker/index.ts';
import {
  FAST_SETTINGS,
  lakeCounts,
  makeDirs,
  openCatalog,
  stagesFor,
  startInProcessEngine,
  startWorker,
  type InProcessEngine,
  type SyncDirs,
} from './harness.ts';

const SOURCE = 'shop';
const DAY2 = '2024-05-02';

/** The report's `source` row. */
function sourceRow(outcome: SyncOutcome): Record<string, unknown> {
  const row = outcome.report?.find((r) => r['type'] === 'source');
  assert.ok(row, `no source row in the report of ${outcome.status} (${outcome.error ?? ''})`);
  return row;
}

function duplicatesOf(row: Record<string, unknown>): number {
  return (row['duplicates'] as { total: number }).total;
}

/** Committed rows per partition day, from the catalog's files. */
async function rowsByDay(catalog: SqliteCatalog): Promise<Map<string, number>> {
  const days = new Map<string, number>();
  for (const table of await catalog.listTables(SOURCE)) {
    for (const file of await catalog.listFiles(SOURCE, table.name))
      days.set(file.day, (days.get(file.day) ?? 0) + file.rowCount);
  }
  return days;
}

/** Raw objects written into the received days of a range. */
function filesIn(generated: GenerateResult, from: string, to: string): GenerateResult['files'] {
  const { from: start, to: end } = replayBounds({ from, to });
  return generated.files.filter((f) => f.day >= start.getTime() && f.day <= end.getTime());
}

/** Raw lines written into the received days of a range. */
function linesIn(generated: GenerateResult, from: string, to: string): number {
  return filesIn(generated, from, to).reduce((sum, f) => sum + f.lines, 0);
}

void describe('replay ranges', () => {
  void test('a replay range is two real calendar days, the first not after the last', () => {
    assert.deepEqual(parseReplayRange('2024-05-01', '2024-05-03'), { from: '2024-05-01', to: '2024-05-03' });
    assert.throws(() => parseReplayRange('2024-02-30', '2024-03-01'), /--from '2024-02-30' is not a date/);
    assert.throws(() => parseReplayRange('2024-05-01', '2024-5-2'), /--to '2024-5-2' is not a date/);
    assert.throws(() => parseReplayRange('2024-05-03', '2024-05-01'), /before --from/);
    assert.deepEqual(parseReplayArgs('web', '2024-05-01', '2024-05-01'), {
      sourceId: 'web',
      range: { from: '2024-05-01', to: '2024-05-01' },
    });
    assert.deepEqual(parseReplayArgs('web', '2024-05-01', undefined), {
      usage: 'usage: inlet replay <source> --from YYYY-MM-DD --to YYYY-MM-DD',
    });
    assert.ok('usage' in parseReplayArgs(undefined, '2024-05-01', '2024-05-01'));
    assert.deepEqual(parseReplayArgs('web', '2024-05-03', '2024-05-01'), {
      usage: '--to 2024-05-01 is before --from 2024-05-03',
    });
    const bounds = replayBounds({ from: DAY2, to: DAY2 });
    assert.equal(bounds.from.toISOString(), '2024-05-02T00:00:00.000Z');
    assert.equal(bounds.to.toISOString(), '2024-05-02T23:59:59.999Z');
  });
});

void describe('a replay through the engine and workers', () => {
  let dirs: SyncDirs;
  let engine: InProcessEngine;
  let machine: SyncMachine;
  let worker: Worker;
  let catalogDb: ReturnType<typeof openCatalog>;
  let generated: GenerateResult;
  let synced: { rows: number; distinct: number };
  let syncedByDay: Map<string, number>;
  /** Rows in the lake after the never-synced objects were added. */
  let total: number;

  before(async () => {
    dirs = await makeDirs('replay');
    engine = await startInProcessEngine(dirs.dbPath);
    catalogDb = openCatalog(dirs.dbPath);
    machine = await ensureSyncMachine(engine.sfn, { settings: FAST_SETTINGS });
    worker = startWorker(
      inProcessApi(engine.sfn, { pollMs: 500 }),
      machine.activities,
      stagesFor(dirs, catalogDb.catalog),
      'w1',
    );
    // Noon of May 1 to noon of May 3: three received days, with duplicates and bad lines.
    generated = await generateRaw(dirs.rawStore, {
      seed: 11,
      sourceId: SOURCE,
      events: 1200,
      start: new Date('2024-05-01T12:00:00Z'),
      durationMs: 2 * DAY_MS,
      eventsPerFile: 100,
      duplicateRate: 0.05,
      badLineRate: 0.02,
    });
  });

  after(async () => {
    await worker.stop();
    await engine.close();
    catalogDb.db.close();
    await dirs.remove();
  });

  /** What starting a sync (or, with a range, a replay) of the source takes. */
  const options = (replay?: ReplayRange) => ({
    api: engine.sfn,
    stateMachineArn: machine.stateMachineArn,
    sourceId: SOURCE,
    rawStore: dirs.rawStore,
    lakeStore: dirs.lakeStore,
    catalog: catalogDb.catalog,
    ...(replay === undefined ? {} : { replay }),
  });
  const run = (replay?: ReplayRange) => runSyncNow({ ...options(replay), pollMs: 100 });

  void test('a sync of three days loads one row per unique event', async () => {
    const outcome = await run();
    assert.equal(outcome.status, 'finished', outcome.error);
    synced = await lakeCounts(catalogDb.catalog, dirs.lakeStore, SOURCE);
    assert.deepEqual(synced, { rows: generated.counts.valid, distinct: generated.counts.valid });
    syncedByDay = await rowsByDay(catalogDb.catalog);
    assert.deepEqual([...syncedByDay.keys()].sort(), ['2024-05-01', '2024-05-02', '2024-05-03']);
    assert.equal(sourceRow(outcome)['replay'], false);
  });

  void test('replaying a day the lake holds whole adds nothing and reports every row as a duplicate', async () => {
    const outcome = await run({ from: DAY2, to: DAY2 });
    assert.equal(outcome.status, 'finished', outcome.error);
    const source = sourceRow(outcome);
    assert.equal(source['replay'], true);
    assert.equal(source['replay_from'], '2024-05-02 00:00:00.000');
    assert.equal(source['replay_to'], '2024-05-02 23:59:59.999');
    assert.ok(
      outcome.report?.every((r) => r['replay'] === true),
      'every row of the report says replay',
    );
    assert.equal(source['read'], linesIn(generated, DAY2, DAY2), 'every raw line of the day is read again');
    assert.equal(source['loaded'], 0);
    assert.equal(duplicatesOf(source), Number(source['read']) - Number(source['quarantined_total']));
    assert.ok(duplicatesOf(source) > 0);
    assert.deepEqual(await lakeCounts(catalogDb.catalog, dirs.lakeStore, SOURCE), synced);
    assert.deepEqual(await rowsByDay(catalogDb.catalog), syncedByDay);
  });

  void test('after part of a day is lost from the lake, a replay adds exactly the missing rows, and a second replay nothing', async () => {
    // Lose the morning of May 2 from every table, through the catalog (as a retention delete
    // would): the files leave the catalog in one commit and are deleted by the next Load.
    const { catalog } = catalogDb;
    const lossSync = 'loss-20240502';
    let lost = 0;
    const tables = [];
    for (const table of await catalog.listTables(SOURCE)) {
      const files = (await catalog.listFiles(SOURCE, table.name)).filter(
        (f) => f.day === DAY2 && f.hr < '12',
      );
      lost += files.reduce((sum, f) => sum + f.rowCount, 0);
      if (files.length === 0) continue;
      tables.push({
        table: table.name,
        expectedTypeVersion: table.typeVersion,
        expectedColumnCount: table.columns.length,
        changes: [],
        addFiles: [],
        removeFiles: files.map((f) => f.key),
        retypeFiles: [],
      });
    }
    assert.ok(lost > 0);
    await catalog.startSync(SOURCE, lossSync, new Date().toISOString());
    await catalog.commitLoad({
      sourceId: SOURCE,
      syncId: lossSync,
      committedAt: new Date().toISOString(),
      tables,
      rawKeys: [],
      loadResult: {},
    });
    await catalog.finishSync(lossSync, { status: 'finished', finishedAt: new Date().toISOString() });
    assert.equal((await lakeCounts(catalog, dirs.lakeStore, SOURCE)).rows, synced.rows - lost);

    const replay = await run({ from: DAY2, to: DAY2 });
    assert.equal(replay.status, 'finished', replay.error);
    const source = sourceRow(replay);
    assert.equal(source['loaded'], lost, 'exactly the lost rows come back');
    assert.equal(duplicatesOf(source), Number(source['read']) - lost - Number(source['quarantined_total']));
    assert.deepEqual(await lakeCounts(catalog, dirs.lakeStore, SOURCE), synced);
    assert.deepEqual(await rowsByDay(catalog), syncedByDay);
    assert.deepEqual(await catalog.pendingDeletes(SOURCE), [], 'the lost files are gone from the store too');

    const again = await run({ from: DAY2, to: DAY2 });
    assert.equal(again.status, 'finished', again.error);
    assert.equal(sourceRow(again)['loaded'], 0);
    assert.deepEqual(await lakeCounts(catalog, dirs.lakeStore, SOURCE), synced);
  });

  void test('a replay also reads never-synced raw objects of its range and marks them, leaving other days to the next sync', async () => {
    const extra = (seed: number, start: string) =>
      generateRaw(dirs.rawStore, {
        seed,
        sourceId: SOURCE,
        events: 100,
        start: new Date(start),
        durationMs: 3600_000,
        eventsPerFile: 50,
      });
    const inRange = await extra(21, '2024-05-02T20:00:00Z');
    const outside = await extra(22, '2024-05-03T20:00:00Z');

    const replay = await run({ from: DAY2, to: DAY2 });
    assert.equal(replay.status, 'finished', replay.error);
    assert.equal(
      sourceRow(replay)['loaded'],
      inRange.counts.valid,
      'the unsynced objects of May 2 are loaded',
    );
    assert.equal(replay.plan?.objects, filesIn(generated, DAY2, DAY2).length + inRange.files.length);

    const next = await run();
    assert.equal(next.status, 'finished', next.error);
    assert.deepEqual(
      next.plan?.chunks.flatMap((c) => c.objects),
      [outside.files.length],
      'only the day outside the range waited',
    );
    assert.equal(sourceRow(next)['loaded'], outside.counts.valid);
    total = synced.rows + inRange.counts.valid + outside.counts.valid;
    assert.deepEqual(await lakeCounts(catalogDb.catalog, dirs.lakeStore, SOURCE), {
      rows: total,
      distinct: total,
    });
    assert.equal((await run()).status, 'nothing_to_sync');
  });

  void test('a replay refuses to start while a sync of the source runs, and a range without raw data starts nothing', async () => {
    const started = await startSync(options({ from: '2024-05-01', to: '2024-05-01' }));
    assert.ok(started);
    await assert.rejects(run({ from: DAY2, to: DAY2 }), SyncAlreadyRunningError);
    await assert.rejects(run(), SyncAlreadyRunningError);
    const end = await waitForSync(engine.sfn, started.executionArn, { pollMs: 100 });
    assert.equal(end.status, 'SUCCEEDED');
    assert.deepEqual(await lakeCounts(catalogDb.catalog, dirs.lakeStore, SOURCE), {
      rows: total,
      distinct: total,
    });

    const empty = await run({ from: '2024-06-01', to: '2024-06-30' });
    assert.equal(empty.status, 'nothing_to_sync');
  });
});

void describe('inlet replay', () => {
  const BIN = resolve('bin/inlet.js');
  const inlet = (cwd: string, args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: 240_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  void test('replays the days it is given and exits 0 with the lake unchanged; a bad date exits 2 with the usage', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'inlet-replay-cli-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    assert.equal(inlet(dir, ['generate', 'web', '--days', '2', '--events', '600']).code, 0);
    const sync = inlet(dir, ['sync', 'web', '--json']);
    assert.equal(sync.code, 0, sync.stderr);
    const pages = (JSON.parse(sync.stdout) as SyncOutcome).report?.find((r) => r['table_name'] === 'pages')?.[
      'row_count'
    ];
    assert.ok(Number(pages) > 0);

    const today = Date.now() - (Date.now() % DAY_MS);
    const day = (offset: number) => new Date(today + offset * DAY_MS).toISOString().slice(0, 10);
    const replay = inlet(dir, ['replay', 'web', '--from', day(-2), '--to', day(-1), '--json']);
    assert.equal(replay.code, 0, replay.stderr);
    const outcome = JSON.parse(replay.stdout) as SyncOutcome;
    assert.equal(outcome.status, 'finished');
    const source = sourceRow(outcome);
    assert.equal(source['replay'], true);
    assert.equal(source['loaded'], 0);
    assert.equal(Number(source['read']) - Number(source['quarantined_total']) - duplicatesOf(source), 0);
    const query = inlet(dir, ['query', '--json', 'SELECT count(*) AS n FROM pages']);
    assert.equal(query.code, 0, query.stderr);
    assert.equal((JSON.parse(query.stdout) as { n: number }[])[0]?.n, pages, 'the lake is unchanged');

    const bad = inlet(dir, ['replay', 'web', '--from', '2024-13-01', '--to', '2024-12-01']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--from '2024-13-01' is not a date YYYY-MM-DD[\s\S]*usage: inlet/);
  });
});

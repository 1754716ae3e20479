import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { text } from 'node:stream/consumers';
import { runLoad } from '../../src/lake/load.ts';
import { openLakeQuery } from '../../src/lake/query.ts';
import { buildSyncReport, ReportReconciliationError, writeSyncReport } from '../../src/lake/report.ts';
import { event, stageChunk, withLake, type TestLake } from './staging-fixture.ts';

const STARTED = new Date('2024-05-01T12:00:00.000Z');
const FINISHED = new Date('2024-05-01T12:02:30.000Z');
const FINISHED_SYNC_2 = {
  sourceId: 'src1',
  syncId: 'sync-2',
  status: 'finished',
  startedAt: STARTED,
  finishedAt: FINISHED,
} as const;

/** Sync 1 loads `dup`; sync 2 stages `dup` again plus three rows, with in-chunk dups and quarantine. */
async function secondSync(lake: TestLake) {
  const opts = { catalog: lake.catalog, lakeStore: lake.lakeStore, workDir: lake.dir };
  const first = await stageChunk(lake.lakeStore, {
    sourceId: 'src1',
    syncId: 'sync-1',
    chunkId: 'c0',
    tables: { t: [event('dup', '2024-05-01T09:00:00.000Z')] },
  });
  await runLoad({ sourceId: 'src1', syncId: 'sync-1', summaries: [first] }, opts);
  const summaries = [
    await stageChunk(lake.lakeStore, {
      sourceId: 'src1',
      syncId: 'sync-2',
      chunkId: 'c0',
      tables: { t: [event('dup', '2024-05-01T11:00:00.000Z'), event('a', '2024-05-01T11:00:00.000Z')] },
      duplicates: 2,
      quarantined: { malformed_json: 3, too_large: 1 },
    }),
    await stageChunk(lake.lakeStore, {
      sourceId: 'src1',
      syncId: 'sync-2',
      chunkId: 'c1',
      tables: {
        t: [event('a', '2024-05-01T11:30:00.000Z')],
        identifies: [event('i', '2024-05-01T11:00:00.000Z')],
      },
      quarantined: { malformed_json: 1 },
    }),
  ];
  const load = await runLoad({ sourceId: 'src1', syncId: 'sync-2', summaries }, opts);
  return { summaries, load };
}

void describe('sync reports', () => {
  void test("a finished sync report reconciles read = loaded + duplicates + quarantined and lands at Segment's key", async () => {
    await withLake(async (lake) => {
      const { summaries, load } = await secondSync(lake);
      const report = await writeSyncReport(
        { ...FINISHED_SYNC_2, summaries, load, stateTransitions: 12, timings: { load: 1234.4 } },
        { catalog: lake.catalog, lakeStore: lake.lakeStore },
      );
      assert.equal(report.key, 'segment-data/reports/day=2024-05-01/source=src1/run_id=sync-2/report.json');
      assert.equal(report.read, 11);
      assert.equal(report.loaded, 2);
      assert.deepEqual(report.duplicates, { inChunk: 2, crossChunk: 1, crossSync: 1, total: 4 });
      assert.deepEqual(report.quarantined, { malformed_json: 4, too_large: 1 });
      const lines = (await text(await lake.lakeStore.get(report.key)))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(
        lines.map((l) => [l['type'], l['table_name'], l['row_count']]),
        [
          ['source', '', 2],
          ['event', 'identifies', 1],
          ['event', 't', 1],
        ],
      );
      assert.equal(lines[0]?.['duration_mins'], 2);
      assert.equal(lines[0]?.['start_time'], '2024-05-01 12:00:00.000');
      assert.equal(lines[0]?.['state_transition_cost_usd'], 12 * 0.000025);
      const sync = await lake.catalog.getSync('sync-2');
      assert.equal(sync?.status, 'finished');
      assert.equal(sync?.reportKey, report.key);

      const q = await openLakeQuery({ catalog: lake.catalog, lakeStore: lake.lakeStore, cacheDir: lake.dir });
      try {
        const rows = await q.runQuery(
          `SELECT table_name, row_count, duplicates.cross_sync AS cross_sync, len(partitions) AS partitions
           FROM "__segment_datalake"."sync_reports" WHERE source_id = 'src1' AND type = 'event' ORDER BY table_name`,
        );
        assert.deepEqual(rows, [
          { table_name: 'identifies', row_count: 1, cross_sync: 0, partitions: 1 },
          { table_name: 't', row_count: 1, cross_sync: 1, partitions: 1 },
        ]);
      } finally {
        q.close();
      }
    });
  });

  void test('a report whose counts do not add up is refused', async () => {
    await withLake(async (lake) => {
      const { summaries, load } = await secondSync(lake);
      const wrong = { ...load, loaded: load.loaded + 1 };
      assert.throws(
        () => buildSyncReport({ ...FINISHED_SYNC_2, summaries, load: wrong }),
        ReportReconciliationError,
      );
    });
  });

  void test('a failed sync reports its prepared rows as not loaded and records the error', async () => {
    await withLake(async (lake) => {
      const summary = await stageChunk(lake.lakeStore, {
        sourceId: 'src1',
        syncId: 'sync-9',
        chunkId: 'c0',
        tables: { t: [event('a', '2024-05-01T10:00:00.000Z')] },
        quarantined: { bad_timestamp: 1 },
      });
      await lake.catalog.startSync('src1', 'sync-9', STARTED.toISOString());
      const report = await writeSyncReport(
        {
          sourceId: 'src1',
          syncId: 'sync-9',
          status: 'failed',
          startedAt: STARTED,
          finishedAt: FINISHED,
          summaries: [summary],
          error: { message: 'Load job failed: disk full', code: 'Inlet.LoadFailed' },
        },
        { catalog: lake.catalog, lakeStore: lake.lakeStore },
      );
      assert.equal(report.notLoaded, 1);
      assert.equal(report.rows[0]?.['error_code'], 'Inlet.LoadFailed');
      const sync = await lake.catalog.getSync('sync-9');
      assert.equal(sync?.status, 'failed');
      assert.equal(sync?.error, 'Load job failed: disk full');
      assert.equal(
        (await lake.catalog.rawSyncMarks(summary.rawKeys)).size,
        0,
        'its raw objects stay unsynced',
      );
    });
  });
});

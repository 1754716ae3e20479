import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { CatalogConflictError, SqliteCatalog, type LoadCommit } from '../../src/catalog/index.ts';
import { runLoad, type LoadOptions } from '../../src/lake/load.ts';
import { LoadJobs } from '../../src/lake/load-job.ts';
import { prepareChunk } from '../../src/lake/prepare.ts';
import { openLakeQuery, readJsonRows } from '../../src/lake/query.ts';
import { rawObjectKey } from '../../src/lake/raw-layout.ts';
import { LocalObjectStore } from '../../src/lake/storage/local-store.ts';
import { event, listKeys, stageChunk, withLake, type Row, type TestLake } from './staging-fixture.ts';

const SOURCE = 'src1';

function options(lake: TestLake, extra: Partial<LoadOptions> = {}): LoadOptions {
  return { catalog: lake.catalog, lakeStore: lake.lakeStore, workDir: lake.dir, ...extra };
}

/** Stages one chunk per entry and runs the sync's Load. */
async function loadSync(
  lake: TestLake,
  syncId: string,
  chunks: Record<string, Row[]>[],
  extra: Partial<LoadOptions> = {},
) {
  const summaries = [];
  for (const [i, tables] of chunks.entries()) {
    summaries.push(await stageChunk(lake.lakeStore, { sourceId: SOURCE, syncId, chunkId: `c${i}`, tables }));
  }
  return runLoad({ sourceId: SOURCE, syncId, summaries }, options(lake, extra));
}

/** Stages one chunk `c0` of `sync-1` holding `rows` in table `t`. */
function stageOne(lake: TestLake, rows: Row[]) {
  return stageChunk(lake.lakeStore, {
    sourceId: SOURCE,
    syncId: 'sync-1',
    chunkId: 'c0',
    tables: { t: rows },
  });
}

async function query(lake: TestLake, sql: string) {
  const q = await openLakeQuery({ catalog: lake.catalog, lakeStore: lake.lakeStore, cacheDir: lake.dir });
  try {
    return await q.runQuery(sql);
  } finally {
    q.close();
  }
}

/** The DuckDB type of a column inside one Parquet file. */
async function parquetType(path: string, column: string): Promise<string | undefined> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const rows = await readJsonRows(
      connection,
      `DESCRIBE SELECT * FROM read_parquet('${path.replaceAll("'", "''")}')`,
    );
    const row = rows.find((r) => r['column_name'] === column);
    return row === undefined ? undefined : String(row['column_type']);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

void describe('Load', () => {
  void test('writes each table as Parquet in day=/hr= partitions by received time and commits the catalog', async () => {
    await withLake(async (lake) => {
      const result = await loadSync(lake, 'sync-1', [
        {
          order_completed: [
            event('m1', '2024-05-01T10:15:00.000Z', { properties_total: 10 }),
            event('m2', '2024-05-01T11:59:59.999Z', { properties_total: 12 }),
          ],
          identifies: [
            {
              id: 'm3',
              received_at: '2024-05-01T10:00:00.000Z',
              timestamp: '2024-05-01T10:00:00.000Z',
              email: 'a@b.c',
            },
          ],
        },
      ]);
      assert.equal(result.loaded, 3);
      assert.deepEqual(result.tables['order_completed']?.partitions, [
        { day: '2024-05-01', hr: '10', rows: 1 },
        { day: '2024-05-01', hr: '11', rows: 1 },
      ]);
      const keys = await listKeys(lake.lakeStore, 'segment-data/data/');
      assert.deepEqual(keys, [
        'segment-data/data/src1/segment_type=identifies/day=2024-05-01/hr=10/sync-1.parquet',
        'segment-data/data/src1/segment_type=order_completed/day=2024-05-01/hr=10/sync-1.parquet',
        'segment-data/data/src1/segment_type=order_completed/day=2024-05-01/hr=11/sync-1.parquet',
      ]);
      const table = await lake.catalog.getTable(SOURCE, 'order_completed');
      assert.deepEqual(
        table?.columns.map((c) => [c.name, c.type]),
        [
          ['id', 'string'],
          ['received_at', 'timestamp'],
          ['timestamp', 'timestamp'],
          ['anonymous_id', 'string'],
          ['event', 'string'],
          ['properties_total', 'bigint'],
        ],
      );
      const partitions = await lake.catalog.listPartitions(SOURCE, 'order_completed');
      assert.deepEqual(
        partitions.map((p) => [p.day, p.hr, p.rowCount, p.files.length]),
        [
          ['2024-05-01', '10', 1, 1],
          ['2024-05-01', '11', 1, 1],
        ],
      );
      const marks = await lake.catalog.rawSyncMarks(['segment-logs/src1/1700000000000/sync-1-c0.gz']);
      assert.equal(marks.get('segment-logs/src1/1700000000000/sync-1-c0.gz'), 'sync-1');
      assert.equal((await lake.catalog.getSync('sync-1'))?.status, 'committed');
      const rows = await query(
        lake,
        'SELECT id, received_at, properties_total, day, hr FROM order_completed ORDER BY id',
      );
      assert.deepEqual(rows, [
        { id: 'm1', received_at: '2024-05-01 10:15:00', properties_total: 10, day: '2024-05-01', hr: '10' },
        {
          id: 'm2',
          received_at: '2024-05-01 11:59:59.999',
          properties_total: 12,
          day: '2024-05-01',
          hr: '11',
        },
      ]);
    });
  });

  void test('a column widened bigint → double → string over three loads reads back under the newest type', async () => {
    await withLake(async (lake) => {
      await loadSync(lake, 'sync-1', [{ t: [event('a', '2024-05-01T10:00:00.000Z', { properties_v: 1 })] }]);
      await loadSync(lake, 'sync-2', [
        { t: [event('b', '2024-05-02T10:00:00.000Z', { properties_v: 2.5 })] },
      ]);
      const third = await loadSync(lake, 'sync-3', [
        { t: [event('c', '2024-05-03T10:00:00.000Z', { properties_v: 'three', properties_new: true })] },
      ]);
      assert.deepEqual(third.tables['t']?.widenedColumns, [
        { name: 'properties_v', fromType: 'double', toType: 'string' },
      ]);
      assert.deepEqual(third.tables['t']?.newColumns, [{ name: 'properties_new', type: 'boolean' }]);
      const history = await lake.catalog.schemaHistory(SOURCE, 't');
      assert.deepEqual(
        history.filter((h) => h.change === 'widened').map((h) => [h.column, h.fromType, h.toType, h.syncId]),
        [
          ['properties_v', 'bigint', 'double', 'sync-2'],
          ['properties_v', 'double', 'string', 'sync-3'],
        ],
      );
      // Every committed file now holds the column as VARCHAR: no partition disagrees with the table.
      const files = await lake.catalog.listFiles(SOURCE, 't');
      assert.equal(files.length, 3);
      const table = await lake.catalog.getTable(SOURCE, 't');
      for (const file of files) {
        assert.equal(
          await parquetType(lake.lakeStore.localPath?.(file.key) ?? '', 'properties_v'),
          'VARCHAR',
        );
        assert.equal(file.typeVersion, table?.typeVersion);
      }
      const rows = await query(lake, 'SELECT id, properties_v, properties_new FROM t ORDER BY id');
      assert.deepEqual(rows, [
        { id: 'a', properties_v: '1.0', properties_new: null },
        { id: 'b', properties_v: '2.5', properties_new: null },
        { id: 'c', properties_v: 'three', properties_new: true },
      ]);
      const replaced = await listKeys(
        lake.lakeStore,
        'segment-data/data/src1/segment_type=t/day=2024-05-01/',
      );
      assert.equal(replaced.length, 1, 'the file written before the widening was replaced, not kept beside');
    });
  });

  void test('drops a messageId committed by an earlier sync within the window and counts it', async () => {
    await withLake(async (lake) => {
      await loadSync(lake, 'sync-1', [
        { t: [event('dup', '2024-05-01T10:00:00.000Z'), event('x', '2024-05-01T10:00:00.000Z')] },
      ]);
      const second = await loadSync(lake, 'sync-2', [
        { t: [event('dup', '2024-05-03T09:00:00.000Z'), event('y', '2024-05-03T09:00:00.000Z')] },
      ]);
      assert.equal(second.loaded, 1);
      assert.equal(second.crossSyncDuplicates, 1);
      const rows = await query(lake, 'SELECT id, day FROM t ORDER BY id');
      assert.deepEqual(rows, [
        { id: 'dup', day: '2024-05-01' },
        { id: 'x', day: '2024-05-01' },
        { id: 'y', day: '2024-05-03' },
      ]);
    });
  });

  void test('a messageId older than the dedup window is loaded again', async () => {
    await withLake(async (lake) => {
      await loadSync(lake, 'sync-1', [{ t: [event('old', '2024-05-01T10:00:00.000Z')] }]);
      const later = await loadSync(lake, 'sync-2', [{ t: [event('old', '2024-05-20T10:00:00.000Z')] }], {
        dedupWindowDays: 7,
      });
      assert.equal(later.loaded, 1);
      assert.equal(later.crossSyncDuplicates, 0);
    });
  });

  void test('keeps the first received copy of a messageId staged by two chunks of one sync', async () => {
    await withLake(async (lake) => {
      const result = await loadSync(lake, 'sync-1', [
        { t: [event('m', '2024-05-01T10:30:00.000Z', { properties_copy: 'late' })] },
        { t: [event('m', '2024-05-01T10:00:00.000Z', { properties_copy: 'early' })] },
      ]);
      assert.equal(result.crossChunkDuplicates, 1);
      assert.equal(result.loaded, 1);
      assert.deepEqual(await query(lake, 'SELECT properties_copy FROM t'), [{ properties_copy: 'early' }]);
    });
  });

  void test('a Load retried after its commit failed leaves exactly one copy of every row', async () => {
    await withLake(async (lake) => {
      class FailingOnceCatalog extends SqliteCatalog {
        failures = 1;
        override async commitLoad(commit: LoadCommit): Promise<void> {
          if (this.failures-- > 0) throw new Error('connection lost during commit');
          return super.commitLoad(commit);
        }
      }
      const catalog = new FailingOnceCatalog(lake.db);
      const summary = await stageOne(lake, [
        event('a', '2024-05-01T10:00:00.000Z'),
        event('b', '2024-05-01T11:00:00.000Z'),
      ]);
      const spec = { sourceId: SOURCE, syncId: 'sync-1', summaries: [summary] };
      await assert.rejects(runLoad(spec, { ...options(lake), catalog }), /connection lost/);
      assert.deepEqual(
        await listKeys(lake.lakeStore, 'segment-data/data/'),
        [],
        'a failed attempt removes its output',
      );
      const retried = await runLoad(spec, { ...options(lake), catalog });
      assert.equal(retried.loaded, 2);
      const again = await runLoad(spec, { ...options(lake), catalog });
      assert.equal(again.alreadyCommitted, true);
      assert.equal(again.loaded, 2);
      assert.deepEqual(await query(lake, 'SELECT count(*) AS n, count(DISTINCT id) AS d FROM t'), [
        { n: 2, d: 2 },
      ]);
      assert.equal((await listKeys(lake.lakeStore, 'segment-data/data/')).length, 2);
    });
  });

  void test('merges a small file of the partition into the next load and deletes the replaced file', async () => {
    await withLake(async (lake) => {
      await loadSync(lake, 'sync-1', [{ t: [event('a', '2024-05-01T10:00:00.000Z')] }]);
      const second = await loadSync(lake, 'sync-2', [{ t: [event('b', '2024-05-01T10:20:00.000Z')] }]);
      assert.equal(second.tables['t']?.filesMerged, 1);
      assert.deepEqual(await listKeys(lake.lakeStore, 'segment-data/data/'), [
        'segment-data/data/src1/segment_type=t/day=2024-05-01/hr=10/sync-2.parquet',
      ]);
      const [partition] = await lake.catalog.listPartitions(SOURCE, 't');
      assert.equal(partition?.rowCount, 2);
      assert.deepEqual(await lake.catalog.pendingDeletes(SOURCE), []);
      assert.deepEqual(await query(lake, 'SELECT id FROM t ORDER BY id'), [{ id: 'a' }, { id: 'b' }]);
    });
  });

  void test('values prepared from raw events reach Parquet exactly: int64 extremes, microseconds, exponents, booleans', async () => {
    await withLake(async (lake) => {
      const raw = new LocalObjectStore(join(lake.dir, 'raw'));
      const line = (id: string, properties: string) =>
        `{"type":"track","event":"Edge","messageId":"${id}","receivedAt":"2024-05-01T10:00:00.123456Z","properties":${properties}}`;
      const key = rawObjectKey(SOURCE, Date.UTC(2024, 4, 1), 'edge.gz');
      await raw.put(
        key,
        gzipSync(
          [
            line('a', '{"big":9223372036854775807,"small":-9223372036854775808,"ratio":1.5e300,"flag":true,"at":"2024-05-01T09:00:00.000001Z"}'),
            line('b', '{"big":9007199254740993,"small":0,"ratio":0.1,"flag":false,"at":"0001-01-01T00:00:00Z"}'),
          ].join('\n'),
        ),
      );
      const summary = await prepareChunk(
        { sourceId: SOURCE, syncId: 'sync-1', chunkId: 'c0', rawKeys: [key] },
        { rawStore: raw, lakeStore: lake.lakeStore },
      );
      assert.deepEqual(
        ['big', 'small', 'ratio', 'flag', 'at'].map((c) => summary.tables['edge']?.columns[c]),
        ['bigint', 'bigint', 'double', 'boolean', 'timestamp'],
      );
      await runLoad({ sourceId: SOURCE, syncId: 'sync-1', summaries: [summary] }, options(lake));
      const rows = await query(
        lake,
        'SELECT id, CAST(received_at AS VARCHAR) AS received, CAST(big AS VARCHAR) AS big, CAST(small AS VARCHAR) AS small, ' +
          'ratio, flag, CAST("at" AS VARCHAR) AS "at" FROM edge ORDER BY id',
      );
      assert.deepEqual(rows, [
        {
          id: 'a',
          received: '2024-05-01 10:00:00.123456',
          big: '9223372036854775807',
          small: '-9223372036854775808',
          ratio: 1.5e300,
          flag: true,
          at: '2024-05-01 09:00:00.000001',
        },
        { id: 'b', received: '2024-05-01 10:00:00.123456', big: '9007199254740993', small: '0', ratio: 0.1, flag: false, at: '0001-01-01 00:00:00' },
      ]);
    });
  });

  void test('refuses staging whose row count differs from its summary', async () => {
    await withLake(async (lake) => {
      const summary = await stageOne(lake, [event('a', '2024-05-01T10:00:00.000Z')]);
      const table = summary.tables['t'];
      assert.ok(table);
      await lake.lakeStore.put(table.stagingKey, '');
      await assert.rejects(
        runLoad({ sourceId: SOURCE, syncId: 'sync-1', summaries: [summary] }, options(lake)),
        {
          name: 'LoadConsistencyError',
        },
      );
      assert.equal(await lake.catalog.getTable(SOURCE, 't'), undefined);
    });
  });

  void test('loads ~200k staged rows and reports the rate', async (t) => {
    await withLake(async (lake) => {
      const rows: Row[] = [];
      const base = Date.parse('2024-05-01T00:00:00.000Z');
      for (let i = 0; i < 200_000; i++) {
        const at = new Date(base + i * 1000).toISOString();
        rows.push(
          event(`m${i}`, at, {
            user_id: `u${i % 5000}`,
            properties_total: i % 997,
            properties_price: (i % 100) / 4,
            properties_coupon: i % 3 === 0 ? 'SPRING' : null,
            context_ip: '203.0.113.7',
            context_library_name: 'analytics.js',
          }),
        );
      }
      const summaries = [];
      for (let c = 0; c < 4; c++) {
        const tables = { t: rows.slice(c * 50_000, (c + 1) * 50_000) };
        summaries.push(
          await stageChunk(lake.lakeStore, {
            sourceId: SOURCE,
            syncId: 'sync-big',
            chunkId: `c${c}`,
            tables,
          }),
        );
      }
      let peakRss = 0;
      const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
      const cpu = process.cpuUsage();
      const started = performance.now();
      const result = await runLoad({ sourceId: SOURCE, syncId: 'sync-big', summaries }, options(lake));
      const seconds = (performance.now() - started) / 1000;
      const used = process.cpuUsage(cpu);
      const cpuSeconds = (used.user + used.system) / 1e6;
      clearInterval(sampler);
      assert.equal(result.loaded, 200_000);
      const rate = Math.round(200_000 / seconds);
      t.diagnostic(
        `Load: 200000 rows in ${seconds.toFixed(2)} s = ${rate} rows/s (${Math.round(200_000 / cpuSeconds)} rows per CPU-second); ` +
          `peak RSS ${Math.round(peakRss / 2 ** 20)} MiB`,
      );
    });
  });
});

void describe('load jobs', () => {
  void test('submitLoadJob returns at once and the job is pollable until it succeeds', async () => {
    await withLake(async (lake) => {
      const summary = await stageOne(lake, [event('a', '2024-05-01T10:00:00.000Z')]);
      const jobs = new LoadJobs(options(lake));
      const job = await jobs.submitLoadJob({ sourceId: SOURCE, syncId: 'sync-1', summaries: [summary] });
      assert.ok(job.status === 'queued' || job.status === 'running');
      const again = await jobs.submitLoadJob({ sourceId: SOURCE, syncId: 'sync-1', summaries: [summary] });
      assert.equal(again.id, job.id, 'a live job of the sync is not started twice');
      const done = await jobs.waitForLoadJob(job.id);
      assert.equal(done.status, 'succeeded');
      assert.equal(done.result?.loaded, 1);
      await jobs.idle();
    });
  });

  void test('a failing job ends failed with the first error as its cause', async () => {
    await withLake(async (lake) => {
      const summary = await stageOne(lake, [event('a', '2024-05-01T10:00:00.000Z')]);
      await lake.lakeStore.delete([summary.tables['t']?.stagingKey ?? '']);
      const jobs = new LoadJobs(options(lake));
      const job = await jobs.submitLoadJob({ sourceId: SOURCE, syncId: 'sync-1', summaries: [summary] });
      const done = await jobs.waitForLoadJob(job.id);
      assert.equal(done.status, 'failed');
      assert.match(done.cause ?? '', /^\w+: /);
      await jobs.idle();
    });
  });

  void test('a job whose runner stopped heartbeating is reported failed as abandoned', async () => {
    await withLake(async (lake) => {
      await lake.catalog.createLoadJob({
        id: 'job-1',
        sourceId: SOURCE,
        syncId: 'sync-1',
        spec: {},
        createdAt: '2024-05-01T10:00:00.000Z',
      });
      await lake.catalog.claimLoadJob('job-1', '2024-05-01T10:00:00.000Z');
      const jobs = new LoadJobs({ ...options(lake), now: () => new Date('2024-05-01T10:05:00.000Z') });
      const job = await jobs.getLoadJob('job-1');
      assert.equal(job?.status, 'failed');
      assert.match(job?.cause ?? '', /^LoadJobAbandoned/);
    });
  });

  void test('a commit planned against a schema that has since changed is refused', async () => {
    await withLake(async (lake) => {
      await loadSync(lake, 'sync-1', [{ t: [event('a', '2024-05-01T10:00:00.000Z')] }]);
      await assert.rejects(
        lake.catalog.commitLoad({
          sourceId: SOURCE,
          syncId: 'sync-2',
          committedAt: '2024-05-02T00:00:00.000Z',
          tables: [
            {
              table: 't',
              expectedTypeVersion: 0,
              expectedColumnCount: 0,
              changes: [],
              addFiles: [],
              removeFiles: [],
              retypeFiles: [],
            },
          ],
          rawKeys: ['raw-x'],
          loadResult: {},
        }),
        CatalogConflictError,
      );
      assert.equal(
        (await lake.catalog.rawSyncMarks(['raw-x'])).size,
        0,
        'nothing of a refused commit is kept',
      );
    });
  });
});

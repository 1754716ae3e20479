import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { runLoad } from '../../src/lake/load.ts';
import { openLakeQuery, type LakeQueryOptions } from '../../src/lake/query.ts';
import { S3ObjectStore } from '../../src/lake/storage/s3-store.ts';
import { startS3rver } from '../helpers/s3rver.ts';
import { event, stageChunk, withLake, type Row, type TestLake } from './staging-fixture.ts';

async function load(
  lake: TestLake,
  sourceId: string,
  syncId: string,
  tables: Record<string, Row[]>,
): Promise<void> {
  const summary = await stageChunk(lake.lakeStore, { sourceId, syncId, chunkId: 'c0', tables });
  await runLoad(
    { sourceId, syncId, summaries: [summary] },
    { catalog: lake.catalog, lakeStore: lake.lakeStore, workDir: lake.dir },
  );
}

async function run(options: LakeQueryOptions, sql: string) {
  const q = await openLakeQuery(options);
  try {
    return await q.runQuery(sql);
  } finally {
    q.close();
  }
}

void describe('lake query', () => {
  void test('Parquet files in a partition folder that the catalog has not committed are invisible', async () => {
    await withLake(async (lake) => {
      await load(lake, 'src1', 'sync-1', { t: [event('a', '2024-05-01T10:00:00.000Z')] });
      const [file] = await lake.catalog.listFiles('src1', 't');
      assert.ok(file);
      const uncommitted = file.key.replace('sync-1.parquet', 'sync-2.parquet');
      await lake.lakeStore.put(uncommitted, { file: lake.lakeStore.localPath?.(file.key) ?? '' });
      const options = { catalog: lake.catalog, lakeStore: lake.lakeStore, cacheDir: lake.dir };
      assert.deepEqual(await run(options, 'SELECT count(*) AS n FROM t'), [{ n: 1 }]);
    });
  });

  void test('views carry day and hr from the partition path, as strings like the Glue table', async () => {
    await withLake(async (lake) => {
      await load(lake, 'src1', 'sync-1', { t: [event('a', '2024-05-01T07:00:00.000Z')] });
      const options = { catalog: lake.catalog, lakeStore: lake.lakeStore, cacheDir: lake.dir };
      assert.deepEqual(await run(options, 'SELECT id, day, hr, typeof(hr) AS hr_type FROM t'), [
        { id: 'a', day: '2024-05-01', hr: '07', hr_type: 'VARCHAR' },
      ]);
    });
  });

  void test('a column first seen only in rows dropped as duplicates reads as NULL', async () => {
    await withLake(async (lake) => {
      await load(lake, 'src1', 'sync-1', { t: [event('a', '2024-05-01T10:00:00.000Z')] });
      await load(lake, 'src1', 'sync-2', {
        t: [event('a', '2024-05-01T11:00:00.000Z', { properties_new: 'x' })],
      });
      const options = { catalog: lake.catalog, lakeStore: lake.lakeStore, cacheDir: lake.dir };
      assert.deepEqual(await run(options, 'SELECT id, properties_new FROM t'), [
        { id: 'a', properties_new: null },
      ]);
    });
  });

  void test('several sources get one schema each, named after their catalog database', async () => {
    await withLake(async (lake) => {
      await load(lake, 'web', 'sync-1', { pages: [event('a', '2024-05-01T10:00:00.000Z')] });
      await load(lake, 'ios', 'sync-2', {
        pages: [event('b', '2024-05-01T10:00:00.000Z'), event('c', '2024-05-01T10:00:00.000Z')],
      });
      const options = { catalog: lake.catalog, lakeStore: lake.lakeStore, cacheDir: lake.dir };
      assert.deepEqual(
        await run(
          options,
          'SELECT (SELECT count(*) FROM web.pages) AS web, (SELECT count(*) FROM ios.pages) AS ios',
        ),
        [{ web: 1, ios: 2 }],
      );
      assert.deepEqual(await run({ ...options, sourceId: 'ios' }, 'SELECT count(*) AS n FROM pages'), [
        { n: 2 },
      ]);
    });
  });

  void test('runQuery returns JSON-safe values: safe bigints as numbers, larger ones as strings', async () => {
    await withLake(async (lake) => {
      const options = { catalog: lake.catalog, lakeStore: lake.lakeStore, cacheDir: lake.dir };
      assert.deepEqual(
        await run(
          options,
          "SELECT 42::BIGINT AS small, 9007199254740993::BIGINT AS big, [1, 2] AS list, {'k': 3::BIGINT} AS obj",
        ),
        [{ small: 42, big: '9007199254740993', list: [1, 2], obj: { k: 3 } }],
      );
    });
  });

  void test('a lake in S3 is loaded and queried through a local cache of its committed files', async () => {
    const s3 = await startS3rver();
    try {
      const store = new S3ObjectStore({
        bucket: s3.bucket,
        endpoint: s3.endpoint,
        region: s3.region,
        forcePathStyle: true,
        credentials: s3.credentials,
        conditionalCreate: false,
      });
      await withLake(async (lake) => {
        await load(lake, 'src1', 'sync-1', {
          t: [event('a', '2024-05-01T10:00:00.000Z', { properties_n: 1 })],
        });
        await load(lake, 'src1', 'sync-2', {
          t: [event('b', '2024-05-01T10:30:00.000Z', { properties_n: 'two' })],
        });
        const cacheDir = join(lake.dir, 'cache');
        const rows = await run(
          { catalog: lake.catalog, lakeStore: lake.lakeStore, cacheDir },
          'SELECT id, properties_n FROM t ORDER BY id',
        );
        assert.deepEqual(rows, [
          { id: 'a', properties_n: '1' },
          { id: 'b', properties_n: 'two' },
        ]);
        assert.ok((await fsp.readdir(join(cacheDir, 'segment-data'))).includes('data'));
      }, store);
    } finally {
      await s3.stop();
    }
  });
});

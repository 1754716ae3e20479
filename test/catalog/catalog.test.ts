import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  CatalogConflictError,
  exportTableDdl,
  planSchemaEvolution,
  SqliteCatalog,
  type CatalogColumn,
  type LoadCommit,
} from '../../src/catalog/index.ts';
import { widenType } from '../../src/lake/types.ts';

async function withDb(fn: (db: Database.Database, dir: string) => Promise<void>): Promise<void> {
  const dir = await fsp.mkdtemp(join(tmpdir(), 'inlet-catalog-test-'));
  const db = new Database(join(dir, 'inlet.db'));
  try {
    await fn(db, dir);
  } finally {
    db.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

function commit(overrides: Partial<LoadCommit> = {}): LoadCommit {
  return {
    sourceId: 'src1',
    syncId: 'sync-1',
    committedAt: '2024-05-01T12:00:00.000Z',
    tables: [
      {
        table: 'order_completed',
        expectedTypeVersion: 0,
        expectedColumnCount: 0,
        changes: [
          { change: 'added', name: 'id', type: 'string', position: 0 },
          { change: 'added', name: 'received_at', type: 'timestamp', position: 1 },
          { change: 'added', name: 'properties_total', type: 'bigint', position: 2 },
        ],
        addFiles: [
          {
            key: 'segment-data/data/src1/segment_type=order_completed/day=2024-05-01/hr=10/sync-1.parquet',
            day: '2024-05-01',
            hr: '10',
            rowCount: 5,
            bytes: 1000,
          },
        ],
        removeFiles: [],
        retypeFiles: [],
      },
    ],
    rawKeys: ['segment-logs/src1/1714521600000/a.gz'],
    loadResult: { loaded: 5 },
    ...overrides,
  };
}

void describe('catalog', () => {
  void test('migrations are idempotent: reopening keeps the schema version and the data', async () => {
    await withDb(async (db) => {
      const first = new SqliteCatalog(db);
      await first.commitLoad(commit());
      const second = new SqliteCatalog(db);
      const version = db.prepare("SELECT version FROM schema_versions WHERE namespace = 'catalog'").get() as {
        version: number;
      };
      assert.equal(version.version, 1);
      assert.equal((await second.getTable('src1', 'order_completed'))?.columns.length, 3);
    });
  });

  void test('a commit records columns, history, partitions, raw marks and the sync in one go', async () => {
    await withDb(async (db) => {
      const catalog = new SqliteCatalog(db);
      await catalog.commitLoad(commit());
      assert.deepEqual(
        (await catalog.listDatabases()).map((d) => [d.sourceId, d.name]),
        [['src1', 'src1']],
      );
      const [partition] = await catalog.listPartitions('src1', 'order_completed');
      assert.equal(
        partition?.location,
        'segment-data/data/src1/segment_type=order_completed/day=2024-05-01/hr=10/',
      );
      assert.equal(partition?.rowCount, 5);
      assert.equal((await catalog.schemaHistory('src1')).length, 3);
      assert.equal(
        (await catalog.rawSyncMarks(['segment-logs/src1/1714521600000/a.gz'])).get(
          'segment-logs/src1/1714521600000/a.gz',
        ),
        'sync-1',
      );
      const sync = await catalog.getSync('sync-1');
      assert.equal(sync?.status, 'committed');
      assert.deepEqual(sync?.loadResult, { loaded: 5 });
    });
  });

  void test('a commit that conflicts changes nothing at all', async () => {
    await withDb(async (db) => {
      const catalog = new SqliteCatalog(db);
      const bad = commit();
      bad.tables.push({
        ...bad.tables[0]!,
        table: 'second',
        changes: [{ change: 'added', name: 'id', type: 'string', position: 5 }],
      });
      await assert.rejects(catalog.commitLoad(bad), CatalogConflictError);
      assert.deepEqual(await catalog.listTables(), []);
      assert.equal(await catalog.getSync('sync-1'), undefined);
      assert.equal((await catalog.rawSyncMarks(['segment-logs/src1/1714521600000/a.gz'])).size, 0);
    });
  });

  void test('a sync commits once; a committed sync cannot be marked failed', async () => {
    await withDb(async (db) => {
      const catalog = new SqliteCatalog(db);
      await catalog.startSync('src1', 'sync-1', '2024-05-01T11:00:00.000Z');
      await catalog.commitLoad(commit());
      await assert.rejects(catalog.commitLoad(commit({ tables: [] })), /already committed/);
      await assert.rejects(
        catalog.finishSync('sync-1', {
          status: 'failed',
          finishedAt: '2024-05-01T12:01:00.000Z',
          error: 'late',
        }),
        CatalogConflictError,
      );
      const done = await catalog.finishSync('sync-1', {
        status: 'finished',
        finishedAt: '2024-05-01T12:01:00.000Z',
        reportKey: 'segment-data/reports/x/report.json',
      });
      assert.equal(done.status, 'finished');
      assert.equal(done.startedAt, '2024-05-01T11:00:00.000Z');
    });
  });

  void test('a sync that Cleanup rolled back refuses a late Load commit, so its data never becomes visible', async () => {
    await withDb(async (db) => {
      const catalog = new SqliteCatalog(db);
      await catalog.startSync('src1', 'sync-1', '2024-05-01T11:00:00.000Z');
      await catalog.finishSync('sync-1', { status: 'failed', finishedAt: '2024-05-01T11:05:00.000Z', error: 'Load timed out' });
      await assert.rejects(catalog.commitLoad(commit()), /rolled back/);
      assert.equal((await catalog.rawSyncMarks(['segment-logs/src1/1714521600000/a.gz'])).size, 0);
      assert.equal((await catalog.getSync('sync-1'))?.status, 'failed');
    });
  });

  void test('a replaced file leaves the partition list and waits in pending deletes', async () => {
    await withDb(async (db) => {
      const catalog = new SqliteCatalog(db);
      await catalog.commitLoad(commit());
      const old = 'segment-data/data/src1/segment_type=order_completed/day=2024-05-01/hr=10/sync-1.parquet';
      const merged =
        'segment-data/data/src1/segment_type=order_completed/day=2024-05-01/hr=10/sync-2.parquet';
      await catalog.commitLoad({
        ...commit(),
        syncId: 'sync-2',
        rawKeys: [],
        tables: [
          {
            table: 'order_completed',
            expectedTypeVersion: 0,
            expectedColumnCount: 3,
            changes: [{ change: 'widened', name: 'properties_total', fromType: 'bigint', toType: 'double' }],
            addFiles: [{ key: merged, day: '2024-05-01', hr: '10', rowCount: 8, bytes: 1500 }],
            removeFiles: [old],
            retypeFiles: [],
          },
        ],
      });
      const files = await catalog.listFiles('src1', 'order_completed');
      assert.deepEqual(
        files.map((f) => [f.key, f.typeVersion]),
        [[merged, 1]],
      );
      assert.equal((await catalog.listPartitions('src1', 'order_completed'))[0]?.rowCount, 8);
      assert.deepEqual(await catalog.pendingDeletes('src1'), [old]);
      await catalog.clearPendingDeletes([old]);
      assert.deepEqual(await catalog.pendingDeletes('src1'), []);
    });
  });

  void test('a queued load job is claimed by exactly one runner', async () => {
    await withDb(async (db) => {
      const catalog = new SqliteCatalog(db);
      await catalog.createLoadJob({
        id: 'j1',
        sourceId: 'src1',
        syncId: 'sync-1',
        spec: { a: 1 },
        createdAt: '2024-05-01T00:00:00.000Z',
      });
      assert.equal((await catalog.findActiveLoadJob('sync-1'))?.id, 'j1');
      assert.equal(await catalog.claimLoadJob('j1', '2024-05-01T00:00:01.000Z'), true);
      assert.equal(await catalog.claimLoadJob('j1', '2024-05-01T00:00:01.000Z'), false);
      assert.equal(
        await catalog.finishLoadJob('j1', {
          status: 'succeeded',
          finishedAt: '2024-05-01T00:00:02.000Z',
          result: { ok: true },
        }),
        true,
      );
      assert.equal(
        await catalog.finishLoadJob('j1', {
          status: 'failed',
          finishedAt: '2024-05-01T00:00:03.000Z',
          cause: 'late',
        }),
        false,
      );
      const job = await catalog.getLoadJob('j1');
      assert.equal(job?.status, 'succeeded');
      assert.deepEqual(job?.result, { ok: true });
      assert.equal(await catalog.findActiveLoadJob('sync-1'), undefined);
    });
  });
});

void describe('schema evolution', () => {
  const column = (name: string, type: CatalogColumn['type'], position: number): CatalogColumn => ({
    name,
    type,
    position,
    firstSeenAt: '2024-05-01T00:00:00.000Z',
    firstSeenSync: 's0',
  });

  void test('appends new columns after the existing ones and widens, never narrows', () => {
    const plan = planSchemaEvolution(
      [column('id', 'string', 0), column('n', 'double', 1), column('flag', 'boolean', 2)],
      [
        ['n', 'bigint'],
        ['flag', 'bigint'],
        ['extra', 'timestamp'],
      ],
      widenType,
    );
    assert.deepEqual(
      plan.columns.map((c) => [c.name, c.type, c.position]),
      [
        ['id', 'string', 0],
        ['n', 'double', 1],
        ['flag', 'string', 2],
        ['extra', 'timestamp', 3],
      ],
    );
    assert.deepEqual(plan.widened, ['flag']);
    assert.deepEqual(plan.changes, [
      { change: 'widened', name: 'flag', fromType: 'boolean', toType: 'string' },
      { change: 'added', name: 'extra', type: 'timestamp', position: 3 },
    ]);
  });
});

void describe('Glue/Athena DDL', () => {
  void test('exports an external Parquet table partitioned by day and hr at the table location', async () => {
    await withDb(async (db) => {
      const catalog = new SqliteCatalog(db);
      await catalog.commitLoad(commit());
      const table = await catalog.getTable('src1', 'order_completed');
      assert.ok(table);
      const ddl = exportTableDdl(table, {
        database: 'ios_prod',
        lakeUrl: 's3://my-bucket/',
        partitions: await catalog.listPartitions('src1', 'order_completed'),
      });
      assert.equal(
        ddl,
        [
          'CREATE EXTERNAL TABLE IF NOT EXISTS `ios_prod`.`order_completed` (',
          '  `id` string,',
          '  `received_at` timestamp,',
          '  `properties_total` bigint',
          ')',
          'PARTITIONED BY (`day` string, `hr` string)',
          'STORED AS PARQUET',
          "LOCATION 's3://my-bucket/segment-data/data/src1/segment_type=order_completed/'",
          "TBLPROPERTIES ('parquet.compression' = 'ZSTD');",
          "ALTER TABLE `ios_prod`.`order_completed` ADD IF NOT EXISTS PARTITION (`day` = '2024-05-01', `hr` = '10') " +
            "LOCATION 's3://my-bucket/segment-data/data/src1/segment_type=order_completed/day=2024-05-01/hr=10/';",
        ].join('\n'),
      );
    });
  });
});

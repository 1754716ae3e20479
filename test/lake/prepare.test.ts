/**
 * prepareChunk end to end on real files: raw gzip NDJSON in a local object store in, staging
 * NDJSON, summary and quarantine out. Every raw line must be accounted for, retries must not
 * duplicate, and the staging rows must load into DuckDB under the summary's types unchanged.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { prepareChunk } from '../../src/lake/prepare.ts';
import { rawObjectKey } from '../../src/lake/raw-layout.ts';
import { LocalObjectStore } from '../../src/lake/storage/local-store.ts';
import type { ObjectStore } from '../../src/lake/storage/object-store.ts';
import { QUARANTINE_REASONS, stagingPrefix, summaryKey, type PrepareSummary, type QuarantineRecord } from '../../src/lake/types.ts';

const DAY = Date.UTC(2024, 4, 1);
const RECEIVED = '2024-05-01T10:15:00.000Z';

let dir: string;
let raw: LocalObjectStore;
let lake: LocalObjectStore;
let chunk = 0;

before(async () => {
  dir = await fsp.mkdtemp(join(tmpdir(), 'inlet-prepare-test-'));
  raw = new LocalObjectStore(join(dir, 'raw'));
  lake = new LocalObjectStore(join(dir, 'lake'));
});

after(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

function track(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'track', event: 'Order Completed', messageId: id, anonymousId: 'anon', receivedAt: RECEIVED, properties: { total: 10 }, ...extra };
}

/** Stores raw lines as one gzip object of the layout and returns its key. */
async function putRaw(lines: readonly (string | Record<string, unknown>)[], file = `f${++chunk}.gz`, day = DAY): Promise<string> {
  const key = rawObjectKey('src1', day, file);
  const text = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n');
  await raw.put(key, gzipSync(text));
  return key;
}

async function text(store: ObjectStore, key: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of await store.get(key)) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function rows(store: ObjectStore, key: string): Promise<Record<string, unknown>[]> {
  return (await text(store, key))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  return (await store.list(prefix)).objects.map((o) => o.key);
}

function reconciles(s: PrepareSummary): void {
  const quarantined = Object.values(s.quarantined).reduce((a, b) => a + b, 0);
  assert.equal(s.read, s.prepared + s.duplicates + quarantined, 'read = prepared + duplicates + quarantined');
  assert.equal(s.prepared, Object.values(s.tables).reduce((a, t) => a + t.rows, 0));
  for (const t of Object.values(s.tables)) assert.equal(Object.values(t.partitions).reduce((a, b) => a + b, 0), t.rows);
}

function deepProperties(levels: number): Record<string, unknown> {
  let v: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < levels; i++) v = { n: v };
  return v;
}

void describe('prepareChunk', () => {
  void test('writes one staging object per table with typed columns and received-hour partitions', async () => {
    const key = await putRaw([
      track('a', { receivedAt: '2024-05-01T10:59:59.999Z', properties: { total: 10, coupon: 'X' } }),
      track('b', { receivedAt: '2024-05-01T11:00:00.000Z', properties: { total: 12.5, paidAt: '2024-05-01T10:00:00+02:00' } }),
      { type: 'identify', messageId: 'i', userId: 'u', receivedAt: RECEIVED, traits: { email: 'a@b.c', age: 30 } },
      { type: 'page', messageId: 'p', anonymousId: 'x', receivedAt: RECEIVED, name: 'Home', properties: { path: '/' } },
    ]);
    const s = await prepareChunk({ sourceId: 'src1', syncId: 'sync1', chunkId: 'c1', rawKeys: [key] }, { rawStore: raw, lakeStore: lake });
    reconciles(s);
    assert.equal(s.read, 4);
    assert.deepEqual(Object.keys(s.tables), ['identifies', 'order_completed', 'pages']);
    const orders = s.tables.order_completed;
    assert.ok(orders);
    assert.equal(orders.stagingKey, 'segment-data/staging/src1/sync1/c1/order_completed.ndjson');
    assert.deepEqual(orders.partitions, { 'day=2024-05-01/hr=10': 1, 'day=2024-05-01/hr=11': 1 });
    assert.equal(orders.columns.total, 'double', 'bigint widened by 12.5 within the chunk');
    assert.equal(orders.columns.paid_at, 'timestamp');
    assert.equal(orders.columns.coupon, 'string');
    assert.equal(orders.columns.received_at, 'timestamp');
    assert.equal(orders.columns.event_text, 'string');
    const written = await rows(lake, orders.stagingKey);
    assert.deepEqual(written.map((r) => [r.id, r.total, r.event, r.event_text]), [
      ['a', 10, 'order_completed', 'Order Completed'],
      ['b', 12.5, 'order_completed', 'Order Completed'],
    ]);
    assert.equal(s.tables.identifies?.columns.age, 'bigint');
    const stored = JSON.parse(await text(lake, summaryKey('src1', 'sync1', 'c1'))) as PrepareSummary;
    assert.deepEqual(stored, s);
    assert.equal(s.quarantineKey, undefined);
  });

  void test('corrects timestamps and writes them as UTC ISO-8601 with milliseconds', async () => {
    const key = await putRaw([
      track('t', { receivedAt: '2024-05-01T12:00:00Z', sentAt: '2024-05-01T12:00:30.000Z', originalTimestamp: '2024-05-01T11:59:00.250Z' }),
    ]);
    const s = await prepareChunk({ sourceId: 'src1', syncId: 'sync1', chunkId: 'ts', rawKeys: [key] }, { rawStore: raw, lakeStore: lake });
    const [row] = await rows(lake, s.tables.order_completed?.stagingKey ?? '');
    assert.equal(row?.received_at, '2024-05-01T12:00:00.000Z');
    assert.equal(row?.timestamp, '2024-05-01T11:58:30.250Z');
    assert.equal(row?.original_timestamp, '2024-05-01T11:59:00.250Z');
    assert.equal(row?.sent_at, '2024-05-01T12:00:30.000Z');
  });

  void test('quarantines every kind of bad line with its reason, position and original text', async () => {
    const wide: Record<string, number> = {};
    for (let i = 0; i <= 1000; i++) wide[`p${i}`] = i;
    const bad: [string, string][] = [
      ['malformed_json', '{"type":"track",'],
      ['not_an_object', '[1,2,3]'],
      ['missing_type', JSON.stringify({ messageId: 'q1', receivedAt: RECEIVED })],
      ['unknown_type', JSON.stringify({ type: 'purchase', messageId: 'q2', receivedAt: RECEIVED })],
      ['missing_message_id', JSON.stringify(track('x', { messageId: undefined }))],
      ['bad_timestamp', JSON.stringify(track('q3', { receivedAt: 'yesterday' }))],
      ['too_large', JSON.stringify(track('q4', { properties: { blob: 'x'.repeat(33 * 1024) } }))],
      ['too_deep', JSON.stringify(track('q5', { properties: deepProperties(20) }))],
      ['too_many_columns', JSON.stringify(track('q6', { properties: wide }))],
      ['unsafe_name', JSON.stringify(track('q7', { properties: { '$$$': 1 } }))],
      ['number_out_of_range', JSON.stringify(track('q8', { properties: { big: 'BIG' } })).replace('"BIG"', '1e400')],
    ];
    const key = await putRaw([track('ok1'), ...bad.map(([, line]) => line), '', '   ', track('ok2')]);
    const s = await prepareChunk({ sourceId: 'src1', syncId: 'sync1', chunkId: 'bad', rawKeys: [key] }, { rawStore: raw, lakeStore: lake });
    reconciles(s);
    assert.equal(s.read, bad.length + 2, 'blank lines are not read');
    assert.equal(s.prepared, 2);
    assert.deepEqual(Object.keys(s.quarantined).sort(), [...QUARANTINE_REASONS].sort(), 'every reason is covered');
    assert.ok(Object.values(s.quarantined).every((n) => n === 1));
    assert.equal(s.quarantineKey, 'segment-data/quarantine/src1/sync1/bad.ndjson');
    const records = (await rows(lake, s.quarantineKey ?? '')) as unknown as QuarantineRecord[];
    assert.deepEqual(
      records.map((r) => [r.reason, r.line, r.original]),
      bad.map(([reason, line], i) => [reason, i + 2, line]),
    );
    for (const r of records) {
      assert.equal(r.rawKey, key);
      assert.ok(r.detail.length > 0);
    }
  });

  void test('a number beyond a double inside an array or object is quarantined, not written as Infinity', async () => {
    const inArray = JSON.stringify(track('r1', { properties: { list: [1, 'BIG'] } })).replace('"BIG"', '-1e999');
    const inObject = JSON.stringify(track('r2', { context: { deep: { value: 'BIG' } } })).replace('"BIG"', '2E+400');
    const key = await putRaw([inArray, inObject, track('r3', { properties: { fine: 1e300 } })]);
    const s = await prepareChunk({ sourceId: 'src1', syncId: 'sync1', chunkId: 'range', rawKeys: [key] }, { rawStore: raw, lakeStore: lake });
    reconciles(s);
    assert.deepEqual(s.quarantined, { number_out_of_range: 2 });
    assert.equal(s.prepared, 1);
    const staged = await rows(lake, s.tables['order_completed']?.stagingKey ?? '');
    assert.equal(staged.length, 1);
    assert.equal(staged[0]?.['fine'], 1e300, 'a large but finite double is kept');
  });

  void test('keeps the first of events sharing a messageId within the chunk, across raw objects', async () => {
    const first = await putRaw([track('d1', { properties: { v: 1 } }), track('d2'), track('d1', { properties: { v: 2 } })]);
    const second = await putRaw([track('d2'), track('d3')]);
    const s = await prepareChunk({ sourceId: 'src1', syncId: 'sync1', chunkId: 'dup', rawKeys: [first, second] }, { rawStore: raw, lakeStore: lake });
    reconciles(s);
    assert.equal(s.read, 5);
    assert.equal(s.prepared, 3);
    assert.equal(s.duplicates, 2);
    const written = await rows(lake, s.tables.order_completed?.stagingKey ?? '');
    assert.deepEqual(written.map((r) => [r.id, r.v]), [['d1', 1], ['d2', undefined], ['d3', undefined]]);
  });

  void test('a quarantined line does not make a later valid copy a duplicate', async () => {
    const key = await putRaw([track('r1', { receivedAt: 'bad' }), track('r1')]);
    const s = await prepareChunk({ sourceId: 'src1', syncId: 'sync1', chunkId: 'requeue', rawKeys: [key] }, { rawStore: raw, lakeStore: lake });
    reconciles(s);
    assert.equal(s.prepared, 1);
    assert.equal(s.duplicates, 0);
  });

  void test('a re-run of the same chunk overwrites its staging and removes leftovers, never duplicating', async () => {
    const key = await putRaw([track('x1'), track('x2'), '{oops', { type: 'identify', messageId: 'x3', receivedAt: RECEIVED }]);
    const input = { sourceId: 'src1', syncId: 'sync2', chunkId: 'c7', rawKeys: [key] };
    const prefix = stagingPrefix('src1', 'sync2', 'c7');
    await lake.put(`${prefix}leftover_table.ndjson`, '{"id":"stale"}\n');
    const firstRun = await prepareChunk(input, { rawStore: raw, lakeStore: lake });
    const firstText = await text(lake, firstRun.tables.order_completed?.stagingKey ?? '');
    const secondRun = await prepareChunk(input, { rawStore: raw, lakeStore: lake });
    assert.deepEqual(secondRun, firstRun);
    assert.equal(await text(lake, secondRun.tables.order_completed?.stagingKey ?? ''), firstText);
    assert.equal((await rows(lake, secondRun.tables.order_completed?.stagingKey ?? '')).length, 2);
    assert.deepEqual(await keysUnder(lake, prefix), [`${prefix}identifies.ndjson`, `${prefix}order_completed.ndjson`, `${prefix}summary.json`]);
    assert.equal((await rows(lake, secondRun.quarantineKey ?? '')).length, 1);

    // A re-run that quarantines nothing (fixed limits) also removes the old quarantine object.
    await raw.put(key, gzipSync(JSON.stringify(track('x1'))));
    const thirdRun = await prepareChunk(input, { rawStore: raw, lakeStore: lake });
    assert.equal(thirdRun.quarantineKey, undefined);
    assert.equal(await lake.head('segment-data/quarantine/src1/sync2/c7.ndjson'), undefined);
  });

  void test('takes received_at from the raw key day when an event has none', async () => {
    const key = await putRaw([track('k1', { receivedAt: undefined })], 'nokey.gz', Date.UTC(2024, 0, 15));
    await raw.put('elsewhere/file.ndjson', JSON.stringify(track('k2', { receivedAt: undefined })));
    const s = await prepareChunk({ sourceId: 'src1', syncId: 'sync1', chunkId: 'day', rawKeys: [key, 'elsewhere/file.ndjson'] }, { rawStore: raw, lakeStore: lake });
    reconciles(s);
    const [row] = await rows(lake, s.tables.order_completed?.stagingKey ?? '');
    assert.equal(row?.received_at, '2024-01-15T00:00:00.000Z');
    assert.deepEqual(s.tables.order_completed?.partitions, { 'day=2024-01-15/hr=00': 1 });
    assert.deepEqual(s.quarantined, { bad_timestamp: 1 }, 'no received time at all is a bad timestamp');
  });

  void test('keeps integers past 2^53 exact and never writes the write key', async () => {
    const line = JSON.stringify(track('big', { writeKey: 'wk-secret' })).replace('"total":10', '"total":10,"order":9223372036854775807,"huge":123456789012345678901234567890');
    const key = await putRaw([line]);
    const s = await prepareChunk({ sourceId: 'src1', syncId: 'sync1', chunkId: 'big', rawKeys: [key] }, { rawStore: raw, lakeStore: lake });
    const stagedText = await text(lake, s.tables.order_completed?.stagingKey ?? '');
    assert.match(stagedText, /"order":9223372036854775807[,}]/);
    assert.match(stagedText, /"huge":123456789012345678901234567890[,}]/);
    assert.doesNotMatch(stagedText, /wk-secret|write_key/);
    assert.equal(s.tables.order_completed?.columns.order, 'bigint');
    assert.equal(s.tables.order_completed?.columns.huge, 'double');
  });

  void test('writes every row of a chunk with hundreds of tables and tables past the write buffer', async () => {
    const lines: Record<string, unknown>[] = [];
    for (let i = 0; i < 300; i++) lines.push(track(`t${i}`, { event: `Event ${i}` }));
    const padding = 'p'.repeat(400);
    for (let i = 0; i < 4000; i++) lines.push(track(`big${i}`, { event: 'Big', properties: { i, padding } }));
    const key = await putRaw(lines);
    const s = await prepareChunk({ sourceId: 'src1', syncId: 'sync1', chunkId: 'many', rawKeys: [key] }, { rawStore: raw, lakeStore: lake });
    reconciles(s);
    assert.equal(Object.keys(s.tables).length, 301);
    const big = await rows(lake, s.tables.big?.stagingKey ?? '');
    assert.equal(big.length, 4000);
    assert.deepEqual(big.map((r) => r.i), Array.from({ length: 4000 }, (_, i) => i), 'in order, none lost or repeated');
    assert.equal((await rows(lake, s.tables.event_299?.stagingKey ?? '')).length, 1);
  });

  void test('applies lowered limits from the options', async () => {
    const key = await putRaw([track('l1', { properties: { a: 1, b: 2, c: 3 } }), track('l2')]);
    const s = await prepareChunk(
      { sourceId: 'src1', syncId: 'sync1', chunkId: 'limits', rawKeys: [key] },
      { rawStore: raw, lakeStore: lake, limits: { maxColumns: 10 } },
    );
    reconciles(s);
    assert.deepEqual(s.quarantined, { too_many_columns: 1 });
    assert.equal(s.prepared, 1);
  });

  void test('rejects ids that cannot be a key segment before touching the lake', async () => {
    await assert.rejects(prepareChunk({ sourceId: '../x', syncId: 's', chunkId: 'c', rawKeys: [] }, { rawStore: raw, lakeStore: lake }), RangeError);
    await assert.rejects(prepareChunk({ sourceId: 'src1', syncId: 's/1', chunkId: 'c', rawKeys: [] }, { rawStore: raw, lakeStore: lake }), RangeError);
  });

  void test('writes staging rows that DuckDB reads back unchanged under the summary types', async () => {
    const key = await putRaw([
      JSON.stringify(track('v1', { properties: { n: 1, f: 1.5, b: true, at: '2024-05-01T10:00:00.123456Z', s: 'x', mixed: 1, arr: [1, 'a'], big: 0 } })).replace(
        '"big":0',
        '"big":9223372036854775807',
      ),
      track('v2', { properties: { n: -2, f: 2, b: false, at: '2024-05-01T11:00:00+01:00', s: 'y"\\\n', mixed: 'text', nested: { a: { b: 'c' } } } }),
    ]);
    const s = await prepareChunk({ sourceId: 'src1', syncId: 'sync1', chunkId: 'duck', rawKeys: [key] }, { rawStore: raw, lakeStore: lake });
    const table = s.tables.order_completed;
    assert.ok(table);
    assert.equal(table.columns.mixed, 'string');
    const duck: Record<string, string> = { bigint: 'BIGINT', double: 'DOUBLE', boolean: 'BOOLEAN', string: 'VARCHAR', timestamp: 'TIMESTAMP' };
    const columns = Object.entries(table.columns)
      .map(([name, type]) => `'${name}': '${duck[type]}'`)
      .join(', ');
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      const path = lake.localPath(table.stagingKey).replaceAll("'", "''");
      const reader = await conn.runAndReadAll(
        `SELECT id, n, f, b, CAST("at" AS VARCHAR) AS "at", s, mixed, arr, big, nested_a_b, CAST("timestamp" AS VARCHAR) AS ts
         FROM read_json('${path}', format = 'newline_delimited', columns = {${columns}}) ORDER BY id`,
      );
      assert.deepEqual(reader.getRowObjectsJson(), [
        { id: 'v1', n: '1', f: 1.5, b: true, at: '2024-05-01 10:00:00.123456', s: 'x', mixed: '1', arr: '[1,"a"]', big: '9223372036854775807', nested_a_b: null, ts: '2024-05-01 10:15:00' },
        { id: 'v2', n: '-2', f: 2, b: false, at: '2024-05-01 10:00:00', s: 'y"\\\n', mixed: 'text', arr: null, big: null, nested_a_b: 'c', ts: '2024-05-01 10:15:00' },
      ]);
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  });
});

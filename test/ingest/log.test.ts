/**
 * The ingest log and roller against the real filesystem and the local object store: group commit,
 * torn-write recovery, segment numbering, overload, and rolling into Segment's raw layout exactly
 * once even when a crash lands between storing an object and trimming the log.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { LocalObjectStore } from '../../src/lake/storage/local-store.ts';
import {
  AppendLog,
  decodeEventRecord,
  encodeEventRecord,
  Ingest,
  LogDirectoryError,
  LogOverloadedError,
  Roller,
  rolledFileName,
} from '../../src/ingest/index.ts';

const DAY = 24 * 60 * 60 * 1000;

let root: string;
before(async () => {
  root = await fsp.mkdtemp(join(tmpdir(), 'inlet-log-'));
});
after(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

let counter = 0;
async function freshDir(): Promise<string> {
  const dir = join(root, `case-${++counter}`);
  await fsp.mkdir(dir);
  return dir;
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await fsp.readdir(dir)).filter((n) => n.endsWith('.seg')).sort();
}

/** Every raw object under segment-logs/, decompressed into its events. */
async function rawObjects(store: LocalObjectStore): Promise<Map<string, Record<string, unknown>[]>> {
  const out = new Map<string, Record<string, unknown>[]>();
  const page = await store.list('segment-logs/');
  for (const { key } of page.objects) {
    const bytes = await fsp.readFile(store.localPath(key));
    const lines = gunzipSync(bytes).toString('utf8').split('\n').filter((l) => l.length > 0);
    out.set(key, lines.map((l) => JSON.parse(l) as Record<string, unknown>));
  }
  return out;
}

function line(id: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ type: 'track', event: 'Tested', messageId: id, properties: { n: 1 }, ...extra });
}

void describe('append log', () => {
  void test('concurrent appends share group commits and each resolves with its own position', async () => {
    const dir = await freshDir();
    const flushes: number[] = [];
    const log = await AppendLog.open({ dir, onFlush: (f) => flushes.push(f.records) });
    const positions = await Promise.all(Array.from({ length: 300 }, (_, i) => log.append(Buffer.from(`record ${i}`))));
    assert.equal(flushes.reduce((a, b) => a + b, 0), 300);
    assert.ok(flushes.length < 300, `expected fewer fsyncs than appends, got ${flushes.length}`);
    const offsets = positions.map((p) => p.offset);
    assert.equal(new Set(offsets).size, 300);
    assert.deepEqual([...offsets].sort((a, b) => a - b), offsets, 'positions follow append order');
    await log.close();

    const reopened = await AppendLog.open({ dir });
    assert.equal(reopened.recovery.records, 300);
    assert.equal(reopened.recovery.truncatedBytes, 0);
    const [sealed] = reopened.sealed;
    assert.ok(sealed);
    const scan = await reopened.readSegment(sealed.seq);
    assert.deepEqual(
      scan.records.map((r) => r.payload.toString()),
      Array.from({ length: 300 }, (_, i) => `record ${i}`),
    );
    await reopened.close();
  });

  for (const [name, tear] of [
    ['a frame header cut short', (): Buffer => Buffer.from([0x10, 0x00])],
    ['a frame whose payload was cut short', (): Buffer => Buffer.concat([Buffer.from([0xe8, 0x03, 0, 0, 1, 2, 3, 4]), Buffer.alloc(100, 7)])],
    ['a whole frame with a wrong checksum', (): Buffer => Buffer.concat([Buffer.from([5, 0, 0, 0, 9, 9, 9, 9]), Buffer.from('hello')])],
  ] as const) {
    void test(`replay cuts off a torn write (${name}) and keeps every record before it`, async () => {
      const dir = await freshDir();
      const log = await AppendLog.open({ dir });
      for (let i = 0; i < 10; i++) await log.append(Buffer.from(`intact ${i}`));
      await log.close();
      const [file] = await segmentFiles(dir);
      assert.ok(file);
      const path = join(dir, file);
      const goodSize = (await fsp.stat(path)).size;
      const torn = tear();
      await fsp.appendFile(path, torn);

      const reopened = await AppendLog.open({ dir });
      assert.equal(reopened.recovery.records, 10);
      assert.equal(reopened.recovery.truncatedBytes, torn.length);
      assert.equal((await fsp.stat(path)).size, goodSize, 'the torn tail is removed from the file');
      const [sealed] = reopened.sealed;
      assert.ok(sealed);
      const scan = await reopened.readSegment(sealed.seq);
      assert.deepEqual(
        scan.records.map((r) => r.payload.toString()),
        Array.from({ length: 10 }, (_, i) => `intact ${i}`),
      );
      // The log keeps working after the repair.
      const next = await reopened.append(Buffer.from('after repair'));
      assert.ok(next.segment > sealed.seq);
      await reopened.close();
    });
  }

  void test('a flipped bit in the last record drops only that record', async () => {
    const dir = await freshDir();
    const log = await AppendLog.open({ dir });
    for (let i = 0; i < 5; i++) await log.append(Buffer.from(`record ${i}`));
    await log.close();
    const [file] = await segmentFiles(dir);
    assert.ok(file);
    const path = join(dir, file);
    const bytes = await fsp.readFile(path);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0x01;
    await fsp.writeFile(path, bytes);
    const reopened = await AppendLog.open({ dir });
    assert.equal(reopened.recovery.records, 4);
    assert.equal(reopened.recovery.truncatedBytes, 8 + 'record 4'.length);
    await reopened.close();
  });

  void test('segment numbers are never reused, even after every segment was rolled away', async () => {
    const dir = await freshDir();
    const log = await AppendLog.open({ dir });
    await log.append(Buffer.from('one'));
    const sealed = await log.seal();
    assert.ok(sealed);
    await log.removeSegment(sealed.seq);
    await log.close();
    const reopened = await AppendLog.open({ dir });
    const position = await reopened.append(Buffer.from('two'));
    assert.ok(position.segment > sealed.seq, `segment ${position.segment} must be newer than ${sealed.seq}`);
    await reopened.close();
  });

  void test('sealing an empty active segment is a no-op', async () => {
    const dir = await freshDir();
    const log = await AppendLog.open({ dir });
    assert.equal(await log.seal(), undefined);
    assert.equal(log.sealed.length, 0);
    await log.close();
  });

  void test('the active segment is sealed once it reaches the size limit', async () => {
    const dir = await freshDir();
    const sealed: number[] = [];
    const log = await AppendLog.open({ dir, segmentBytes: 1000, onSeal: (s) => sealed.push(s.seq) });
    for (let i = 0; i < 20; i++) await log.append(Buffer.alloc(200, i));
    assert.ok(sealed.length >= 3, `expected several sealed segments, got ${sealed.length}`);
    assert.ok(log.sealed.every((s) => s.bytes <= 1000 + 8 + 208));
    await log.close();
  });

  void test('appends beyond the pending limit are refused with LogOverloadedError, the rest succeed', async () => {
    const dir = await freshDir();
    const log = await AppendLog.open({ dir, maxPendingBytes: 10_000 });
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => log.append(Buffer.alloc(1000))));
    const refused = results.filter((r) => r.status === 'rejected');
    assert.ok(refused.length > 0);
    assert.ok(refused.every((r) => r.status === 'rejected' && r.reason instanceof LogOverloadedError));
    assert.ok(results.some((r) => r.status === 'fulfilled'));
    await log.close();
  });

  void test('a directory held by another live process is refused; a lock left by a dead one is taken over', async () => {
    const dir = await freshDir();
    await fsp.writeFile(join(dir, 'LOCK'), String(process.ppid));
    await assert.rejects(AppendLog.open({ dir }), LogDirectoryError);
    await fsp.writeFile(join(dir, 'LOCK'), '2147483646');
    const log = await AppendLog.open({ dir });
    await log.close();
  });

  void test('appends after close are refused', async () => {
    const dir = await freshDir();
    const log = await AppendLog.open({ dir });
    await log.close();
    await assert.rejects(log.append(Buffer.from('late')), /closed/);
  });
});

void describe('roller', () => {
  void test('rolls events into gzip NDJSON objects, one per source per received day, in the raw layout', async () => {
    const dir = await freshDir();
    const store = new LocalObjectStore(join(dir, 'store'));
    const log = await AppendLog.open({ dir: join(dir, 'log') });
    const roller = new Roller({ log, store });
    const day1 = Date.UTC(2024, 4, 1, 23, 59, 0);
    const day2 = day1 + 2 * 60 * 1000;
    await Promise.all([
      log.append(encodeEventRecord('web', day1, [line('a1'), line('a2', { properties: { nested: { deep: [1, 'x'] } } })])),
      log.append(encodeEventRecord('web', day2, [line('a3')])),
      log.append(encodeEventRecord('ios', day1, [line('b1')])),
    ]);
    const result = await roller.rollNow();
    assert.deepEqual({ segments: result.segments, objects: result.objects, events: result.events }, { segments: 1, objects: 3, events: 4 });
    assert.equal(log.sealed.length, 0, 'the rolled segment is trimmed');

    const objects = await rawObjects(store);
    const dayStart = (t: number): number => Math.floor(t / DAY) * DAY;
    const name = rolledFileName(log.id, 1);
    assert.deepEqual([...objects.keys()].sort(), [
      `segment-logs/ios/${dayStart(day1)}/${name}`,
      `segment-logs/web/${dayStart(day1)}/${name}`,
      `segment-logs/web/${dayStart(day2)}/${name}`,
    ]);
    const web1 = objects.get(`segment-logs/web/${dayStart(day1)}/${name}`);
    assert.deepEqual(web1?.map((e) => e['messageId']), ['a1', 'a2']);
    assert.deepEqual(web1?.[1]?.['properties'], { nested: { deep: [1, 'x'] } });
    await log.close();
  });

  void test('a crash after storing objects but before trimming re-rolls onto the same objects, without duplicates', async () => {
    const dir = await freshDir();
    const logDir = join(dir, 'log');
    const store = new LocalObjectStore(join(dir, 'store'));
    const log = await AppendLog.open({ dir: logDir });
    const now = Date.now();
    for (let i = 0; i < 20; i++) await log.append(encodeEventRecord('web', now, [line(`m${i}`)]));
    const sealed = await log.seal();
    assert.ok(sealed);
    const segmentPath = join(logDir, `${String(sealed.seq).padStart(12, '0')}.seg`);
    const copy = await fsp.readFile(segmentPath);
    await new Roller({ log, store }).rollSealed();
    const firstRoll = await rawObjects(store);
    await log.close();

    // The crash: the trim never reached the disk.
    await fsp.writeFile(segmentPath, copy);
    const ingest = await Ingest.open({ logDir, store });
    assert.equal(ingest.recovery.records, 20);
    const replay = await ingest.replayed;
    assert.equal(replay.objects, 1);
    const secondRoll = await rawObjects(store);
    assert.deepEqual([...secondRoll.keys()], [...firstRoll.keys()], 'the same object key, overwritten');
    const ids = [...secondRoll.values()].flat().map((e) => e['messageId']);
    assert.deepEqual(ids, Array.from({ length: 20 }, (_, i) => `m${i}`));
    await ingest.close();
  });

  void test('events older than the roll age are rolled without being asked', async () => {
    const dir = await freshDir();
    const store = new LocalObjectStore(join(dir, 'store'));
    const ingest = await Ingest.open({ logDir: join(dir, 'log'), store, rollAgeMs: 50 });
    await ingest.append('web', Date.now(), [line('aged')]);
    const deadline = Date.now() + 5000;
    let objects = await rawObjects(store);
    while (objects.size === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
      objects = await rawObjects(store);
    }
    assert.deepEqual([...objects.values()].flat().map((e) => e['messageId']), ['aged']);
    await ingest.close();
  });

  void test('a clean close rolls everything, so nothing is left in the log', async () => {
    const dir = await freshDir();
    const store = new LocalObjectStore(join(dir, 'store'));
    const ingest = await Ingest.open({ logDir: join(dir, 'log'), store });
    await ingest.append('web', Date.now(), [line('x'), line('y')]);
    await ingest.close();
    assert.deepEqual([...(await rawObjects(store)).values()].flat().map((e) => e['messageId']), ['x', 'y']);
    assert.deepEqual(await segmentFiles(join(dir, 'log')), ['000000000002.seg'], 'only the empty active segment remains');
  });

  void test('record payloads round-trip source, receive time and events', () => {
    const payload = encodeEventRecord('src_1', 1714608000123, ['{"a":1}', '{"b":"é"}']);
    const record = decodeEventRecord(payload);
    assert.equal(record.sourceId, 'src_1');
    assert.equal(record.receivedAt, 1714608000123);
    assert.equal(record.count, 2);
    assert.equal(record.ndjson.toString('utf8'), '{"a":1}\n{"b":"é"}\n');
  });
});

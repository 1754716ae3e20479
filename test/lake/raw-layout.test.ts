/**
 * The raw layout as syncs rely on it: keys exactly as Segment's S3 destination names them,
 * listings that page and skip what is old or done, and line reading that copes with gzip or
 * plain text, odd line endings and lines too long to hold.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import {
  DAY_MS,
  listRawObjects,
  parseRawObjectKey,
  rawObjectKey,
  readRawLines,
  receivedDay,
  validateSourceId,
  type RawLine,
  type RawObject,
} from '../../src/lake/raw-layout.ts';
import { LocalObjectStore } from '../../src/lake/storage/local-store.ts';
import { ObjectNotFoundError } from '../../src/lake/storage/object-store.ts';

let dir: string;
let store: LocalObjectStore;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'inlet-raw-'));
  store = new LocalObjectStore(dir);
});
after(async () => rm(dir, { recursive: true, force: true }));

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of it) out.push(item);
  return out;
}

const MARCH_5 = Date.UTC(2024, 2, 5);

void describe('raw object keys', () => {
  void test('name the UTC midnight of the received day in epoch milliseconds', () => {
    const key = rawObjectKey('qD4tWBuL8J', new Date('2024-03-05T23:59:59.999Z'), 'part-1.gz');
    assert.equal(key, `segment-logs/qD4tWBuL8J/${MARCH_5}/part-1.gz`);
    assert.equal(MARCH_5, 1709596800000);
    assert.equal(
      rawObjectKey('qD4tWBuL8J', MARCH_5 + 1, 'part-1.gz'),
      key,
      'epoch ms works as well as a Date',
    );
    assert.equal(receivedDay(new Date('2024-03-06T00:00:00.000Z')), MARCH_5 + DAY_MS);
  });

  void test('parse back into source, day and file, and refuse anything outside the layout', () => {
    assert.deepEqual(parseRawObjectKey(`segment-logs/src_1/${MARCH_5}/a.gz`), {
      sourceId: 'src_1',
      day: MARCH_5,
      fileName: 'a.gz',
    });
    for (const key of [
      `segment-logs/src/${MARCH_5 + 1000}/a.gz`, // not a midnight
      `segment-logs/src/2024-03-05/a.gz`,
      `segment-data/src/${MARCH_5}/a.gz`,
      `segment-logs/src/${MARCH_5}/nested/a.gz`,
      `segment-logs/-src/${MARCH_5}/a.gz`,
      `segment-logs/src/${MARCH_5}/.hidden`,
      `segment-logs/src/0${MARCH_5}/a.gz`,
    ]) {
      assert.equal(parseRawObjectKey(key), undefined, key);
    }
  });

  void test('accept only source ids and file names that are one safe path segment', () => {
    assert.equal(validateSourceId('Ab3-x_y.z'), 'Ab3-x_y.z');
    for (const id of ['', '..', '../etc', 'a/b', 'a b', '-lead', 'ü', 'x'.repeat(129)]) {
      assert.throws(() => validateSourceId(id), RangeError, JSON.stringify(id));
      assert.throws(() => rawObjectKey(id, MARCH_5, 'f.gz'), RangeError);
    }
    for (const name of ['', '../f.gz', 'a/b.gz', '.gz', 'f g.gz']) {
      assert.throws(() => rawObjectKey('src', MARCH_5, name), RangeError, JSON.stringify(name));
    }
    assert.throws(() => rawObjectKey('src', new Date('nope'), 'f.gz'), RangeError);
  });
});

void describe('listRawObjects', () => {
  const days = [MARCH_5 - DAY_MS, MARCH_5, MARCH_5 + DAY_MS, MARCH_5 + 2 * DAY_MS];
  before(async () => {
    for (const day of days) {
      for (const file of ['a.gz', 'b.gz']) await store.put(rawObjectKey('listed', day, file), 'x');
    }
    await store.put(rawObjectKey('listed2', MARCH_5, 'other-source.gz'), 'x');
    await store.put('segment-logs/listed/not-a-day/stray.gz', 'x');
  });

  const keys = (objects: RawObject[]): string[] =>
    objects.map((o) => `${(o.day - MARCH_5) / DAY_MS}/${o.fileName}`);

  void test('yields every object of the source across pages, in day order, and nothing of other sources', async () => {
    const stray: string[] = [];
    const all = await collect(
      listRawObjects(store, 'listed', { pageSize: 3, onUnrecognized: (o) => stray.push(o.key) }),
    );
    assert.deepEqual(keys(all), [
      '-1/a.gz',
      '-1/b.gz',
      '0/a.gz',
      '0/b.gz',
      '1/a.gz',
      '1/b.gz',
      '2/a.gz',
      '2/b.gz',
    ]);
    assert.ok(all.every((o) => o.sourceId === 'listed' && o.size === 1));
    assert.deepEqual(stray, ['segment-logs/listed/not-a-day/stray.gz']);
  });

  void test('starts after a day, or from a day, and skips excluded keys', async () => {
    const afterMarch5 = await collect(
      listRawObjects(store, 'listed', { afterDay: new Date(MARCH_5 + 5000), pageSize: 1 }),
    );
    assert.deepEqual(keys(afterMarch5), ['1/a.gz', '1/b.gz', '2/a.gz', '2/b.gz']);
    const fromMarch5 = await collect(listRawObjects(store, 'listed', { fromDay: MARCH_5 + 5000 }));
    assert.deepEqual(keys(fromMarch5), ['0/a.gz', '0/b.gz', '1/a.gz', '1/b.gz', '2/a.gz', '2/b.gz']);
    const synced = new Set([
      rawObjectKey('listed', MARCH_5, 'a.gz'),
      rawObjectKey('listed', MARCH_5 + DAY_MS, 'b.gz'),
    ]);
    const rest = await collect(
      listRawObjects(store, 'listed', { fromDay: MARCH_5, excludeKeys: (k) => synced.has(k) }),
    );
    assert.deepEqual(keys(rest), ['0/b.gz', '1/a.gz', '2/a.gz', '2/b.gz']);
  });

  void test('yields nothing for a source with no raw data', async () => {
    assert.deepEqual(await collect(listRawObjects(store, 'never-written')), []);
  });
});

void describe('readRawLines', () => {
  const text = (lines: RawLine[]): string[] => lines.map((l) => l.text);

  void test('reads gzip and plain NDJSON alike, telling them apart by content, not name', async () => {
    const body = '{"a":1}\n{"b":"ü"}\n{"c":3}';
    await store.put('lines/gz.json', gzipSync(body));
    await store.put('lines/plain.gz', body);
    for (const key of ['lines/gz.json', 'lines/plain.gz']) {
      assert.deepEqual(
        text(await collect(readRawLines(store, key))),
        ['{"a":1}', '{"b":"ü"}', '{"c":3}'],
        key,
      );
    }
  });

  void test('reports line numbers, UTF-8 byte lengths and offsets, skipping empty lines and CRs', async () => {
    await store.put('lines/crlf.gz', gzipSync('\uFEFF{"x":"é"}\r\n\r\n\n{"y":2}\r\n{"z":3}\n'));
    const lines = await collect(readRawLines(store, 'lines/crlf.gz'));
    assert.deepEqual(
      lines.map(({ text: t, lineNumber, byteLength, byteOffset, truncated }) => [
        t,
        lineNumber,
        byteLength,
        byteOffset,
        truncated,
      ]),
      [
        ['{"x":"é"}', 1, 10, 0, false],
        ['{"y":2}', 4, 7, 18, false],
        ['{"z":3}', 5, 7, 27, false],
      ],
    );
  });

  void test('returns every line intact across chunk boundaries of a large multi-member gzip', async () => {
    const expected = Array.from({ length: 20_000 }, (_, i) => JSON.stringify({ i, pad: 'ж'.repeat(i % 50) }));
    const half = expected.length / 2;
    // Appended gzip members, as a writer that appends to an object would produce.
    const body = Buffer.concat([
      gzipSync(expected.slice(0, half).join('\n') + '\n'),
      gzipSync(expected.slice(half).join('\n') + '\n'),
    ]);
    await store.put('lines/big.gz', body);
    const lines = await collect(readRawLines(store, 'lines/big.gz'));
    assert.deepEqual(text(lines), expected);
    assert.equal(lines.at(-1)?.lineNumber, expected.length);
  });

  void test('cuts a line longer than maxLineBytes but reports its full length, and goes on', async () => {
    const huge = 20 * 1024 * 1024;
    let sent = 0;
    const stream = new Readable({
      read() {
        if (sent < huge) {
          const n = Math.min(1024 * 1024, huge - sent);
          this.push(Buffer.alloc(n, 0x61));
          sent += n;
        } else {
          this.push('\n{"after":true}\n');
          this.push(null);
        }
      },
    });
    await store.put('lines/huge.ndjson', stream);
    const lines = await collect(readRawLines(store, 'lines/huge.ndjson', { maxLineBytes: 32 * 1024 + 1 }));
    assert.equal(lines.length, 2);
    const [first, second] = lines;
    assert.equal(first?.truncated, true);
    assert.equal(first?.byteLength, huge);
    assert.equal(first?.text.length, 32 * 1024 + 1);
    assert.deepEqual(
      [second?.text, second?.lineNumber, second?.byteOffset, second?.truncated],
      ['{"after":true}', 2, huge + 1, false],
    );
  });

  void test('latin1 gives each line\'s exact bytes, one character per byte, and says which are valid UTF-8', async () => {
    const lines = Array.from({ length: 5_000 }, (_, i) => JSON.stringify({ i, text: i % 3 === 0 ? 'é€😀'.repeat(i % 7) : 'plain' }));
    const broken = Buffer.from([0x7b, 0x22, 0x62, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]); // {"b":"\xff\xfe"}
    const body = Buffer.concat([
      Buffer.from('\uFEFF' + lines.slice(0, 2_500).join('\r\n') + '\n'),
      broken,
      Buffer.from('\n' + lines.slice(2_500).join('\n') + '\n'),
    ]);
    await store.put('lines/latin1.gz', gzipSync(body));
    const asUtf8 = await collect(readRawLines(store, 'lines/latin1.gz'));
    const asLatin1 = await collect(readRawLines(store, 'lines/latin1.gz', { latin1: true }));
    assert.equal(asLatin1.length, asUtf8.length);
    for (const [i, line] of asLatin1.entries()) {
      const other = asUtf8[i] as RawLine;
      const bytes = Buffer.from(line.text, 'latin1');
      assert.equal(bytes.length, line.byteLength, `line ${line.lineNumber}: one character per byte`);
      assert.deepEqual([line.lineNumber, line.byteOffset, line.byteLength], [other.lineNumber, other.byteOffset, other.byteLength]);
      assert.equal(line.validUtf8, line.lineNumber !== 2_501, `line ${line.lineNumber}`);
      if (line.validUtf8) assert.equal(bytes.toString('utf8'), other.text);
      else assert.ok(bytes.equals(broken), 'an invalid line keeps its bytes exactly');
    }
    assert.equal(asLatin1[0]?.text, lines[0], 'the byte order mark is not part of the first line');
  });

  void test('yields nothing for an empty object and fails for a missing or corrupt one', async () => {
    await store.put('lines/empty.gz', Buffer.alloc(0));
    assert.deepEqual(await collect(readRawLines(store, 'lines/empty.gz')), []);
    await store.put('lines/one-byte', 'x');
    assert.deepEqual(text(await collect(readRawLines(store, 'lines/one-byte'))), ['x']);
    await assert.rejects(collect(readRawLines(store, 'lines/missing.gz')), ObjectNotFoundError);
    const truncated = gzipSync('{"a":1}\n'.repeat(1000)).subarray(0, 40);
    await store.put('lines/truncated.gz', truncated);
    await assert.rejects(collect(readRawLines(store, 'lines/truncated.gz')), /unexpected end of file/);
  });
});

void describe('readRawLines, stopping early', () => {
  void test('releases the object when the reader stops after the first line', async (t) => {
    if (!existsSync('/proc/self/fd')) {
      t.skip('needs /proc to count open files');
      return;
    }
    const body = gzipSync(Array.from({ length: 50_000 }, (_, i) => `{"i":${i}}`).join('\n'));
    await store.put('lines/early.gz', body);
    await store.put('lines/early.ndjson', Array.from({ length: 50_000 }, (_, i) => `{"i":${i}}`).join('\n'));
    const handles = (): number => readdirSync('/proc/self/fd').length;
    const before = handles();
    for (const key of ['lines/early.gz', 'lines/early.ndjson']) {
      for await (const line of readRawLines(store, key)) {
        assert.equal(line.text, '{"i":0}');
        break;
      }
    }
    // Closing is asynchronous: give it a moment, then insist.
    for (let i = 0; i < 50 && handles() > before; i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(handles(), before);
  });
});

/**
 * The Prepare pool on real threads and real files: a chunk prepared on a thread must give the
 * same summary, staging and quarantine bytes as prepareChunk on the calling thread; chunks run
 * on separate threads at once; errors come back; local and S3 stores travel to the thread, and
 * stores that cannot travel stay on the caller;
 * and the pool works when tsx was registered in code (as `bin/inlet.js` does), not by flag.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { generateRaw } from '../../src/lake/generate.ts';
import { prepareChunk } from '../../src/lake/prepare.ts';
import { PreparePool } from '../../src/lake/prepare-pool.ts';
import { LocalObjectStore } from '../../src/lake/storage/local-store.ts';
import type { ObjectStore } from '../../src/lake/storage/object-store.ts';
import type { PrepareInput, PrepareSummary } from '../../src/lake/types.ts';
import { openObjectStore } from '../../src/lake/storage/open-store.ts';
import { startS3rver } from '../helpers/s3rver.ts';

let dir: string;
let raw: LocalObjectStore;
let keys: string[];
/** Lines of the first raw object. */
let firstLines: number;

before(async () => {
  dir = await fsp.mkdtemp(join(tmpdir(), 'inlet-prepare-pool-test-'));
  raw = new LocalObjectStore(join(dir, 'raw'));
  const generated = await generateRaw(raw, {
    seed: 7,
    sourceId: 'src1',
    events: 3000,
    start: new Date('2024-05-01T22:00:00.000Z'),
    durationMs: 4 * 3_600_000,
    badLineRate: 0.05,
    duplicateRate: 0.02,
    eventsPerFile: 1000,
  });
  keys = generated.keys;
  firstLines = generated.files[0]?.lines ?? 0;
  assert.ok(keys.length > 2 && firstLines > 0);
});

after(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

function input(chunkId: string, rawKeys = keys): PrepareInput {
  return { sourceId: 'src1', syncId: 'sync1', chunkId, rawKeys };
}

/** Every object of a store, key → bytes. */
async function contents(store: LocalObjectStore): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const { key } of (await store.list('')).objects) out.set(key, await fsp.readFile(store.localPath(key)));
  return out;
}

void describe('PreparePool', () => {
  void test('a chunk prepared on a thread gives the same summary, staging and quarantine as on the caller', async () => {
    const pool = new PreparePool({ threads: 1 });
    try {
      const threaded = new LocalObjectStore(join(dir, 'lake-threaded'));
      const inline = new LocalObjectStore(join(dir, 'lake-inline'));
      const fromThread = await pool.prepare(input('c1'), { rawStore: raw, lakeStore: threaded, tempDir: dir });
      assert.equal(pool.liveThreads, 1, 'the chunk ran on a thread');
      const fromCaller = await prepareChunk(input('c1'), { rawStore: raw, lakeStore: inline, tempDir: dir });
      assert.deepEqual(fromThread, fromCaller);
      assert.ok(Object.keys(fromThread.quarantined).length > 0, 'the data has quarantined lines');
      assert.ok(fromThread.duplicates > 0, 'the data has in-chunk duplicates');
      const [a, b] = [await contents(threaded), await contents(inline)];
      assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
      for (const [key, bytes] of a) assert.ok(bytes.equals(b.get(key) ?? Buffer.alloc(0)), `${key} is the same`);
    } finally {
      await pool.close();
    }
  });

  void test('chunks given at once run on separate threads, and limits travel with them', async () => {
    const pool = new PreparePool({ threads: 2 });
    try {
      const lake = new LocalObjectStore(join(dir, 'lake-two'));
      const half = Math.ceil(keys.length / 2);
      const limits = { maxColumns: 20 };
      const summaries = await Promise.all([
        pool.prepare(input('a', keys.slice(0, half)), { rawStore: raw, lakeStore: lake, limits }),
        pool.prepare(input('b', keys.slice(half)), { rawStore: raw, lakeStore: lake, limits }),
      ]);
      assert.equal(pool.liveThreads, 2);
      assert.deepEqual(summaries.map((s) => s.chunkId), ['a', 'b']);
      assert.equal(summaries.reduce((sum, s) => sum + s.read, 0), 3000);
      for (const s of summaries) assert.ok((s.quarantined['too_many_columns'] ?? 0) > 0, 'the lowered column limit applied');
    } finally {
      await pool.close();
    }
  });

  void test('an error on the thread rejects the call with its name and message, and the thread serves on', async () => {
    const pool = new PreparePool({ threads: 1 });
    try {
      const lake = new LocalObjectStore(join(dir, 'lake-error'));
      await assert.rejects(
        pool.prepare(input('missing', ['segment-logs/src1/1714521600000/nope.gz']), { rawStore: raw, lakeStore: lake }),
        (err: Error) => err.name === 'ObjectNotFoundError' && /nope\.gz/.test(err.message),
      );
      await assert.rejects(pool.prepare(input('bad id!'), { rawStore: raw, lakeStore: lake }), RangeError);
      const s = await pool.prepare(input('after', keys.slice(0, 1)), { rawStore: raw, lakeStore: lake });
      assert.equal(s.read, firstLines);
    } finally {
      await pool.close();
    }
  });

  void test('a chunk that does not fit in a thread\'s heap is prepared again on the calling thread', async () => {
    const pool = new PreparePool({ threads: 1, threadHeapMb: 2 });
    try {
      const lake = new LocalObjectStore(join(dir, 'lake-heap'));
      const s = await pool.prepare(input('heap'), { rawStore: raw, lakeStore: lake });
      assert.equal(s.read, 3000);
      const inline = await prepareChunk(input('heap'), { rawStore: raw, lakeStore: new LocalObjectStore(join(dir, 'lake-heap-inline')) });
      assert.deepEqual(s, inline);
      assert.equal(pool.liveThreads, 0, 'the thread died of its heap limit');
    } finally {
      await pool.close();
    }
  });

  void test('a store that is not a plain local store is prepared on the calling thread', async () => {
    const pool = new PreparePool({ threads: 1 });
    try {
      const lake = new LocalObjectStore(join(dir, 'lake-wrapped'));
      const gets: string[] = [];
      const wrapped: ObjectStore = {
        url: raw.url,
        supportsConditionalCreate: raw.supportsConditionalCreate,
        list: (prefix, options) => raw.list(prefix, options),
        get: (key) => {
          gets.push(key);
          return raw.get(key);
        },
        put: (key, body, options) => raw.put(key, body, options),
        head: (key) => raw.head(key),
        delete: (k) => raw.delete(k),
      };
      const s: PrepareSummary = await pool.prepare(input('w', keys.slice(0, 1)), { rawStore: wrapped, lakeStore: lake });
      assert.equal(s.read, firstLines);
      assert.deepEqual(gets, keys.slice(0, 1), 'the wrapper itself was read');
      assert.equal(pool.liveThreads, 0);
    } finally {
      await pool.close();
    }
  });

  void test('stores opened from an s3:// location travel to the thread, credentials from the env they were opened with', async (t) => {
    const s3 = await startS3rver();
    t.after(() => s3.stop());
    const env = { AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey, AWS_REGION: s3.region };
    const s3Raw = openObjectStore(s3.url('raw'), { env });
    for (const key of keys.slice(0, 2)) await s3Raw.put(key, { file: raw.localPath(key) });
    const pool = new PreparePool({ threads: 1 });
    try {
      const s3Lake = openObjectStore(s3.url('lake'), { env });
      const fromThread = await pool.prepare(input('s3', keys.slice(0, 2)), { rawStore: s3Raw, lakeStore: s3Lake, tempDir: dir });
      assert.equal(pool.liveThreads, 1, 'the chunk ran on a thread');
      const inline = new LocalObjectStore(join(dir, 'lake-s3-inline'));
      assert.deepEqual(fromThread, await prepareChunk(input('s3', keys.slice(0, 2)), { rawStore: raw, lakeStore: inline, tempDir: dir }));
      const written = (await s3Lake.list('segment-data/')).objects.map((o) => o.key).sort();
      assert.deepEqual(written, [...(await contents(inline)).keys()].sort(), 'the thread wrote the staging and quarantine objects into S3');
    } finally {
      await pool.close();
    }
  });

  void test('an idle thread exits after idleMs; a closed pool refuses work', async () => {
    const pool = new PreparePool({ threads: 1, idleMs: 50 });
    const lake = new LocalObjectStore(join(dir, 'lake-idle'));
    await pool.prepare(input('i1', keys.slice(0, 1)), { rawStore: raw, lakeStore: lake });
    assert.equal(pool.liveThreads, 1);
    for (let i = 0; i < 100 && pool.liveThreads > 0; i++) await delay(20);
    assert.equal(pool.liveThreads, 0);
    const s = await pool.prepare(input('i2', keys.slice(0, 1)), { rawStore: raw, lakeStore: lake });
    assert.equal(s.read, firstLines, 'a new thread starts for the next chunk');
    await pool.close();
    await assert.rejects(pool.prepare(input('i3', keys.slice(0, 1)), { rawStore: raw, lakeStore: lake }), /closed/);
  });

  void test('works in a process that registered tsx in code, as bin/inlet.js does', async () => {
    const lakeRoot = join(dir, 'lake-cli');
    const script = `
      import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))};
      register();
      const { PreparePool } = await import(${JSON.stringify(new URL('../../src/lake/prepare-pool.ts', import.meta.url).href)});
      const { LocalObjectStore } = await import(${JSON.stringify(new URL('../../src/lake/storage/local-store.ts', import.meta.url).href)});
      const pool = new PreparePool({ threads: 1 });
      const s = await pool.prepare(${JSON.stringify(input('cli', keys.slice(0, 1)))}, {
        rawStore: new LocalObjectStore(${JSON.stringify(raw.root)}),
        lakeStore: new LocalObjectStore(${JSON.stringify(lakeRoot)}),
      });
      console.log(JSON.stringify({ read: s.read, threads: pool.liveThreads }));
      await pool.close();
    `;
    const main = join(dir, 'main.mjs');
    await fsp.writeFile(main, script);
    // No --import tsx: the child loads TypeScript only through the register() call above.
    const child = spawnSync(process.execPath, [main], { encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout), { read: firstLines, threads: 1 });
  });
});

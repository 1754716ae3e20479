/**
 * One object-store suite run against every backend: a local directory and S3 (a real s3rver on a
 * random port). What the lake relies on: bytes round-trip, listings come in key order and page,
 * conditional create never overwrites, large bodies go up in parts, unsafe keys never touch disk.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { LocalObjectStore } from '../../src/lake/storage/local-store.ts';
import {
  ObjectNotFoundError,
  UnsafeKeyError,
  type ObjectStore,
} from '../../src/lake/storage/object-store.ts';
import { openObjectStore } from '../../src/lake/storage/open-store.ts';
import { S3ObjectStore } from '../../src/lake/storage/s3-store.ts';
import { startS3rver, type RunningS3rver } from '../helpers/s3rver.ts';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

async function listAll(
  store: ObjectStore,
  prefix: string,
  maxKeys: number,
): Promise<{ keys: string[]; pages: number }> {
  const keys: string[] = [];
  let pages = 0;
  let nextToken: string | undefined;
  do {
    const page = await store.list(prefix, { maxKeys, ...(nextToken !== undefined ? { nextToken } : {}) });
    pages++;
    keys.push(...page.objects.map((o) => o.key));
    nextToken = page.nextToken;
  } while (nextToken !== undefined);
  return { keys, pages };
}

/** A stream that yields `bytes` in uneven chunks, optionally failing at the end. */
function streamOf(bytes: Buffer, failAtEnd = false): Readable {
  let at = 0;
  return new Readable({
    read() {
      if (at >= bytes.length) {
        if (failAtEnd) this.destroy(new Error('source broke'));
        else this.push(null);
        return;
      }
      const size = 100_000 + (at % 77_777);
      this.push(bytes.subarray(at, at + size));
      at += size;
    },
  });
}

interface Backend {
  name: 'local' | 's3';
  open(): Promise<{ store: ObjectStore; close(): Promise<void> }>;
}

let s3: RunningS3rver | undefined;
const scratch: string[] = [];

const backends: Backend[] = [
  {
    name: 'local',
    async open() {
      const dir = await mkdtemp(join(tmpdir(), 'inlet-store-'));
      return { store: new LocalObjectStore(dir), close: () => rm(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 's3',
    async open() {
      s3 ??= await startS3rver();
      // A fresh prefix per suite keeps the backends' suites independent inside one bucket.
      const store = new S3ObjectStore({
        bucket: s3.bucket,
        prefix: `suite-${randomBytes(4).toString('hex')}`,
        endpoint: s3.endpoint,
        forcePathStyle: true,
        region: s3.region,
        credentials: s3.credentials,
      });
      await store.probeConditionalCreate();
      return { store, close: async () => store.destroy() };
    },
  },
];

after(async () => {
  await s3?.stop();
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
});

for (const backend of backends) {
  void describe(`object store (${backend.name})`, () => {
    let store: ObjectStore;
    let close: () => Promise<void>;
    before(async () => {
      ({ store, close } = await backend.open());
    });
    after(async () => close());

    void test('returns the bytes that were put, from a buffer, a string, a stream or a file', async () => {
      const bytes = randomBytes(70_000);
      assert.equal(await store.put('rt/buffer.bin', bytes), true);
      assert.equal(await store.put('rt/string.txt', 'héllo wörld ✓'), true);
      assert.equal(await store.put('rt/stream.bin', streamOf(bytes)), true);
      const dir = await mkdtemp(join(tmpdir(), 'inlet-file-'));
      scratch.push(dir);
      await writeFile(join(dir, 'f.bin'), bytes);
      assert.equal(await store.put('rt/file.bin', { file: join(dir, 'f.bin') }), true);

      assert.deepEqual(await readAll(await store.get('rt/buffer.bin')), bytes);
      assert.equal((await readAll(await store.get('rt/string.txt'))).toString(), 'héllo wörld ✓');
      assert.deepEqual(await readAll(await store.get('rt/stream.bin')), bytes);
      assert.deepEqual(await readAll(await store.get('rt/file.bin')), bytes);
      const info = await store.head('rt/buffer.bin');
      assert.equal(info?.key, 'rt/buffer.bin');
      assert.equal(info?.size, bytes.length);
      assert.ok(info.lastModified instanceof Date && !Number.isNaN(info.lastModified.getTime()));
    });

    void test('stores an empty object', async () => {
      assert.equal(await store.put('empty/zero', Buffer.alloc(0)), true);
      assert.equal((await store.head('empty/zero'))?.size, 0);
      assert.equal((await readAll(await store.get('empty/zero'))).length, 0);
    });

    void test('reports a missing object as ObjectNotFoundError on get and undefined on head', async () => {
      await assert.rejects(
        store.get('missing/nothing.gz'),
        (err: unknown) => err instanceof ObjectNotFoundError && err.key === 'missing/nothing.gz',
      );
      assert.equal(await store.head('missing/nothing.gz'), undefined);
    });

    void test('overwrites an existing key by default', async () => {
      await store.put('ow/key', 'first');
      assert.equal(await store.put('ow/key', 'second'), true);
      assert.equal((await readAll(await store.get('ow/key'))).toString(), 'second');
    });

    void test('lists keys under a prefix in key order, page by page, with the last key as the token', async () => {
      const keys = ['ls/b/2', 'ls/a', 'ls/b/1', 'ls/c', 'ls/b0', 'ls/a1/x/y', 'ls/d', 'lsx/outside'];
      for (const key of keys) await store.put(key, key);
      const expected = ['ls/a', 'ls/a1/x/y', 'ls/b/1', 'ls/b/2', 'ls/b0', 'ls/c', 'ls/d'];
      const paged = await listAll(store, 'ls/', 2);
      assert.deepEqual(paged.keys, expected);
      assert.equal(paged.pages, 4);
      assert.deepEqual((await listAll(store, 'ls/', 1000)).keys, expected);
      const page = await store.list('ls/', { maxKeys: 3 });
      assert.equal(page.nextToken, 'ls/b/1');
      assert.deepEqual(
        (await store.list('ls/', { nextToken: 'ls/b/1' })).objects.map((o) => o.key),
        ['ls/b/2', 'ls/b0', 'ls/c', 'ls/d'],
      );
      // A token need not be a stored key: listing resumes after it.
      assert.deepEqual(
        (await store.list('ls/', { nextToken: 'ls/b' })).objects.map((o) => o.key),
        ['ls/b/1', 'ls/b/2', 'ls/b0', 'ls/c', 'ls/d'],
      );
      const sizes = (await store.list('ls/b/')).objects.map((o) => o.size);
      assert.deepEqual(sizes, [6, 6]);
      assert.deepEqual((await store.list('nope/')).objects, []);
      assert.equal((await store.list('nope/')).nextToken, undefined);
    });

    void test('deletes objects, ignoring keys that are already gone', async () => {
      await store.put('del/a', 'a');
      await store.put('del/sub/b', 'b');
      await store.put('del/c', 'c');
      await store.delete(['del/a', 'del/sub/b', 'del/never-existed']);
      assert.deepEqual(
        (await store.list('del/')).objects.map((o) => o.key),
        ['del/c'],
      );
      await store.delete([]);
      await assert.rejects(store.get('del/sub/b'), ObjectNotFoundError);
    });

    void test('conditional create succeeds once and never overwrites', async () => {
      assert.equal(await store.put('cc/once', 'first', { ifNoneMatch: true }), true);
      assert.equal(await store.put('cc/once', 'second', { ifNoneMatch: true }), false);
      assert.equal((await readAll(await store.get('cc/once'))).toString(), 'first');
    });

    void test('of concurrent conditional creates exactly one wins when the backend says it is atomic', async (t) => {
      if (!store.supportsConditionalCreate) {
        t.skip(`${backend.name} peer does not honour If-None-Match (falls back to a HEAD check)`);
        return;
      }
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => store.put('cc/race', `writer ${i}`, { ifNoneMatch: true })),
      );
      assert.equal(results.filter(Boolean).length, 1);
      const winner = results.indexOf(true);
      assert.equal((await readAll(await store.get('cc/race'))).toString(), `writer ${winner}`);
    });

    void test('round-trips a body larger than one 8 MiB part, from a buffer and from a stream', async () => {
      const big = randomBytes(9 * 1024 * 1024 + 12_345);
      assert.equal(await store.put('mp/buffer.bin', big), true);
      assert.equal(await store.put('mp/stream.bin', streamOf(big)), true);
      assert.deepEqual(await readAll(await store.get('mp/buffer.bin')), big);
      assert.deepEqual(await readAll(await store.get('mp/stream.bin')), big);
      assert.equal((await store.head('mp/stream.bin'))?.size, big.length);
      assert.equal(await store.put('mp/buffer.bin', big, { ifNoneMatch: true }), false);
    });

    void test('a failing body leaves no object behind', async () => {
      const big = randomBytes(9 * 1024 * 1024);
      await assert.rejects(store.put('fail/big.bin', streamOf(big, true)), /source broke/);
      await assert.rejects(
        store.put('fail/small.bin', streamOf(big.subarray(0, 1000), true)),
        /source broke/,
      );
      assert.equal(await store.head('fail/big.bin'), undefined);
      assert.equal(await store.head('fail/small.bin'), undefined);
      assert.deepEqual((await store.list('fail/')).objects, []);
    });

    void test('rejects unsafe keys before touching storage', async () => {
      const unsafe = [
        '',
        '/etc/passwd',
        '../escape',
        'a/../../b',
        'a//b',
        'a/./b',
        'a\\b',
        'nul\0byte',
        'trailing/',
        'x'.repeat(1025),
      ];
      for (const key of unsafe) {
        await assert.rejects(store.put(key, 'x'), UnsafeKeyError, `put ${JSON.stringify(key)}`);
        await assert.rejects(store.get(key), UnsafeKeyError);
        await assert.rejects(store.head(key), UnsafeKeyError);
        await assert.rejects(store.delete([key]), UnsafeKeyError);
      }
    });
  });
}

void describe('local object store specifics', () => {
  void test('keeps objects as plain files under the root and hides in-flight temp files from listings', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'inlet-store-'));
    scratch.push(dir);
    const store = new LocalObjectStore(dir);
    await store.put('segment-logs/src/1/f.gz', 'data');
    assert.equal(store.localPath('segment-logs/src/1/f.gz'), join(dir, 'segment-logs', 'src', '1', 'f.gz'));
    assert.deepEqual(await readdir(join(dir, '.inlet-tmp')), []);
    assert.deepEqual(
      (await store.list('')).objects.map((o) => o.key),
      ['segment-logs/src/1/f.gz'],
    );
    assert.throws(() => store.localPath('.inlet-tmp/x'), UnsafeKeyError);
    assert.equal(store.url, `file://${dir}`);
  });

  void test('removes folders a delete leaves empty', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'inlet-store-'));
    scratch.push(dir);
    const store = new LocalObjectStore(dir);
    await store.put('a/b/c/d', 'x');
    await store.delete(['a/b/c/d']);
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n !== '.inlet-tmp'),
      [],
    );
  });
});

void describe('openObjectStore', () => {
  void test('opens a file URL or a plain path as a local directory', () => {
    const a = openObjectStore('file:///var/tmp/inlet-x');
    assert.ok(a instanceof LocalObjectStore);
    assert.equal(a.root, '/var/tmp/inlet-x');
    const b = openObjectStore('relative/dir');
    assert.ok(b instanceof LocalObjectStore);
    assert.equal(b.root, join(process.cwd(), 'relative/dir'));
  });

  void test('opens an s3 URL with endpoint, path style and region, taking credentials from AWS_* variables', async () => {
    s3 ??= await startS3rver();
    const env = {
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    };
    const url = s3.url('opened/prefix');
    const store = openObjectStore(url, { env });
    assert.ok(store instanceof S3ObjectStore);
    assert.equal(store.url, `s3://${s3.bucket}/opened/prefix`);
    assert.equal(store.supportsConditionalCreate, false, 'the URL said so');
    try {
      await store.put('k/v.txt', 'value');
      assert.equal((await readAll(await store.get('k/v.txt'))).toString(), 'value');
      // The prefix is real: the object sits under it in the bucket.
      const client = new S3Client({
        endpoint: s3.endpoint,
        forcePathStyle: true,
        region: 'us-east-1',
        credentials: s3.credentials,
      });
      const head = await client.send(
        new HeadObjectCommand({ Bucket: s3.bucket, Key: 'opened/prefix/k/v.txt' }),
      );
      assert.equal(head.ContentLength, 5);
      client.destroy();
    } finally {
      store.destroy();
    }
  });

  void test('refuses credentials in the URL, unknown parameters and unknown schemes', () => {
    assert.throws(
      () => openObjectStore('s3://AKIA:secret@bucket/p'),
      (err: Error) => !err.message.includes('secret'),
    );
    assert.throws(
      () => openObjectStore('s3://bucket/p?endpiont=http://x'),
      /unknown S3 store URL parameter 'endpiont'/,
    );
    assert.throws(() => openObjectStore('s3://bucket/p?forcePathStyle=maybe'), /true or false/);
    assert.throws(() => openObjectStore('gs://bucket/p'), /unsupported object store scheme/);
  });
});

void describe('S3 conditional create on s3rver', () => {
  void test('the probe finds that s3rver ignores If-None-Match, and the HEAD fallback still refuses an existing key', async () => {
    s3 ??= await startS3rver();
    const store = new S3ObjectStore({
      bucket: s3.bucket,
      prefix: 'probe',
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: s3.credentials,
    });
    try {
      assert.equal(store.supportsConditionalCreate, true, 'assumed until probed, as AWS S3 honours it');
      assert.equal(await store.probeConditionalCreate(), false);
      assert.equal(store.supportsConditionalCreate, false);
      assert.deepEqual((await store.list('')).objects, [], 'the probe cleans up after itself');
      assert.equal(await store.put('x', '1', { ifNoneMatch: true }), true);
      assert.equal(await store.put('x', '2', { ifNoneMatch: true }), false);
    } finally {
      store.destroy();
    }
  });
});

void describe('S3 multipart upload', () => {
  /** A store whose client records the S3 operations it sends (real requests, only observed). */
  async function observedStore(): Promise<{ store: S3ObjectStore; sent: string[]; client: S3Client }> {
    s3 ??= await startS3rver();
    const client = new S3Client({
      endpoint: s3.endpoint,
      forcePathStyle: true,
      region: s3.region,
      credentials: s3.credentials,
    });
    const sent: string[] = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(context.commandName ?? '?');
        return next(args);
      },
      { step: 'initialize' },
    );
    return { store: new S3ObjectStore({ bucket: s3.bucket, prefix: 'multipart', client }), sent, client };
  }

  void test('sends a body over 8 MiB as 8 MiB parts and a single PutObject below that', async () => {
    const { store, sent, client } = await observedStore();
    try {
      await store.put('big.bin', streamOf(randomBytes(17 * 1024 * 1024)));
      assert.deepEqual(sent.sort(), [
        'CompleteMultipartUploadCommand',
        'CreateMultipartUploadCommand',
        'UploadPartCommand',
        'UploadPartCommand',
        'UploadPartCommand',
      ]);
      sent.length = 0;
      await store.put('exactly-one-part.bin', randomBytes(8 * 1024 * 1024));
      assert.deepEqual(sent, ['PutObjectCommand']);
    } finally {
      client.destroy();
    }
  });

  void test('aborts the upload when the body fails part-way', async () => {
    const { store, sent, client } = await observedStore();
    try {
      await assert.rejects(
        store.put('broken.bin', streamOf(randomBytes(17 * 1024 * 1024), true)),
        /source broke/,
      );
      assert.ok(sent.includes('CreateMultipartUploadCommand'));
      assert.equal(sent.at(-1), 'AbortMultipartUploadCommand');
      assert.ok(!sent.includes('CompleteMultipartUploadCommand'));
    } finally {
      client.destroy();
    }
  });
});

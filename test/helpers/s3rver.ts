/**
 * Starts a real S3 peer (s3rver) for tests: its own temp directory, a random free port on
 * 127.0.0.1, one empty bucket, no logging. It runs in a child process started with
 * `--openssl-legacy-provider`, because s3rver encrypts ListObjectsV2 continuation tokens with
 * DES, which Node 20's OpenSSL 3 only offers through the legacy provider (without it every
 * truncated listing fails with InternalError). A separate process is also closer to a real peer.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** A running s3rver and how to reach it. */
export interface RunningS3rver {
  /** e.g. `http://127.0.0.1:40123` */
  endpoint: string;
  bucket: string;
  region: string;
  /** s3rver's fixed development key pair. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /**
   * An `s3://` store URL for `openObjectStore` under `prefix`, with `conditionalCreate=false`
   * because s3rver ignores If-None-Match. Credentials still come from the environment: pass
   * `{ env: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' } }`.
   */
  url(prefix?: string): string;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

/** The child: starts s3rver from the project's node_modules and prints its port. */
const CHILD = `
const S3rver = require(process.env.S3RVER_MODULE);
const server = new S3rver({
  address: '127.0.0.1', port: 0, silent: true, directory: process.env.S3RVER_DIR,
  vhostBuckets: false, configureBuckets: [{ name: process.env.S3RVER_BUCKET }],
});
server.run().then(({ port }) => console.log(JSON.stringify({ port })), (err) => { console.error(err); process.exit(1); });
process.on('SIGTERM', () => server.close().finally(() => process.exit(0)));
`;

/** Starts s3rver with one bucket (default `inlet-test`) in a fresh temp directory. */
export async function startS3rver(bucket = 'inlet-test'): Promise<RunningS3rver> {
  const directory = await mkdtemp(join(tmpdir(), 'inlet-s3rver-'));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', CHILD], {
    env: {
      PATH: process.env['PATH'] ?? '',
      S3RVER_MODULE: new URL('../../node_modules/s3rver/lib/s3rver.js', import.meta.url).pathname,
      S3RVER_DIR: directory,
      S3RVER_BUCKET: bucket,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`s3rver exited before it was ready (code ${String(code)})`);
  });
  const ready = (async () => {
    for await (const line of lines) {
      const parsed: unknown = JSON.parse(line);
      if (
        typeof parsed === 'object' &&
        parsed !== null &&
        'port' in parsed &&
        typeof parsed.port === 'number'
      )
        return parsed.port;
    }
    throw new Error('s3rver closed its output before reporting a port');
  })();
  let port: number;
  try {
    port = await Promise.race([ready, exited]);
  } catch (err) {
    child.kill('SIGKILL');
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
  exited.catch(() => undefined);
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    url(prefix = '') {
      const query = `endpoint=${encodeURIComponent(endpoint)}&forcePathStyle=true&region=us-east-1&conditionalCreate=false`;
      return `s3://${bucket}${prefix === '' ? '' : `/${prefix}`}?${query}`;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = once(child, 'exit');
        child.kill('SIGTERM');
        await gone;
      }
      lines.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

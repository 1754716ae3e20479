/**
 * The server side of `bench/api.ts`, run as a child process so that the benchmark's SDK clients
 * and the server do not share one event loop — otherwise every request would be paid for twice
 * on the same thread, once as client work and once as server work — and so that the server alone
 * can be profiled (`--cpu-prof`). Two kinds, chosen by `INLET_BENCH_API_KIND`:
 *
 * - `engine`: a durable engine on a fresh SQLite file served by `startSfnServer`, SigV4 on;
 * - `floor`: the protocol and nothing behind it — Node's HTTP server, the body read, the same
 *   SigV4 verification, JSON in and out — answering `GetActivityTask` with a task and
 *   `StartExecution` with an ARN at once. What any server of this API must spend per request,
 *   so the bench can say how much of a round trip is the engine and how much is HTTP and auth.
 *
 * It speaks to its parent over the fork IPC channel: `ready` with its URL once listening, its CPU
 * time and committed advances on `stats`, and on `stop` — or when the parent goes away — it
 * closes everything, removes its temp dir and exits normally, which is what makes `--cpu-prof`
 * write its profile. The access key comes in the environment (`INLET_BENCH_KEY_ID`,
 * `INLET_BENCH_SECRET`): a throwaway key made for one run.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../src/engine/engine.ts';
import { StepFunctions } from '../src/engine/step-functions.ts';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { startSfnServer } from '../src/api/sfn-http.ts';
import { verifySigV4 } from '../src/api/sigv4.ts';
import type { AccessKeys } from '../src/api/sigv4.ts';

/** Which server the child runs. */
export type ApiServerKind = 'engine' | 'floor';

/** Messages the parent sends. */
export type ApiServerRequest = { type: 'stats' } | { type: 'stop' };

/** Messages this process sends. */
export type ApiServerMessage =
  | { type: 'ready'; url: string; store?: { journalMode: string; synchronous: string } }
  | { type: 'stats'; cpuMs: number; advances: number }
  | { type: 'error'; message: string };

/** A running server of either kind. */
interface Served {
  url: string;
  store?: { journalMode: string; synchronous: string };
  /** Advances the engine has committed (0 for the floor). */
  advances(): number;
  close(): Promise<void>;
}

function tell(message: ApiServerMessage): void {
  process.send?.(message);
}

function reportError(e: unknown): void {
  tell({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
}

async function serveEngine(keys: AccessKeys): Promise<Served> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'inlet-bench-api-'));
  const store = openSqliteStore(path.join(dir, 'engine.db'));
  let advances = 0;
  const engine = new Engine({ store, onAdvance: () => void advances++ });
  await engine.start();
  // A 500 would otherwise look like a slow request; the parent fails the bench on it instead.
  const server = await startSfnServer({
    sfn: new StepFunctions(engine),
    auth: { mode: 'sigv4', keys },
    port: 0,
    onError: reportError,
  });
  const synchronous = ['OFF', 'NORMAL', 'FULL', 'EXTRA'][
    Number(store.db.pragma('synchronous', { simple: true }))
  ];
  return {
    url: server.url,
    store: {
      journalMode: String(store.db.pragma('journal_mode', { simple: true })),
      synchronous: synchronous ?? 'unknown',
    },
    advances: () => advances,
    close: async () => {
      await server.close();
      await engine.stop();
      await store.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

const JSON_HEADERS = { 'content-type': 'application/x-amz-json-1.0' };

async function serveFloor(keys: AccessKeys): Promise<Served> {
  const server = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks);
      await verifySigV4(
        { method: req.method ?? 'POST', path: req.url ?? '/', headers: req.headers, body },
        keys,
      );
      JSON.parse(body.toString('utf8'));
      const action = String(req.headers['x-amz-target']).slice('AWSStepFunctions.'.length);
      const answer =
        action === 'GetActivityTask'
          ? { taskToken: randomBytes(32).toString('base64url'), input: '0' }
          : action === 'StartExecution'
            ? {
                executionArn: `arn:aws:states:us-east-1:123456789012:execution:floor:${randomBytes(16).toString('hex')}`,
                startDate: Date.now() / 1000,
              }
            : {};
      const text = JSON.stringify(answer);
      res
        .writeHead(200, {
          ...JSON_HEADERS,
          'content-length': Buffer.byteLength(text),
          'x-amzn-requestid': crypto.randomUUID(),
        })
        .end(text);
    })().catch((e: unknown) => {
      reportError(e);
      res.writeHead(500, JSON_HEADERS).end('{}');
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    advances: () => 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function main(): Promise<void> {
  const keyId = process.env.INLET_BENCH_KEY_ID;
  const secret = process.env.INLET_BENCH_SECRET;
  const kind = process.env.INLET_BENCH_API_KIND;
  if (!process.send || !keyId || !secret || (kind !== 'engine' && kind !== 'floor')) {
    throw new Error(
      'bench/api-server.ts is started by bench/api.ts (fork, with INLET_BENCH_API_KIND, INLET_BENCH_KEY_ID, INLET_BENCH_SECRET)',
    );
  }
  const keys: AccessKeys = { [keyId]: secret };
  const served = kind === 'engine' ? await serveEngine(keys) : await serveFloor(keys);
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await served.close();
    if (process.connected) process.disconnect();
  };
  process.on('message', (message: ApiServerRequest) => {
    if (message.type === 'stats') {
      const used = process.cpuUsage();
      tell({ type: 'stats', cpuMs: (used.user + used.system) / 1000, advances: served.advances() });
    } else {
      void stop();
    }
  });
  // A parent that died must not leave a server and a temp dir behind.
  process.on('disconnect', () => void stop());
  tell(
    served.store
      ? { type: 'ready', url: served.url, store: served.store }
      : { type: 'ready', url: served.url },
  );
}

await main();

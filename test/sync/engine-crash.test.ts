/**
 * The engine process is SIGKILLed in the middle of a sync — once while chunks are being
 * prepared, once while the load is being followed — and started again on the same SQLite file.
 * The stage workers live in this process and reach the engine over HTTP with the real SDK
 * client, riding out the outages. After the restarts the sync must finish from its last commit,
 * and nothing may be loaded twice.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SFNClient } from '@aws-sdk/client-sfn';
import { ensureSyncMachine, sfnClientSyncApi, startSync, waitForSync, type SyncStages } from '../../src/sync/index.ts';
import { sfnClientApi, type Worker } from '../../src/worker/index.ts';
import { FAST_SETTINGS, firstJsonLine, generate, lakeCounts, makeDirs, openCatalog, stagesFor, startWorker, type SyncDirs } from './harness.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/engine-process.ts', import.meta.url));

let dirs: SyncDirs;
let catalogDb: ReturnType<typeof openCatalog>;
let engineProcess: ChildProcess | undefined;
let client: SFNClient | undefined;
let worker: Worker | undefined;

/** Starts the engine process on the test's SQLite file; on `port` when restarting. */
async function startEngine(port = 0): Promise<string> {
  engineProcess = spawn(process.execPath, ['--import', 'tsx', FIXTURE, dirs.dbPath, String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await firstJsonLine(engineProcess, 30_000);
  return String(line['url']);
}

function killEngine(): Promise<void> {
  const child = engineProcess;
  if (!child || child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

before(async () => {
  dirs = await makeDirs('engine-crash');
  catalogDb = openCatalog(dirs.dbPath);
});

after(async () => {
  await killEngine();
  await worker?.stop();
  client?.destroy();
  catalogDb.db.close();
  await dirs.remove();
});

void test('an engine killed mid-sync, twice, finishes the sync after each restart and loads nothing twice', async () => {
  const url = await startEngine();
  const port = Number(new URL(url).port);
  client = new SFNClient({
    endpoint: url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const api = sfnClientSyncApi(client);
  const machine = await ensureSyncMachine(api, { settings: FAST_SETTINGS });
  const generated = await generate(dirs.rawStore, 'web', 3000, 250);

  // Stage handlers that tell the test where the sync is, so it can kill the engine there.
  const real = stagesFor(dirs, catalogDb.catalog);
  let prepared = 0;
  const milestones: { prepared?: () => void; following?: () => void } = {};
  const stages: SyncStages = {
    ...real,
    prepare: async (input, context) => {
      const out = await real.prepare(input, context);
      if (++prepared === 2) milestones.prepared?.();
      return out;
    },
    follow: async (input, context) => {
      milestones.following?.();
      return real.follow(input, context);
    },
  };
  const reachedPrepare = new Promise<void>((resolve) => (milestones.prepared = resolve));
  const reachedFollow = new Promise<void>((resolve) => (milestones.following = resolve));
  worker = startWorker(sfnClientApi(client), machine.activities, stages, 'over-http');

  const started = await startSync({
    api,
    stateMachineArn: machine.stateMachineArn,
    sourceId: 'web',
    rawStore: dirs.rawStore,
    lakeStore: dirs.lakeStore,
    catalog: catalogDb.catalog,
    chunkObjects: 1,
  });
  assert.ok(started);
  assert.equal(started.plan.chunks.length, 12);

  await reachedPrepare;
  await killEngine();
  await new Promise((resolve) => setTimeout(resolve, 300));
  await startEngine(port);

  await reachedFollow;
  await killEngine();
  await new Promise((resolve) => setTimeout(resolve, 300));
  await startEngine(port);

  const end = await waitForSync(api, started.executionArn, { timeoutMs: 60_000, pollMs: 200 });
  assert.equal(end.status, 'SUCCEEDED', end.cause);
  const counts = await lakeCounts(catalogDb.catalog, dirs.lakeStore, 'web');
  assert.deepEqual(counts, { rows: generated.counts.valid, distinct: generated.counts.valid });
  const sync = await catalogDb.catalog.getSync(started.syncId);
  assert.equal(sync?.status, 'finished');
  const marks = await catalogDb.catalog.rawSyncMarks(generated.keys);
  assert.equal(marks.size, generated.keys.length);
  assert.ok([...marks.values()].every((id) => id === started.syncId));
});

/**
 * A stage worker dies with SIGKILL in the middle of Prepare: it has written its chunk's staging
 * but never reports. Only the missing heartbeats tell the engine; the state's Retry must run the
 * chunk again on another worker, and the retried chunk must overwrite, not duplicate, its
 * staging, so the lake ends with exactly one row per unique input event.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startSfnServer, type SfnServer } from '../../src/api/sfn-http.ts';
import { ensureSyncMachine, startSync, waitForSync } from '../../src/sync/index.ts';
import { inProcessApi, type Worker } from '../../src/worker/index.ts';
import { FAST_SETTINGS, firstJsonLine, generate, lakeCounts, makeDirs, openCatalog, stagesFor, startInProcessEngine, startWorker, type InProcessEngine, type SyncDirs } from './harness.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/prepare-worker.ts', import.meta.url));

let dirs: SyncDirs;
let engine: InProcessEngine;
let sfn: InProcessEngine['sfn'];
let server: SfnServer;
let catalogDb: ReturnType<typeof openCatalog>;
let child: ChildProcess | undefined;
let worker: Worker | undefined;

before(async () => {
  dirs = await makeDirs('worker-crash');
  engine = await startInProcessEngine(dirs.dbPath);
  sfn = engine.sfn;
  server = await startSfnServer({ sfn, auth: { mode: 'none' }, host: '127.0.0.1' });
  catalogDb = openCatalog(dirs.dbPath);
});

after(async () => {
  child?.kill('SIGKILL');
  await worker?.stop();
  await server.close();
  await engine.close();
  catalogDb.db.close();
  await dirs.remove();
});

void test('a Prepare worker killed with SIGKILL times out on heartbeats, the chunk is retried on another worker, and each unique event lands once', async () => {
  const machine = await ensureSyncMachine(sfn, { settings: { ...FAST_SETTINGS, heartbeatSeconds: 2 } });
  const generated = await generate(dirs.rawStore, 'web', 2000, 250);
  child = spawn(
    process.execPath,
    ['--import', 'tsx', FIXTURE, server.url, machine.activities.prepare, dirs.dbPath, dirs.rawRoot, dirs.lakeRoot],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const started = await startSync({
    api: sfn,
    stateMachineArn: machine.stateMachineArn,
    sourceId: 'web',
    rawStore: dirs.rawStore,
    lakeStore: dirs.lakeStore,
    catalog: catalogDb.catalog,
    chunkObjects: 2,
  });
  assert.ok(started);
  const line = await firstJsonLine(child, 30_000);
  assert.match(String(line['prepared']), /^chunk-/);
  // The doomed worker holds its chunk, staging written and unreported; the rest go to a live worker.
  worker = startWorker(inProcessApi(sfn, { pollMs: 200 }), machine.activities, stagesFor(dirs, catalogDb.catalog), 'survivor');
  child.kill('SIGKILL');

  const end = await waitForSync(sfn, started.executionArn, { timeoutMs: 45_000, pollMs: 100 });
  assert.equal(end.status, 'SUCCEEDED', end.cause);
  const history = await sfn.getExecutionHistory({ executionArn: started.executionArn, maxResults: 1000 });
  const types = history.events.map((e) => String(e['type']));
  assert.ok(types.includes('ActivityTimedOut'), 'the dead worker was noticed by its heartbeat timeout');
  const scheduledPrepares = types.filter((t) => t === 'ActivityScheduled').length;
  assert.equal(scheduledPrepares, started.plan.chunks.length + 1 + 3, 'one retried Prepare plus Load, Follow and Cleanup');

  const counts = await lakeCounts(catalogDb.catalog, dirs.lakeStore, 'web');
  assert.deepEqual(counts, { rows: generated.counts.valid, distinct: generated.counts.valid });
  const sync = await catalogDb.catalog.getSync(started.syncId);
  assert.equal(sync?.status, 'finished');
});

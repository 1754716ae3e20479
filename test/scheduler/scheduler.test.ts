/**
 * The scheduler on a real SQLite file with a clock the test moves: the interval and byte
 * triggers, no overlap, one catch-up sync after downtime (across a restart of the scheduler), and
 * a run log in the store. The last test wires it to the real sync starter, engine and workers.
 */
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Scheduler, type SchedulerOptions, type SourceSchedule, type SyncTrigger } from '../../src/scheduler/index.ts';
import { ensureSyncMachine, runningSyncs, startSync, unsyncedBytes, waitForSync } from '../../src/sync/index.ts';
import { inProcessApi } from '../../src/worker/index.ts';
import { FAST_SETTINGS, generate, makeDirs, openCatalog, stagesFor, startInProcessEngine, startWorker } from '../sync/harness.ts';

const MINUTE = 60_000;
const T0 = Date.parse('2024-05-01T00:00:00Z');

/** Everything the scheduler drives, as a stand-in sync system the test can inspect. */
class Syncs {
  running = new Set<string>();
  bytes = new Map<string, number>();
  started: { sourceId: string; trigger: SyncTrigger }[] = [];
  nothingToSync = false;
  failWith: Error | undefined;

  async startSync(sourceId: string, trigger: SyncTrigger) {
    if (this.failWith) throw this.failWith;
    if (this.nothingToSync) return undefined;
    this.started.push({ sourceId, trigger });
    this.running.add(sourceId);
    this.bytes.set(sourceId, 0);
    return { syncId: `sync-${this.started.length}` };
  }

  /** The running sync of a source ends. */
  finish(sourceId: string) {
    this.running.delete(sourceId);
  }
}

void describe('the scheduler', () => {
  let dir: string;
  let db: Database.Database;
  let now: number;
  let syncs: Syncs;
  let sources: SourceSchedule[];

  const scheduler = (options: Partial<SchedulerOptions> = {}) =>
    new Scheduler({
      db,
      sources: () => sources,
      startSync: (id, trigger) => syncs.startSync(id, trigger),
      unsyncedBytes: async (id) => syncs.bytes.get(id) ?? 0,
      isSyncRunning: async (id) => syncs.running.has(id),
      now: () => now,
      ...options,
    });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'inlet-scheduler-'));
    db = new Database(join(dir, 'inlet.db'));
    now = T0;
    syncs = new Syncs();
    sources = [{ sourceId: 'web', intervalMinutes: 120 }];
  });

  afterEach(async () => {
    db.close();
    await rm(dir, { recursive: true, force: true });
  });

  void test('starts a sync once the interval has passed since the source was first seen, and not before', async () => {
    const s = scheduler();
    assert.equal((await s.tick())[0]?.action, 'waiting');
    now = T0 + 119 * MINUTE;
    assert.equal((await s.tick())[0]?.action, 'waiting');
    now = T0 + 120 * MINUTE;
    const [decision] = await s.tick();
    assert.equal(decision?.action, 'started');
    assert.equal(decision?.trigger, 'interval');
    syncs.finish('web');
    now += 119 * MINUTE;
    assert.equal((await s.tick())[0]?.action, 'waiting', 'the interval restarts at the last start');
    now += MINUTE;
    assert.equal((await s.tick())[0]?.action, 'started');
  });

  void test('starts as soon as the unsynced bytes reach the threshold, before the interval is up', async () => {
    sources = [{ sourceId: 'web', intervalMinutes: 120, thresholdBytes: 1000 }];
    const s = scheduler();
    syncs.bytes.set('web', 999);
    now = T0 + 5 * MINUTE;
    const [waiting] = await s.tick();
    assert.equal(waiting?.action, 'waiting');
    assert.equal(waiting?.pendingBytes, 999);
    syncs.bytes.set('web', 1000);
    now = T0 + 6 * MINUTE;
    const [started] = await s.tick();
    assert.equal(started?.action, 'started');
    assert.equal(started?.trigger, 'bytes');
    assert.deepEqual(syncs.started, [{ sourceId: 'web', trigger: 'bytes' }]);
  });

  void test('never starts a second sync of a source while one is running, whatever is due', async () => {
    sources = [{ sourceId: 'web', intervalMinutes: 120, thresholdBytes: 10 }];
    const s = scheduler();
    syncs.bytes.set('web', 500);
    assert.equal((await s.tick())[0]?.action, 'started');
    syncs.bytes.set('web', 500);
    now = T0 + 600 * MINUTE;
    for (let i = 0; i < 3; i++) assert.equal((await s.tick())[0]?.action, 'running');
    assert.equal(syncs.started.length, 1);
    syncs.finish('web');
    assert.equal((await s.tick())[0]?.action, 'started');
  });

  void test('of two schedulers on one database only the lease holder decides; the other takes over when the lease expires or is given back', async () => {
    sources = [{ sourceId: 'web', intervalMinutes: 10 }];
    // A second connection to the same file, as a second `inlet start` process would open.
    const otherDb = new Database(join(dir, 'inlet.db'));
    try {
      const a = scheduler({ leaseMs: 5 * MINUTE });
      const b = scheduler({ db: otherDb, leaseMs: 5 * MINUTE });
      assert.equal((await a.tick())[0]?.action, 'waiting');
      assert.equal((await b.tick())[0]?.action, 'standby');
      assert.equal(b.leader(), a.holder);
      // `a` dies without giving the lease back; once it expires `b` leads and starts the due sync.
      now = T0 + 4 * MINUTE;
      assert.equal((await b.tick())[0]?.action, 'standby', 'the lease still holds');
      now = T0 + 11 * MINUTE;
      assert.equal((await b.tick())[0]?.action, 'started');
      assert.equal((await a.tick())[0]?.action, 'standby');
      assert.equal(a.leader(), b.holder);
      // `b` stops and gives the lease back: `a` leads at once, and the interval runs from b's start.
      await b.stop();
      syncs.finish('web');
      assert.equal(a.leader(), undefined);
      assert.equal((await a.tick())[0]?.action, 'waiting');
      assert.equal(a.leader(), a.holder);
      assert.deepEqual(syncs.started, [{ sourceId: 'web', trigger: 'interval' }]);
    } finally {
      otherDb.close();
    }
  });

  void test('after downtime it starts one sync for what piled up, not one per missed tick, across a restart', async () => {
    const first = scheduler();
    await first.tick();
    now = T0 + 120 * MINUTE;
    assert.equal((await first.tick())[0]?.action, 'started');
    syncs.finish('web');
    // The process is down for ten intervals, then a new scheduler opens the same database.
    now = T0 + 13 * 120 * MINUTE;
    const restarted = scheduler();
    assert.equal((await restarted.tick())[0]?.action, 'started');
    syncs.finish('web');
    for (let i = 0; i < 5; i++) {
      now += MINUTE;
      assert.equal((await restarted.tick())[0]?.action, 'waiting');
    }
    assert.equal(syncs.started.length, 2);
    const history = restarted.history({ sourceId: 'web' });
    assert.deepEqual(
      history.map((r) => [r.outcome, r.trigger, r.at.getTime()]),
      [
        ['started', 'interval', T0 + 13 * 120 * MINUTE],
        ['started', 'interval', T0 + 120 * MINUTE],
      ],
    );
  });

  void test('an interval with no raw data restarts the clock without a sync; a failed start is logged and tried again next tick', async () => {
    const s = scheduler();
    await s.tick();
    now = T0 + 120 * MINUTE;
    syncs.nothingToSync = true;
    assert.equal((await s.tick())[0]?.action, 'nothing_to_sync');
    now += 60 * MINUTE;
    assert.equal((await s.tick())[0]?.action, 'waiting');
    now += 60 * MINUTE;
    syncs.nothingToSync = false;
    syncs.failWith = new Error('engine unreachable');
    const [failed] = await s.tick();
    assert.equal(failed?.action, 'failed');
    assert.match(failed?.error ?? '', /engine unreachable/);
    syncs.failWith = undefined;
    now += MINUTE;
    assert.equal((await s.tick())[0]?.action, 'started', 'a failed start does not restart the interval');
    assert.deepEqual(
      s.history().map((r) => r.outcome),
      ['started', 'failed', 'nothing_to_sync'],
    );
  });

  void test('a source with a bad schedule fails alone; paused sources are skipped', async () => {
    sources = [
      { sourceId: 'bad', intervalMinutes: 0 },
      { sourceId: 'off', enabled: false },
      { sourceId: 'web', intervalMinutes: 1 },
    ];
    const s = scheduler();
    now = T0 + MINUTE;
    await s.tick();
    now = T0 + 2 * MINUTE;
    const decisions = await s.tick();
    assert.deepEqual(
      decisions.map((d) => [d.sourceId, d.action]),
      [
        ['bad', 'failed'],
        ['off', 'disabled'],
        ['web', 'started'],
      ],
    );
  });
});

void describe('the scheduler wired to real syncs', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  void test('the byte threshold starts a real sync through the engine, and a running sync blocks the next', async () => {
    const dirs = await makeDirs('scheduler-wired');
    cleanups.push(() => dirs.remove());
    const engine = await startInProcessEngine(dirs.dbPath);
    cleanups.push(() => engine.close());
    const { catalog, db } = openCatalog(dirs.dbPath);
    cleanups.push(async () => {
      db.close();
    });
    const machine = await ensureSyncMachine(engine.sfn, { settings: FAST_SETTINGS });
    const deps = { rawStore: dirs.rawStore, lakeStore: dirs.lakeStore, catalog };
    const scheduler = new Scheduler({
      db,
      sources: () => [{ sourceId: 'web', thresholdBytes: 1 }],
      startSync: (sourceId) => startSync({ ...deps, api: engine.sfn, stateMachineArn: machine.stateMachineArn, sourceId }),
      unsyncedBytes: (sourceId) => unsyncedBytes(dirs.rawStore, catalog, sourceId),
      isSyncRunning: async (sourceId) =>
        (await runningSyncs(engine.sfn, machine.stateMachineArn)).some((r) => r.sourceId === sourceId),
    });
    const generated = await generate(dirs.rawStore, 'web', 600, 300);

    const [started] = await scheduler.tick();
    assert.equal(started?.action, 'started');
    assert.equal(started?.pendingBytes, generated.storedBytes);
    // No worker yet: the sync stays running, and the scheduler must not start another.
    assert.equal((await scheduler.tick())[0]?.action, 'running');

    const worker = startWorker(inProcessApi(engine.sfn, { pollMs: 200 }), machine.activities, stagesFor(dirs, catalog), 'w');
    cleanups.push(() => worker.stop());
    const running = await runningSyncs(engine.sfn, machine.stateMachineArn);
    assert.equal(running.length, 1);
    const end = await waitForSync(engine.sfn, running[0]?.executionArn ?? '', { timeoutMs: 30_000, pollMs: 100 });
    assert.equal(end.status, 'SUCCEEDED');
    const [after] = await scheduler.tick();
    assert.equal(after?.action, 'waiting');
    assert.equal(after?.pendingBytes, 0);
    assert.equal((await catalog.getSync(started?.syncId ?? ''))?.status, 'finished');
  });
});

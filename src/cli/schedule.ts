/**
 * Wires the scheduler into `inlet start`: for each configured source, a sync every
 * `everyMinutes` (Segment's default: 120) or as soon as `minBytes` of unsynced raw data wait,
 * never two at once, one catch-up sync after downtime. Syncs it starts run on the service's
 * in-process workers (or any worker polling the same engine).
 */
import { Scheduler } from '../scheduler/index.ts';
import { runningSyncs, startSync, unsyncedBytes } from '../sync/index.ts';
import type { SyncApi } from '../sync/index.ts';
import type { Runtime } from './runtime.ts';

/** A running scheduler. */
export interface RunningScheduler {
  stop(): Promise<void>;
}

/** Starts the scheduler over the runtime's sources; `log` gets one line per started sync or failure. */
export function startScheduler(runtime: Runtime, stateMachineArn: string, log: (m: string) => void): RunningScheduler {
  const api = runtime.sfn as unknown as SyncApi;
  const scheduler = new Scheduler({
    db: runtime.db,
    sources: () =>
      runtime.config.sources.map((s) => {
        const schedule: { sourceId: string; intervalMinutes?: number; thresholdBytes?: number } = { sourceId: s.id };
        if (s.everyMinutes !== undefined) schedule.intervalMinutes = s.everyMinutes;
        if (s.minBytes !== undefined) schedule.thresholdBytes = s.minBytes;
        return schedule;
      }),
    startSync: async (sourceId, trigger) => {
      const started = await startSync({
        api,
        stateMachineArn,
        sourceId,
        rawStore: runtime.rawStore,
        lakeStore: runtime.lakeStore,
        catalog: runtime.catalog,
      });
      if (started) log(`scheduler: started sync ${started.syncId} of '${sourceId}' (${trigger})`);
      return started ? { syncId: started.syncId } : undefined;
    },
    unsyncedBytes: (sourceId) => unsyncedBytes(runtime.rawStore, runtime.catalog, sourceId),
    isSyncRunning: async (sourceId) => (await runningSyncs(api, stateMachineArn)).some((r) => r.sourceId === sourceId),
    onError: (sourceId, e) => log(`scheduler: ${sourceId}: ${e instanceof Error ? e.message : String(e)}`),
  });
  scheduler.start();
  return { stop: () => scheduler.stop() };
}

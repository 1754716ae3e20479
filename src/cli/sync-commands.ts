/**
 * `inlet sync` and `inlet worker`, and the in-process stage workers `inlet start` and the demo
 * run: a worker runtime registered with the four datalake-sync stages, polling the engine
 * through the Step Functions API in process (or over HTTP with --endpoint).
 */
import { Worker, inProcessApi, sfnClientApi } from '../worker/index.ts';
import type { ActivityApi } from '../worker/index.ts';
import { createSyncStages, ensureSyncMachine, registerSyncStages, runSyncNow, sfnClientSyncApi } from '../sync/index.ts';
import type { SyncApi, SyncMachine, SyncOutcome, SyncStageOptions, SyncStages } from '../sync/index.ts';
import type { InletConfig } from './config.ts';
import { apiCredentials, openRuntime } from './runtime.ts';
import type { Runtime } from './runtime.ts';
import { sfnClient } from './sdk-api.ts';

/** The sync machine's tuning from the config. */
export function syncSettings(config: InletConfig) {
  return {
    prepareConcurrency: config.sync.maxConcurrency,
    heartbeatSeconds: config.sync.heartbeatSeconds,
    retryIntervalSeconds: config.sync.retryIntervalSeconds,
    retryMaxAttempts: config.sync.retryMaxAttempts,
    retryBackoffRate: config.sync.retryBackoffRate,
  };
}

/**
 * Stage handlers over a runtime's catalog and stores; `executions` is where Cleanup reads the
 * sync's state transitions (the engine this process polls).
 */
export function stagesOf(
  runtime: Pick<Runtime, 'catalog' | 'rawStore' | 'lakeStore' | 'config'>,
  executions: NonNullable<SyncStageOptions['executions']>,
): SyncStages {
  return createSyncStages({
    catalog: runtime.catalog,
    executions,
    stores: () => ({ rawStore: runtime.rawStore, lakeStore: runtime.lakeStore }),
    load: { workDir: `${runtime.config.dataDir}/tmp` },
    prepare: { tempDir: `${runtime.config.dataDir}/tmp` },
  });
}

/** Deploys the sync machine and starts stage workers against it, in this process. */
export async function startInProcessWorkers(runtime: Runtime): Promise<{ machine: SyncMachine; worker: Worker; stages: SyncStages }> {
  const api = runtime.sfn as unknown as SyncApi;
  const machine = await ensureSyncMachine(api, { settings: syncSettings(runtime.config) });
  const stages = stagesOf(runtime, api);
  const worker = new Worker({
    api: inProcessApi(runtime.sfn),
    workerName: 'inlet-in-process',
    heartbeatIntervalSeconds: Math.max(0.2, runtime.config.sync.heartbeatSeconds / 4),
  });
  registerSyncStages(worker, machine.activities, stages, { preparePollers: runtime.config.workers.concurrency });
  worker.start();
  return { machine, worker, stages };
}

/** A sync's report in a human form: status, the reconciliation, rows per table. */
export function describeOutcome(outcome: SyncOutcome): string {
  if (outcome.status === 'nothing_to_sync') return `source '${outcome.sourceId}': nothing to sync`;
  const lines = [`sync ${outcome.syncId ?? ''} of source '${outcome.sourceId}': ${outcome.status}${outcome.error ? ` — ${outcome.error}` : ''}`];
  const rows = outcome.report ?? [];
  const source = rows.find((r) => r.type === 'source');
  if (source) {
    const duplicates = (source.duplicates as { total?: number } | undefined)?.total ?? 0;
    lines.push(
      `  read ${String(source.read)} = loaded ${String(source.loaded)} + duplicates ${duplicates} + quarantined ${String(source.quarantined_total)}` +
        (source.not_loaded ? ` + not loaded ${String(source.not_loaded)}` : ''),
    );
    for (const q of (source.quarantined as { reason: string; count: number }[] | undefined) ?? []) lines.push(`    quarantined ${q.reason}: ${q.count}`);
  }
  for (const row of rows.filter((r) => r.type === 'event')) {
    const partitions = (row.partitions as unknown[] | undefined)?.length ?? 0;
    const added = (row.new_columns as unknown[] | undefined)?.length ?? 0;
    lines.push(`  ${String(row.table_name).padEnd(28)} ${String(row.row_count).padStart(9)} rows  ${String(partitions).padStart(4)} partitions  ${added} new columns`);
  }
  if (outcome.reportKey) lines.push(`report: ${outcome.reportKey}`);
  return lines.join('\n');
}

/** Progress on stderr, one line per change (stage or chunk count), not per poll. */
export function progressPrinter(): (p: { stage: string; chunksDone: number; chunksTotal: number; failures: number }) => void {
  let last = '';
  return (p) => {
    const line = `${p.stage}: ${p.chunksDone}/${p.chunksTotal} chunks prepared${p.failures ? `, ${p.failures} attempts retried or caught` : ''}`;
    if (line !== last) process.stderr.write(`  ${line}\n`);
    last = line;
  };
}

/** `inlet sync <source>`: in process (engine + workers here), or through a server with --endpoint. */
export async function runSync(config: InletConfig, sourceId: string, json: boolean, endpoint: string | undefined): Promise<number> {
  const runtime = await openRuntime(config);
  let stop = async (): Promise<void> => undefined;
  try {
    let api: SyncApi;
    let stateMachineArn: string;
    if (endpoint) {
      const client = sfnClient({ endpoint, region: config.region, credentials: apiCredentials(config) });
      api = sfnClientSyncApi(client);
      stateMachineArn = (await ensureSyncMachine(api, { settings: syncSettings(config) })).stateMachineArn;
      stop = async () => client.destroy();
    } else {
      await runtime.engine.start();
      const { machine, worker, stages } = await startInProcessWorkers(runtime);
      api = runtime.sfn as unknown as SyncApi;
      stateMachineArn = machine.stateMachineArn;
      stop = async () => {
        await worker.stop();
        await stages.idle();
      };
    }
    const outcome = await runSyncNow({
      api,
      stateMachineArn,
      sourceId,
      rawStore: runtime.rawStore,
      lakeStore: runtime.lakeStore,
      catalog: runtime.catalog,
      onProgress: progressPrinter(),
    });
    process.stdout.write(json ? `${JSON.stringify(outcome, null, 2)}\n` : `${describeOutcome(outcome)}\n`);
    return outcome.status === 'failed' ? 1 : 0;
  } finally {
    await stop();
    await runtime.close();
  }
}

/** `inlet worker`: stage workers polling a server (this machine's config names the stores). */
export async function runWorker(config: InletConfig, endpoint: string | undefined): Promise<number> {
  if (!endpoint) throw new Error('inlet worker needs --endpoint <url> of an Inlet server (or AWS Step Functions)');
  const runtime = await openRuntime(config);
  const client = sfnClient({ endpoint, region: config.region, credentials: apiCredentials(config) });
  const api: ActivityApi = sfnClientApi(client);
  const syncApi = sfnClientSyncApi(client);
  const machine = await ensureSyncMachine(syncApi, { settings: syncSettings(config) });
  const stages = stagesOf(runtime, syncApi);
  const worker = new Worker({ api, heartbeatIntervalSeconds: Math.max(0.2, config.sync.heartbeatSeconds / 4) });
  registerSyncStages(worker, machine.activities, stages, { preparePollers: config.workers.concurrency });
  worker.stopOnSignals();
  process.stderr.write(`inlet worker: polling ${endpoint} for ${Object.values(machine.activities).join(', ')}\n`);
  await worker.run();
  await stages.idle();
  client.destroy();
  await runtime.close();
  return 0;
}

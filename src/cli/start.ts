/**
 * `inlet start`: the long-running service. One HTTP port serves the Step Functions API
 * (`POST /` with `X-Amz-Target`), the Segment-compatible tracking API (`/v1/*`) and Prometheus
 * metrics (`GET /metrics`); the engine runs in process with the datalake-sync machine deployed
 * and stage workers polling it; the scheduler starts syncs per source.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createSfnHandler } from '../api/sfn-http.ts';
import { createTrackingHandler } from '../api/tracking.ts';
import { handleMetrics } from '../api/metrics.ts';
import { Ingest, createIngestMetrics } from '../ingest/index.ts';
import type { InletConfig } from './config.ts';
import { writeKeysFromEnv } from './config.ts';
import { apiCredentials, openRuntime } from './runtime.ts';
import { startInProcessWorkers } from './sync-commands.ts';
import { startScheduler } from './schedule.ts';
import { DEFAULT_POSTGRES_SCHEMA } from '../store/postgres/postgres-store.ts';

/** Runs until SIGTERM/SIGINT; resolves the exit code. */
export async function startInlet(config: InletConfig): Promise<number> {
  const runtime = await openRuntime(config, { metricsDefaults: true });
  const log = (message: string) => process.stderr.write(`inlet: ${message}\n`);
  await runtime.engine.start();
  const ingest = await Ingest.open({
    logDir: join(config.dataDir, 'ingest-log'),
    store: runtime.rawStore,
    metrics: createIngestMetrics(runtime.metrics.registry),
    onError: (e) => log(`ingest: ${e instanceof Error ? e.message : String(e)}`),
  });
  const credentials = apiCredentials(config);
  const sfnHandler = createSfnHandler({
    sfn: runtime.sfn,
    auth: config.server.auth === 'none' ? { mode: 'none' } : { mode: 'sigv4', keys: { [credentials.accessKeyId]: credentials.secretAccessKey } },
    onRequest: (action, status, seconds) => runtime.metrics.onApiRequest(action, status, seconds),
    onError: (e) => log(`api: ${e instanceof Error ? e.message : String(e)}`),
  });
  const trackingSources = writeKeysFromEnv(config);
  const tracking = createTrackingHandler({ sink: ingest, sources: trackingSources, onError: (e) => log(`tracking: ${e instanceof Error ? e.message : String(e)}`) });
  const server = createServer((req, res) => {
    const handle = async () => {
      if (await handleMetrics(runtime.metrics.registry, req, res)) return;
      if (await tracking(req, res)) return;
      if (await sfnHandler(req, res)) return;
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"not found"}');
    };
    handle().catch((e: unknown) => {
      log(`http: ${e instanceof Error ? e.message : String(e)}`);
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(config.server.port, config.server.host, resolve));
  const { port } = server.address() as AddressInfo;
  const workers = config.workers.inProcess ? await startInProcessWorkers(runtime) : undefined;
  const scheduler = workers ? startScheduler(runtime, workers.machine.stateMachineArn, log) : undefined;
  // History is unlimited unless retentionDays is set; then finished executions past it are purged hourly.
  const retention = config.retentionDays;
  const purge = retention
    ? setInterval(() => {
        runtime.store
          .purgeExecutions(Date.now() - retention * 86_400_000)
          .then((n) => n > 0 && log(`purged ${n} executions older than ${retention} days`))
          .catch((e: unknown) => log(`purge: ${e instanceof Error ? e.message : String(e)}`));
      }, 3_600_000)
    : undefined;
  log(`listening on http://${config.server.host}:${port}  (Step Functions API: POST /, tracking: /v1/*, metrics: /metrics)`);
  log(`auth: ${config.server.auth}${config.server.auth === 'sigv4' ? ` (access key ${credentials.accessKeyId}; secret in $INLET_SECRET_ACCESS_KEY or ${join(config.dataDir, 'credentials.json')})` : ''}`);
  // The URL is not logged: it may carry a password.
  log(`engine store: ${config.engineDatabase === undefined ? `SQLite ${config.database}` : `PostgreSQL, schema ${config.engineSchema ?? DEFAULT_POSTGRES_SCHEMA}`}`);
  log(`sources with tracking write keys: ${trackingSources.map((s) => s.id).join(', ') || '(none: set the writeKeyEnv variables)'}`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log('stopping: finishing in-flight work');
  clearInterval(purge);
  await scheduler?.stop();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  if (workers) {
    await workers.worker.stop();
    await workers.stages.idle();
  }
  await ingest.close({ roll: true });
  await runtime.close();
  return 0;
}

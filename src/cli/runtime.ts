/**
 * The pieces of a running Inlet, opened from the config: the SQLite store (engine and catalog
 * share one file), the engine and its in-process Step Functions API, the raw and lake object
 * stores, metrics. Commands open what they need; `inlet start` opens everything and serves it.
 */
import { mkdirSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { openSqliteStore } from '../store/sqlite/sqlite-store.ts';
import type { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import { Engine } from '../engine/engine.ts';
import { StepFunctions } from '../engine/step-functions.ts';
import { SqliteCatalog } from '../catalog/index.ts';
import { openObjectStore } from '../lake/storage/open-store.ts';
import type { ObjectStore } from '../lake/storage/object-store.ts';
import { createMetrics } from '../api/metrics.ts';
import type { InletMetrics } from '../api/metrics.ts';
import { accessKeysFromEnv } from './config.ts';
import type { InletConfig } from './config.ts';

/** Everything a command may need, opened lazily by {@link openRuntime}. */
export interface Runtime {
  config: InletConfig;
  store: SqliteStore;
  catalog: SqliteCatalog;
  engine: Engine;
  sfn: StepFunctions;
  rawStore: ObjectStore;
  lakeStore: ObjectStore;
  metrics: InletMetrics;
  close(): Promise<void>;
}

/** Opens the store, catalog, engine (not started) and object stores of a config. */
export function openRuntime(config: InletConfig, options: { metricsDefaults?: boolean } = {}): Runtime {
  mkdirSync(join(config.dataDir, 'tmp'), { recursive: true });
  const store = openSqliteStore(config.database);
  const catalog = new SqliteCatalog(store.db);
  const metrics = createMetrics({ defaults: options.metricsDefaults ?? false });
  const engine = new Engine({ store, region: config.region, accountId: config.accountId, onAdvance: (r) => metrics.onAdvance(r) });
  const sfn = new StepFunctions(engine);
  return {
    config,
    store,
    catalog,
    engine,
    sfn,
    rawStore: openObjectStore(config.rawStore),
    lakeStore: openObjectStore(config.lakeStore),
    metrics,
    async close() {
      await engine.stop();
      await store.close();
    },
  };
}

/**
 * The API access keys: from the environment, or else a key pair generated once for this data
 * directory and kept in `<dataDir>/credentials.json` (mode 0600), so a local install is
 * authenticated by default without anyone choosing a password.
 */
export function apiCredentials(config: InletConfig): { accessKeyId: string; secretAccessKey: string } {
  const fromEnv = Object.entries(accessKeysFromEnv());
  if (fromEnv[0]) return { accessKeyId: fromEnv[0][0], secretAccessKey: fromEnv[0][1] };
  const file = join(config.dataDir, 'credentials.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as { accessKeyId: string; secretAccessKey: string };
  mkdirSync(config.dataDir, { recursive: true });
  const credentials = {
    accessKeyId: `INLET${randomBytes(8).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(30).toString('base64url'),
  };
  writeFileSync(file, JSON.stringify(credentials, null, 2), { mode: 0o600 });
  return credentials;
}

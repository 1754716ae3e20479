/**
 * The pieces of a running Inlet, opened from the config: the SQLite database (catalog and
 * scheduler, and the engine's store unless `engineDatabase` puts it on PostgreSQL), the engine
 * and its in-process Step Functions API, the raw and lake object stores, metrics. Commands open
 * what they need; `inlet start` opens everything and serves it.
 */
import { mkdirSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { openPostgresStore } from '../store/postgres/postgres-store.ts';
import { openSqliteDatabase, sqliteStoreIn } from '../store/sqlite/sqlite-store.ts';
import type { Store } from '../store/store.ts';
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
  /** The SQLite database of the catalog and the scheduler. */
  db: Database;
  /** The engine's store: in `db`, or on PostgreSQL when `engineDatabase` is set. */
  store: Store;
  catalog: SqliteCatalog;
  engine: Engine;
  sfn: StepFunctions;
  rawStore: ObjectStore;
  lakeStore: ObjectStore;
  metrics: InletMetrics;
  close(): Promise<void>;
}

/** Opens the stores, catalog, engine (not started) and object stores of a config. */
export async function openRuntime(config: InletConfig, options: { metricsDefaults?: boolean } = {}): Promise<Runtime> {
  mkdirSync(join(config.dataDir, 'tmp'), { recursive: true });
  const db = openSqliteDatabase(config.database);
  let store: Store;
  try {
    store =
      config.engineDatabase === undefined
        ? sqliteStoreIn(db)
        : await openPostgresStore({
            connectionString: config.engineDatabase,
            ...(config.engineSchema === undefined ? {} : { schema: config.engineSchema }),
          });
  } catch (err) {
    db.close();
    throw err;
  }
  const catalog = new SqliteCatalog(db);
  const metrics = createMetrics({ defaults: options.metricsDefaults ?? false });
  const engine = new Engine({ store, region: config.region, accountId: config.accountId, onAdvance: (r) => metrics.onAdvance(r) });
  const sfn = new StepFunctions(engine);
  return {
    config,
    db,
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
      if (db.open) db.close();
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

/**
 * Inlet's configuration: one JSON file (`inlet.config.json` by default), safe defaults for
 * everything, secrets only from the environment. A source's write key is named by an
 * environment variable (`writeKeyEnv`), and the Step Functions API's access keys come from
 * `INLET_ACCESS_KEY_ID` / `INLET_SECRET_ACCESS_KEY`; neither is ever written to the file or logged.
 */
import { readFileSync, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** One source of events. */
export interface SourceConfig {
  /** Stable id used in raw and lake keys: letters, digits, `_` and `-`. */
  id: string;
  name?: string;
  /** Sync every this many minutes (Segment's default: 120). */
  everyMinutes?: number;
  /** …or as soon as this many bytes of raw data wait unsynced. */
  minBytes?: number;
  /** The environment variable holding this source's tracking write key. */
  writeKeyEnv?: string;
}

/** The whole configuration, defaults applied. */
export interface InletConfig {
  /** Where the config file is (paths inside it are relative to its folder). */
  baseDir: string;
  dataDir: string;
  /** The SQLite file of the catalog, the scheduler and, unless `engineDatabase` is set, the engine. */
  database: string;
  /**
   * A `postgres://` URL: the engine's executions, history and task queues live in PostgreSQL
   * instead of `database`. Its password, if any, is best left to `PGPASSWORD`.
   */
  engineDatabase?: string;
  /** The PostgreSQL schema of the engine's tables; default `inlet`. */
  engineSchema?: string;
  rawStore: string;
  lakeStore: string;
  region: string;
  accountId: string;
  server: { host: string; port: number; auth: 'sigv4' | 'none' };
  workers: { inProcess: boolean; concurrency: number };
  sync: { maxConcurrency: number; chunkBytes: number; heartbeatSeconds: number; retryIntervalSeconds: number; retryMaxAttempts: number; retryBackoffRate: number };
  retentionDays?: number;
  sources: SourceConfig[];
}

/** A configuration problem, with the field that is wrong. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const SOURCE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const POSTGRES_URL = /^postgres(ql)?:\/\/\S+$/;
/** As the PostgreSQL store accepts it: no quoting needed anywhere. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function field<T>(value: unknown, name: string, check: (v: unknown) => v is T, fallback: T): T {
  if (value === undefined) return fallback;
  if (!check(value)) throw new ConfigError(`config field '${name}' has the wrong type: ${JSON.stringify(value)}`);
  return value;
}
const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isPort = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) < 65536;
const isPositive = (v: unknown): v is number => typeof v === 'number' && v > 0;
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';

/** A `file://` URL or path made absolute against the config's folder; other URLs unchanged. */
function location(value: string, baseDir: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) && !value.startsWith('file://')) return value;
  const path = value.startsWith('file://') ? value.slice('file://'.length) : value;
  return resolve(baseDir, path);
}

/** Reads the config file (optional: defaults when absent) and applies defaults. */
export function loadConfig(path?: string, overrides: { dataDir?: string } = {}): InletConfig {
  const file = resolve(path ?? process.env.INLET_CONFIG ?? 'inlet.config.json');
  let raw: Record<string, unknown> = {};
  if (existsSync(file)) {
    try {
      raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError(`cannot read ${file}: ${(e as Error).message}`);
    }
  } else if (path) {
    throw new ConfigError(`config file not found: ${file}`);
  }
  const baseDir = dirname(file);
  const dataDir = overrides.dataDir ? resolve(overrides.dataDir) : resolve(baseDir, field(raw.dataDir, 'dataDir', isString, '.inlet'));
  const server = (raw.server ?? {}) as Record<string, unknown>;
  const workers = (raw.workers ?? {}) as Record<string, unknown>;
  const sync = (raw.sync ?? {}) as Record<string, unknown>;
  const sources = field(raw.sources, 'sources', Array.isArray, []) as Record<string, unknown>[];
  const auth = field(server.auth, 'server.auth', (v): v is 'sigv4' | 'none' => v === 'sigv4' || v === 'none', 'sigv4');
  const config: InletConfig = {
    baseDir,
    dataDir,
    database: resolve(baseDir, field(raw.database, 'database', isString, resolve(dataDir, 'inlet.db'))),
    rawStore: location(field(raw.rawStore, 'rawStore', isString, resolve(dataDir, 'raw')), baseDir),
    lakeStore: location(field(raw.lakeStore, 'lakeStore', isString, resolve(dataDir, 'lake')), baseDir),
    region: field(raw.region, 'region', isString, 'us-east-1'),
    accountId: field(raw.accountId, 'accountId', (v): v is string => typeof v === 'string' && /^\d{12}$/.test(v), '123456789012'),
    server: {
      host: field(server.host, 'server.host', isString, '127.0.0.1'),
      port: field(server.port, 'server.port', isPort, 8380),
      auth,
    },
    workers: {
      inProcess: field(workers.inProcess, 'workers.inProcess', isBoolean, true),
      concurrency: field(workers.concurrency, 'workers.concurrency', isPositive, 2),
    },
    sync: {
      maxConcurrency: field(sync.maxConcurrency, 'sync.maxConcurrency', isPositive, 2),
      chunkBytes: field(sync.chunkBytes, 'sync.chunkBytes', isPositive, 64 * 1024 * 1024),
      heartbeatSeconds: field(sync.heartbeatSeconds, 'sync.heartbeatSeconds', isPositive, 60),
      retryIntervalSeconds: field(sync.retryIntervalSeconds, 'sync.retryIntervalSeconds', isPositive, 5),
      retryMaxAttempts: field(sync.retryMaxAttempts, 'sync.retryMaxAttempts', (v): v is number => Number.isInteger(v) && (v as number) >= 0, 3),
      retryBackoffRate: field(sync.retryBackoffRate, 'sync.retryBackoffRate', (v): v is number => typeof v === 'number' && v >= 1, 2),
    },
    sources: sources.map((s, i) => {
      const id = s.id;
      if (typeof id !== 'string' || !SOURCE_ID.test(id)) throw new ConfigError(`sources[${i}].id must match ${SOURCE_ID}`);
      const source: SourceConfig = { id };
      if (s.name !== undefined) source.name = field(s.name, `sources[${i}].name`, isString, id);
      if (s.everyMinutes !== undefined) source.everyMinutes = field(s.everyMinutes, `sources[${i}].everyMinutes`, isPositive, 120);
      if (s.minBytes !== undefined) source.minBytes = field(s.minBytes, `sources[${i}].minBytes`, isPositive, 0);
      if (s.writeKeyEnv !== undefined) source.writeKeyEnv = field(s.writeKeyEnv, `sources[${i}].writeKeyEnv`, isString, '');
      return source;
    }),
  };
  if (raw.engineDatabase !== undefined) {
    // Not echoed in the error: the URL may carry a password.
    if (typeof raw.engineDatabase !== 'string' || !POSTGRES_URL.test(raw.engineDatabase)) {
      throw new ConfigError("config field 'engineDatabase' must be a postgres:// or postgresql:// URL");
    }
    config.engineDatabase = raw.engineDatabase;
  }
  if (raw.engineSchema !== undefined) {
    config.engineSchema = field(raw.engineSchema, 'engineSchema', (v): v is string => typeof v === 'string' && SCHEMA_NAME.test(v), '');
  }
  if (raw.retentionDays !== undefined) config.retentionDays = field(raw.retentionDays, 'retentionDays', isPositive, 0);
  if (config.server.auth === 'sigv4' && config.server.host !== '127.0.0.1' && !process.env.INLET_SECRET_ACCESS_KEY) {
    throw new ConfigError('server.auth is sigv4 on a non-loopback host: set INLET_ACCESS_KEY_ID and INLET_SECRET_ACCESS_KEY');
  }
  return config;
}

/** The API access keys from the environment (id → secret); empty when unset. */
export function accessKeysFromEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const id = env.INLET_ACCESS_KEY_ID;
  const secret = env.INLET_SECRET_ACCESS_KEY;
  return id && secret ? { [id]: secret } : {};
}

/** The tracking write keys of the configured sources, from the environment. */
export function writeKeysFromEnv(config: InletConfig, env: NodeJS.ProcessEnv = process.env): { id: string; writeKey: string }[] {
  return config.sources.flatMap((s) => {
    const key = s.writeKeyEnv ? env[s.writeKeyEnv] : undefined;
    return key ? [{ id: s.id, writeKey: key }] : [];
  });
}

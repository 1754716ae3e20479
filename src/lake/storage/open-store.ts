/**
 * Turns a store location from configuration or a command line into an {@link ObjectStore}, so
 * the rest of Inlet names storage by one string: `file:///var/lib/inlet`, a plain path, or
 * `s3://bucket/prefix?endpoint=http://127.0.0.1:9000&forcePathStyle=true&region=eu-west-1`.
 * S3 credentials come only from the standard AWS environment variables (or the SDK's default
 * chain), never from the URL, so they cannot leak into logs or reports that print the location.
 */
import { LocalObjectStore } from './local-store.ts';
import type { ObjectStore } from './object-store.ts';
import { S3ObjectStore, type S3Credentials } from './s3-store.ts';
import { localDirectory, rememberLocator } from './store-locator.ts';

export { storeLocator, type StoreLocator } from './store-locator.ts';

/** Options for {@link openObjectStore}. */
export interface OpenObjectStoreOptions {
  /** Where AWS_* variables are read from; `process.env` by default. */
  env?: Record<string, string | undefined>;
}

const S3_PARAMS = new Set(['endpoint', 'forcePathStyle', 'region', 'conditionalCreate']);

function parseBoolean(name: string, value: string): boolean {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new Error(`store URL parameter '${name}' must be true or false, got '${value}'`);
}

/** AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN), when both keys are set. */
function credentialsFromEnv(env: Record<string, string | undefined>): S3Credentials | undefined {
  const accessKeyId = env['AWS_ACCESS_KEY_ID'];
  const secretAccessKey = env['AWS_SECRET_ACCESS_KEY'];
  if (!accessKeyId || !secretAccessKey) return undefined;
  const sessionToken = env['AWS_SESSION_TOKEN'];
  return sessionToken ? { accessKeyId, secretAccessKey, sessionToken } : { accessKeyId, secretAccessKey };
}

/**
 * Opens the store a location names: `file://` URLs and plain paths are local directories,
 * `s3://bucket[/prefix]` is S3 with `endpoint`, `forcePathStyle`, `region` and
 * `conditionalCreate` as query parameters. Throws on other schemes, unknown parameters, and
 * credentials embedded in the URL.
 */
export function openObjectStore(location: string, options: OpenObjectStoreOptions = {}): ObjectStore {
  const store = openStore(location, options);
  rememberLocator(store, options.env === undefined ? { location } : { location, env: options.env });
  return store;
}

function openStore(location: string, options: OpenObjectStoreOptions): ObjectStore {
  const directory = localDirectory(location);
  if (directory !== undefined) return new LocalObjectStore(directory);
  if (!location.startsWith('s3://')) {
    throw new Error(`unsupported object store scheme in '${location.split('://', 1)[0] ?? ''}://…'`);
  }
  const url = new URL(location);
  if (url.username !== '' || url.password !== '') {
    // Do not echo the URL: it holds a secret.
    throw new Error('put S3 credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, not in the store URL');
  }
  for (const name of url.searchParams.keys()) {
    if (!S3_PARAMS.has(name)) throw new Error(`unknown S3 store URL parameter '${name}'`);
  }
  const env = options.env ?? process.env;
  const params = url.searchParams;
  const endpoint = params.get('endpoint');
  const forcePathStyle = params.get('forcePathStyle');
  const conditionalCreate = params.get('conditionalCreate');
  const region = params.get('region') ?? env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'];
  const credentials = credentialsFromEnv(env);
  return new S3ObjectStore({
    bucket: url.hostname,
    prefix: decodeURIComponent(url.pathname),
    ...(endpoint !== null ? { endpoint } : {}),
    ...(forcePathStyle !== null ? { forcePathStyle: parseBoolean('forcePathStyle', forcePathStyle) } : {}),
    ...(conditionalCreate !== null
      ? { conditionalCreate: parseBoolean('conditionalCreate', conditionalCreate) }
      : {}),
    ...(region !== undefined && region !== '' ? { region } : {}),
    ...(credentials !== undefined ? { credentials } : {}),
  });
}

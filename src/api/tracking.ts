/**
 * Segment's HTTP Tracking API over node:http, so the real Segment and RudderStack libraries (and
 * analytics.js) can send to Inlet by changing only their host. It answers
 * `POST /v1/{track,identify,page,screen,group,alias,batch,import}` (and analytics.js's one-letter
 * forms `/v1/t`, `/v1/b` …); everything else falls through (`false`), so one server can mount it
 * next to the Step Functions API and the console.
 *
 * A 200 means durable: the handler answers only after the ingest log's fsync covering the
 * request. Bad input gets a 4xx with a `code` and a message saying what is wrong, and never
 * disturbs other requests. Write keys are credentials: compared by their SHA-256, never logged,
 * never stored with the events.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzip as gunzipCallback } from 'node:zlib';
import type { InputType } from 'node:zlib';
import type { Registry } from 'prom-client';
import type { ObjectStore } from '../lake/storage/object-store.ts';
import {
  createIngestMetrics,
  Ingest,
  LogOverloadedError,
  LogUnavailableError,
  noIngestMetrics,
  normalizeEvents,
  RejectReason,
  TRACKING_LIMITS,
  TrackingRequestError,
  validateSources,
} from '../ingest/index.ts';
import type { Endpoint, EventSink, IngestMetrics, IngestSource, TrackingLimits } from '../ingest/index.ts';

const ROUTES: ReadonlyMap<string, Endpoint> = new Map<string, Endpoint>([
  ['/v1/track', 'track'],
  ['/v1/identify', 'identify'],
  ['/v1/page', 'page'],
  ['/v1/screen', 'screen'],
  ['/v1/group', 'group'],
  ['/v1/alias', 'alias'],
  ['/v1/batch', 'batch'],
  ['/v1/import', 'batch'],
  // analytics.js posts to the type's first letter, and batches to /b.
  ['/v1/t', 'track'],
  ['/v1/i', 'identify'],
  ['/v1/p', 'page'],
  ['/v1/s', 'screen'],
  ['/v1/g', 'group'],
  ['/v1/a', 'alias'],
  ['/v1/b', 'batch'],
]);

/**
 * Bodies are always parsed as JSON, but clients label them differently: analytics.js sends
 * text/plain to skip the CORS preflight, and RudderStack's Node SDK (axios posting a gzip Buffer)
 * sends application/x-www-form-urlencoded. A missing type is taken as JSON.
 */
const JSON_TYPES = new Set(['', 'application/json', 'text/plain', 'application/x-www-form-urlencoded']);
/** A body this many times over the limit is not drained to give a polite answer; the socket is cut. */
const DRAIN_FACTOR = 16;
const SUCCESS = Buffer.from('{"success":true}');
const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'POST, OPTIONS',
  'access-control-allow-headers': 'Content-Type, Content-Encoding, Authorization',
  'access-control-max-age': '86400',
};

/** Options for {@link createTrackingHandler}. */
export interface TrackingHandlerOptions {
  /** Where accepted events go (an {@link Ingest}); its promise must resolve only once they are durable. */
  sink: EventSink;
  /** The sources and their write keys. */
  sources: readonly IngestSource[];
  metrics?: IngestMetrics;
  limits?: Partial<TrackingLimits>;
  /** Clock for `receivedAt` (epoch ms); injectable for tests. */
  now?: () => number;
  /** Unexpected failures (answered 500/503 without detail). Never given write keys. */
  onError?: (err: unknown) => void;
}

/** A request handler that returns false for paths it does not own. */
export type TrackingHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

function keyDigest(writeKey: string): string {
  return createHash('sha256').update(writeKey).digest('hex');
}

/** The write key from `Authorization: Basic base64(key:)`, if there is one. */
function basicAuthUser(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon < 0 ? decoded : decoded.slice(0, colon);
  return user.length > 0 ? user : undefined;
}

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
}

function send(res: ServerResponse, status: number, body: Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(body.length),
    'access-control-allow-origin': '*',
    ...headers,
  });
  res.end(body);
}

function sendError(res: ServerResponse, err: TrackingRequestError, headers: Record<string, string> = {}): void {
  send(res, err.status, Buffer.from(JSON.stringify({ success: false, code: err.reason, message: err.message })), headers);
}

function gunzip(body: InputType, maxOutputLength: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    gunzipCallback(body, { maxOutputLength }, (err, out) => (err ? reject(err) : resolve(out)));
  });
}

function requestTooLarge(limit: number): TrackingRequestError {
  return new TrackingRequestError(
    400,
    RejectReason.RequestTooLarge,
    `request body exceeds ${limit} bytes (${limit / 1024} KB), the limit per request`,
  );
}

/**
 * Reads the body up to `limit` bytes. Past the limit it keeps draining (so the client reads a
 * 400 rather than a reset) until the body is absurdly large, then cuts the connection.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else if (size > limit * DRAIN_FACTOR) req.destroy();
    });
    req.on('end', () => (size > limit ? reject(requestTooLarge(limit)) : resolve(chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks, size))));
    req.on('error', reject);
    req.on('close', () => {
      if (req.complete) return;
      reject(size > limit ? requestTooLarge(limit) : new TrackingRequestError(400, RejectReason.InvalidJson, 'request body was cut short'));
    });
  });
}

/**
 * Creates the tracking API handler. Order of checks: path, method, content type and encoding,
 * write key (header first, so unknown keys are refused before reading the body), body size,
 * gzip, JSON, the events themselves; then the durable append, then 200 `{"success":true}`.
 */
export function createTrackingHandler(options: TrackingHandlerOptions): TrackingHandler {
  validateSources(options.sources);
  const byDigest = new Map(options.sources.map((s) => [keyDigest(s.writeKey), s.id]));
  const limits: TrackingLimits = { ...TRACKING_LIMITS, ...options.limits };
  const metrics = options.metrics ?? noIngestMetrics;
  const now = options.now ?? Date.now;
  const sourceFor = (writeKey: string | undefined): string | undefined =>
    writeKey === undefined ? undefined : byDigest.get(keyDigest(writeKey));
  const unknownKey = (): TrackingRequestError =>
    new TrackingRequestError(401, RejectReason.InvalidWriteKey, 'missing or unknown write key; send it as the Basic auth user name');

  async function handle(endpoint: Endpoint, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'OPTIONS') {
      res.writeHead(204, CORS_HEADERS).end();
      return;
    }
    if (req.method !== 'POST') {
      throw new TrackingRequestError(405, RejectReason.MethodNotAllowed, `use POST for ${req.url?.split('?', 1)[0] ?? 'this path'}`);
    }
    const contentType = mediaType(req.headers['content-type']);
    if (!JSON_TYPES.has(contentType)) {
      throw new TrackingRequestError(415, RejectReason.UnsupportedContentType, `content type '${contentType.slice(0, 100)}' is not supported; send application/json`);
    }
    const encoding = (req.headers['content-encoding'] ?? '').trim().toLowerCase();
    if (encoding !== '' && encoding !== 'identity' && encoding !== 'gzip') {
      throw new TrackingRequestError(415, RejectReason.UnsupportedEncoding, `content encoding '${encoding.slice(0, 100)}' is not supported; send gzip or none`);
    }
    const headerKey = basicAuthUser(req.headers.authorization);
    let sourceId = sourceFor(headerKey);
    if (headerKey !== undefined && sourceId === undefined) throw unknownKey();
    const receivedAt = now();

    let raw = await readBody(req, limits.maxRequestBytes);
    if (encoding === 'gzip') {
      try {
        raw = await gunzip(raw, limits.maxRequestBytes);
      } catch (err) {
        if (err instanceof RangeError) throw requestTooLarge(limits.maxRequestBytes);
        throw new TrackingRequestError(400, RejectReason.InvalidGzip, 'request body is not valid gzip');
      }
    }
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      // The parser's message quotes the body, which may hold a write key: say only what is wrong.
      throw new TrackingRequestError(400, RejectReason.InvalidJson, 'request body is not valid JSON');
    }
    if (sourceId === undefined) {
      const bodyKey = typeof body === 'object' && body !== null && 'writeKey' in body && typeof body.writeKey === 'string' ? body.writeKey : undefined;
      sourceId = sourceFor(bodyKey);
      if (sourceId === undefined) throw unknownKey();
    }
    const events = normalizeEvents(body, endpoint, new Date(receivedAt).toISOString(), randomUUID, limits);
    if (events.lines.length > 0) {
      try {
        await options.sink.append(sourceId, receivedAt, events.lines);
      } catch (err) {
        if (err instanceof LogOverloadedError) {
          throw new TrackingRequestError(503, RejectReason.Overloaded, 'the tracking API is overloaded; retry later');
        }
        options.onError?.(err);
        if (err instanceof LogUnavailableError) {
          throw new TrackingRequestError(503, RejectReason.Unavailable, 'the tracking API cannot store events right now; retry later');
        }
        throw err;
      }
      metrics.eventsReceived(sourceId, events.lines.length, events.bytes);
    }
    send(res, 200, SUCCESS);
  }

  return async (req, res) => {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    let path = query < 0 ? url : url.slice(0, query);
    if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
    const endpoint = ROUTES.get(path);
    if (endpoint === undefined) return false;
    try {
      await handle(endpoint, req, res);
    } catch (caught) {
      let err: TrackingRequestError;
      if (caught instanceof TrackingRequestError) {
        err = caught;
      } else {
        options.onError?.(caught);
        err = new TrackingRequestError(500, RejectReason.InternalError, 'internal error');
      }
      metrics.rejected(err.reason);
      if (!res.headersSent && !res.destroyed) {
        const headers: Record<string, string> = err.status === 503 ? { 'retry-after': '1' } : {};
        if (err.status === 405) headers['allow'] = 'POST, OPTIONS';
        sendError(res, err, headers);
      }
    }
    return true;
  };
}

/** Options for {@link startTrackingServer}. */
export interface TrackingServerOptions {
  /** Port to listen on; 0 (the default) picks a free one. */
  port?: number;
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** Directory of the ingest log. */
  logDir: string;
  /** Raw store for rolled objects. */
  store: ObjectStore;
  sources: readonly IngestSource[];
  /** Registers the ingest metrics here and serves them at `GET /metrics`. */
  registry?: Registry;
  rollBytes?: number;
  rollAgeMs?: number;
  maxPendingBytes?: number;
  limits?: Partial<TrackingLimits>;
  onError?: (err: unknown) => void;
}

/** A running tracking server. */
export interface TrackingServer {
  server: Server;
  ingest: Ingest;
  port: number;
  /** Base URL, e.g. `http://127.0.0.1:53211`: the `host` option of analytics-node. */
  url: string;
  /** Stops listening, waits for acknowledged requests, rolls the log into the store. */
  close(options?: { roll?: boolean }): Promise<void>;
}

/**
 * A standalone tracking server (tests, the bench, a minimal deployment): opens the ingest log,
 * waits for the startup replay into the store (a failing store is reported and retried in the
 * background, it does not block startup), then listens.
 */
export async function startTrackingServer(options: TrackingServerOptions): Promise<TrackingServer> {
  const metrics = options.registry ? createIngestMetrics(options.registry) : noIngestMetrics;
  const onError = options.onError ?? ((err: unknown) => console.error('tracking api:', err));
  const ingest = await Ingest.open({
    logDir: options.logDir,
    store: options.store,
    metrics,
    onError,
    ...(options.rollBytes !== undefined ? { rollBytes: options.rollBytes } : {}),
    ...(options.rollAgeMs !== undefined ? { rollAgeMs: options.rollAgeMs } : {}),
    ...(options.maxPendingBytes !== undefined ? { maxPendingBytes: options.maxPendingBytes } : {}),
  });
  await ingest.replayed.catch(onError);
  const handler = createTrackingHandler({
    sink: ingest,
    sources: options.sources,
    metrics,
    onError,
    ...(options.limits ? { limits: options.limits } : {}),
  });
  const registry = options.registry;
  const server = createServer((req, res) => {
    void (async () => {
      if (await handler(req, res)) return;
      if (registry && req.method === 'GET' && req.url === '/metrics') {
        const text = await registry.metrics();
        res.writeHead(200, { 'content-type': registry.contentType }).end(text);
        return;
      }
      send(res, 404, Buffer.from(JSON.stringify({ success: false, code: 'not_found', message: 'no such endpoint' })));
    })().catch((err: unknown) => {
      onError(err);
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host ?? '127.0.0.1';
  return {
    server,
    ingest,
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    async close(closeOptions = {}) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await ingest.close(closeOptions);
    },
  };
}

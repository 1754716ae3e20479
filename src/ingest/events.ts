/**
 * What the tracking API accepts and how it shapes an event before logging it: Segment's limits,
 * the event types, the batch envelope (whose `context`, `integrations` and `sentAt` apply to
 * every event in it), and the fields the server stamps (`messageId`, `receivedAt`, `type` from
 * the endpoint). Anything that fails here is refused with a 400 naming the problem, before a
 * byte reaches the log; finer checks (ids, timestamps, depth) are the lake's, which quarantines
 * rather than refuses, so a client's whole batch is not lost over one odd field.
 */

/** The Segment event types, each with its own endpoint. */
export const EVENT_TYPES = ['identify', 'track', 'page', 'screen', 'group', 'alias'] as const;
/** One of {@link EVENT_TYPES}. */
export type EventType = (typeof EVENT_TYPES)[number];
/** What an endpoint carries: one event of a type, or a batch of events that name their types. */
export type Endpoint = EventType | 'batch';

/** Segment's HTTP Tracking API limits. */
export interface TrackingLimits {
  /** Bytes of one event as stored (one NDJSON line, stamped fields included). */
  maxEventBytes: number;
  /** Bytes of one request body, after gzip decoding. */
  maxRequestBytes: number;
  /** Events in one batch. */
  maxBatchEvents: number;
}

/** 32 KB per event, 500 KB per request, 2,500 events per batch. */
export const TRACKING_LIMITS: Readonly<TrackingLimits> = Object.freeze({
  maxEventBytes: 32 * 1024,
  maxRequestBytes: 500 * 1024,
  maxBatchEvents: 2500,
});

/** Why a request was refused; the values are the `code` of the error response and the metric label. */
export const RejectReason = {
  InvalidJson: 'invalid_json',
  NotAnObject: 'not_an_object',
  InvalidBatch: 'invalid_batch',
  MissingType: 'missing_type',
  InvalidType: 'invalid_type',
  EventTooLarge: 'event_too_large',
  RequestTooLarge: 'request_too_large',
  TooManyEvents: 'too_many_events',
  UnsupportedContentType: 'unsupported_content_type',
  UnsupportedEncoding: 'unsupported_content_encoding',
  InvalidGzip: 'invalid_gzip',
  InvalidWriteKey: 'invalid_write_key',
  MethodNotAllowed: 'method_not_allowed',
  Overloaded: 'overloaded',
  Unavailable: 'unavailable',
  InternalError: 'internal_error',
} as const;
/** One of {@link RejectReason}. */
export type RejectReason = (typeof RejectReason)[keyof typeof RejectReason];

/** A refused request: the HTTP status, a machine-readable reason and a message for the sender. */
export class TrackingRequestError extends Error {
  constructor(
    readonly status: number,
    readonly reason: RejectReason,
    message: string,
  ) {
    super(message);
    this.name = 'TrackingRequestError';
  }
}

/** The events of one request, ready for the log. */
export interface NormalizedEvents {
  /** One JSON object per event, no trailing newline. */
  lines: string[];
  /** Bytes of all lines (UTF-8). */
  bytes: number;
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isEventType(value: unknown): value is EventType {
  return typeof value === 'string' && (EVENT_TYPES as readonly string[]).includes(value);
}

function tooLarge(where: string, bytes: number, limit: number): TrackingRequestError {
  return new TrackingRequestError(
    400,
    RejectReason.EventTooLarge,
    `${where} is ${bytes} bytes; the limit is ${limit} bytes (${limit / 1024} KB) per event`,
  );
}

/** Stamps the server's fields and serialises one event, enforcing the per-event limit. */
function finish(event: JsonObject, where: string, receivedAt: string, newId: () => string, limits: TrackingLimits): string {
  // Write keys are credentials; they never travel into the raw store.
  if ('writeKey' in event) delete event['writeKey'];
  if (typeof event['messageId'] !== 'string' || event['messageId'] === '') event['messageId'] = newId();
  if (event['receivedAt'] === undefined || event['receivedAt'] === null) event['receivedAt'] = receivedAt;
  const line = JSON.stringify(event);
  // Most lines are ASCII, where length is the byte count; only look closer when it could matter.
  if (line.length * 3 > limits.maxEventBytes) {
    const bytes = Buffer.byteLength(line);
    if (bytes > limits.maxEventBytes) throw tooLarge(where, bytes, limits.maxEventBytes);
  }
  return line;
}

function merged(outer: unknown, inner: unknown): unknown {
  if (!isObject(outer)) return inner;
  if (inner === undefined || inner === null) return { ...outer };
  return isObject(inner) ? { ...outer, ...inner } : inner;
}

/**
 * Turns a parsed request body into stored events. A single-event endpoint sets `type` from its
 * path; a batch needs `batch` to be an array of objects each with a known `type`, and merges the
 * envelope's `context` and `integrations` under each event's own and copies its `sentAt` to
 * events without one (the lake's timestamp correction needs `sentAt` on every event).
 * A batch is accepted or refused whole, so a client never has to guess which events landed.
 */
export function normalizeEvents(
  body: unknown,
  endpoint: Endpoint,
  receivedAt: string,
  newId: () => string,
  limits: TrackingLimits = TRACKING_LIMITS,
): NormalizedEvents {
  if (!isObject(body)) throw new TrackingRequestError(400, RejectReason.NotAnObject, 'request body must be a JSON object');
  const lines: string[] = [];
  if (endpoint !== 'batch') {
    body['type'] = endpoint;
    lines.push(finish(body, 'event', receivedAt, newId, limits));
  } else {
    const batch = body['batch'];
    if (!Array.isArray(batch)) {
      throw new TrackingRequestError(400, RejectReason.InvalidBatch, 'request body must have a "batch" array of events');
    }
    if (batch.length > limits.maxBatchEvents) {
      throw new TrackingRequestError(
        400,
        RejectReason.TooManyEvents,
        `batch has ${batch.length} events; the limit is ${limits.maxBatchEvents} events per batch`,
      );
    }
    const { context, integrations, sentAt } = body;
    batch.forEach((item: unknown, i) => {
      const where = `batch[${i}]`;
      if (!isObject(item)) throw new TrackingRequestError(400, RejectReason.NotAnObject, `${where} must be a JSON object`);
      const type = item['type'];
      if (type === undefined || type === null || type === '') {
        throw new TrackingRequestError(400, RejectReason.MissingType, `${where} has no "type"; expected one of ${EVENT_TYPES.join(', ')}`);
      }
      if (!isEventType(type)) {
        throw new TrackingRequestError(
          400,
          RejectReason.InvalidType,
          `${where} has type ${JSON.stringify(type).slice(0, 64)}; expected one of ${EVENT_TYPES.join(', ')}`,
        );
      }
      if (context !== undefined) item['context'] = merged(context, item['context']);
      if (integrations !== undefined) item['integrations'] = merged(integrations, item['integrations']);
      if (item['sentAt'] === undefined && typeof sentAt === 'string') item['sentAt'] = sentAt;
      lines.push(finish(item, where, receivedAt, newId, limits));
    });
  }
  let bytes = 0;
  for (const line of lines) bytes += Buffer.byteLength(line);
  return { lines, bytes };
}

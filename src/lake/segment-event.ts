/**
 * One Segment event, from its raw line to its staging row: parsing (exactly, for integers past
 * 2^53), validation against the Segment spec (type, messageId, timestamps), the timestamp
 * correction `timestamp = receivedAt − (sentAt − originalTimestamp)`, the event's table, and
 * the row itself: Segment's standard columns first, then every other field flattened, with the
 * payload (`properties` of track/page/screen, `traits` of identify/group/alias) as top-level
 * columns, as Segment's warehouses and Data Lakes lay them out.
 */
import type { FlattenContext, Rejection } from './flatten.ts';
import { flattenObject, isRecord, quoteJson, stringifyJson } from './flatten.ts';
import type { SegmentType } from './naming.ts';
import { SEGMENT_TYPES, trackTableName, TYPE_TABLES, utf8FromLatin1 } from './naming.ts';
import type { Instant } from './types.ts';
import { formatTimestamp, parseTimestamp } from './types.ts';

/** Thrown by {@link parseEventJson} when the line nests deeper than allowed. */
export class TooDeepError extends Error {
  constructor(readonly maxDepth: number) {
    super(`nests deeper than ${maxDepth} levels`);
    this.name = 'TooDeepError';
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** A JSON parser that keeps integers beyond 2^53 exact as `bigint`s, for the rare lines with them. */
class ExactJsonParser {
  private i = 0;
  constructor(
    private readonly s: string,
    private readonly maxDepth: number,
  ) {}

  parse(): unknown {
    const value = this.value(1);
    this.space();
    if (this.i !== this.s.length) this.fail();
    return value;
  }

  private fail(): never {
    throw new SyntaxError(`Unexpected token in JSON at position ${this.i}`);
  }

  private space(): void {
    const s = this.s;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c !== 32 && c !== 9 && c !== 10 && c !== 13) return;
      this.i++;
    }
  }

  private value(depth: number): unknown {
    this.space();
    const c = this.s[this.i];
    if (c === '{' || c === '[') {
      if (depth > this.maxDepth) throw new TooDeepError(this.maxDepth);
      return c === '{' ? this.object(depth) : this.array(depth);
    }
    if (c === '"') return this.string();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.s.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
    }
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.s);
    if (m === null) this.fail();
    const literal = m[0];
    this.i += literal.length;
    const n = Number(literal);
    return Number.isSafeInteger(n) || /[.eE]/.test(literal) ? n : BigInt(literal);
  }

  private object(depth: number): Record<string, unknown> {
    // A null prototype, so a key named "__proto__" is a key like any other.
    const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    this.i++;
    this.space();
    if (this.s[this.i] === '}') {
      this.i++;
      return out;
    }
    for (;;) {
      this.space();
      if (this.s[this.i] !== '"') this.fail();
      const key = this.string();
      this.space();
      if (this.s[this.i] !== ':') this.fail();
      this.i++;
      out[key] = this.value(depth + 1);
      this.space();
      const c = this.s[this.i++];
      if (c === '}') return out;
      if (c !== ',') this.fail();
    }
  }

  private array(depth: number): unknown[] {
    const out: unknown[] = [];
    this.i++;
    this.space();
    if (this.s[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth + 1));
      this.space();
      const c = this.s[this.i++];
      if (c === ']') return out;
      if (c !== ',') this.fail();
    }
  }

  /** Finds the string's end and lets JSON.parse decode (and validate) its escapes. */
  private string(): string {
    const s = this.s;
    const start = this.i;
    let j = start + 1;
    while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
    if (j >= s.length) this.fail();
    this.i = j + 1;
    const decoded: unknown = JSON.parse(s.slice(start, j + 1));
    if (typeof decoded !== 'string') this.fail();
    return decoded;
  }
}

/**
 * Parses one raw line with JSON.parse, or with `exact` through a parser that keeps integers past
 * 2^53 as exact `bigint`s. Prepare parses fast first and again exactly only when flattening met
 * an integer JSON.parse may have rounded (RowBuilder.inexact). Throws SyntaxError for
 * malformed JSON, and {@link TooDeepError} when the exact parser meets nesting past `maxDepth`.
 */
export function parseEventJson(text: string, maxDepth: number, exact = false): unknown {
  return exact ? new ExactJsonParser(text, maxDepth).parse() : JSON.parse(text);
}

/** What validation learned about an event: its type, table, id and corrected timestamps. */
export interface NormalisedEvent {
  type: SegmentType;
  table: string;
  messageId: string;
  /** The track event name as sent (`event_text`); undefined for other types. */
  eventName?: string;
  /** Staging-form timestamps (ISO-8601 UTC). */
  receivedAt: string;
  timestamp: string;
  originalTimestamp?: string;
  sentAt?: string;
}

const TYPES: ReadonlySet<string> = new Set<string>(SEGMENT_TYPES);

function isSegmentType(value: string): value is SegmentType {
  return TYPES.has(value);
}

/** An instant minus another plus a third, carrying microseconds exactly. */
function shift(base: Instant, minus: Instant, plus: Instant): Instant {
  let ms = base.ms - minus.ms + plus.ms;
  let us = base.us - minus.us + plus.us;
  while (us < 0) {
    us += 1000;
    ms -= 1;
  }
  while (us >= 1000) {
    us -= 1000;
    ms += 1;
  }
  return { ms, us };
}

/**
 * Segment's clock-skew correction: the client's clock was off by `sentAt − originalTimestamp`
 * relative to when the event happened, and sentAt is taken to equal receivedAt.
 */
export function correctTimestamp(receivedAt: Instant, sentAt: Instant, originalTimestamp: Instant): Instant {
  return shift(receivedAt, sentAt, originalTimestamp);
}

type TimestampField = 'receivedAt' | 'sentAt' | 'originalTimestamp' | 'timestamp';

function badTimestamp(field: TimestampField, value: unknown): Rejection {
  return { reason: 'bad_timestamp', detail: `${field} ${stringifyJson(value)} is not an ISO-8601 date-time` };
}

/** An instant with its staging-form text, when the event already spelled it so. */
interface Stamp extends Instant {
  text?: string;
}

/** The staging form of a stamp, reusing the event's own text when it was already in that form. */
function stampText(stamp: Stamp): string {
  return stamp.text ?? formatTimestamp(stamp);
}

/** Reads an optional timestamp field: undefined when absent or null, a rejection when unusable. */
function readTimestamp(event: Record<string, unknown>, field: TimestampField): Stamp | Rejection | undefined {
  const value = event[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') return badTimestamp(field, value);
  const stamp: Stamp | undefined = parseTimestamp(value, false);
  if (stamp === undefined) return badTimestamp(field, value);
  if (value.length === 24 && value.charCodeAt(19) === 46 && value.charCodeAt(23) === 90) stamp.text = value;
  return stamp;
}

function isRejection(value: Stamp | Rejection | undefined): value is Rejection {
  return value !== undefined && 'reason' in value;
}

/**
 * Validates an event and settles its table and timestamps. `fallbackReceivedAt` (epoch ms, from
 * the raw key) stands in for a missing receivedAt; `latin1` says the event's strings are UTF-8
 * bytes read as Latin-1 (see Prepare). The original timestamp is `originalTimestamp`,
 * else the client-set `timestamp` (Segment relabels it so); `timestamp` is then corrected when
 * sentAt is known, else equals the original timestamp, else receivedAt.
 */
export function normaliseEvent(
  event: Record<string, unknown>,
  fallbackReceivedAt: number | undefined,
  latin1 = false,
): NormalisedEvent | Rejection {
  const type = event.type;
  if (typeof type !== 'string' || type === '') return { reason: 'missing_type', detail: 'the event has no "type" string' };
  if (!isSegmentType(type)) {
    return { reason: 'unknown_type', detail: `type ${JSON.stringify(type)} is not identify, track, page, screen, group or alias` };
  }
  const messageId = event.messageId;
  if (typeof messageId !== 'string' || messageId === '') {
    return { reason: 'missing_message_id', detail: 'the event has no non-empty "messageId" string, so it cannot be deduplicated' };
  }
  let table: string;
  let eventName: string | undefined;
  if (type === 'track') {
    const name = event.event;
    const slug = typeof name === 'string' ? trackTableName(latin1 ? utf8FromLatin1(name) : name) : undefined;
    if (typeof name !== 'string' || slug === undefined) {
      return { reason: 'unsafe_name', detail: `track event name ${stringifyJson(name ?? null)} has no letter or digit to name a table` };
    }
    table = slug;
    eventName = name;
  } else {
    table = TYPE_TABLES[type];
  }

  const received = readTimestamp(event, 'receivedAt');
  if (isRejection(received)) return received;
  const sent = readTimestamp(event, 'sentAt');
  if (isRejection(sent)) return sent;
  const clientTimestamp = readTimestamp(event, 'timestamp');
  if (isRejection(clientTimestamp)) return clientTimestamp;
  const originalField = readTimestamp(event, 'originalTimestamp');
  if (isRejection(originalField)) return originalField;
  let receivedAt: Stamp | undefined = received;
  if (receivedAt === undefined) {
    if (fallbackReceivedAt === undefined) {
      return { reason: 'bad_timestamp', detail: 'the event has no receivedAt and its raw key names no received day' };
    }
    receivedAt = { ms: fallbackReceivedAt, us: 0 };
  }
  const original = originalField ?? clientTimestamp;
  let corrected: Stamp;
  if (original === undefined) corrected = receivedAt;
  else if (sent === undefined) corrected = original;
  else if (sent.ms === original.ms && sent.us === original.us) corrected = receivedAt;
  else corrected = correctTimestamp(receivedAt, sent, original);
  const timestamp = stampText(corrected);
  if (timestamp.startsWith('-') || timestamp.startsWith('+')) {
    return { reason: 'bad_timestamp', detail: `the corrected timestamp ${timestamp} is outside years 0000-9999` };
  }
  const normalised: NormalisedEvent = { type, table, messageId, receivedAt: stampText(receivedAt), timestamp };
  if (eventName !== undefined) normalised.eventName = eventName;
  if (original !== undefined) normalised.originalTimestamp = stampText(original);
  if (sent !== undefined) normalised.sentAt = stampText(sent);
  return normalised;
}

/** The payload whose fields become top-level columns, per type. */
const PAYLOAD: Readonly<Record<SegmentType, 'properties' | 'traits'>> = {
  track: 'properties',
  page: 'properties',
  screen: 'properties',
  identify: 'traits',
  group: 'traits',
  alias: 'traits',
};

/** Identity fields: always strings in the lake, whatever the client sent. */
const ID_FIELDS = [
  ['anonymousId', 'anonymous_id'],
  ['userId', 'user_id'],
  ['groupId', 'group_id'],
  ['previousId', 'previous_id'],
] as const;

/**
 * Top-level fields that become standard columns above (or are dropped: `writeKey` is a
 * credential and stays out of the lake), so the generic flattening skips them.
 */
const CONSUMED: ReadonlySet<string> = new Set([
  'type', 'messageId', 'receivedAt', 'sentAt', 'timestamp', 'originalTimestamp', 'writeKey',
  ...ID_FIELDS.map(([field]) => field),
]);

/** Per type, the top-level fields the generic flattening leaves alone. */
const SKIPPED: Readonly<Record<SegmentType, ReadonlySet<string>>> = {
  track: new Set([...CONSUMED, 'event', PAYLOAD.track]),
  page: new Set([...CONSUMED, PAYLOAD.page]),
  screen: new Set([...CONSUMED, PAYLOAD.screen]),
  identify: new Set([...CONSUMED, PAYLOAD.identify]),
  group: new Set([...CONSUMED, PAYLOAD.group]),
  alias: new Set([...CONSUMED, PAYLOAD.alias]),
};

/**
 * Builds the event's row in `ctx.builder`: id, received_at, timestamp, original_timestamp,
 * sent_at, the identity columns, event and event_text (tracks) and type; then every other field
 * flattened; then the payload's fields as top-level columns. Returns false, with the rejection
 * on the builder, when the event must go to quarantine.
 */
export function buildEventRow(ctx: FlattenContext, event: Record<string, unknown>, normalised: NormalisedEvent): boolean {
  const b = ctx.builder;
  const std = b.names.standard;
  b.reset();
  b.addStandard(std.id, quoteJson(normalised.messageId), 'string');
  b.addStandard(std.received_at, `"${normalised.receivedAt}"`, 'timestamp');
  b.addStandard(std.timestamp, `"${normalised.timestamp}"`, 'timestamp');
  if (normalised.originalTimestamp !== undefined) b.addStandard(std.original_timestamp, `"${normalised.originalTimestamp}"`, 'timestamp');
  if (normalised.sentAt !== undefined) b.addStandard(std.sent_at, `"${normalised.sentAt}"`, 'timestamp');
  for (const [field, column] of ID_FIELDS) {
    const value = event[field];
    if (value === undefined || value === null) continue;
    if (typeof value === 'number' && !Number.isSafeInteger(value) && Number.isInteger(value)) b.inexact = true;
    b.addStandard(std[column], quoteJson(typeof value === 'string' ? value : stringifyJson(value)), 'string');
  }
  if (normalised.eventName !== undefined) {
    b.addStandard(std.event, `"${normalised.table}"`, 'string');
    b.addStandard(std.event_text, quoteJson(normalised.eventName), 'string');
  }
  b.addStandard(std.type, `"${normalised.type}"`, 'string');

  const payloadField = PAYLOAD[normalised.type];
  const payload = event[payloadField];
  const names = ctx.latin1 === true ? b.names.latin1 : b.names;
  if (!flattenObject(ctx, event, names.envelope, 1, false, SKIPPED[normalised.type])) return false;
  // A payload that is not an object (a string, an array) is kept as an ordinary field.
  if (payload !== undefined && !isRecord(payload) && !flattenObject(ctx, { [payloadField]: payload }, names.envelope, 1, false)) return false;
  if (isRecord(payload)) {
    if (ctx.maxDepth < 2) {
      b.rejection = { reason: 'too_deep', detail: `'${payloadField}' nests deeper than ${ctx.maxDepth} levels` };
      return false;
    }
    if (!flattenObject(ctx, payload, names[payloadField], 2, true)) return false;
  }
  return true;
}

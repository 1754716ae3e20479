/**
 * The contract between Prepare and Load: column types and the one widening lattice both sides
 * use, the staging summary Prepare writes, the quarantine reasons, and the staging keys. It lives
 * in one module so the two stages cannot drift apart: Load widens catalog columns with the same
 * `widenType` that Prepare used to type a chunk, and finds staging data by the same key functions.
 */

/** The column types of the lake (Segment Data Lakes: bigint, decimal/double, boolean, string, timestamp). */
export type ColumnType = 'bigint' | 'double' | 'boolean' | 'string' | 'timestamp';

/** Every column type, for validation of summaries and catalog rows. */
export const COLUMN_TYPES: readonly ColumnType[] = ['bigint', 'double', 'boolean', 'string', 'timestamp'];

/** Whether a value read from JSON or a catalog is a {@link ColumnType}. */
export function isColumnType(value: unknown): value is ColumnType {
  return value === 'bigint' || value === 'double' || value === 'boolean' || value === 'string' || value === 'timestamp';
}

/**
 * The least type that holds values of both types, so a column only ever widens:
 * bigint ⊂ double ⊂ string, timestamp ⊂ string, boolean ⊂ string; null (no value seen yet)
 * leaves the other side as it is; every other pair meets at string.
 */
export function widenType(a: ColumnType, b: ColumnType): ColumnType;
export function widenType(a: ColumnType | null | undefined, b: ColumnType | null | undefined): ColumnType | null;
export function widenType(a: ColumnType | null | undefined, b: ColumnType | null | undefined): ColumnType | null {
  if (a === null || a === undefined) return b ?? null;
  if (b === null || b === undefined || a === b) return a;
  if ((a === 'bigint' && b === 'double') || (a === 'double' && b === 'bigint')) return 'double';
  return 'string';
}

/** Why a raw line went to quarantine instead of the lake. The values are the exact strings written. */
export const QuarantineReason = {
  /** The line is not valid JSON. */
  MalformedJson: 'malformed_json',
  /** The line is JSON but not an object (array, string, number, null). */
  NotAnObject: 'not_an_object',
  /** The event has no `type` string. */
  MissingType: 'missing_type',
  /** `type` is not one of identify, track, page, screen, group, alias. */
  UnknownType: 'unknown_type',
  /** No non-empty string `messageId`: deduplication is impossible without it. */
  MissingMessageId: 'missing_message_id',
  /** A Segment timestamp field is present but not an ISO-8601 string, or no received time is known. */
  BadTimestamp: 'bad_timestamp',
  /** The line is over the event size limit (32 KB). */
  TooLarge: 'too_large',
  /** The event nests deeper than the depth limit (16). */
  TooDeep: 'too_deep',
  /** The event would take its table in this chunk past the column limit (1,000). */
  TooManyColumns: 'too_many_columns',
  /** A key or a track event name that cannot be made a safe column or table name. */
  UnsafeName: 'unsafe_name',
  /** A number beyond what a double holds (`1e400`): JSON.parse makes it Infinity. */
  NumberOutOfRange: 'number_out_of_range',
} as const;

/** One of the {@link QuarantineReason} strings. */
export type QuarantineReason = (typeof QuarantineReason)[keyof typeof QuarantineReason];

/** Every quarantine reason, in the order reports list them. */
export const QUARANTINE_REASONS: readonly QuarantineReason[] = Object.values(QuarantineReason);

/** One line of a quarantine object (`segment-data/quarantine/<source>/<sync>/<chunk>.ndjson`). */
export interface QuarantineRecord {
  reason: QuarantineReason;
  /** A sentence saying what exactly was wrong, for the person who fixes the sender. */
  detail: string;
  rawKey: string;
  /** 1-based line number inside the (decompressed) raw object. */
  line: number;
  /** The raw line text, unchanged, so a fixed event can be replayed. */
  original: string;
}

/** The work of one Prepare task: a chunk of raw objects of one source within one sync. */
export interface PrepareInput {
  sourceId: string;
  syncId: string;
  chunkId: string;
  rawKeys: string[];
}

/** What Prepare learned about one table within one chunk. */
export interface TableSummary {
  rows: number;
  stagingKey: string;
  /** Column types inferred for this chunk, already widened across the chunk's rows. */
  columns: Record<string, ColumnType>;
  /** `day=YYYY-MM-DD/hr=HH` of received_at (UTC) → rows. */
  partitions: Record<string, number>;
}

/**
 * The summary Prepare writes last for a chunk (`…/<chunk-id>/summary.json`); staging data without
 * one is incomplete. Invariant: read = prepared + duplicates + Σ quarantined.
 */
export interface PrepareSummary {
  sourceId: string;
  syncId: string;
  chunkId: string;
  rawKeys: string[];
  /** Raw lines read (every non-empty line). */
  read: number;
  /** Rows written to staging, after in-chunk deduplication. */
  prepared: number;
  /** Lines dropped because an earlier line of this chunk had the same messageId. */
  duplicates: number;
  /** Reason → count, only reasons that occurred. */
  quarantined: Record<string, number>;
  /** Present when at least one line was quarantined. */
  quarantineKey?: string;
  tables: Record<string, TableSummary>;
}

/** The limits that send an event to quarantine; see docs/lake.md "Quarantine". */
export interface PrepareLimits {
  /** Bytes of one raw line. */
  maxEventBytes: number;
  /** Nesting levels of one event, the event object itself being level 1. */
  maxDepth: number;
  /** Columns of one table within one chunk. */
  maxColumns: number;
}

/** Segment's limits: 32 KB events, 16 levels, 1,000 columns per table. */
export const DEFAULT_LIMITS: Readonly<PrepareLimits> = Object.freeze({
  maxEventBytes: 32 * 1024,
  maxDepth: 16,
  maxColumns: 1000,
});

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * Rejects a source, sync or chunk id that could not be one path segment of a key, since staging
 * keys are built from them.
 */
export function assertSafeId(kind: string, id: string): void {
  if (!SAFE_ID.test(id)) {
    throw new RangeError(`${kind} '${id}' must be 1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
}

/** The folder of one chunk's staging data. */
export function stagingPrefix(sourceId: string, syncId: string, chunkId: string): string {
  assertSafeId('sourceId', sourceId);
  assertSafeId('syncId', syncId);
  assertSafeId('chunkId', chunkId);
  return `segment-data/staging/${sourceId}/${syncId}/${chunkId}/`;
}

/** The staging object of one table of one chunk. */
export function stagingKey(sourceId: string, syncId: string, chunkId: string, table: string): string {
  return `${stagingPrefix(sourceId, syncId, chunkId)}${table}.ndjson`;
}

/** The summary object of one chunk, written after all its staging objects. */
export function summaryKey(sourceId: string, syncId: string, chunkId: string): string {
  return `${stagingPrefix(sourceId, syncId, chunkId)}summary.json`;
}

/** The quarantine object of one chunk. */
export function quarantineKey(sourceId: string, syncId: string, chunkId: string): string {
  assertSafeId('sourceId', sourceId);
  assertSafeId('syncId', syncId);
  assertSafeId('chunkId', chunkId);
  return `segment-data/quarantine/${sourceId}/${syncId}/${chunkId}.ndjson`;
}

/**
 * A point in time at the lake's precision: epoch milliseconds plus the microseconds within that
 * millisecond (DuckDB and Parquet timestamps hold microseconds; a JS Date only milliseconds).
 */
export interface Instant {
  ms: number;
  us: number;
}

const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/;
const MIN_MS = -62_167_219_200_000; // 0000-01-01T00:00:00Z
const MAX_MS = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** The value of `count` ASCII digits at `at`, or -1 if any is not a digit. */
function digits(text: string, at: number, count: number): number {
  let n = 0;
  for (let i = at; i < at + count; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * The staging form `YYYY-MM-DDTHH:MM:SS.sssZ`, which nearly every Segment timestamp already has,
 * read without a regular expression; undefined sends other shapes to the general parser.
 */
function parseCanonical(text: string): Instant | undefined {
  if (
    text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(10) !== 84 || text.charCodeAt(13) !== 58 ||
    text.charCodeAt(16) !== 58 || text.charCodeAt(19) !== 46 || text.charCodeAt(23) !== 90
  ) {
    return undefined;
  }
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  const millis = digits(text, 20, 3);
  if (year < 0 || hour < 0 || minute < 0 || second < 0 || millis < 0) return undefined;
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0))) return undefined;
  return { ms: ((daysFromCivil(year, month, day) * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis, us: 0 };
}

/**
 * Parses a strict ISO-8601 date-time (`2024-05-01T10:00:00.123+02:00`; no zone means UTC, as
 * Segment's timestamps are UTC). With `requireTime` false a bare date (`2024-05-01`, midnight UTC)
 * is accepted too. Returns undefined for anything else (`2024`, `May 1`, `2024-02-30T00:00Z`), or
 * when digits past the microsecond are not zero, since no lake timestamp could hold them.
 */
export function parseTimestamp(text: string, requireTime: boolean): Instant | undefined {
  if (text.length === 24) {
    const fast = parseCanonical(text);
    if (fast !== undefined) return fast;
  }
  const m = ISO_8601.exec(text);
  if (m === null) return undefined;
  const [, ys, mos, ds, hs, mis, ss, frac, zone] = m;
  if (hs === undefined && requireTime) return undefined;
  const year = Number(ys);
  const month = Number(mos);
  const day = Number(ds);
  const hour = hs === undefined ? 0 : Number(hs);
  const minute = mis === undefined ? 0 : Number(mis);
  const second = ss === undefined ? 0 : Number(ss);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0))) return undefined;
  let fracMs = 0;
  let us = 0;
  if (frac !== undefined) {
    const digits = frac.padEnd(9, '0');
    if (digits.slice(6) !== '000') return undefined;
    fracMs = Number(digits.slice(0, 3));
    us = Number(digits.slice(3, 6));
  }
  let offsetMinutes = 0;
  if (zone !== undefined && zone !== 'Z') {
    const oh = Number(zone.slice(1, 3));
    const om = zone.length > 3 ? Number(zone.slice(-2)) : 0;
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (zone.startsWith('-') ? -1 : 1) * (oh * 60 + om);
  }
  const ms = ((daysFromCivil(year, month, day) * 24 + hour) * 60 + minute - offsetMinutes) * 60_000 + second * 1000 + fracMs;
  if (ms < MIN_MS || ms > MAX_MS) return undefined;
  return { ms, us };
}

/**
 * The staging form of a timestamp: ISO-8601 UTC with milliseconds (`2024-05-01T08:00:00.123Z`),
 * or with microseconds when the instant has any (`…00.123456Z`). Load and DuckDB cast both.
 */
export function formatTimestamp(instant: Instant): string {
  const iso = isoText(instant.ms);
  return instant.us === 0 ? iso : `${iso.slice(0, 23)}${String(instant.us).padStart(3, '0')}Z`;
}

/** `n` as `width` digits, zero-padded. */
function pad(n: number, width: number): string {
  const text = String(n);
  return text.length >= width ? text : '0'.repeat(width - text.length) + text;
}

/**
 * `new Date(ms).toISOString()`, computed directly for years 0000–9999 (Prepare formats a corrected
 * timestamp per event, and building a Date for it cost more than the arithmetic).
 */
function isoText(ms: number): string {
  if (!Number.isInteger(ms) || ms < MIN_MS || ms > MAX_MS) return new Date(ms).toISOString();
  const days = Math.floor(ms / 86_400_000);
  let rest = ms - days * 86_400_000;
  // Howard Hinnant's civil_from_days, the inverse of daysFromCivil.
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const hour = Math.floor(rest / 3_600_000);
  rest -= hour * 3_600_000;
  const minute = Math.floor(rest / 60_000);
  rest -= minute * 60_000;
  const second = Math.floor(rest / 1000);
  const millis = rest - second * 1000;
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}.${pad(millis, 3)}Z`;
}

/**
 * {@link parseTimestamp} then {@link formatTimestamp}; a string already in staging form comes
 * back as itself, which is the common case for Segment's own timestamps.
 */
export function normaliseTimestamp(text: string, requireTime: boolean): string | undefined {
  const instant = parseTimestamp(text, requireTime);
  if (instant === undefined) return undefined;
  if (text.length === 24 && text.charCodeAt(19) === 46 && text.charCodeAt(23) === 90) return text;
  return formatTimestamp(instant);
}

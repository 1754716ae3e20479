/**
 * Segment's S3 destination layout for raw events, which Inlet's tracking API writes and its
 * syncs read, so a bucket filled by Segment itself can be synced unchanged:
 * `segment-logs/<source-id>/<received-day-epoch-ms>/<file>` with the day the UTC midnight of the
 * received time in epoch milliseconds, and each object gzip (or plain) NDJSON. Reading is
 * streaming and line-oriented with byte lengths and line numbers, because Prepare must quarantine
 * an oversized or broken line by position without ever holding a whole object in memory.
 */
import { isUtf8 } from 'node:buffer';
import { createGunzip } from 'node:zlib';
import { pipeline, Readable } from 'node:stream';
import { chunkBytes, type ObjectInfo, type ObjectStore } from './storage/object-store.ts';
import { assertSafeId } from './types.ts';

/** The top folder of the raw layout. */
export const RAW_ROOT = 'segment-logs';
/** One UTC day in milliseconds. */
export const DAY_MS = 86_400_000;
/** Lines longer than this are yielded cut to this many bytes, keeping memory bounded. */
export const DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024;

const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;
const DAY_FOLDER = /^(0|[1-9]\d{0,15})$/;

/**
 * Checks a source id and returns it. Source ids become key and path segments (raw, staging, the
 * lake's `segment-data/data/<source-id>/…`), so only letters, digits, '.', '_' and '-' are
 * allowed, starting with a letter or digit, at most 128 characters. Throws RangeError otherwise.
 */
export function validateSourceId(id: string): string {
  assertSafeId('source id', id);
  return id;
}

/** The UTC midnight (epoch ms) of the day an instant falls in. */
export function receivedDay(receivedAt: Date | number): number {
  const ms = typeof receivedAt === 'number' ? receivedAt : receivedAt.getTime();
  if (!Number.isFinite(ms)) throw new RangeError('received time is not a valid date');
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** The folder holding every raw object of a source: `segment-logs/<source-id>/`. */
export function rawSourcePrefix(sourceId: string): string {
  return `${RAW_ROOT}/${validateSourceId(sourceId)}/`;
}

/**
 * The key of a raw object: `segment-logs/<source-id>/<received-day-epoch-ms>/<file>`. `receivedAt`
 * is any instant of the day (a Date or epoch ms). The file name must be one safe path segment.
 */
export function rawObjectKey(sourceId: string, receivedAt: Date | number, fileName: string): string {
  if (!FILE_NAME.test(fileName)) {
    throw new RangeError(
      `raw file name '${fileName}' must be letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return `${rawSourcePrefix(sourceId)}${receivedDay(receivedAt)}/${fileName}`;
}

/** The parts of a raw object key. */
export interface RawObjectKey {
  sourceId: string;
  /** The received day, as epoch ms of its UTC midnight. */
  day: number;
  fileName: string;
}

/** Splits a raw object key; undefined for anything not in the layout (including non-midnight days). */
export function parseRawObjectKey(key: string): RawObjectKey | undefined {
  const parts = key.split('/');
  if (parts.length !== 4 || parts[0] !== RAW_ROOT) return undefined;
  const [, sourceId = '', dayText = '', fileName = ''] = parts;
  if (!DAY_FOLDER.test(dayText) || !FILE_NAME.test(fileName)) return undefined;
  try {
    validateSourceId(sourceId);
  } catch {
    return undefined;
  }
  const day = Number(dayText);
  if (!Number.isSafeInteger(day) || day % DAY_MS !== 0) return undefined;
  return { sourceId, day, fileName };
}

/** A listed raw object with its key's parts. */
export interface RawObject extends ObjectInfo, RawObjectKey {}

/** Options for {@link listRawObjects}. */
export interface ListRawObjectsOptions {
  /** Only days strictly after the day of this instant. */
  afterDay?: Date | number;
  /** Only days on or after the day of this instant. */
  fromDay?: Date | number;
  /** Skips keys for which this returns true (e.g. objects already synced). */
  excludeKeys?: (key: string) => boolean;
  /** Called for objects under the source's folder that are not in the layout; they are skipped. */
  onUnrecognized?: (info: ObjectInfo) => void;
  /** Keys per listing request; the store's default when absent. */
  pageSize?: number;
}

/**
 * Every raw object of a source in key order (so by day, for days of 13 digits, i.e. 2001–2286),
 * across all listing pages. With a day bound the listing starts at that day rather than
 * filtering a full scan, so a source with years of raw data lists only what is new.
 */
export async function* listRawObjects(
  store: ObjectStore,
  sourceId: string,
  options: ListRawObjectsOptions = {},
): AsyncGenerator<RawObject> {
  const prefix = rawSourcePrefix(sourceId);
  let minDay = -Infinity;
  if (options.fromDay !== undefined) minDay = Math.max(minDay, receivedDay(options.fromDay));
  if (options.afterDay !== undefined) minDay = Math.max(minDay, receivedDay(options.afterDay) + DAY_MS);
  // Day folders sort by value only among equal digit counts, so start mid-listing only then.
  let nextToken: string | undefined = String(minDay).length === 13 ? `${prefix}${minDay}` : undefined;
  do {
    const page = await store.list(prefix, {
      ...(options.pageSize !== undefined ? { maxKeys: options.pageSize } : {}),
      ...(nextToken !== undefined ? { nextToken } : {}),
    });
    for (const info of page.objects) {
      const parsed = parseRawObjectKey(info.key);
      if (parsed === undefined || parsed.sourceId !== sourceId) {
        options.onUnrecognized?.(info);
        continue;
      }
      if (parsed.day < minDay || options.excludeKeys?.(info.key) === true) continue;
      yield { ...info, ...parsed };
    }
    nextToken = page.nextToken;
  } while (nextToken !== undefined);
}

/** One line of a raw object. */
export interface RawLine {
  /** The line's text without its line ending (cut to `maxLineBytes` when `truncated`). */
  text: string;
  /** 1-based line number in the decompressed object (empty lines count, but are not yielded). */
  lineNumber: number;
  /** Bytes of the whole line, without its line ending, even when `text` was cut. */
  byteLength: number;
  /** Offset of the line's first byte in the decompressed object. */
  byteOffset: number;
  /** True when the line was longer than `maxLineBytes` and `text` holds only its start. */
  truncated: boolean;
  /** With the `latin1` option: whether the line's bytes are valid UTF-8. */
  validUtf8?: boolean;
}

/** Options for {@link readRawLines}. */
export interface ReadRawLinesOptions {
  /** Longest line kept whole; {@link DEFAULT_MAX_LINE_BYTES} by default. */
  maxLineBytes?: number;
  /**
   * Gives each line's bytes as Latin-1 text (one character per byte, undone exactly by
   * `Buffer.from(text, 'latin1')`) and says whether they are valid UTF-8. Decoding Latin-1 is a
   * copy, and strings of one-byte characters are cheaper to parse and write; see Prepare.
   */
  latin1?: boolean;
}

const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;

/** The object's bytes, gunzipped when they start with gzip's magic bytes. */
async function decodedStream(source: Readable): Promise<AsyncIterable<unknown>> {
  const it = source[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headBytes = 0;
  let ended = false;
  while (headBytes < 2) {
    const next = await it.next();
    if (next.done === true) {
      ended = true;
      break;
    }
    const bytes = chunkBytes(next.value);
    head.push(bytes);
    headBytes += bytes.length;
  }
  async function* replay(): AsyncGenerator<Buffer> {
    try {
      yield* head;
      if (ended) return;
      for (let next = await it.next(); next.done !== true; next = await it.next())
        yield chunkBytes(next.value);
    } finally {
      // A reader that stops early must not leave the file or the HTTP response open.
      await it.return?.();
    }
  }
  const first = head.length === 1 ? head[0] : Buffer.concat(head);
  if (first === undefined || first.length < 2 || first[0] !== GZIP_MAGIC_0 || first[1] !== GZIP_MAGIC_1)
    return replay();
  // Larger pieces than the default 16 KiB: fewer stream steps and batches per object.
  const gunzip = createGunzip({ chunkSize: 64 * 1024 });
  // A corrupt or truncated gzip destroys `gunzip` with the error, which the reader then throws.
  pipeline(Readable.from(replay()), gunzip, () => undefined);
  return gunzip;
}

/**
 * Streams the lines of a raw object (gzip or plain NDJSON, told apart by gzip's magic bytes),
 * in constant memory whatever the object's size: each line is yielded with its 1-based line
 * number and byte length, and a line longer than `maxLineBytes` is cut (its full length still
 * reported) rather than buffered. `\n` and `\r\n` endings are accepted; empty lines are skipped
 * (they carry no event), a UTF-8 byte-order mark at the start is dropped. Rejects with
 * ObjectNotFoundError for a missing key and with zlib's error for a corrupt gzip.
 */
export async function* readRawLines(
  store: ObjectStore,
  key: string,
  options: ReadRawLinesOptions = {},
): AsyncGenerator<RawLine> {
  for await (const batch of readRawLineBatches(store, key, options)) yield* batch;
}

/**
 * {@link readRawLines} a batch at a time: the lines completed by each decoded piece of the
 * object. Prepare reads this way, sparing an async step per line.
 */
export async function* readRawLineBatches(
  store: ObjectStore,
  key: string,
  options: ReadRawLinesOptions = {},
): AsyncGenerator<RawLine[]> {
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  if (!Number.isInteger(maxLineBytes) || maxLineBytes < 1)
    throw new RangeError('maxLineBytes must be a positive integer');
  const latin1 = options.latin1 === true;
  const encoding = latin1 ? 'latin1' : 'utf8';
  const decoded = await decodedStream(await store.get(key));
  // The unfinished line so far: kept pieces (at most maxLineBytes) and its full length.
  let kept: Buffer[] = [];
  let keptBytes = 0;
  let lineBytes = 0;
  let lineStart = 0;
  let offset = 0;
  let lineNumber = 0;

  /** A line's record; `validUtf8` is asked only in Latin-1 mode. */
  const rawLine = (text: string, byteLength: number, truncated: boolean, validUtf8: () => boolean): RawLine => {
    const line: RawLine = { text, lineNumber, byteLength, byteOffset: lineStart, truncated };
    if (latin1) line.validUtf8 = validUtf8();
    return line;
  };
  const keep = (piece: Buffer): void => {
    lineBytes += piece.length;
    const room = maxLineBytes - keptBytes;
    if (room <= 0) return;
    const part = piece.length <= room ? piece : piece.subarray(0, room);
    kept.push(part);
    keptBytes += part.length;
  };
  const finish = (): RawLine | undefined => {
    lineNumber++;
    let bytes = kept.length === 1 ? (kept[0] ?? Buffer.alloc(0)) : Buffer.concat(kept, keptBytes);
    let length = lineBytes;
    // Drop a CR of a CRLF ending, when it is among the kept bytes (a cut line keeps its tail out).
    if (length > 0 && length === bytes.length && bytes[bytes.length - 1] === 0x0d) {
      bytes = bytes.subarray(0, -1);
      length--;
    }
    if (lineNumber === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
      bytes = bytes.subarray(3);
      length -= 3;
    }
    const line =
      length === 0
        ? undefined
        : rawLine(bytes.toString(encoding), length, length > maxLineBytes, () => isUtf8(bytes));
    kept = [];
    keptBytes = 0;
    lineBytes = 0;
    return line;
  };

  for await (const chunk of decoded) {
    const buf = chunkBytes(chunk);
    const lines: RawLine[] = [];
    let start = 0;
    // The line in progress (and the object's first line, with its BOM) ends at the first newline.
    const first = buf.indexOf(0x0a);
    if (first !== -1) {
      keep(buf.subarray(0, first));
      const line = finish();
      if (line !== undefined) lines.push(line);
      start = first + 1;
      lineStart = offset + start;
      const last = buf.lastIndexOf(0x0a);
      // The whole lines after it, none over the limit, are decoded in one call and split at
      // their newlines. That gives each line's text as decoding it alone would: a newline byte
      // is never part of a UTF-8 sequence, and a broken sequence before it ends there.
      if (last > first && last - start <= maxLineBytes) {
        const text = buf.toString(encoding, start, last + 1);
        // Valid UTF-8 split at newlines stays valid; otherwise each line is checked.
        const allValid = latin1 && isUtf8(buf.subarray(start, last + 1));
        let at = 0;
        while (start <= last) {
          const end = buf.indexOf(0x0a, start);
          const textEnd = text.indexOf('\n', at);
          lineNumber++;
          const crlf = end > start && buf[end - 1] === 0x0d ? 1 : 0;
          if (end - start > crlf) {
            const from = start;
            lines.push(
              rawLine(text.slice(at, textEnd - crlf), end - start - crlf, false, () => allValid || isUtf8(buf.subarray(from, end - crlf))),
            );
          }
          start = end + 1;
          at = textEnd + 1;
          lineStart = offset + start;
        }
      } else {
        for (let nl = buf.indexOf(0x0a, start); nl !== -1; nl = buf.indexOf(0x0a, start)) {
          keep(buf.subarray(start, nl));
          const line = finish();
          if (line !== undefined) lines.push(line);
          start = nl + 1;
          lineStart = offset + start;
        }
      }
    }
    if (start < buf.length) keep(buf.subarray(start));
    offset += buf.length;
    if (lines.length > 0) yield lines;
  }
  if (lineBytes > 0) {
    const line = finish();
    if (line !== undefined) yield [line];
  }
}

/**
 * The payload of one log record: the events of one accepted request, already normalised and
 * serialised as NDJSON lines, with the source and the server's receive time in a small binary
 * header. Keeping the events as ready-made NDJSON means the roller never parses JSON: it groups
 * records by source and received day and streams their bytes straight into gzip.
 */

const VERSION = 1;
const FIXED_HEADER = 1 + 2 + 8 + 4;

/** One decoded record payload. */
export interface EventRecord {
  sourceId: string;
  /** Server receive time, epoch milliseconds; picks the raw layout's day folder. */
  receivedAt: number;
  /** Number of events (lines) in `ndjson`. */
  count: number;
  /** The events, one JSON object per line, each line ending in '\n'. */
  ndjson: Buffer;
}

/** Raised when a payload that passed its CRC still does not decode (a bug or a foreign file). */
export class RecordFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecordFormatError';
  }
}

/** Encodes the events of one request; `lines` are JSON objects without trailing newlines. */
export function encodeEventRecord(sourceId: string, receivedAt: number, lines: readonly string[]): Buffer {
  const body = lines.join('\n') + '\n';
  const sourceBytes = Buffer.byteLength(sourceId);
  if (sourceBytes > 0xffff) throw new RangeError('source id too long');
  const bodyBytes = Buffer.byteLength(body);
  const out = Buffer.allocUnsafe(FIXED_HEADER + sourceBytes + bodyBytes);
  let at = out.writeUInt8(VERSION, 0);
  at = out.writeUInt16LE(sourceBytes, at);
  at += out.write(sourceId, at, 'utf8');
  at = out.writeDoubleLE(receivedAt, at);
  at = out.writeUInt32LE(lines.length, at);
  out.write(body, at, 'utf8');
  return out;
}

/** Decodes a payload written by {@link encodeEventRecord}; the NDJSON is a view, not a copy. */
export function decodeEventRecord(payload: Buffer): EventRecord {
  if (payload.length < FIXED_HEADER || payload.readUInt8(0) !== VERSION) {
    throw new RecordFormatError('unknown record version');
  }
  const sourceBytes = payload.readUInt16LE(1);
  if (payload.length < FIXED_HEADER + sourceBytes) throw new RecordFormatError('record shorter than its header');
  const sourceId = payload.toString('utf8', 3, 3 + sourceBytes);
  const receivedAt = payload.readDoubleLE(3 + sourceBytes);
  const count = payload.readUInt32LE(3 + sourceBytes + 8);
  return { sourceId, receivedAt, count, ndjson: payload.subarray(FIXED_HEADER + sourceBytes) };
}

/**
 * Prepare, the first stage of a sync: one chunk of raw Segment NDJSON in, one staging NDJSON
 * object per table plus a summary out, and every line accounted for as a row, an in-chunk
 * duplicate or a quarantine record with its reason (read = prepared + duplicates + quarantined).
 *
 * It streams: raw objects are read line by line, rows are appended to per-table temp files in
 * large buffered writes and only then put into the lake store, and the summary goes last, so
 * staging data without a summary is known to be incomplete. A retried chunk first removes what
 * an earlier attempt left and then writes the same keys, so a retry never duplicates rows.
 */
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FlattenContext, Rejection } from './flatten.ts';
import { isRecord, RowBuilder } from './flatten.ts';
import type { ColumnSlot } from './naming.ts';
import { ColumnNames, utf8FromLatin1 } from './naming.ts';
import { parseRawObjectKey, readRawLineBatches } from './raw-layout.ts';
import type { NormalisedEvent } from './segment-event.ts';
import { buildEventRow, normaliseEvent, parseEventJson, TooDeepError } from './segment-event.ts';
import type { ObjectStore } from './storage/object-store.ts';
import type { ColumnType, PrepareInput, PrepareLimits, PrepareSummary, TableSummary } from './types.ts';
import { DEFAULT_LIMITS, quarantineKey, stagingKey, stagingPrefix, summaryKey, widenType } from './types.ts';

/** Where Prepare reads and writes, and the limits it applies. */
export interface PrepareOptions {
  /** The store holding the raw objects named in the input. */
  rawStore: ObjectStore;
  /** The store receiving staging and quarantine objects. */
  lakeStore: ObjectStore;
  /** Overrides of {@link DEFAULT_LIMITS}. */
  limits?: Partial<PrepareLimits>;
  /** Folder for temp files; the OS temp folder by default. */
  tempDir?: string;
}

/** Bytes buffered per output file before a write. */
const BUFFER_BYTES = 1 << 20;
/** First buffer of a file; it doubles up to BUFFER_BYTES, so a chunk with many small tables stays small. */
const FIRST_BUFFER_BYTES = 16 << 10;

/**
 * An append-only temp file written in large chunks. Each line is encoded into a byte buffer as
 * soon as it is appended, so the row's string dies young instead of piling up for the collector.
 * The file is opened only to write a filled buffer, so a chunk with a thousand tables does not
 * hold a thousand descriptors.
 */
class BufferedFile {
  private buffer = Buffer.allocUnsafe(FIRST_BUFFER_BYTES);
  private used = 0;
  private readonly full: { bytes: Buffer; length: number }[] = [];

  constructor(readonly path: string) {}

  /**
   * Appends one line, `latin1` when it holds UTF-8 bytes read as Latin-1 (written back as those
   * bytes); returns true when filled buffers wait to be flushed.
   */
  append(line: string, latin1 = false): boolean {
    const worst = line.length * 3 + 1;
    if (this.used + worst > this.buffer.length) {
      if (this.buffer.length < BUFFER_BYTES && this.used + worst <= BUFFER_BYTES) {
        const bigger = Buffer.allocUnsafe(Math.min(BUFFER_BYTES, Math.max(this.buffer.length * 2, this.used + worst)));
        this.buffer.copy(bigger, 0, 0, this.used);
        this.buffer = bigger;
      } else {
        if (this.used > 0) this.full.push({ bytes: this.buffer, length: this.used });
        this.buffer = Buffer.allocUnsafe(Math.max(BUFFER_BYTES, worst));
        this.used = 0;
      }
    }
    this.used += this.buffer.write(line, this.used, latin1 ? 'latin1' : 'utf8');
    this.buffer[this.used++] = 10;
    return this.full.length > 0;
  }

  /** Appends the filled buffers to the file. */
  async flush(): Promise<void> {
    if (this.full.length === 0) return;
    const handle = await fsp.open(this.path, 'a');
    try {
      for (const { bytes, length } of this.full.splice(0)) await handle.write(bytes, 0, length);
    } finally {
      await handle.close();
    }
  }

  /** Writes everything out (creating the file, empty, if nothing was appended). */
  async close(): Promise<void> {
    if (this.used > 0) this.full.push({ bytes: this.buffer, length: this.used });
    this.used = 0;
    await fsp.appendFile(this.path, '');
    await this.flush();
  }
}

/** One table's output within the chunk. */
class TableOutput {
  rows = 0;
  /** Whether the last append filled the buffer, so the file is due a flush. */
  pending = false;
  /** The table's columns in first-seen order. */
  readonly columns: ColumnSlot[] = [];
  /** Type of each column, indexed by its slot id. */
  readonly types: (ColumnType | undefined)[] = [];
  readonly partitions = new Map<string, number>();
  constructor(
    readonly key: string,
    readonly file: BufferedFile,
  ) {}
}

/** Whether a line (its UTF-8 bytes read as Latin-1) is only whitespace. */
function isBlank(latin1: string): boolean {
  if (latin1.length === 0) return true;
  const c = latin1.charCodeAt(0);
  // Only a line starting with ASCII whitespace can be blank; trim() needs its real characters.
  return (c === 32 || c === 9 || c === 13 || c === 10) && utf8FromLatin1(latin1).trim().length === 0;
}

/** Deletes every object of an earlier attempt at this chunk, the summary first. */
async function removeEarlierAttempt(store: ObjectStore, input: PrepareInput): Promise<void> {
  const { sourceId, syncId, chunkId } = input;
  await store.delete([summaryKey(sourceId, syncId, chunkId)]);
  const prefix = stagingPrefix(sourceId, syncId, chunkId);
  let nextToken: string | undefined;
  do {
    const page = await store.list(prefix, nextToken === undefined ? {} : { nextToken });
    if (page.objects.length > 0) await store.delete(page.objects.map((o) => o.key));
    nextToken = page.nextToken;
  } while (nextToken !== undefined);
  await store.delete([quarantineKey(sourceId, syncId, chunkId)]);
}

/** The in-memory state of one chunk: tables, seen messageIds, counts. */
class ChunkState {
  readonly tables = new Map<string, TableOutput>();
  readonly quarantined = new Map<string, number>();
  read = 0;
  prepared = 0;
  duplicates = 0;
  /** The messageIds of the rows so far, as real text. */
  private readonly seen = new Set<string>();
  /** The messageId of the line being taken, as real text. */
  private id = '';
  private readonly builder = new RowBuilder(new ColumnNames());
  private readonly ctx: FlattenContext;

  constructor(
    private readonly input: PrepareInput,
    private readonly limits: PrepareLimits,
    private readonly temp: string,
  ) {
    this.ctx = { builder: this.builder, type: 'track', maxDepth: limits.maxDepth };
  }

  /**
   * Takes one non-blank raw line, `latin1` when the text is its UTF-8 bytes read as Latin-1.
   * Returns the table whose file got the row (to flush if due), null for an in-chunk duplicate,
   * or the rejection to quarantine.
   */
  take(text: string, bytes: number, fallbackReceivedAt: number | undefined, latin1: boolean): TableOutput | Rejection | null {
    const { limits, builder } = this;
    if (bytes > limits.maxEventBytes) {
      return { reason: 'too_large', detail: `the event is ${bytes} bytes, over the ${limits.maxEventBytes}-byte limit` };
    }
    let event = this.row(text, fallbackReceivedAt, false, latin1);
    if (event !== null && !('reason' in event) && builder.inexact) event = this.row(text, fallbackReceivedAt, true, latin1);
    if (event === null) {
      this.duplicates++;
      return null;
    }
    if ('reason' in event) return event;
    let out = this.tables.get(event.table);
    let columns = (out?.columns.length ?? 0) + builder.size;
    if (columns > limits.maxColumns && out !== undefined) {
      // Only the row's new columns count; most rows bring none.
      for (let i = 0; i < builder.size; i++) if (out.types[(builder.slots[i] as ColumnSlot).id] !== undefined) columns--;
    }
    if (columns > limits.maxColumns) {
      return {
        reason: 'too_many_columns',
        detail: `table '${event.table}' would have ${columns} columns in this chunk, over the limit of ${limits.maxColumns}`,
      };
    }
    if (out === undefined) {
      const { sourceId, syncId, chunkId } = this.input;
      const file = new BufferedFile(join(this.temp, `${event.table}.ndjson`));
      out = new TableOutput(stagingKey(sourceId, syncId, chunkId, event.table), file);
      this.tables.set(event.table, out);
    }
    const types = out.types;
    for (let i = 0; i < builder.size; i++) {
      const slot = builder.slots[i] as ColumnSlot;
      const type = builder.types[i] as ColumnType;
      const before = types[slot.id];
      if (before === type) continue;
      if (before === undefined) out.columns.push(slot);
      types[slot.id] = widenType(before, type) ?? type;
    }
    const r = event.receivedAt;
    const partition = `day=${r.slice(0, 10)}/hr=${r.slice(11, 13)}`;
    out.partitions.set(partition, (out.partitions.get(partition) ?? 0) + 1);
    out.rows++;
    this.prepared++;
    this.seen.add(this.id);
    out.pending = out.file.append(builder.toJson(), latin1);
    return out;
  }

  /**
   * Parses, validates and flattens one line into the builder: the event, null for an in-chunk
   * duplicate, or the rejection.
   */
  private row(text: string, fallbackReceivedAt: number | undefined, exact: boolean, latin1: boolean): NormalisedEvent | Rejection | null {
    let value: unknown;
    try {
      value = parseEventJson(text, this.limits.maxDepth, exact);
    } catch (err) {
      if (err instanceof TooDeepError) return { reason: 'too_deep', detail: `the event ${err.message}` };
      return { reason: 'malformed_json', detail: err instanceof Error ? err.message : String(err) };
    }
    if (!isRecord(value)) {
      const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
      return { reason: 'not_an_object', detail: `the line is ${kind}, not a JSON object` };
    }
    const event = normaliseEvent(value, fallbackReceivedAt, latin1);
    if ('reason' in event) return event;
    this.id = latin1 ? utf8FromLatin1(event.messageId) : event.messageId;
    if (this.seen.has(this.id)) return null;
    this.ctx.type = event.type;
    this.ctx.latin1 = latin1;
    if (!buildEventRow(this.ctx, value, event)) {
      return this.builder.rejection ?? { reason: 'malformed_json', detail: 'the event could not be flattened' };
    }
    return event;
  }

  /** Counts a rejection. */
  reject(reason: string): void {
    this.quarantined.set(reason, (this.quarantined.get(reason) ?? 0) + 1);
  }
}

const byKey = ([a]: [string, number], [b]: [string, number]): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Prepares one chunk: reads every raw object of `input.rawKeys`, validates, normalises,
 * deduplicates (by messageId, within the chunk) and flattens each event, writes
 * `segment-data/staging/<source>/<sync>/<chunk>/<table>.ndjson` per table, quarantines what
 * cannot be a row, and writes `summary.json` last. Throws (so the task is retried) only on I/O
 * failures and bad ids, never on bad events.
 */
export async function prepareChunk(input: PrepareInput, options: PrepareOptions): Promise<PrepareSummary> {
  const { sourceId, syncId, chunkId } = input;
  const limits: PrepareLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const qKey = quarantineKey(sourceId, syncId, chunkId);
  await removeEarlierAttempt(options.lakeStore, input);

  const temp = await fsp.mkdtemp(join(options.tempDir ?? tmpdir(), 'inlet-prepare-'));
  try {
    const state = new ChunkState(input, limits, temp);
    const quarantine = new BufferedFile(join(temp, 'quarantine.ndjson'));
    for (const rawKey of input.rawKeys) {
      // Segment's layout files each object under its received day: the best received time an
      // event without receivedAt has.
      const fallbackReceivedAt = parseRawObjectKey(rawKey)?.day;
      for await (const batch of readRawLineBatches(options.rawStore, rawKey, { latin1: true })) {
        for (const { text: bytes, lineNumber, byteLength, truncated, validUtf8 } of batch) {
          if (isBlank(bytes)) continue;
          state.read++;
          // Most lines are parsed from their UTF-8 bytes read as Latin-1: one-byte strings are
          // cheaper to decode, parse, escape and write, and are written back as the same bytes.
          // That gives the same row only when the bytes are valid UTF-8 (else the real text has
          // U+FFFD) and hold no \u escape (which makes a real character); names, table names and
          // messageIds are still compared as real text. A rejection is taken again from the real
          // text, so its detail (parser positions, names) and record read exactly as before.
          const direct = validUtf8 === true && !truncated && !bytes.includes('\\u');
          let text = direct ? bytes : utf8FromLatin1(bytes);
          let result = state.take(text, byteLength, fallbackReceivedAt, direct);
          if (direct && result !== null && !(result instanceof TableOutput)) {
            text = utf8FromLatin1(bytes);
            result = state.take(text, byteLength, fallbackReceivedAt, false);
          }
          if (result === null) continue;
          if (result instanceof TableOutput) {
            if (result.pending) await result.file.flush();
            continue;
          }
          state.reject(result.reason);
          const detail = truncated ? `${result.detail}; original cut to its first ${Buffer.byteLength(text)} bytes` : result.detail;
          const record = { reason: result.reason, detail, rawKey, line: lineNumber, original: text };
          if (quarantine.append(JSON.stringify(record))) await quarantine.flush();
        }
      }
    }

    const tables: Record<string, TableSummary> = {};
    for (const [name, out] of [...state.tables].sort(([a], [b]) => (a < b ? -1 : 1))) {
      await out.file.close();
      await options.lakeStore.put(out.key, { file: out.file.path }, { contentType: 'application/x-ndjson' });
      tables[name] = {
        rows: out.rows,
        stagingKey: out.key,
        columns: Object.fromEntries(out.columns.map((slot) => [slot.name, out.types[slot.id] ?? 'string'])),
        partitions: Object.fromEntries([...out.partitions].sort(byKey)),
      };
    }
    const summary: PrepareSummary = {
      sourceId,
      syncId,
      chunkId,
      rawKeys: [...input.rawKeys],
      read: state.read,
      prepared: state.prepared,
      duplicates: state.duplicates,
      quarantined: Object.fromEntries([...state.quarantined].sort(byKey)),
      tables,
    };
    await quarantine.close();
    if (state.quarantined.size > 0) {
      await options.lakeStore.put(qKey, { file: quarantine.path }, { contentType: 'application/x-ndjson' });
      summary.quarantineKey = qKey;
    }
    await options.lakeStore.put(summaryKey(sourceId, syncId, chunkId), `${JSON.stringify(summary, null, 2)}\n`, { contentType: 'application/json' });
    return summary;
  } finally {
    await fsp.rm(temp, { recursive: true, force: true });
  }
}

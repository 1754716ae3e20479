/**
 * Moves logged events into the raw store, where the lake's syncs read them: gzip NDJSON objects
 * in Segment's S3 layout, one object per source per received day per rolled segment.
 *
 * Exactly once without a transaction across the log and the store: a roll works on a sealed
 * (immutable) segment, names each object after the log position it covers — the log id and the
 * segment number — and deletes the segment only after every object is stored. A crash between
 * the two re-rolls the same segment into the same object names on the next run, overwriting
 * rather than duplicating.
 */
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { rawObjectKey, receivedDay } from '../lake/raw-layout.ts';
import type { ObjectStore } from '../lake/storage/object-store.ts';
import type { AppendLog } from './log.ts';
import { decodeEventRecord } from './record.ts';

const gzip = promisify(gzipCallback);

/** What one roll stored. */
export interface RollResult {
  segments: number;
  objects: number;
  events: number;
  /** Compressed bytes written to the store. */
  bytes: number;
}

/** Options for {@link Roller}. */
export interface RollerOptions {
  log: AppendLog;
  store: ObjectStore;
  /** Roll once the oldest unrolled event is this old (default 60 s); size is the log's `segmentBytes`. */
  rollAgeMs?: number;
  /** How often the age is checked and failed rolls retried (default min(1 s, rollAgeMs)). */
  checkIntervalMs?: number;
  /** zlib level for the objects (default 6). */
  gzipLevel?: number;
  onRolled?: (result: RollResult) => void;
  /** A background roll failed; the segment stays in the log and is retried on the next check. */
  onError?: (err: unknown) => void;
}

interface Group {
  sourceId: string;
  day: number;
  parts: Buffer[];
  events: number;
}

/** The object file name for one segment: derived from the log position only, so re-rolls overwrite. */
export function rolledFileName(logId: string, seq: number): string {
  return `${logId}-${String(seq).padStart(12, '0')}.gz`;
}

/**
 * Rolls sealed segments in the background: when the log seals one (size), when the active
 * segment's oldest event passes `rollAgeMs` (age), and on demand. One roll runs at a time.
 */
export class Roller {
  private readonly log: AppendLog;
  private readonly store: ObjectStore;
  private readonly rollAgeMs: number;
  private readonly checkIntervalMs: number;
  private readonly gzipLevel: number;
  private readonly onRolled: ((result: RollResult) => void) | undefined;
  private readonly onError: ((err: unknown) => void) | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private busy = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: RollerOptions) {
    this.log = options.log;
    this.store = options.store;
    this.rollAgeMs = options.rollAgeMs ?? 60_000;
    this.checkIntervalMs = options.checkIntervalMs ?? Math.min(1000, this.rollAgeMs);
    this.gzipLevel = options.gzipLevel ?? 6;
    this.onRolled = options.onRolled;
    this.onError = options.onError;
  }

  /** Starts the periodic check; the timer does not keep the process alive. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.check(), this.checkIntervalMs);
    this.timer.unref();
  }

  /** Rolls sealed segments soon (the log calls this when it seals one for size). */
  notify(): void {
    setImmediate(() => this.check());
  }

  /** Seals the active segment and rolls everything the log holds; resolves when it is stored. */
  rollNow(): Promise<RollResult> {
    return this.serial(async () => {
      await this.log.seal();
      return this.rollSealedSegments();
    });
  }

  /** Rolls the segments already sealed (at startup: whatever a previous run left). */
  rollSealed(): Promise<RollResult> {
    return this.serial(() => this.rollSealedSegments());
  }

  /** Stops the periodic check and waits for a roll in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.chain;
  }

  private check(): void {
    if (this.busy) return;
    const since = this.log.activeSince;
    const due = since !== undefined && Date.now() - since >= this.rollAgeMs;
    if (!due && this.log.sealed.length === 0) return;
    (due ? this.rollNow() : this.rollSealed()).catch((err: unknown) => this.onError?.(err));
  }

  private serial(work: () => Promise<RollResult>): Promise<RollResult> {
    const run = this.chain.then(async () => {
      this.busy = true;
      try {
        return await work();
      } finally {
        this.busy = false;
      }
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async rollSealedSegments(): Promise<RollResult> {
    const total: RollResult = { segments: 0, objects: 0, events: 0, bytes: 0 };
    for (const segment of [...this.log.sealed]) {
      const result = await this.rollSegment(segment.seq);
      total.segments += 1;
      total.objects += result.objects;
      total.events += result.events;
      total.bytes += result.bytes;
    }
    if (total.segments > 0) this.onRolled?.(total);
    return total;
  }

  private async rollSegment(seq: number): Promise<RollResult> {
    const scan = await this.log.readSegment(seq);
    const groups = new Map<string, Group>();
    for (const record of scan.records) {
      const event = decodeEventRecord(record.payload);
      const day = receivedDay(event.receivedAt);
      const id = `${event.sourceId}\n${day}`;
      let group = groups.get(id);
      if (!group) {
        group = { sourceId: event.sourceId, day, parts: [], events: 0 };
        groups.set(id, group);
      }
      group.parts.push(event.ndjson);
      group.events += event.count;
    }
    const fileName = rolledFileName(this.log.id, seq);
    const stored = await Promise.all(
      [...groups.values()].map(async (group) => {
        const body = await gzip(Buffer.concat(group.parts), { level: this.gzipLevel });
        await this.store.put(rawObjectKey(group.sourceId, group.day, fileName), body, { contentType: 'application/gzip' });
        return { events: group.events, bytes: body.length };
      }),
    );
    // Only now is the segment redundant; a crash before this line re-rolls it onto the same keys.
    await this.log.removeSegment(seq);
    return {
      segments: 1,
      objects: stored.length,
      events: stored.reduce((n, s) => n + s.events, 0),
      bytes: stored.reduce((n, s) => n + s.bytes, 0),
    };
  }
}

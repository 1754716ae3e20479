/**
 * The ingest module: takes accepted tracking events, makes them durable in a group-committed
 * append log, and rolls them into gzip NDJSON objects in Segment's raw layout for the lake.
 * This entry file composes the log and the roller into {@link Ingest} and re-exports what the
 * HTTP layer needs (limits, normalisation, metrics). It imports only the lake's object-store
 * interface and raw layout; HTTP lives in `src/api/tracking.ts`.
 */
import { validateSourceId } from '../lake/raw-layout.ts';
import type { ObjectStore } from '../lake/storage/object-store.ts';
import { AppendLog } from './log.ts';
import type { LogPosition, RecoveryReport } from './log.ts';
import { noIngestMetrics } from './metrics.ts';
import type { IngestMetrics } from './metrics.ts';
import { encodeEventRecord } from './record.ts';
import { Roller } from './roller.ts';
import type { RollResult } from './roller.ts';

export { AppendLog, LogDirectoryError, LogOverloadedError, LogUnavailableError, scanSegment } from './log.ts';
export type { AppendLogOptions, FlushInfo, LogPosition, LogRecord, RecoveryReport, SealedSegment, SegmentScan } from './log.ts';
export { Roller, rolledFileName } from './roller.ts';
export type { RollerOptions, RollResult } from './roller.ts';
export { createIngestMetrics, noIngestMetrics } from './metrics.ts';
export type { IngestMetrics } from './metrics.ts';
export { decodeEventRecord, encodeEventRecord } from './record.ts';
export type { EventRecord } from './record.ts';
export { EVENT_TYPES, normalizeEvents, RejectReason, TRACKING_LIMITS, TrackingRequestError } from './events.ts';
export type { Endpoint, EventType, NormalizedEvents, TrackingLimits } from './events.ts';

/** A source the tracking API accepts events for, and the write key its clients send. */
export interface IngestSource {
  id: string;
  writeKey: string;
}

/** Where accepted events go; resolves only once they are durable. */
export interface EventSink {
  append(sourceId: string, receivedAt: number, lines: readonly string[]): Promise<LogPosition>;
}

/** Options for {@link Ingest.open}. */
export interface IngestOptions {
  /** Directory of the append log (local disk: it is fsynced on every group commit). */
  logDir: string;
  /** The raw store the roller writes to. */
  store: ObjectStore;
  /** Seal and roll a segment once it holds this many bytes (default 16 MiB). */
  rollBytes?: number;
  /** Roll once the oldest unrolled event is this old (default 60 s). */
  rollAgeMs?: number;
  /** Shed load with 503 once this much waits for the disk (default 64 MiB). */
  maxPendingBytes?: number;
  gzipLevel?: number;
  metrics?: IngestMetrics;
  /** Background failures (a roll that will be retried); messages never carry write keys. */
  onError?: (err: unknown) => void;
}

/** Checks source ids (they become object-key folders) and write keys (unique, non-empty). */
export function validateSources(sources: readonly IngestSource[]): void {
  const keys = new Set<string>();
  for (const source of sources) {
    validateSourceId(source.id);
    if (typeof source.writeKey !== 'string' || source.writeKey.length === 0) {
      throw new RangeError(`source '${source.id}' needs a non-empty write key`);
    }
    // Name the source, never the key.
    if (keys.has(source.writeKey)) throw new RangeError(`source '${source.id}' reuses another source's write key`);
    keys.add(source.writeKey);
  }
}

/**
 * The durable path from an acknowledged request to the raw store. `open` recovers the log
 * (cutting torn writes) and starts rolling whatever a previous run left (`replayed`); appends
 * resolve after their fsync; `close` drains the log and, by default, rolls everything so a clean
 * shutdown leaves the raw store complete.
 */
export class Ingest implements EventSink {
  /** The roll of what a previous run left in the log; rejects if the store failed (it is retried). */
  readonly replayed: Promise<RollResult>;
  /** What recovery found in the log. */
  readonly recovery: RecoveryReport;

  private constructor(
    private readonly log: AppendLog,
    private readonly roller: Roller,
  ) {
    this.recovery = log.recovery;
    this.replayed = roller.rollSealed();
    // The caller may never look at `replayed`; a failure is reported through onError and retried.
    this.replayed.catch(() => undefined);
    roller.start();
  }

  /** Opens the log in `options.logDir` and starts the roller. */
  static async open(options: IngestOptions): Promise<Ingest> {
    const metrics = options.metrics ?? noIngestMetrics;
    // The roller needs the log and the log's seal callback needs the roller: tie them after both exist.
    let wakeRoller = (): void => undefined;
    const log = await AppendLog.open({
      dir: options.logDir,
      ...(options.rollBytes !== undefined ? { segmentBytes: options.rollBytes } : {}),
      ...(options.maxPendingBytes !== undefined ? { maxPendingBytes: options.maxPendingBytes } : {}),
      onFlush: (info) => metrics.logFlushed(info.records, info.bytes, info.seconds),
      onSeal: () => wakeRoller(),
    });
    const roller = new Roller({
      log,
      store: options.store,
      ...(options.rollAgeMs !== undefined ? { rollAgeMs: options.rollAgeMs } : {}),
      ...(options.gzipLevel !== undefined ? { gzipLevel: options.gzipLevel } : {}),
      onRolled: (r) => metrics.rolled(r.objects, r.events, r.bytes),
      onError: (err) => options.onError?.(err),
    });
    wakeRoller = () => roller.notify();
    return new Ingest(log, roller);
  }

  /** Appends the events of one request; resolves after the fsync that makes them durable. */
  append(sourceId: string, receivedAt: number, lines: readonly string[]): Promise<LogPosition> {
    return this.log.append(encodeEventRecord(sourceId, receivedAt, lines));
  }

  /** Rolls everything logged so far into the raw store. */
  rollNow(): Promise<RollResult> {
    return this.roller.rollNow();
  }

  /** Bytes accepted but not yet synced, for health checks. */
  get pendingBytes(): number {
    return this.log.pendingBytes;
  }

  /**
   * Stops taking appends, waits for those in flight to be synced, rolls the log into the store
   * unless `roll` is false (a failed roll leaves the events in the log for the next start), and
   * releases the log directory.
   */
  async close(options: { roll?: boolean } = {}): Promise<void> {
    await this.log.stopAppends();
    await this.roller.stop();
    try {
      if (options.roll !== false) await this.roller.rollNow();
    } finally {
      await this.log.close();
    }
  }
}

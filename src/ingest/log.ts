/**
 * The durable append log behind the tracking API. An HTTP 200 promises the event survives a
 * crash, but an fsync per request would cap throughput at the disk's sync rate; so appends that
 * arrive while a write is in flight are grouped into one durable write (an O_DSYNC write, or a
 * write plus `fdatasync` where O_DSYNC is missing): group commit. Every caller's promise settles
 * only after the sync that covers its record.
 *
 * Layout: a directory of segment files `<seq>.seg` (12-digit, never reused) plus `LOG-ID`, a
 * random id that makes object names derived from log positions unique across log directories.
 * A segment is an 8-byte magic followed by frames `[u32 length][u32 crc32(length, payload)]
 * [payload]`. A crash can tear only the tail of the segment being written; {@link AppendLog.open}
 * finds the first frame that is short or fails its CRC and cuts the file there, so a torn write
 * is never read back as data. Appends go to the one active segment; sealed segments are
 * immutable until the roller removes them after their events are stored elsewhere.
 */
import { randomUUID } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import * as fsp from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

const MAGIC = Buffer.from('INLETLG1', 'latin1');
/**
 * Where the platform has O_DSYNC, segments are opened with it: each write returns only once its
 * data is durable, which folds write + fdatasync into one thread-pool round trip per group.
 */
const DSYNC = typeof fsConstants.O_DSYNC === 'number' ? fsConstants.O_DSYNC : 0;
const SEGMENT_OPEN_FLAGS = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | DSYNC;
const FRAME_HEADER = 8;
/** A frame longer than this is a torn or foreign length field, not a record. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;
const SEGMENT_FILE = /^(\d{12})\.seg$/;
const ID_FILE = 'LOG-ID';
const LOCK_FILE = 'LOCK';
const LOG_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Where a record landed: its segment and the byte offset of its frame. */
export interface LogPosition {
  segment: number;
  offset: number;
}

/** A segment that takes no more appends. */
export interface SealedSegment {
  seq: number;
  /** File size, magic included. */
  bytes: number;
  records: number;
}

/** One record read back from a segment. */
export interface LogRecord {
  offset: number;
  payload: Buffer;
}

/** The readable content of a segment file. */
export interface SegmentScan {
  records: LogRecord[];
  /** Bytes up to the end of the last intact frame. */
  validBytes: number;
  /** Bytes after it: a torn write, or corruption. */
  invalidBytes: number;
}

/** What {@link AppendLog.open} found and repaired. */
export interface RecoveryReport {
  /** Segments holding records, sealed for the roller. */
  segments: number;
  records: number;
  /** Bytes cut off torn segment tails. */
  truncatedBytes: number;
}

/** One group commit, for metrics. */
export interface FlushInfo {
  records: number;
  bytes: number;
  seconds: number;
}

/** Options for {@link AppendLog.open}. */
export interface AppendLogOptions {
  dir: string;
  /** Seal the active segment once it holds this many bytes (default 16 MiB). */
  segmentBytes?: number;
  /** Refuse appends with {@link LogOverloadedError} while this much waits for the disk (default 64 MiB). */
  maxPendingBytes?: number;
  /** Called after every group commit. */
  onFlush?: (info: FlushInfo) => void;
  /** Called when a segment is sealed, so a roller can pick it up. */
  onSeal?: (segment: SealedSegment) => void;
}

/** Raised by append when the disk is behind by more than `maxPendingBytes`: shed load, retry later. */
export class LogOverloadedError extends Error {
  constructor() {
    super('the ingest log is overloaded; retry later');
    this.name = 'LogOverloadedError';
  }
}

/** Raised by append after close, or after a write or sync failed (a failed fsync cannot be retried safely). */
export class LogUnavailableError extends Error {
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'LogUnavailableError';
  }
}

/** Raised by open when the directory holds something this log did not write, or another live process owns it. */
export class LogDirectoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LogDirectoryError';
  }
}

interface Pending {
  frame: Buffer;
  resolve: (position: LogPosition) => void;
  reject: (err: unknown) => void;
}

interface SealWaiter {
  resolve: (segment: SealedSegment | undefined) => void;
  reject: (err: unknown) => void;
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

function segmentName(seq: number): string {
  return `${String(seq).padStart(12, '0')}.seg`;
}

/** fsyncs a directory so file creations, renames and unlinks in it survive a crash. */
async function syncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function frameChecksum(length: Buffer, payload: Buffer): number {
  return crc32(payload, crc32(length));
}

/** Frames one payload as `[length][crc][payload]`. */
function frame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(frameChecksum(out.subarray(0, 4), payload), 4);
  payload.copy(out, FRAME_HEADER);
  return out;
}

/**
 * Reads the intact frames of a segment's bytes, stopping at the first frame that is short or
 * fails its checksum: everything from there on is a torn write (or damage) and is not data.
 */
export function scanSegment(bytes: Buffer): SegmentScan {
  if (bytes.length < MAGIC.length || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new LogDirectoryError('segment does not start with the log magic');
  }
  const records: LogRecord[] = [];
  let at = MAGIC.length;
  while (at + FRAME_HEADER <= bytes.length) {
    const length = bytes.readUInt32LE(at);
    if (length > MAX_RECORD_BYTES || at + FRAME_HEADER + length > bytes.length) break;
    const payload = bytes.subarray(at + FRAME_HEADER, at + FRAME_HEADER + length);
    if (frameChecksum(bytes.subarray(at, at + 4), payload) !== bytes.readUInt32LE(at + 4)) break;
    records.push({ offset: at, payload });
    at += FRAME_HEADER + length;
  }
  return { records, validBytes: at, invalidBytes: bytes.length - at };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errorCode(err) === 'EPERM';
  }
}

/** Takes the directory for this process; a lock left by a dead process (a crash) is taken over. */
async function lockDirectory(dir: string): Promise<void> {
  const path = join(dir, LOCK_FILE);
  const existing = await fsp.readFile(path, 'utf8').catch((err: unknown) => {
    if (errorCode(err) === 'ENOENT') return undefined;
    throw err;
  });
  const owner = existing === undefined ? NaN : Number.parseInt(existing, 10);
  if (Number.isInteger(owner) && owner !== process.pid && processAlive(owner)) {
    throw new LogDirectoryError(`log directory ${dir} is in use by process ${owner} (remove ${LOCK_FILE} if that is wrong)`);
  }
  await fsp.writeFile(path, String(process.pid));
}

/** Reads the log id, creating it (durably) for a new directory. */
async function logId(dir: string): Promise<string> {
  const path = join(dir, ID_FILE);
  try {
    const id = (await fsp.readFile(path, 'utf8')).trim();
    if (!LOG_ID.test(id)) throw new LogDirectoryError(`${path} does not hold a log id`);
    return id;
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') throw err;
  }
  const id = randomUUID();
  const temp = `${path}.tmp`;
  const handle = await fsp.open(temp, 'w');
  try {
    await handle.writeFile(id);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fsp.rename(temp, path);
  await syncDir(dir);
  return id;
}

/**
 * A directory of segment files with group-committed appends. Lifecycle: `open` (recover, seal
 * what a previous run left, start a fresh active segment) → `append`/`seal` → `close`. A write
 * or sync error fails the log for good: after a failed fsync the kernel may have dropped the
 * dirty pages, so only a restart (which re-reads the file) knows what is on disk.
 */
export class AppendLog {
  /** Random id of this log directory; part of every object name the roller derives. */
  readonly id: string;
  /** What the last `open` repaired. */
  readonly recovery: RecoveryReport;
  private readonly dir: string;
  private readonly segmentBytes: number;
  private readonly maxPendingBytes: number;
  private readonly onFlush: ((info: FlushInfo) => void) | undefined;
  private readonly onSeal: ((segment: SealedSegment) => void) | undefined;
  private readonly sealedSegments: SealedSegment[];
  private active: FileHandle;
  private activeSeq: number;
  private activeSize = MAGIC.length;
  private activeRecords = 0;
  private activeFirstAppend: number | undefined;
  private pending: Pending[] = [];
  private pendingSize = 0;
  private sealWaiters: SealWaiter[] = [];
  private writing = false;
  private closed = false;
  private released = false;
  private failure: LogUnavailableError | undefined;
  private idle: Promise<void> = Promise.resolve();
  private markIdle: () => void = () => undefined;

  private constructor(options: AppendLogOptions, id: string, active: FileHandle, activeSeq: number, sealed: SealedSegment[], recovery: RecoveryReport) {
    this.dir = options.dir;
    this.id = id;
    this.segmentBytes = options.segmentBytes ?? 16 * 1024 * 1024;
    this.maxPendingBytes = options.maxPendingBytes ?? 64 * 1024 * 1024;
    this.onFlush = options.onFlush;
    this.onSeal = options.onSeal;
    this.active = active;
    this.activeSeq = activeSeq;
    this.sealedSegments = sealed;
    this.recovery = recovery;
  }

  /**
   * Opens (or creates) the log in `options.dir`. Segments a previous run left are checked frame
   * by frame, torn tails are cut, empty segments removed, and the rest are sealed for rolling.
   * The new active segment gets the next sequence number and is created before anything is
   * removed, so the highest number ever used is always on disk and is never handed out again.
   */
  static async open(options: AppendLogOptions): Promise<AppendLog> {
    const dir = options.dir;
    await fsp.mkdir(dir, { recursive: true });
    await lockDirectory(dir);
    const id = await logId(dir);
    const seqs = (await fsp.readdir(dir))
      .map((name) => SEGMENT_FILE.exec(name)?.[1])
      .filter((s): s is string => s !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    const activeSeq = (seqs.at(-1) ?? 0) + 1;
    const active = await AppendLog.createSegment(dir, activeSeq);
    const sealed: SealedSegment[] = [];
    const recovery: RecoveryReport = { segments: 0, records: 0, truncatedBytes: 0 };
    let removed = false;
    for (const seq of seqs) {
      const path = join(dir, segmentName(seq));
      const bytes = await fsp.readFile(path);
      if (bytes.length < MAGIC.length && MAGIC.subarray(0, bytes.length).equals(bytes)) {
        // Crashed while the segment was being created: it never held a record.
        await fsp.unlink(path);
        removed = true;
        continue;
      }
      const scan = scanSegment(bytes);
      if (scan.records.length === 0) {
        await fsp.unlink(path);
        removed = true;
        continue;
      }
      if (scan.invalidBytes > 0) {
        const handle = await fsp.open(path, 'r+');
        try {
          await handle.truncate(scan.validBytes);
          await handle.sync();
        } finally {
          await handle.close();
        }
        recovery.truncatedBytes += scan.invalidBytes;
      }
      sealed.push({ seq, bytes: scan.validBytes, records: scan.records.length });
      recovery.segments += 1;
      recovery.records += scan.records.length;
    }
    if (removed) await syncDir(dir);
    return new AppendLog(options, id, active, activeSeq, sealed, recovery);
  }

  private static async createSegment(dir: string, seq: number): Promise<FileHandle> {
    const handle = await fsp.open(join(dir, segmentName(seq)), SEGMENT_OPEN_FLAGS);
    try {
      await handle.write(MAGIC, 0, MAGIC.length, 0);
      await handle.datasync();
      await syncDir(dir);
    } catch (err) {
      await handle.close();
      throw err;
    }
    return handle;
  }

  /**
   * Appends one record; resolves with its position once a sync covers it, never before.
   * Rejects with {@link LogOverloadedError} when too much is waiting for the disk, and with
   * {@link LogUnavailableError} after close or a failed write.
   */
  append(payload: Buffer): Promise<LogPosition> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new LogUnavailableError('the ingest log is closed'));
    if (payload.length > MAX_RECORD_BYTES) return Promise.reject(new RangeError(`record of ${payload.length} bytes exceeds ${MAX_RECORD_BYTES}`));
    const size = FRAME_HEADER + payload.length;
    if (this.pending.length > 0 && this.pendingSize + size > this.maxPendingBytes) return Promise.reject(new LogOverloadedError());
    return new Promise<LogPosition>((resolve, reject) => {
      this.pending.push({ frame: frame(payload), resolve, reject });
      this.pendingSize += size;
      this.kick();
    });
  }

  /**
   * Seals the active segment if it holds records, so everything appended before this call can
   * be rolled; resolves with the sealed segment, or undefined when there was nothing to seal.
   */
  seal(): Promise<SealedSegment | undefined> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.released) return Promise.reject(new LogUnavailableError('the ingest log is closed'));
    return new Promise<SealedSegment | undefined>((resolve, reject) => {
      this.sealWaiters.push({ resolve, reject });
      this.kick();
    });
  }

  /** Sealed segments not yet removed, oldest first. */
  get sealed(): readonly SealedSegment[] {
    return this.sealedSegments;
  }

  /** Record bytes in the active segment. */
  get activeBytes(): number {
    return this.activeSize - MAGIC.length;
  }

  /** When the oldest record of the active segment was written (epoch ms), if it has one. */
  get activeSince(): number | undefined {
    return this.activeFirstAppend;
  }

  /** Bytes accepted but not yet synced. */
  get pendingBytes(): number {
    return this.pendingSize;
  }

  /** Reads a sealed segment's records. */
  async readSegment(seq: number): Promise<SegmentScan> {
    if (!this.sealedSegments.some((s) => s.seq === seq)) throw new RangeError(`segment ${seq} is not sealed`);
    return scanSegment(await fsp.readFile(join(this.dir, segmentName(seq))));
  }

  /** Deletes a sealed segment, durably; call only once its events are stored elsewhere. */
  async removeSegment(seq: number): Promise<void> {
    const index = this.sealedSegments.findIndex((s) => s.seq === seq);
    if (index < 0) throw new RangeError(`segment ${seq} is not sealed`);
    await fsp.unlink(join(this.dir, segmentName(seq)));
    await syncDir(this.dir);
    this.sealedSegments.splice(index, 1);
  }

  /** Refuses further appends and waits until those already accepted are synced (or failed). Sealing still works. */
  async stopAppends(): Promise<void> {
    this.closed = true;
    while (this.writing) await this.idle;
  }

  /** Stops appends, then closes the active segment and releases the directory. */
  async close(): Promise<void> {
    if (this.released) return;
    await this.stopAppends();
    this.released = true;
    await this.active.close().catch(() => undefined);
    await fsp.unlink(join(this.dir, LOCK_FILE)).catch(() => undefined);
  }

  private kick(): void {
    if (this.writing) return;
    this.writing = true;
    this.idle = new Promise((resolve) => {
      this.markIdle = resolve;
    });
    // setImmediate rather than nextTick: requests parsed in this turn of the event loop join the group.
    setImmediate(() => void this.drain());
  }

  private async drain(): Promise<void> {
    let group: Pending[] = [];
    try {
      for (;;) {
        if (this.sealWaiters.length > 0) {
          const waiters = this.sealWaiters;
          this.sealWaiters = [];
          const sealed = this.activeRecords > 0 ? await this.rotate() : undefined;
          for (const w of waiters) w.resolve(sealed);
          continue;
        }
        if (this.pending.length === 0) break;
        if (this.activeSize >= this.segmentBytes + MAGIC.length && this.activeRecords > 0) await this.rotate();
        group = this.pending;
        this.pending = [];
        this.pendingSize = 0;
        await this.writeGroup(group);
        group = [];
      }
    } catch (err) {
      this.fail(err, group);
    } finally {
      this.writing = false;
      this.markIdle();
    }
  }

  private async writeGroup(group: Pending[]): Promise<void> {
    const started = performance.now();
    const buffer = group.length === 1 && group[0] ? group[0].frame : Buffer.concat(group.map((p) => p.frame));
    const base = this.activeSize;
    let written = 0;
    while (written < buffer.length) {
      const { bytesWritten } = await this.active.write(buffer, written, buffer.length - written, base + written);
      written += bytesWritten;
    }
    if (DSYNC === 0) await this.active.datasync();
    this.activeSize += buffer.length;
    this.activeRecords += group.length;
    this.activeFirstAppend ??= Date.now();
    let offset = base;
    for (const p of group) {
      p.resolve({ segment: this.activeSeq, offset });
      offset += p.frame.length;
    }
    this.onFlush?.({ records: group.length, bytes: buffer.length, seconds: (performance.now() - started) / 1000 });
  }

  private async rotate(): Promise<SealedSegment> {
    const done: SealedSegment = { seq: this.activeSeq, bytes: this.activeSize, records: this.activeRecords };
    await this.active.close();
    this.active = await AppendLog.createSegment(this.dir, this.activeSeq + 1);
    this.activeSeq += 1;
    this.activeSize = MAGIC.length;
    this.activeRecords = 0;
    this.activeFirstAppend = undefined;
    this.sealedSegments.push(done);
    this.onSeal?.(done);
    return done;
  }

  /** Keeps the first error; rejects the group in flight and everything queued behind it. */
  private fail(err: unknown, group: Pending[]): void {
    this.failure ??= new LogUnavailableError('the ingest log failed to write; restart to recover', { cause: err });
    const failure = this.failure;
    for (const p of [...group, ...this.pending, ...this.sealWaiters]) p.reject(failure);
    this.pending = [];
    this.pendingSize = 0;
    this.sealWaiters = [];
  }
}

/**
 * The sync planner: which raw objects of a source are not yet synced, how they split into
 * Prepare chunks, and the execution input that carries the plan. A raw object counts as synced
 * only when a Load commit marked it (the catalog's raw-sync marks), so a failed sync leaves its
 * objects for the next plan. Chunk manifests (the raw keys) are written to the lake store under
 * the sync's staging folder and only their keys go into the execution input: a catch-up after
 * days of downtime can name millions of objects, which no payload should carry.
 */
import { randomBytes } from 'node:crypto';
import type { Catalog } from '../catalog/index.ts';
import { DAY_MS, listRawObjects, type RawObject } from '../lake/raw-layout.ts';
import type { ObjectStore } from '../lake/storage/object-store.ts';
import { assertSafeId } from '../lake/types.ts';
import type { PrepareTaskInput, ReplayRange, SyncExecutionInput } from './payloads.ts';

/** Compressed raw bytes per Prepare chunk; a chunk also ends at {@link DEFAULT_CHUNK_OBJECTS}. */
export const DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024;
/** Raw objects per Prepare chunk at most. */
export const DEFAULT_CHUNK_OBJECTS = 16;
/** Chunks per sync at most; what is left waits for the next sync, keeping the input small. */
export const DEFAULT_MAX_CHUNKS = 1000;
/** Raw-sync marks looked up per catalog call. */
const MARK_BATCH = 1000;

/** Options for {@link listUnsyncedRawObjects}. */
export interface UnsyncedOptions {
  /** Only raw days on or after this instant's day, to keep the listing short on old sources. */
  fromDay?: Date | number;
}

/** The source's raw objects that no committed Load has marked, in key order (oldest day first). */
export async function listUnsyncedRawObjects(
  rawStore: ObjectStore,
  catalog: Catalog,
  sourceId: string,
  options: UnsyncedOptions = {},
): Promise<RawObject[]> {
  const out: RawObject[] = [];
  let batch: RawObject[] = [];
  const flush = async () => {
    const marks = await catalog.rawSyncMarks(batch.map((o) => o.key));
    for (const o of batch) if (!marks.has(o.key)) out.push(o);
    batch = [];
  };
  const listing = options.fromDay === undefined ? {} : { fromDay: options.fromDay };
  for await (const object of listRawObjects(rawStore, sourceId, listing)) {
    batch.push(object);
    if (batch.length >= MARK_BATCH) await flush();
  }
  if (batch.length > 0) await flush();
  return out;
}

/** Compressed bytes of raw data waiting for a sync: what the scheduler's byte threshold measures. */
export async function unsyncedBytes(
  rawStore: ObjectStore,
  catalog: Catalog,
  sourceId: string,
  options: UnsyncedOptions = {},
): Promise<number> {
  const objects = await listUnsyncedRawObjects(rawStore, catalog, sourceId, options);
  return objects.reduce((sum, o) => sum + o.size, 0);
}

const ISO_DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** The UTC midnight (epoch ms) of a calendar day `YYYY-MM-DD`, or undefined if it is no real day. */
function dayStart(text: string): number | undefined {
  const m = ISO_DAY.exec(text);
  if (m === null) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  // Date.UTC rolls 2024-02-30 over to March; a real day prints back as itself.
  return new Date(ms).toISOString().slice(0, 10) === text ? ms : undefined;
}

/** A replay range's first and last received-day midnights (epoch ms), checked. */
function rangeDays(from: string, to: string): { first: number; last: number } {
  const first = dayStart(from);
  if (first === undefined) throw new RangeError(`--from '${from}' is not a date YYYY-MM-DD`);
  const last = dayStart(to);
  if (last === undefined) throw new RangeError(`--to '${to}' is not a date YYYY-MM-DD`);
  if (last < first) throw new RangeError(`--to ${to} is before --from ${from}`);
  return { first, last };
}

/**
 * Checks a replay range of received days (`YYYY-MM-DD`, both ends inclusive, UTC) and returns
 * it. Throws RangeError for a date that is not a real calendar day or a range that ends before
 * it starts.
 */
export function parseReplayRange(from: string, to: string): ReplayRange {
  rangeDays(from, to);
  return { from, to };
}

/** The instants a replay range covers: from's midnight to the last millisecond of `to` (UTC). */
export function replayBounds(range: ReplayRange): { from: Date; to: Date } {
  const { first, last } = rangeDays(range.from, range.to);
  return { from: new Date(first), to: new Date(last + DAY_MS - 1) };
}

/**
 * Every raw object of the source whose received day is within the range, synced or not, in key
 * order: what a replay reads again.
 */
export async function listRawObjectsInRange(rawStore: ObjectStore, sourceId: string, range: ReplayRange): Promise<RawObject[]> {
  const { from, to } = replayBounds(range);
  const out: RawObject[] = [];
  // Keys sort by day among 13-digit day folders (2001–2286); only then may a later day end the listing.
  const sorted = String(from.getTime()).length === 13;
  for await (const object of listRawObjects(rawStore, sourceId, { fromDay: from })) {
    if (object.day <= to.getTime()) out.push(object);
    else if (sorted) break;
  }
  return out;
}

/**
 * A new sync id: the UTC start time (sortable, readable in keys and reports) plus 32 random
 * bits, e.g. `20240501T100000Z-9f3a0c1d`.
 */
export function newSyncId(now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  return `${stamp}-${randomBytes(4).toString('hex')}`;
}

/**
 * The execution name of a sync: readable source prefix plus the sync id, within AWS's 80
 * characters of `[A-Za-z0-9_-]`. The source is also in the input, which is what lookups read.
 */
export function executionNameFor(sourceId: string, syncId: string): string {
  const safeSync = syncId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 60);
  const room = 80 - safeSync.length - 1;
  const prefix = sourceId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, room);
  return `${prefix}-${safeSync}`;
}

/** The folder holding everything of one sync's staging: chunk folders and manifests. */
export function syncStagingPrefix(sourceId: string, syncId: string): string {
  assertSafeId('sourceId', sourceId);
  assertSafeId('syncId', syncId);
  return `segment-data/staging/${sourceId}/${syncId}/`;
}

/**
 * Where a chunk's manifest lives. `_manifests` cannot be a chunk id (ids start with a letter or
 * digit), so it never meets Prepare's per-chunk folders, and Cleanup removes it with them.
 */
export function manifestKey(sourceId: string, syncId: string, chunkId: string): string {
  assertSafeId('chunkId', chunkId);
  return `${syncStagingPrefix(sourceId, syncId)}_manifests/${chunkId}.json`;
}

/** The folder of one sync's quarantine objects (rolled back with a failed sync). */
export function syncQuarantinePrefix(sourceId: string, syncId: string): string {
  assertSafeId('sourceId', sourceId);
  assertSafeId('syncId', syncId);
  return `segment-data/quarantine/${sourceId}/${syncId}/`;
}

/** A chunk manifest object's content. */
export interface ChunkManifest {
  sourceId: string;
  syncId: string;
  chunkId: string;
  rawKeys: string[];
}

/** Options for {@link planSync}. */
export interface PlanSyncOptions {
  sourceId: string;
  rawStore: ObjectStore;
  lakeStore: ObjectStore;
  catalog: Catalog;
  /** Default: {@link newSyncId}. */
  syncId?: string;
  chunkBytes?: number;
  chunkObjects?: number;
  maxChunks?: number;
  fromDay?: Date | number;
  now?: () => Date;
  /**
   * Plans a replay instead: every raw object received within the range, synced or not. A replay
   * must read its whole range in one sync, so it refuses a range that needs more than `maxChunks`.
   */
  replay?: ReplayRange;
}

/** One sync's plan: its chunks, each already written as a manifest. */
export interface SyncPlan {
  sourceId: string;
  syncId: string;
  chunks: PrepareTaskInput[];
  objects: number;
  bytes: number;
  /** Unsynced objects left for a later sync because of `maxChunks`. */
  deferredObjects: number;
  /** Set when the plan is a replay of this range. */
  replay?: ReplayRange;
}

function positive(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${what} must be a positive integer, got ${value}`);
  return value;
}

/**
 * Groups objects (in key order) into chunks of at most `maxBytes` and `maxObjects` (a big object
 * gets its own): as few chunks as the limits allow, and as even as they can be at that count.
 * Chunks are prepared in parallel and the Load waits for the last, so 16 + 4 objects would take
 * as long as 16 alone where 10 + 10 takes about two thirds of it.
 */
export function chunkObjects<T extends { size: number }>(objects: readonly T[], maxBytes: number, maxObjects: number): T[][] {
  const fewest = packChunks(objects, maxBytes, maxObjects);
  const n = fewest.length;
  if (n < 2) return fewest;
  const total = objects.reduce((sum, o) => sum + o.size, 0);
  const largest = objects.reduce((max, o) => Math.max(max, o.size), 0);
  const evenObjects = Math.min(maxObjects, Math.ceil(objects.length / n));
  for (const bytes of [Math.min(maxBytes, Math.ceil(total / n) + largest), maxBytes]) {
    const even = packChunks(objects, bytes, evenObjects);
    if (even.length === n) return even;
  }
  return fewest;
}

/** Fills each chunk up to the limits before starting the next: the fewest contiguous chunks. */
function packChunks<T extends { size: number }>(objects: readonly T[], maxBytes: number, maxObjects: number): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const o of objects) {
    if (current.length > 0 && (current.length >= maxObjects || bytes + o.size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(o);
    bytes += o.size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/**
 * Plans one sync of a source: lists its unsynced raw objects, splits them into chunks, writes
 * each chunk's manifest, and returns the plan (no chunks when nothing waits).
 */
export async function planSync(options: PlanSyncOptions): Promise<SyncPlan> {
  const { sourceId, rawStore, lakeStore, catalog } = options;
  assertSafeId('sourceId', sourceId);
  const syncId = options.syncId ?? newSyncId((options.now ?? (() => new Date()))());
  assertSafeId('syncId', syncId);
  const maxBytes = positive(options.chunkBytes ?? DEFAULT_CHUNK_BYTES, 'chunkBytes');
  const maxObjects = positive(options.chunkObjects ?? DEFAULT_CHUNK_OBJECTS, 'chunkObjects');
  const maxChunks = positive(options.maxChunks ?? DEFAULT_MAX_CHUNKS, 'maxChunks');
  const { replay } = options;
  const unsynced =
    replay === undefined
      ? await listUnsyncedRawObjects(rawStore, catalog, sourceId, options.fromDay === undefined ? {} : { fromDay: options.fromDay })
      : await listRawObjectsInRange(rawStore, sourceId, replay);
  const all = chunkObjects(unsynced, maxBytes, maxObjects);
  // Objects deferred by a replay would never come back: the next sync skips marked objects.
  if (replay !== undefined && all.length > maxChunks) {
    throw new RangeError(`replay ${replay.from}..${replay.to} needs ${all.length} chunks, more than one sync plans (${maxChunks}); replay a shorter range`);
  }
  const groups = all.slice(0, maxChunks);
  const chunks: PrepareTaskInput[] = [];
  let objects = 0;
  let bytes = 0;
  for (const [i, group] of groups.entries()) {
    const chunkId = `chunk-${String(i + 1).padStart(5, '0')}`;
    const key = manifestKey(sourceId, syncId, chunkId);
    const manifest: ChunkManifest = { sourceId, syncId, chunkId, rawKeys: group.map((o) => o.key) };
    await lakeStore.put(key, JSON.stringify(manifest), { contentType: 'application/json' });
    const size = group.reduce((sum, o) => sum + o.size, 0);
    chunks.push({ source_id: sourceId, sync_id: syncId, chunk_id: chunkId, manifest_key: key, objects: group.length, bytes: size });
    objects += group.length;
    bytes += size;
  }
  const plan: SyncPlan = { sourceId, syncId, chunks, objects, bytes, deferredObjects: unsynced.length - objects };
  if (replay !== undefined) plan.replay = { from: replay.from, to: replay.to };
  return plan;
}

/** The execution input that runs a plan through the datalake-sync machine. */
export function syncExecutionInput(
  plan: SyncPlan,
  options: { database?: string; dedupWindowDays?: number } = {},
): SyncExecutionInput {
  const ids = { source_id: plan.sourceId, sync_id: plan.syncId };
  return {
    ...ids,
    prepare_inputs: plan.chunks,
    load_input: options.dedupWindowDays === undefined ? { ...ids } : { ...ids, dedup_window_days: options.dedupWindowDays },
    follow_input: { ...ids },
    cleanup_input: {
      ...ids,
      ...(options.database === undefined ? {} : { database: options.database }),
      ...(plan.replay === undefined ? {} : { replay: { from: plan.replay.from, to: plan.replay.to } }),
    },
    cleanup: { error: null },
  };
}

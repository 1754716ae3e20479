/**
 * The catalog's domain types: what a Glue Data Catalog holds for a Segment Data Lake (databases
 * per source, tables per event type, columns with types and history, partitions and their files),
 * plus the records that make syncs exactly-once (raw-object marks, sync records, load jobs).
 * Kept apart from the row types of any one database so a PostgreSQL catalog can share them.
 */

/**
 * A column type of the lake; the same union as the lake's `ColumnType`. The catalog does not own
 * the widening lattice (the lake does) and takes it as a function where it needs it.
 */
export type CatalogColumnType = 'bigint' | 'double' | 'boolean' | 'string' | 'timestamp';

/** Every column type, for validation of stored values. */
export const COLUMN_TYPES: readonly CatalogColumnType[] = [
  'bigint',
  'double',
  'boolean',
  'string',
  'timestamp',
];

/** The lattice join of two column types: the narrowest type both cast to losslessly. */
export type WidenFn = (current: CatalogColumnType, incoming: CatalogColumnType) => CatalogColumnType;

/** One source's database (Glue: one database per source). */
export interface CatalogDatabase {
  sourceId: string;
  name: string;
  createdAt: string;
}

/** One column of a table, in table order. */
export interface CatalogColumn {
  name: string;
  type: CatalogColumnType;
  /** 0-based; new columns are appended, so positions never change. */
  position: number;
  firstSeenAt: string;
  firstSeenSync: string;
}

/** One table (one per event type) with its columns in order. */
export interface CatalogTable {
  sourceId: string;
  name: string;
  /** Bumped whenever a column widens; every committed file carries the version it was written at. */
  typeVersion: number;
  createdAt: string;
  createdBySync: string;
  updatedAt: string;
  columns: CatalogColumn[];
}

/** One committed Parquet file of a partition. */
export interface CatalogFile {
  key: string;
  sourceId: string;
  table: string;
  day: string;
  hr: string;
  rowCount: number;
  bytes: number;
  typeVersion: number;
  syncId: string;
  createdAt: string;
}

/** One `day=/hr=` partition of a table with its committed files. */
export interface CatalogPartition {
  sourceId: string;
  table: string;
  day: string;
  hr: string;
  /** Key prefix of the partition, ending in '/'. */
  location: string;
  rowCount: number;
  bytes: number;
  files: CatalogFile[];
}

/** One entry of a table's schema history. */
export interface SchemaChange {
  sourceId: string;
  table: string;
  column: string;
  change: 'added' | 'widened';
  /** Undefined for an added column. */
  fromType?: CatalogColumnType;
  toType: CatalogColumnType;
  syncId: string;
  changedAt: string;
}

/**
 * Lifecycle of a sync record:
 * - `running`   → `committed` (its Load committed: data visible, raw objects marked) or `failed`
 * - `committed` → `finished` (the report was written)
 * - `failed`    → `running` (redriven)
 * A committed sync can never become `failed`: its data is already visible.
 */
export const SyncStatus = {
  Running: 'running',
  Committed: 'committed',
  Finished: 'finished',
  Failed: 'failed',
} as const;
/** One of {@link SyncStatus}. */
export type SyncStatus = (typeof SyncStatus)[keyof typeof SyncStatus];

/** One sync of a source. */
export interface SyncRecord {
  id: string;
  sourceId: string;
  status: SyncStatus;
  startedAt: string;
  committedAt?: string;
  finishedAt?: string;
  reportKey?: string;
  error?: string;
  /** The Load result stored at commit, so a retried Load can answer without redoing work. */
  loadResult?: unknown;
}

/**
 * Lifecycle of a load job:
 * - `queued`  → `running` (claimed by a runner, which then heartbeats)
 * - `running` → `succeeded` (result stored) or `failed` (cause stored; also when the heartbeat
 *   stops, so a pollers never waits on a dead process)
 */
export const LoadJobStatus = {
  Queued: 'queued',
  Running: 'running',
  Succeeded: 'succeeded',
  Failed: 'failed',
} as const;
/** One of {@link LoadJobStatus}. */
export type LoadJobStatus = (typeof LoadJobStatus)[keyof typeof LoadJobStatus];

/** A load job as stored; spec and result are JSON owned by the lake's load job. */
export interface LoadJobRecord {
  id: string;
  sourceId: string;
  syncId: string;
  status: LoadJobStatus;
  spec: unknown;
  result?: unknown;
  cause?: string;
  createdAt: string;
  startedAt?: string;
  heartbeatAt?: string;
  finishedAt?: string;
}

/** A column change of one table inside a {@link LoadCommit}. */
export type ColumnChange =
  | { change: 'added'; name: string; type: CatalogColumnType; position: number }
  | { change: 'widened'; name: string; fromType: CatalogColumnType; toType: CatalogColumnType };

/** A new committed file inside a {@link LoadCommit}. */
export interface NewFile {
  key: string;
  day: string;
  hr: string;
  rowCount: number;
  bytes: number;
}

/** Everything one table's Load changes, applied in the commit's transaction. */
export interface TableCommit {
  table: string;
  /** The type version the plan was made against; the commit fails if another commit moved it. */
  expectedTypeVersion: number;
  /** The column count the plan was made against (same optimistic check for appends). */
  expectedColumnCount: number;
  changes: ColumnChange[];
  addFiles: NewFile[];
  /** Files replaced by merged or rewritten ones; deleted from the store after the commit. */
  removeFiles: string[];
  /** Files kept as they are but already valid under the new types (no widened column inside). */
  retypeFiles: string[];
}

/** One Load's catalog commit: made visible in one transaction, or not at all. */
export interface LoadCommit {
  sourceId: string;
  syncId: string;
  committedAt: string;
  tables: TableCommit[];
  /** Raw objects whose rows this sync committed; each is marked synced by this sync. */
  rawKeys: string[];
  /** Stored on the sync record (JSON). */
  loadResult: unknown;
}

/** Raised when a commit was planned against a catalog state that has since changed. */
export class CatalogConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CatalogConflictError';
  }
}

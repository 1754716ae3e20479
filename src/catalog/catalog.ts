/**
 * The Catalog interface: the Glue Data Catalog of an Inlet lake plus the bookkeeping that makes a
 * sync exactly-once. Methods are async so a PostgreSQL catalog can sit behind the same interface
 * as the embedded SQLite one; everything a Load changes goes through {@link Catalog.commitLoad},
 * one transaction, so data becomes visible all at once or not at all.
 */
import type {
  CatalogDatabase,
  CatalogFile,
  CatalogPartition,
  CatalogTable,
  LoadCommit,
  LoadJobRecord,
  SchemaChange,
  SyncRecord,
} from './types.ts';

/** Filters for {@link Catalog.listFiles}. */
export interface ListFilesOptions {
  /** Only partitions whose day is this day or later ('YYYY-MM-DD'). */
  fromDay?: string;
}

/** Filters for {@link Catalog.listSyncs}. */
export interface ListSyncsOptions {
  sourceId?: string;
  /** Most recent first; default 100 (Segment's sync history shows the last 100). */
  limit?: number;
}

/** How a sync ends, for {@link Catalog.finishSync}. */
export interface FinishSync {
  status: 'finished' | 'failed';
  finishedAt: string;
  reportKey?: string;
  error?: string;
}

/** How a load job ends, for {@link Catalog.finishLoadJob}. */
export type LoadJobOutcome =
  | { status: 'succeeded'; finishedAt: string; result: unknown }
  | { status: 'failed'; finishedAt: string; cause: string };

/** A new load job, for {@link Catalog.createLoadJob}. */
export interface NewLoadJob {
  id: string;
  sourceId: string;
  syncId: string;
  spec: unknown;
  createdAt: string;
}

/** The catalog of databases, tables, columns, partitions, syncs and load jobs. */
export interface Catalog {
  /** Creates the source's database if absent (name defaults to the source id) and returns it. */
  ensureDatabase(sourceId: string, name?: string): Promise<CatalogDatabase>;
  /** All databases, by source id. */
  listDatabases(): Promise<CatalogDatabase[]>;
  /** One table with its columns, or undefined. */
  getTable(sourceId: string, table: string): Promise<CatalogTable | undefined>;
  /** Tables (with columns) of one source, or of all sources. */
  listTables(sourceId?: string): Promise<CatalogTable[]>;
  /** A table's partitions with their committed files, by day and hour. */
  listPartitions(sourceId: string, table: string): Promise<CatalogPartition[]>;
  /** A table's committed files, by day, hour and key. */
  listFiles(sourceId: string, table: string, options?: ListFilesOptions): Promise<CatalogFile[]>;
  /** Column additions and widenings, oldest first. */
  schemaHistory(sourceId: string, table?: string): Promise<SchemaChange[]>;
  /** Which of `rawKeys` are marked synced, and by which sync. */
  rawSyncMarks(rawKeys: readonly string[]): Promise<Map<string, string>>;
  /** Records a sync as running (idempotent; a failed sync may be redriven). */
  startSync(sourceId: string, syncId: string, startedAt: string): Promise<SyncRecord>;
  /** One sync record, or undefined. */
  getSync(syncId: string): Promise<SyncRecord | undefined>;
  /** Sync records, most recent first. */
  listSyncs(options?: ListSyncsOptions): Promise<SyncRecord[]>;
  /** Ends a sync; refuses to fail a committed one, whose data is already visible. */
  finishSync(syncId: string, finish: FinishSync): Promise<SyncRecord>;
  /**
   * Applies one Load in a single transaction: schema changes and history, files and partitions,
   * raw-object marks, the sync record (→ committed) and the files to delete afterwards.
   * Throws {@link CatalogConflictError} when the plan no longer matches the catalog.
   */
  commitLoad(commit: LoadCommit): Promise<void>;
  /** Keys replaced by committed Loads and not yet deleted from the lake store. */
  pendingDeletes(sourceId: string): Promise<string[]>;
  /** Forgets pending deletes once the objects are gone. */
  clearPendingDeletes(keys: readonly string[]): Promise<void>;
  /** Stores a queued load job. */
  createLoadJob(job: NewLoadJob): Promise<LoadJobRecord>;
  /** One load job, or undefined. */
  getLoadJob(id: string): Promise<LoadJobRecord | undefined>;
  /** The newest queued or running job of a sync, or undefined. */
  findActiveLoadJob(syncId: string): Promise<LoadJobRecord | undefined>;
  /** Moves a queued job to running; false when another runner got it first. */
  claimLoadJob(id: string, now: string): Promise<boolean>;
  /** Records that a running job's runner is alive. */
  heartbeatLoadJob(id: string, now: string): Promise<void>;
  /** Ends a queued or running job; false when it had already ended. */
  finishLoadJob(id: string, outcome: LoadJobOutcome): Promise<boolean>;
}

/**
 * The catalog's tables in the shared SQLite database, as versioned migrations under the
 * `catalog` namespace. Plain SQL (TEXT timestamps in ISO-8601 UTC, INTEGER counts, JSON as TEXT)
 * so the same schema ports to PostgreSQL unchanged in shape.
 */
import type { MigrationSet } from '../store/migrate.ts';

/** Migration i takes the catalog schema from version i to i+1; never edit a released entry. */
export const CATALOG_MIGRATIONS: MigrationSet = {
  namespace: 'catalog',
  migrations: [
    `
    CREATE TABLE catalog_databases (
      source_id TEXT PRIMARY KEY,
      name TEXT NOT NULL UNIQUE,
      created_at TEXT NOT NULL
    );
    CREATE TABLE catalog_tables (
      source_id TEXT NOT NULL REFERENCES catalog_databases (source_id),
      name TEXT NOT NULL,
      type_version INTEGER NOT NULL,
      created_at TEXT NOT NULL,
      created_by_sync TEXT NOT NULL,
      updated_at TEXT NOT NULL,
      PRIMARY KEY (source_id, name)
    );
    CREATE TABLE catalog_columns (
      source_id TEXT NOT NULL,
      table_name TEXT NOT NULL,
      name TEXT NOT NULL,
      type TEXT NOT NULL CHECK (type IN ('bigint', 'double', 'boolean', 'string', 'timestamp')),
      position INTEGER NOT NULL,
      first_seen_at TEXT NOT NULL,
      first_seen_sync TEXT NOT NULL,
      PRIMARY KEY (source_id, table_name, name),
      UNIQUE (source_id, table_name, position),
      FOREIGN KEY (source_id, table_name) REFERENCES catalog_tables (source_id, name)
    );
    CREATE TABLE catalog_schema_changes (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      source_id TEXT NOT NULL,
      table_name TEXT NOT NULL,
      column_name TEXT NOT NULL,
      change TEXT NOT NULL CHECK (change IN ('added', 'widened')),
      from_type TEXT,
      to_type TEXT NOT NULL,
      sync_id TEXT NOT NULL,
      changed_at TEXT NOT NULL
    );
    CREATE INDEX catalog_schema_changes_table ON catalog_schema_changes (source_id, table_name, id);
    CREATE TABLE catalog_partitions (
      source_id TEXT NOT NULL,
      table_name TEXT NOT NULL,
      day TEXT NOT NULL,
      hr TEXT NOT NULL,
      location TEXT NOT NULL,
      row_count INTEGER NOT NULL,
      bytes INTEGER NOT NULL,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL,
      PRIMARY KEY (source_id, table_name, day, hr)
    );
    CREATE TABLE catalog_files (
      key TEXT PRIMARY KEY,
      source_id TEXT NOT NULL,
      table_name TEXT NOT NULL,
      day TEXT NOT NULL,
      hr TEXT NOT NULL,
      row_count INTEGER NOT NULL,
      bytes INTEGER NOT NULL,
      type_version INTEGER NOT NULL,
      sync_id TEXT NOT NULL,
      created_at TEXT NOT NULL
    );
    CREATE INDEX catalog_files_partition ON catalog_files (source_id, table_name, day, hr);
    CREATE TABLE catalog_pending_deletes (
      key TEXT PRIMARY KEY,
      source_id TEXT NOT NULL,
      sync_id TEXT NOT NULL,
      created_at TEXT NOT NULL
    );
    CREATE TABLE catalog_raw_marks (
      raw_key TEXT PRIMARY KEY,
      source_id TEXT NOT NULL,
      sync_id TEXT NOT NULL,
      marked_at TEXT NOT NULL
    );
    CREATE INDEX catalog_raw_marks_sync ON catalog_raw_marks (sync_id);
    CREATE TABLE catalog_syncs (
      id TEXT PRIMARY KEY,
      source_id TEXT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('running', 'committed', 'finished', 'failed')),
      started_at TEXT NOT NULL,
      committed_at TEXT,
      finished_at TEXT,
      report_key TEXT,
      error TEXT,
      load_result TEXT
    );
    CREATE INDEX catalog_syncs_source ON catalog_syncs (source_id, started_at);
    CREATE TABLE catalog_load_jobs (
      id TEXT PRIMARY KEY,
      source_id TEXT NOT NULL,
      sync_id TEXT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
      spec TEXT NOT NULL,
      result TEXT,
      cause TEXT,
      created_at TEXT NOT NULL,
      started_at TEXT,
      heartbeat_at TEXT,
      finished_at TEXT
    );
    CREATE INDEX catalog_load_jobs_sync ON catalog_load_jobs (sync_id, created_at);
    `,
  ],
};

/**
 * The scheduler's tables in the shared SQLite database, under the `scheduler` migration
 * namespace: per source when the interval clock last restarted, a log of every decision that
 * started (or tried to start) a sync, and the lease of the one scheduler that may start syncs.
 * They live in the store, not in memory, so a restarted scheduler knows how long a source has
 * waited and catches up with one sync, not one per tick.
 */
import type { MigrationSet } from '../store/migrate.ts';

/** Migration i takes the scheduler schema from version i to i+1; never edit a released entry. */
export const SCHEDULER_MIGRATIONS: MigrationSet = {
  namespace: 'scheduler',
  migrations: [
    `
    CREATE TABLE scheduler_sources (
      source_id TEXT PRIMARY KEY,
      first_seen_ms INTEGER NOT NULL,
      last_started_ms INTEGER,
      last_sync_id TEXT,
      last_trigger TEXT
    );
    CREATE TABLE scheduler_runs (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      source_id TEXT NOT NULL,
      at_ms INTEGER NOT NULL,
      trigger TEXT NOT NULL CHECK (trigger IN ('interval', 'bytes')),
      outcome TEXT NOT NULL CHECK (outcome IN ('started', 'nothing_to_sync', 'failed')),
      sync_id TEXT,
      pending_bytes INTEGER,
      error TEXT
    );
    CREATE INDEX scheduler_runs_source ON scheduler_runs (source_id, id);
    `,
    // The leader's lease: one row, held by the scheduler that may start syncs until it expires.
    `
    CREATE TABLE scheduler_lease (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      holder TEXT NOT NULL,
      expires_ms INTEGER NOT NULL
    );
    `,
  ],
};

/**
 * The engine's tables in the embedded SQLite database (namespace `engine`). Timestamps are
 * epoch milliseconds; JSON is stored as text.
 */
import type { MigrationSet } from '../migrate.ts';

/** Migrations of the engine's schema, in order. */
export const engineMigrations: MigrationSet = {
  namespace: 'engine',
  migrations: [
    `
    CREATE TABLE state_machines (
      arn TEXT PRIMARY KEY,
      name TEXT NOT NULL UNIQUE,
      definition TEXT NOT NULL,
      role_arn TEXT NOT NULL,
      type TEXT NOT NULL,
      created_ms INTEGER NOT NULL,
      updated_ms INTEGER NOT NULL,
      revision INTEGER NOT NULL,
      description TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE state_machine_versions (
      arn TEXT PRIMARY KEY,
      state_machine_arn TEXT NOT NULL,
      version INTEGER NOT NULL,
      definition TEXT NOT NULL,
      role_arn TEXT NOT NULL,
      created_ms INTEGER NOT NULL,
      description TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX state_machine_versions_by_machine ON state_machine_versions (state_machine_arn, version);
    CREATE TABLE activities (
      arn TEXT PRIMARY KEY,
      name TEXT NOT NULL UNIQUE,
      created_ms INTEGER NOT NULL
    );
    CREATE TABLE executions (
      arn TEXT PRIMARY KEY,
      state_machine_arn TEXT NOT NULL,
      started_with_arn TEXT NOT NULL,
      name TEXT NOT NULL,
      status TEXT NOT NULL,
      input TEXT NOT NULL,
      output TEXT,
      error TEXT,
      cause TEXT,
      start_ms INTEGER NOT NULL,
      stop_ms INTEGER,
      definition TEXT NOT NULL,
      role_arn TEXT NOT NULL,
      runtime TEXT NOT NULL,
      transitions INTEGER NOT NULL DEFAULT 0,
      redrive_count INTEGER NOT NULL DEFAULT 0,
      redrive_ms INTEGER
    );
    CREATE INDEX executions_by_machine ON executions (state_machine_arn, start_ms DESC, arn);
    CREATE INDEX executions_by_start ON executions (start_ms DESC, arn);
    CREATE INDEX executions_by_stop ON executions (stop_ms) WHERE stop_ms IS NOT NULL;
    CREATE TABLE history_events (
      execution_arn TEXT NOT NULL,
      id INTEGER NOT NULL,
      type TEXT NOT NULL,
      timestamp_ms INTEGER NOT NULL,
      previous_event_id INTEGER NOT NULL,
      details TEXT,
      PRIMARY KEY (execution_arn, id)
    ) WITHOUT ROWID;
    CREATE TABLE inbox (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      execution_arn TEXT NOT NULL,
      due_ms INTEGER NOT NULL,
      token TEXT,
      kind TEXT NOT NULL,
      wake TEXT NOT NULL
    );
    CREATE INDEX inbox_by_due ON inbox (due_ms, id);
    CREATE INDEX inbox_by_execution ON inbox (execution_arn);
    CREATE INDEX inbox_by_token ON inbox (token) WHERE token IS NOT NULL;
    CREATE TABLE activity_tasks (
      token TEXT PRIMARY KEY,
      activity_arn TEXT NOT NULL,
      execution_arn TEXT NOT NULL,
      input TEXT NOT NULL,
      status TEXT NOT NULL,
      closed_reason TEXT,
      created_ms INTEGER NOT NULL,
      started_ms INTEGER,
      worker_name TEXT,
      heartbeat_seconds INTEGER
    );
    CREATE INDEX activity_tasks_queue ON activity_tasks (activity_arn, status, created_ms);
    CREATE INDEX activity_tasks_by_execution ON activity_tasks (execution_arn);
    `,
    `
    CREATE TABLE tags (
      resource_arn TEXT NOT NULL,
      key TEXT NOT NULL,
      value TEXT NOT NULL,
      PRIMARY KEY (resource_arn, key)
    ) WITHOUT ROWID;
    `,
    // Every commit bumps the version, so a cached runtime can be checked with one integer.
    `ALTER TABLE executions ADD COLUMN version INTEGER NOT NULL DEFAULT 0;`,
    // Large event details live here once, by content hash, however many events carry them.
    `CREATE TABLE payloads (hash TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;`,
    // History keyed by a small integer instead of the ~90-character execution ARN: each advance
    // inserts a row per event, and the shorter key made those inserts about 40% cheaper.
    `
    ALTER TABLE executions ADD COLUMN id INTEGER;
    UPDATE executions SET id = rowid;
    CREATE UNIQUE INDEX executions_by_id ON executions (id);
    CREATE TABLE history (
      execution_id INTEGER NOT NULL,
      id INTEGER NOT NULL,
      type TEXT NOT NULL,
      timestamp_ms INTEGER NOT NULL,
      previous_event_id INTEGER NOT NULL,
      details TEXT,
      PRIMARY KEY (execution_id, id)
    ) WITHOUT ROWID;
    INSERT INTO history (execution_id, id, type, timestamp_ms, previous_event_id, details)
      SELECT executions.id, h.id, h.type, h.timestamp_ms, h.previous_event_id, h.details
      FROM history_events AS h JOIN executions ON executions.arn = h.execution_arn;
    DROP TABLE history_events;
    `,
  ],
};

/**
 * The engine's tables on PostgreSQL (namespace `engine`), in the schema the store was opened
 * with. The same tables and keys as on SQLite (src/store/sqlite/migrations.ts) in their final
 * shape: times are epoch milliseconds and durations seconds, as DOUBLE PRECISION (what a
 * JavaScript number is: whole numbers exact to 2^53, and a fraction where a definition gives
 * one, as SQLite keeps it), JSON is text, and the ids SQLite derives by hand are identity
 * columns, which concurrent engines can take without racing. Names, ARNs
 * and tag keys that pages are ordered by compare bytewise (`COLLATE "C"`), as SQLite does, so
 * list pages come in the same order whatever the database's locale.
 */
import type { MigrationSet } from '../migrate.ts';

/** Migrations of the engine's schema on PostgreSQL, in order. */
export const postgresEngineMigrations: MigrationSet = {
  namespace: 'engine',
  migrations: [
    `
    CREATE TABLE state_machines (
      arn TEXT PRIMARY KEY,
      name TEXT COLLATE "C" NOT NULL UNIQUE,
      definition TEXT NOT NULL,
      role_arn TEXT NOT NULL,
      type TEXT NOT NULL,
      created_ms DOUBLE PRECISION NOT NULL,
      updated_ms DOUBLE PRECISION NOT NULL,
      revision INTEGER NOT NULL,
      description TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE state_machine_versions (
      arn TEXT PRIMARY KEY,
      state_machine_arn TEXT NOT NULL,
      version INTEGER NOT NULL,
      definition TEXT NOT NULL,
      role_arn TEXT NOT NULL,
      created_ms DOUBLE PRECISION NOT NULL,
      description TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX state_machine_versions_by_machine ON state_machine_versions (state_machine_arn, version);
    CREATE TABLE activities (
      arn TEXT PRIMARY KEY,
      name TEXT COLLATE "C" NOT NULL UNIQUE,
      created_ms DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE executions (
      id BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
      arn TEXT COLLATE "C" PRIMARY KEY,
      state_machine_arn TEXT NOT NULL,
      started_with_arn TEXT NOT NULL,
      name TEXT NOT NULL,
      status TEXT NOT NULL,
      input TEXT NOT NULL,
      output TEXT,
      error TEXT,
      cause TEXT,
      start_ms DOUBLE PRECISION NOT NULL,
      stop_ms DOUBLE PRECISION,
      definition TEXT NOT NULL,
      role_arn TEXT NOT NULL,
      runtime TEXT NOT NULL,
      transitions INTEGER NOT NULL DEFAULT 0,
      redrive_count INTEGER NOT NULL DEFAULT 0,
      redrive_ms DOUBLE PRECISION,
      version INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX executions_by_machine ON executions (state_machine_arn, start_ms DESC, arn);
    CREATE INDEX executions_by_start ON executions (start_ms DESC, arn);
    CREATE INDEX executions_by_stop ON executions (stop_ms) WHERE stop_ms IS NOT NULL;
    CREATE TABLE history (
      execution_id BIGINT NOT NULL,
      id INTEGER NOT NULL,
      type TEXT NOT NULL,
      timestamp_ms DOUBLE PRECISION NOT NULL,
      previous_event_id INTEGER NOT NULL,
      details TEXT,
      PRIMARY KEY (execution_id, id)
    );
    CREATE TABLE inbox (
      id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      execution_arn TEXT NOT NULL,
      due_ms DOUBLE PRECISION NOT NULL,
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
      created_ms DOUBLE PRECISION NOT NULL,
      started_ms DOUBLE PRECISION,
      worker_name TEXT,
      heartbeat_seconds DOUBLE PRECISION
    );
    CREATE INDEX activity_tasks_queue ON activity_tasks (activity_arn, status, created_ms);
    CREATE INDEX activity_tasks_by_execution ON activity_tasks (execution_arn);
    CREATE TABLE tags (
      resource_arn TEXT NOT NULL,
      key TEXT COLLATE "C" NOT NULL,
      value TEXT NOT NULL,
      PRIMARY KEY (resource_arn, key)
    );
    CREATE TABLE payloads (hash TEXT PRIMARY KEY, body TEXT NOT NULL);
    `,
  ],
};

/**
 * Versioned schema migrations for the SQLite store, shared by every module that keeps tables in
 * it (engine, catalog, scheduler). Each module owns a namespace and an ordered list of SQL
 * migrations; the version reached is recorded per namespace in `schema_versions`, so modules
 * evolve independently inside one database file and a migration never runs twice.
 */
import type { Database } from 'better-sqlite3';

/** One module's migrations: index i holds the SQL that takes the schema from version i to i+1. */
export interface MigrationSet {
  namespace: string;
  migrations: readonly string[];
}

/** Applies the pending migrations of `set` in one transaction and returns the version reached. */
export function migrateSqlite(db: Database, set: MigrationSet): number {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_versions (
    namespace TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    migrated_at TEXT NOT NULL
  )`);
  const apply = db.transaction(() => {
    const row = db.prepare('SELECT version FROM schema_versions WHERE namespace = ?').get(set.namespace) as
      | { version: number }
      | undefined;
    const from = row?.version ?? 0;
    if (from > set.migrations.length) {
      throw new Error(
        `database schema '${set.namespace}' is at version ${from}, newer than this Inlet (${set.migrations.length})`,
      );
    }
    for (let version = from; version < set.migrations.length; version++) {
      db.exec(set.migrations[version] as string);
    }
    db.prepare(
      `INSERT INTO schema_versions (namespace, version, migrated_at) VALUES (?, ?, ?)
       ON CONFLICT (namespace) DO UPDATE SET version = excluded.version, migrated_at = excluded.migrated_at`,
    ).run(set.namespace, set.migrations.length, new Date().toISOString());
    return set.migrations.length;
  });
  return apply.immediate();
}

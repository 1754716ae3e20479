/**
 * Versioned schema migrations for the stores, shared by every module that keeps tables in one
 * (engine, catalog, scheduler). Each module owns a namespace and an ordered list of SQL
 * migrations; the version reached is recorded per namespace in `schema_versions`, so modules
 * evolve independently inside one database and a migration never runs twice. SQLite and
 * PostgreSQL each have their own lists (their SQL differs), applied the same way.
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

/** What {@link migratePostgres} needs of a `pg` client: one connection, so the lock and the work share it. */
export interface PostgresQueryable {
  query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

/**
 * Applies the pending migrations of `set` to the current schema of `client` (its `search_path`)
 * in one transaction. A transaction-scoped advisory lock serialises engines starting at once
 * against the same database, so a migration never runs twice.
 */
export async function migratePostgres(client: PostgresQueryable, set: MigrationSet): Promise<number> {
  await client.query('BEGIN');
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.inlet_migrations'))");
    await client.query(`CREATE TABLE IF NOT EXISTS schema_versions (
      namespace TEXT PRIMARY KEY,
      version INTEGER NOT NULL,
      migrated_at TEXT NOT NULL
    )`);
    const { rows } = await client.query('SELECT version FROM schema_versions WHERE namespace = $1', [set.namespace]);
    const from = Number(rows[0]?.['version'] ?? 0);
    if (from > set.migrations.length) {
      throw new Error(
        `database schema '${set.namespace}' is at version ${from}, newer than this Inlet (${set.migrations.length})`,
      );
    }
    for (let version = from; version < set.migrations.length; version++) {
      await client.query(set.migrations[version] as string);
    }
    await client.query(
      `INSERT INTO schema_versions (namespace, version, migrated_at) VALUES ($1, $2, $3)
       ON CONFLICT (namespace) DO UPDATE SET version = excluded.version, migrated_at = excluded.migrated_at`,
      [set.namespace, set.migrations.length, new Date().toISOString()],
    );
    await client.query('COMMIT');
    return set.migrations.length;
  } catch (err) {
    // The migration's own error is the one to see, not a failed rollback's on a broken connection.
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

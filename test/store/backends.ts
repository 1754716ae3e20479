/**
 * The store backends the contract suite runs on: SQLite on a file in a fresh temp directory, and
 * PostgreSQL in a fresh schema of the `test` database (dropped afterwards). A test takes a new
 * {@link TestDatabase} from a backend, so tests are isolated and may run concurrently; `reopen`
 * closes every connection and opens a new one on the same data, which is what a restart does.
 */
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';

/** Where the PostgreSQL backend runs; INLET_TEST_POSTGRES_URL overrides it. */
export const POSTGRES_URL = process.env.INLET_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** One database of a backend, private to one test. */
export interface TestDatabase {
  /** Opens a connection to this database (the first one creates it, empty); others stay open. */
  open(): Promise<Store>;
  /** A restart: closes every connection opened so far, then opens a new one on the same data. */
  reopen(): Promise<Store>;
  /** Closes what is still open and deletes the data. */
  drop(): Promise<void>;
}

/** A store implementation the suite runs against. */
export interface StoreBackend {
  name: string;
  /** A new, empty database, nothing created until its first open(). */
  database(): TestDatabase;
}

/** Tracks a database's open stores so reopen() and drop() can close them exactly once. */
function trackedDatabase(connect: () => Promise<Store>, remove: () => Promise<void>): TestDatabase {
  const open = new Set<Store>();
  let opened = false;
  const closeAll = async () => {
    const stores = [...open];
    open.clear();
    for (const store of stores) await store.close();
  };
  return {
    async open() {
      const store = await connect();
      opened = true;
      open.add(store);
      return store;
    },
    async reopen() {
      if (!opened) throw new Error('reopen() before open(): there is nothing to reopen');
      await closeAll();
      const store = await connect();
      open.add(store);
      return store;
    },
    async drop() {
      await closeAll();
      await remove();
    },
  };
}

const sqlite: StoreBackend = {
  name: 'sqlite',
  database() {
    const dir = mkdtempSync(join(tmpdir(), 'inlet-store-'));
    return trackedDatabase(
      async () => openSqliteStore(join(dir, 'engine.db')),
      () => rm(dir, { recursive: true, force: true }),
    );
  },
};

const postgres: StoreBackend = {
  name: 'postgres',
  database() {
    const schema = `inlet_test_${randomBytes(6).toString('hex')}`;
    return trackedDatabase(
      // Up to 10 connections: enough for the concurrent-claim test to really run 8 claims at once.
      () => openPostgresStore({ connectionString: POSTGRES_URL, schema, max: 10 }),
      async () => {
        const client = new pg.Client({ connectionString: POSTGRES_URL });
        await client.connect();
        try {
          await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        } finally {
          await client.end();
        }
      },
    );
  },
};

/** Every backend, in the order the suite runs them. */
export const BACKENDS: readonly StoreBackend[] = [sqlite, postgres];

/** Runs `body` on a fresh database of `backend`, dropped afterwards whatever happens. */
export async function withDatabase(
  backend: StoreBackend,
  body: (store: Store, db: TestDatabase) => Promise<void>,
): Promise<void> {
  const db = backend.database();
  try {
    await body(await db.open(), db);
  } finally {
    await db.drop();
  }
}

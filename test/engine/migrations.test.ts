/**
 * An engine database written by an older Inlet opens in this one with nothing lost: the
 * migrations run once, and executions, their history and their runtimes carry on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { migrateSqlite } from '../../src/store/migrate.ts';
import { engineMigrations } from '../../src/store/sqlite/migrations.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { Engine } from '../../src/engine/engine.ts';
import { StepFunctions } from '../../src/engine/step-functions.ts';

/** Schema version 4: history keyed by execution ARN, before executions had an integer id. */
const VERSION_4 = { namespace: engineMigrations.namespace, migrations: engineMigrations.migrations.slice(0, 4) };

void test('history written under schema version 4 reads back, in order, after the upgrade', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'inlet-migrate-'));
  const path = join(dir, 'inlet.db');
  const roleArn = 'arn:aws:iam::123456789012:role/r';
  const definition = JSON.stringify({ StartAt: 'A', States: { A: { Type: 'Pass', Next: 'B' }, B: { Type: 'Pass', End: true } } });

  // Run two executions on the current schema, then rewrite the file into the version-4 layout.
  let store = openSqliteStore(path);
  let engine = new Engine({ store });
  await engine.start();
  let sfn = new StepFunctions(engine);
  const { stateMachineArn } = await sfn.createStateMachine({ name: 'm', roleArn, definition });
  const arns: string[] = [];
  for (const name of ['one', 'two']) {
    const { executionArn } = await sfn.startExecution({ stateMachineArn, name, input: `{"run":"${name}"}` });
    await engine.waitForEnd(executionArn);
    arns.push(executionArn);
  }
  const before = await Promise.all(arns.map((executionArn) => sfn.getExecutionHistory({ executionArn })));
  await engine.stop();
  await store.close();

  const db = new Database(path);
  db.exec(`
    CREATE TABLE history_events (execution_arn TEXT NOT NULL, id INTEGER NOT NULL, type TEXT NOT NULL, timestamp_ms INTEGER NOT NULL,
      previous_event_id INTEGER NOT NULL, details TEXT, PRIMARY KEY (execution_arn, id)) WITHOUT ROWID;
    INSERT INTO history_events SELECT e.arn, h.id, h.type, h.timestamp_ms, h.previous_event_id, h.details
      FROM history h JOIN executions e ON e.id = h.execution_id;
    DROP TABLE history;
    DROP INDEX executions_by_id;
    ALTER TABLE executions DROP COLUMN id;
    UPDATE schema_versions SET version = 4 WHERE namespace = 'engine';
  `);
  assert.equal(migrateSqlite(db, VERSION_4), 4, 'the rewritten file is a valid version-4 database');
  db.close();

  store = openSqliteStore(path);
  engine = new Engine({ store });
  await engine.start();
  sfn = new StepFunctions(engine);
  t.after(async () => {
    await engine.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const after = await Promise.all(arns.map((executionArn) => sfn.getExecutionHistory({ executionArn })));
  assert.deepEqual(after, before);

  // New executions get ids past the migrated ones, so their history never mixes with old rows.
  const { executionArn } = await sfn.startExecution({ stateMachineArn, name: 'three', input: '{}' });
  await engine.waitForEnd(executionArn);
  const third = await sfn.getExecutionHistory({ executionArn });
  assert.equal(third.events[0]?.type, 'ExecutionStarted');
  assert.equal(third.events.length, before[0]?.events.length);
  assert.deepEqual(await sfn.getExecutionHistory({ executionArn: arns[0] as string }), before[0]);
});

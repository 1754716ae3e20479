/**
 * An engine database written by an older Inlet opens in this one with nothing lost: the
 * migrations run once, and executions, their history and their runtimes carry on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { migrateSqlite } from '../../src/store/migrate.ts';
import { engineMigrations } from '../../src/store/sqlite/migrations.ts';
import { createMachine, openEngine, tempDir } from './fixtures/harness.ts';

/** Schema version 4: history keyed by execution ARN, before executions had an integer id. */
const VERSION_4 = { namespace: engineMigrations.namespace, migrations: engineMigrations.migrations.slice(0, 4) };

void test('history written under schema version 4 reads back, in order, after the upgrade', async (t) => {
  const tmp = await tempDir('inlet-migrate-');
  const path = join(tmp.dir, 'inlet.db');

  // Run two executions on the current schema, then rewrite the file into the version-4 layout.
  const first = await openEngine(path);
  const stateMachineArn = await createMachine(first.sfn, 'm', { StartAt: 'A', States: { A: { Type: 'Pass', Next: 'B' }, B: { Type: 'Pass', End: true } } });
  const arns: string[] = [];
  for (const name of ['one', 'two']) {
    const { executionArn } = await first.sfn.startExecution({ stateMachineArn, name, input: `{"run":"${name}"}` });
    await first.engine.waitForEnd(executionArn);
    arns.push(executionArn);
  }
  const before = await Promise.all(arns.map((executionArn) => first.sfn.getExecutionHistory({ executionArn })));
  await first.stop();

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

  const { engine, sfn, stop } = await openEngine(path);
  t.after(async () => {
    await stop();
    await tmp.remove();
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

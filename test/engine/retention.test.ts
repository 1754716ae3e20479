/**
 * History is kept forever unless a retention is set; purging removes only finished executions
 * past the cutoff, with their history and their out-of-line payloads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { Engine } from '../../src/engine/engine.ts';
import { StepFunctions } from '../../src/engine/step-functions.ts';

void test('purging keeps running and recent executions and removes old finished ones with their history and payloads', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'inlet-retention-'));
  const store = openSqliteStore(join(dir, 'inlet.db'));
  let clock = Date.UTC(2024, 0, 1);
  const engine = new Engine({ store, now: () => clock });
  await engine.start();
  t.after(async () => {
    await engine.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const sfn = new StepFunctions(engine);
  const roleArn = 'arn:aws:iam::123456789012:role/r';
  const pass = await sfn.createStateMachine({
    name: 'pass',
    roleArn,
    definition: JSON.stringify({ StartAt: 'P', States: { P: { Type: 'Pass', End: true } } }),
  });
  const { activityArn } = await sfn.createActivity({ name: 'never' });
  const waits = await sfn.createStateMachine({
    name: 'waits',
    roleArn,
    definition: JSON.stringify({
      StartAt: 'T',
      States: { T: { Type: 'Task', Resource: activityArn, End: true } },
    }),
  });

  const old = await sfn.startExecution({
    stateMachineArn: pass.stateMachineArn,
    input: JSON.stringify({ big: 'b'.repeat(100_000) }),
  });
  await engine.waitForEnd(old.executionArn);
  const running = await sfn.startExecution({ stateMachineArn: waits.stateMachineArn });
  clock += 40 * 86_400_000;
  const recent = await sfn.startExecution({ stateMachineArn: pass.stateMachineArn });
  await engine.waitForEnd(recent.executionArn);

  const purged = await store.purgeExecutions(clock - 30 * 86_400_000);
  assert.equal(purged, 1);
  await assert.rejects(sfn.describeExecution({ executionArn: old.executionArn }), {
    name: 'ExecutionDoesNotExist',
  });
  assert.equal(
    (
      store.db
        .prepare('SELECT count(*) AS n FROM history WHERE execution_id = (SELECT id FROM executions WHERE arn = ?)')
        .get(old.executionArn) as { n: number }
    ).n,
    0,
  );
  assert.equal(
    (store.db.prepare('SELECT count(*) AS n FROM payloads').get() as { n: number }).n,
    0,
    'the old payload went with it',
  );
  assert.equal((await sfn.describeExecution({ executionArn: running.executionArn })).status, 'RUNNING');
  assert.equal((await sfn.describeExecution({ executionArn: recent.executionArn })).status, 'SUCCEEDED');
});

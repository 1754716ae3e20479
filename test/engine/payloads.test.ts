/**
 * Payloads past AWS's 256 KB limit: stored out of line once and read back whole by default; refused
 * with States.DataLimitExceeded in the AWS-compatible mode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { Engine } from '../../src/engine/engine.ts';
import { StepFunctions } from '../../src/engine/step-functions.ts';

const ROLE = 'arn:aws:iam::123456789012:role/r';
const definition = JSON.stringify({
  StartAt: 'A',
  States: { A: { Type: 'Pass', Next: 'B' }, B: { Type: 'Pass', End: true } },
});

async function withEngine(t: { after(fn: () => Promise<void> | void): void }, payloadLimitBytes?: number) {
  const dir = mkdtempSync(join(tmpdir(), 'inlet-payloads-'));
  const store = openSqliteStore(join(dir, 'inlet.db'));
  const engine = new Engine({ store, ...(payloadLimitBytes === undefined ? {} : { payloadLimitBytes }) });
  await engine.start();
  t.after(async () => {
    await engine.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { store, engine, sfn: new StepFunctions(engine) };
}

void test('a 2 MB input runs, its history reads back whole, and it is stored once however many events carry it', async (t) => {
  const { store, engine, sfn } = await withEngine(t);
  const { stateMachineArn } = await sfn.createStateMachine({ name: 'big', roleArn: ROLE, definition });
  const input = JSON.stringify({ blob: 'x'.repeat(2 * 1024 * 1024) });
  const { executionArn } = await sfn.startExecution({ stateMachineArn, input });
  const end = await engine.waitForEnd(executionArn);
  assert.equal(end.status, 'SUCCEEDED');
  assert.equal(end.output, input);
  const { events } = await sfn.getExecutionHistory({ executionArn });
  const entered = events.find((e) => e.type === 'PassStateEntered') as unknown as {
    stateEnteredEventDetails: { input: string };
  };
  assert.equal(entered.stateEnteredEventDetails.input, input);
  const rows = store.db.prepare('SELECT count(*) AS n, sum(length(body)) AS bytes FROM payloads').get() as {
    n: number;
    bytes: number;
  };
  assert.ok(rows.n >= 1 && rows.n <= 3, `payload rows: ${rows.n}`);
  const inline = store.db
    .prepare('SELECT max(length(details)) AS m FROM history WHERE execution_id = (SELECT id FROM executions WHERE arn = ?)')
    .get(executionArn) as { m: number };
  assert.ok(inline.m < 1024, 'history rows hold references, not the payload');
});

void test('the AWS-compatible mode fails a state whose output passes 256 KB with States.DataLimitExceeded', async (t) => {
  const { engine, sfn } = await withEngine(t, 256 * 1024);
  const { stateMachineArn } = await sfn.createStateMachine({
    name: 'grows',
    roleArn: ROLE,
    definition: JSON.stringify({
      StartAt: 'Grow',
      States: { Grow: { Type: 'Pass', Result: 'y'.repeat(300 * 1024), End: true } },
    }),
  });
  const { executionArn } = await sfn.startExecution({ stateMachineArn, input: '{}' });
  const end = await engine.waitForEnd(executionArn);
  assert.equal(end.status, 'FAILED');
  assert.equal(end.error, 'States.DataLimitExceeded');
  assert.match(end.cause ?? '', /'Grow' returned a result with a size exceeding the maximum number of bytes/);
  await assert.rejects(
    sfn.startExecution({ stateMachineArn, input: JSON.stringify({ z: 'z'.repeat(300 * 1024) }) }),
    /exceeds the maximum size/,
  );
});

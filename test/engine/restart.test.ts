/**
 * Timers are rows, so they outlive the engine that set them: a Wait, a Retry back-off and a
 * heartbeat timeout set by one engine fire in the next engine opened on the same SQLite file,
 * even when they fell due while no engine ran. The history stays one unbroken chain.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  createActivity,
  createMachine,
  eventually,
  finished,
  fullHistory,
  openEngine,
  sleep,
  takeTask,
  tempDir,
  typesOf,
} from './fixtures/harness.ts';
import type { OpenEngine } from './fixtures/harness.ts';

/** Runs `body` with a temp SQLite file path; engines opened on it are the body's to stop. */
async function withFile(body: (file: string, opened: OpenEngine[]) => Promise<void>): Promise<void> {
  const tmp = await tempDir();
  const opened: OpenEngine[] = [];
  try {
    await body(join(tmp.dir, 'engine.db'), opened);
  } finally {
    for (const open of opened) await open.stop().catch(() => undefined);
    await tmp.remove();
  }
}

async function hasEvent(open: OpenEngine, executionArn: string, type: string): Promise<boolean> {
  return typesOf(await fullHistory(open.sfn, executionArn)).includes(type);
}

void describe('timers across restarts', { concurrency: true }, () => {
  void test('a Wait set by one engine fires in the next one, even if it fell due while none was running', async () => {
    await withFile(async (file, opened) => {
      const first = await openEngine(file);
      opened.push(first);
      const machine = await createMachine(first.sfn, 'napper', {
        StartAt: 'Nap',
        States: {
          Nap: { Type: 'Wait', Seconds: 1, Next: 'Wake' },
          Wake: { Type: 'Pass', Result: 'awake', End: true },
        },
      });
      const { executionArn } = await first.sfn.startExecution({ stateMachineArn: machine });
      await eventually(() => hasEvent(first, executionArn, 'WaitStateEntered'), 'the Wait to begin');
      await first.stop();
      opened.pop();
      await sleep(1300);

      const second = await openEngine(file);
      opened.push(second);
      const { end, types } = await finished(second, executionArn, 5000);
      assert.equal(end.status, 'SUCCEEDED');
      assert.equal(end.output, '"awake"');
      assert.deepEqual(types, [
        'ExecutionStarted',
        'WaitStateEntered',
        'WaitStateExited',
        'PassStateEntered',
        'PassStateExited',
        'ExecutionSucceeded',
      ]);
    });
  });

  void test('a Retry back-off set by one engine runs the task again in the next one', async () => {
    await withFile(async (file, opened) => {
      const first = await openEngine(file);
      opened.push(first);
      const activityArn = await createActivity(first.sfn, 'wobbly');
      const machine = await createMachine(first.sfn, 'wobbly', {
        StartAt: 'Work',
        States: {
          Work: {
            Type: 'Task',
            Resource: activityArn,
            Retry: [{ ErrorEquals: ['Wobble'], IntervalSeconds: 1, MaxAttempts: 3 }],
            End: true,
          },
        },
      });
      const { executionArn } = await first.sfn.startExecution({
        stateMachineArn: machine,
        input: '{"try":"me"}',
      });
      await first.sfn.sendTaskFailure({
        taskToken: (await takeTask(first.sfn, activityArn)).taskToken,
        error: 'Wobble',
      });
      await eventually(() => hasEvent(first, executionArn, 'ActivityFailed'), 'the failure to be recorded');
      await first.stop();
      opened.pop();

      const second = await openEngine(file);
      opened.push(second);
      const retried = await takeTask(second.sfn, activityArn, 'after-restart', 5000);
      assert.deepEqual(retried.input, { try: 'me' });
      await second.sfn.sendTaskSuccess({ taskToken: retried.taskToken, output: '"steady"' });
      const { end, history, types } = await finished(second, executionArn, 5000);
      assert.equal(end.status, 'SUCCEEDED');
      assert.deepEqual(types, [
        'ExecutionStarted',
        'TaskStateEntered',
        'ActivityScheduled',
        'ActivityStarted',
        'ActivityFailed',
        'ActivityScheduled',
        'ActivityStarted',
        'ActivitySucceeded',
        'TaskStateExited',
        'ExecutionSucceeded',
      ]);
      const failedAt = history[4]?.timestamp.getTime() ?? 0;
      const rescheduledAt = history[5]?.timestamp.getTime() ?? 0;
      assert.ok(
        rescheduledAt - failedAt >= 950,
        `waited its IntervalSeconds, ${rescheduledAt - failedAt} ms`,
      );
    });
  });

  void test('a heartbeat timeout falls due while the engine is down and fires on restart', async () => {
    await withFile(async (file, opened) => {
      const first = await openEngine(file);
      opened.push(first);
      const activityArn = await createActivity(first.sfn, 'beating');
      const machine = await createMachine(first.sfn, 'beating', {
        StartAt: 'Work',
        States: { Work: { Type: 'Task', Resource: activityArn, HeartbeatSeconds: 1, End: true } },
      });
      const { executionArn } = await first.sfn.startExecution({ stateMachineArn: machine });
      const { taskToken } = await takeTask(first.sfn, activityArn);
      await eventually(() => hasEvent(first, executionArn, 'ActivityStarted'), 'the task to start');
      await first.stop();
      opened.pop();
      await sleep(1200);

      const second = await openEngine(file);
      opened.push(second);
      const { end } = await finished(second, executionArn, 5000);
      assert.equal(end.status, 'FAILED');
      assert.equal(end.error, 'States.HeartbeatTimeout');
      await assert.rejects(second.sfn.sendTaskSuccess({ taskToken, output: '{}' }), { name: 'TaskTimedOut' });
    });
  });

  void test('a Map suspended by one engine carries on in the next with its items, stored once inside its input', async () => {
    await withFile(async (file, opened) => {
      const first = await openEngine(file);
      opened.push(first);
      const activityArn = await createActivity(first.sfn, 'shipper');
      const machine = await createMachine(first.sfn, 'shipper', {
        StartAt: 'Each',
        States: {
          Each: {
            Type: 'Map',
            InputPath: '$.order',
            ItemsPath: '$.lines',
            MaxConcurrency: 2,
            ItemProcessor: { StartAt: 'Ship', States: { Ship: { Type: 'Task', Resource: activityArn, End: true } } },
            End: true,
          },
        },
      });
      const lines = Array.from({ length: 40 }, (_, i) => ({ sku: `sku-${i}`, note: 'x'.repeat(200) }));
      const input = JSON.stringify({ order: { id: 7, lines } });
      const { executionArn } = await first.sfn.startExecution({ stateMachineArn: machine, input });
      const shipped: unknown[] = [];
      const ship = async (open: OpenEngine) => {
        const task = await takeTask(open.sfn, activityArn);
        shipped.push(task.input);
        await open.sfn.sendTaskSuccess({ taskToken: task.taskToken, output: JSON.stringify((task.input as { sku: string }).sku) });
      };
      for (let i = 0; i < 5; i++) await ship(first);
      // The lines are written once, inside the input, not again as the Map's items.
      const stored = await first.store.getExecution(executionArn);
      assert.ok((stored?.runtime.length ?? 0) < 1.5 * input.length, `runtime of ${stored?.runtime.length} bytes for ${input.length} of input`);
      await first.stop();
      opened.pop();

      const second = await openEngine(file);
      opened.push(second);
      for (let i = 5; i < lines.length; i++) await ship(second);
      const { end } = await finished(second, executionArn, 5000);
      assert.equal(end.status, 'SUCCEEDED');
      assert.deepEqual(shipped.map((line) => (line as { sku: string }).sku).sort(), lines.map((l) => l.sku).sort());
      assert.deepEqual(JSON.parse(end.output ?? 'null'), lines.map((l) => l.sku));
    });
  });

  void test('a Map suspended by one engine and failed in the next redrives with its input intact', async () => {
    await withFile(async (file, opened) => {
      const first = await openEngine(file);
      opened.push(first);
      const activityArn = await createActivity(first.sfn, 'mapper');
      const machine = await createMachine(first.sfn, 'mapper', {
        StartAt: 'Each',
        States: {
          Each: {
            Type: 'Map',
            ItemsPath: '$.items',
            MaxConcurrency: 1,
            Iterator: { StartAt: 'Work', States: { Work: { Type: 'Task', Resource: activityArn, End: true } } },
            End: true,
          },
        },
      });
      const { executionArn } = await first.sfn.startExecution({ stateMachineArn: machine, input: '{"items":["a","b"]}' });
      const one = await takeTask(first.sfn, activityArn);
      assert.equal(one.input, 'a');
      await eventually(() => hasEvent(first, executionArn, 'ActivityStarted'), 'the task to start');
      await first.stop();
      opened.pop();

      // The next engine reads the Map's runtime back from the file and fails it.
      const second = await openEngine(file);
      opened.push(second);
      await second.sfn.sendTaskFailure({ taskToken: one.taskToken, error: 'Flaky', cause: 'try again' });
      const failed = await finished(second, executionArn, 5000);
      assert.equal(failed.end.status, 'FAILED');
      await second.stop();
      opened.pop();

      // And a third redrives it: the Map starts again from the same input, read back once more.
      const third = await openEngine(file);
      opened.push(third);
      await third.sfn.redriveExecution({ executionArn });
      const inputs: unknown[] = [];
      for (let i = 0; i < 2; i++) {
        const task = await takeTask(third.sfn, activityArn);
        inputs.push(task.input);
        await third.sfn.sendTaskSuccess({ taskToken: task.taskToken, output: JSON.stringify(`${String(task.input)}!`) });
      }
      assert.deepEqual(inputs, ['a', 'b']);
      const { end } = await finished(third, executionArn, 5000);
      assert.equal(end.status, 'SUCCEEDED');
      assert.equal(end.output, '["a!","b!"]');
    });
  });
});

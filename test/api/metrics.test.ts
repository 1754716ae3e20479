/**
 * /metrics: the engine's counters and timings, named after Step Functions' CloudWatch metrics,
 * fed by a real engine running a real activity.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { Engine } from '../../src/engine/engine.ts';
import { StepFunctions } from '../../src/engine/step-functions.ts';
import { createMetrics } from '../../src/api/metrics.ts';

void test('metrics count executions, transitions, cost and activities, with schedule and run times per activity', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'inlet-metrics-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = openSqliteStore(join(dir, 'inlet.db'));
  const metrics = createMetrics({ defaults: false });
  const engine = new Engine({ store, onAdvance: (r) => metrics.onAdvance(r) });
  await engine.start();
  t.after(async () => {
    await engine.stop();
    await store.close();
  });
  const sfn = new StepFunctions(engine);
  const { activityArn } = await sfn.createActivity({ name: 'work' });
  const { stateMachineArn } = await sfn.createStateMachine({
    name: 'metered',
    roleArn: 'arn:aws:iam::123456789012:role/r',
    definition: JSON.stringify({
      StartAt: 'Work',
      States: {
        Work: {
          Type: 'Task',
          Resource: activityArn,
          HeartbeatSeconds: 1,
          Retry: [{ ErrorEquals: ['States.Timeout'], IntervalSeconds: 1, MaxAttempts: 1 }],
          Next: 'Done',
        },
        Done: { Type: 'Pass', End: true },
      },
    }),
  });
  const { executionArn } = await sfn.startExecution({ stateMachineArn, input: '{}' });
  // The first worker goes silent: a heartbeat timeout; the retry's worker answers.
  assert.ok((await sfn.getActivityTask({ activityArn }, { pollMs: 5000 })).taskToken);
  const second = await sfn.getActivityTask({ activityArn }, { pollMs: 10_000 });
  await sfn.sendTaskSuccess({ taskToken: second.taskToken as string, output: '{"ok":true}' });
  const end = await engine.waitForEnd(executionArn);
  assert.equal(end.status, 'SUCCEEDED');

  const text = await metrics.registry.metrics();
  const value = (line: RegExp) => Number(line.exec(text)?.[1]);
  assert.equal(value(/^inlet_executions_started_total\{state_machine="metered"\} (\S+)$/m), 1);
  assert.equal(
    value(/^inlet_executions_ended_total\{state_machine="metered",status="SUCCEEDED"\} (\S+)$/m),
    1,
  );
  assert.equal(
    value(/^inlet_state_transitions_total\{state_machine="metered"\} (\S+)$/m),
    3,
    'two states entered and one retry',
  );
  assert.ok(
    Math.abs(value(/^inlet_estimated_cost_usd_total\{state_machine="metered"\} (\S+)$/m) - 3 * 0.000025) <
      1e-12,
  );
  assert.equal(value(/^inlet_activities_scheduled_total\{activity="work"\} (\S+)$/m), 2);
  assert.equal(value(/^inlet_activities_started_total\{activity="work"\} (\S+)$/m), 2);
  assert.equal(value(/^inlet_activities_heartbeat_timed_out_total\{activity="work"\} (\S+)$/m), 1);
  assert.equal(value(/^inlet_activities_succeeded_total\{activity="work"\} (\S+)$/m), 1);
  assert.equal(value(/^inlet_activity_run_time_seconds_count\{activity="work"\} (\S+)$/m), 2);
  assert.equal(value(/^inlet_activity_schedule_time_seconds_count\{activity="work"\} (\S+)$/m), 2);
  assert.ok(
    value(/^inlet_execution_time_seconds_sum\{state_machine="metered"\} (\S+)$/m) >= 1,
    'the run took at least the heartbeat timeout',
  );
});

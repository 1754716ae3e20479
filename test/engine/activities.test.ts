/**
 * Activities on the durable engine, as a worker sees them through the Step Functions API: the
 * task queue and its long poll, task tokens and the errors for unknown, malformed and timed-out
 * ones, HeartbeatSeconds and TimeoutSeconds enforced by timer rows, and the callback pattern
 * (`.waitForTaskToken`) with an in-process handler. Real SQLite files, real timers (1 s).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { StepFunctions } from '../../src/engine/step-functions.ts';
import {
  createActivity,
  createMachine,
  finished,
  rejectsWith,
  sleep,
  takeTask,
  withEngine,
} from './fixtures/harness.ts';

void describe('activity tasks', { concurrency: true }, () => {
  void test('a task goes from the queue to a worker and back, recorded as AWS records activity events', async () => {
    await withEngine(async ({ engine, sfn }) => {
      const activityArn = await createActivity(sfn, 'double');
      const machine = await createMachine(sfn, 'flow', {
        StartAt: 'Double',
        States: {
          Double: {
            Type: 'Task',
            Resource: activityArn,
            HeartbeatSeconds: 30,
            TimeoutSeconds: 60,
            End: true,
          },
        },
      });
      const { executionArn } = await sfn.startExecution({ stateMachineArn: machine, input: '{"n":21}' });
      const task = await takeTask(sfn, activityArn, 'worker-1');
      assert.deepEqual(task.input, { n: 21 });
      await sfn.sendTaskSuccess({ taskToken: task.taskToken, output: '{"n":42}' });
      const { end, history, types } = await finished({ engine, sfn }, executionArn, 5000);
      assert.equal(end.status, 'SUCCEEDED');
      assert.equal(end.output, '{"n":42}');

      assert.deepEqual(types, [
        'ExecutionStarted',
        'TaskStateEntered',
        'ActivityScheduled',
        'ActivityStarted',
        'ActivitySucceeded',
        'TaskStateExited',
        'ExecutionSucceeded',
      ]);
      // As AWS links them: the first state entered points at no event (0), the rest at the one before.
      assert.deepEqual(
        history.map((e) => e.previousEventId),
        [0, 0, 2, 3, 4, 5, 6],
      );
      const [, , scheduled, started, succeeded] = history;
      assert.deepEqual(scheduled?.activityScheduledEventDetails, {
        resource: activityArn,
        input: '{"n":21}',
        inputDetails: { truncated: false },
        timeoutInSeconds: 60,
        heartbeatInSeconds: 30,
      });
      assert.deepEqual(started?.activityStartedEventDetails, { workerName: 'worker-1' });
      assert.deepEqual(succeeded?.activitySucceededEventDetails, {
        output: '{"n":42}',
        outputDetails: { truncated: false },
      });
    });
  });

  void test('a long poll returns a task scheduled while it waits', async () => {
    await withEngine(async ({ sfn }) => {
      const activityArn = await createActivity(sfn, 'late');
      const machine = await createMachine(sfn, 'late', {
        StartAt: 'T',
        States: { T: { Type: 'Task', Resource: activityArn, End: true } },
      });
      const polled = Date.now();
      const poll = sfn.getActivityTask({ activityArn, workerName: 'patient' }, { pollMs: 10_000 });
      await sleep(300);
      await sfn.startExecution({ stateMachineArn: machine, input: '{"late":true}' });
      const task = await poll;
      const waited = Date.now() - polled;
      assert.ok(task.taskToken, 'the poll got the task');
      assert.equal(task.input, '{"late":true}');
      assert.ok(waited >= 250 && waited < 3000, `answered once the task was queued, after ${waited} ms`);
    });
  });

  void test('a poll with nothing to take answers without a token when its poll time is up', async () => {
    await withEngine(async ({ sfn }) => {
      const activityArn = await createActivity(sfn, 'idle');
      const polled = Date.now();
      const task = await sfn.getActivityTask({ activityArn }, { pollMs: 400 });
      const waited = Date.now() - polled;
      assert.equal(task.taskToken, undefined);
      assert.ok(waited >= 350 && waited < 2000, `held for its poll time, ${waited} ms`);
      await rejectsWith(
        sfn.getActivityTask({ activityArn: `${activityArn}-missing` }, { pollMs: 10 }),
        'ActivityDoesNotExist',
      );
    });
  });

  void test('task tokens are unguessable: 43 base64url characters (256 bits), all distinct', async () => {
    await withEngine(async ({ sfn }) => {
      const activityArn = await createActivity(sfn, 'tokens');
      const machine = await createMachine(sfn, 'tokens', {
        StartAt: 'Fan',
        States: {
          Fan: {
            Type: 'Map',
            ItemProcessor: {
              StartAt: 'T',
              States: { T: { Type: 'Task', Resource: activityArn, End: true } },
            },
            End: true,
          },
        },
      });
      await sfn.startExecution({ stateMachineArn: machine, input: JSON.stringify([1, 2, 3, 4, 5, 6, 7, 8]) });
      const tokens: string[] = [];
      for (let i = 0; i < 8; i++) tokens.push((await takeTask(sfn, activityArn)).taskToken);
      for (const token of tokens) assert.match(token, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(new Set(tokens).size, 8);
    });
  });

  void test('SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat refuse unknown tokens (TaskDoesNotExist) and malformed ones (InvalidToken)', async () => {
    await withEngine(async ({ sfn }) => {
      const unknown = randomBytes(32).toString('base64url');
      await rejectsWith(sfn.sendTaskSuccess({ taskToken: unknown, output: '{}' }), 'TaskDoesNotExist');
      await rejectsWith(sfn.sendTaskFailure({ taskToken: unknown, error: 'E' }), 'TaskDoesNotExist');
      await rejectsWith(sfn.sendTaskHeartbeat({ taskToken: unknown }), 'TaskDoesNotExist');
      for (const malformed of ['', 'short', `${unknown}x`, `${unknown.slice(0, 42)}!`]) {
        await rejectsWith(sfn.sendTaskSuccess({ taskToken: malformed, output: '{}' }), 'InvalidToken');
        await rejectsWith(sfn.sendTaskFailure({ taskToken: malformed }), 'InvalidToken');
        await rejectsWith(sfn.sendTaskHeartbeat({ taskToken: malformed }), 'InvalidToken');
      }
    });
  });

  void test('a finished task refuses a second answer, so a result is applied once', async () => {
    await withEngine(async ({ engine, sfn }) => {
      const activityArn = await createActivity(sfn, 'once');
      const machine = await createMachine(sfn, 'once', {
        StartAt: 'T',
        States: { T: { Type: 'Task', Resource: activityArn, End: true } },
      });
      const { executionArn } = await sfn.startExecution({ stateMachineArn: machine });
      const { taskToken } = await takeTask(sfn, activityArn);
      await sfn.sendTaskSuccess({ taskToken, output: '"first"' });
      await rejectsWith(sfn.sendTaskSuccess({ taskToken, output: '"second"' }), 'TaskDoesNotExist');
      await rejectsWith(sfn.sendTaskFailure({ taskToken, error: 'Late' }), 'TaskDoesNotExist');
      const { end, types } = await finished({ engine, sfn }, executionArn, 5000);
      assert.equal(end.output, '"first"');
      assert.equal(types.filter((t) => t === 'ActivitySucceeded').length, 1);
    });
  });

  void test('TimeoutSeconds fails a task its worker holds too long with States.Timeout, and its token is then refused with TaskTimedOut', async () => {
    await withEngine(async ({ engine, sfn }) => {
      const activityArn = await createActivity(sfn, 'slow');
      const machine = await createMachine(sfn, 'slow', {
        StartAt: 'T',
        States: { T: { Type: 'Task', Resource: activityArn, TimeoutSeconds: 1, End: true } },
      });
      const { executionArn } = await sfn.startExecution({ stateMachineArn: machine });
      const { taskToken } = await takeTask(sfn, activityArn);
      const taken = Date.now();
      const { end, history } = await finished({ engine, sfn }, executionArn, 5000);
      const after = Date.now() - taken;
      assert.equal(end.status, 'FAILED');
      assert.equal(end.error, 'States.Timeout');
      assert.ok(after >= 900, `timed out after its TimeoutSeconds, ${after} ms`);
      const timedOut = history.find((e) => e.type === 'ActivityTimedOut');
      assert.deepEqual(timedOut?.activityTimedOutEventDetails, { error: 'States.Timeout' });
      await rejectsWith(sfn.sendTaskSuccess({ taskToken, output: '{}' }), 'TaskTimedOut');
      await rejectsWith(sfn.sendTaskFailure({ taskToken, error: 'Late' }), 'TaskTimedOut');
      await rejectsWith(sfn.sendTaskHeartbeat({ taskToken }), 'TaskTimedOut');
    });
  });

  void test('a worker that never heartbeats times out with States.HeartbeatTimeout and the state’s Retry runs the task again', async () => {
    await withEngine(async ({ engine, sfn }) => {
      const activityArn = await createActivity(sfn, 'silent');
      const machine = await createMachine(sfn, 'silent', {
        StartAt: 'T',
        States: {
          T: {
            Type: 'Task',
            Resource: activityArn,
            HeartbeatSeconds: 1,
            Retry: [{ ErrorEquals: ['States.HeartbeatTimeout'], IntervalSeconds: 1, MaxAttempts: 1 }],
            End: true,
          },
        },
      });
      const { executionArn } = await sfn.startExecution({ stateMachineArn: machine, input: '{"job":7}' });
      const lost = await takeTask(sfn, activityArn, 'dies-silently');
      // The second worker only gets the task once the first one's heartbeat timed out and Retry waited.
      const retried = await takeTask(sfn, activityArn, 'healthy', 10_000);
      assert.notEqual(retried.taskToken, lost.taskToken);
      assert.deepEqual(retried.input, { job: 7 });
      await rejectsWith(
        sfn.sendTaskSuccess({ taskToken: lost.taskToken, output: '"stale"' }),
        'TaskTimedOut',
      );
      await sfn.sendTaskSuccess({ taskToken: retried.taskToken, output: '"fresh"' });
      const { end, history, types } = await finished({ engine, sfn }, executionArn, 5000);
      assert.equal(end.status, 'SUCCEEDED');
      assert.equal(end.output, '"fresh"');

      assert.deepEqual(types, [
        'ExecutionStarted',
        'TaskStateEntered',
        'ActivityScheduled',
        'ActivityStarted',
        'ActivityTimedOut',
        'ActivityScheduled',
        'ActivityStarted',
        'ActivitySucceeded',
        'TaskStateExited',
        'ExecutionSucceeded',
      ]);
      assert.deepEqual(history[4]?.activityTimedOutEventDetails, { error: 'States.HeartbeatTimeout' });
      assert.deepEqual(
        history.filter((e) => e.type === 'ActivityStarted').map((e) => e.activityStartedEventDetails),
        [{ workerName: 'dies-silently' }, { workerName: 'healthy' }],
      );
    });
  });

  void test('a worker that heartbeats keeps its task alive well past HeartbeatSeconds', async () => {
    await withEngine(async ({ engine, sfn }) => {
      const activityArn = await createActivity(sfn, 'steady');
      const machine = await createMachine(sfn, 'steady', {
        StartAt: 'T',
        States: { T: { Type: 'Task', Resource: activityArn, HeartbeatSeconds: 1, End: true } },
      });
      const { executionArn } = await sfn.startExecution({ stateMachineArn: machine });
      const { taskToken } = await takeTask(sfn, activityArn);
      const until = Date.now() + 2500;
      while (Date.now() < until) {
        await sfn.sendTaskHeartbeat({ taskToken });
        await sleep(250);
      }
      await sfn.sendTaskSuccess({ taskToken, output: '"done"' });
      const { end, types } = await finished({ engine, sfn }, executionArn, 5000);
      assert.equal(end.status, 'SUCCEEDED');
      assert.equal(end.output, '"done"');
      assert.ok(!types.includes('ActivityTimedOut'));
    });
  });

  void test('SendTaskFailure fails the state with the worker’s error and cause', async () => {
    await withEngine(async ({ engine, sfn }) => {
      const activityArn = await createActivity(sfn, 'failing');
      const machine = await createMachine(sfn, 'failing', {
        StartAt: 'T',
        States: { T: { Type: 'Task', Resource: activityArn, End: true } },
      });
      const { executionArn } = await sfn.startExecution({ stateMachineArn: machine });
      const { taskToken } = await takeTask(sfn, activityArn);
      await sfn.sendTaskFailure({ taskToken, error: 'Worker.Broken', cause: 'disk full' });
      const { end, history } = await finished({ engine, sfn }, executionArn, 5000);
      assert.equal(end.status, 'FAILED');
      assert.equal(end.error, 'Worker.Broken');
      assert.equal(end.cause, 'disk full');
      const failed = history.find((e) => e.type === 'ActivityFailed');
      assert.deepEqual(failed?.activityFailedEventDetails, { error: 'Worker.Broken', cause: 'disk full' });
    });
  });
});

void describe('the callback pattern', () => {
  void test('.waitForTaskToken hands $$.Task.Token to a local handler and the execution goes on when SendTaskSuccess comes', async () => {
    // The handler only hands the token on; the answer comes later through the API, as from an outside system.
    let api: StepFunctions | undefined;
    const answers: Promise<unknown>[] = [];
    const handlers = {
      'arn:aws:states:::lambda:invoke': async (input: unknown) => {
        const { Payload } = input as { Payload: { token: string; order: string } };
        answers.push(
          sleep(100).then(() =>
            api?.sendTaskSuccess({
              taskToken: Payload.token,
              output: JSON.stringify({ approved: Payload.order }),
            }),
          ),
        );
        return { StatusCode: 202 };
      },
    };
    await withEngine(
      async ({ engine, sfn }) => {
        api = sfn;
        const machine = await createMachine(sfn, 'callback', {
          StartAt: 'Ask',
          States: {
            Ask: {
              Type: 'Task',
              Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
              Parameters: {
                FunctionName: 'approve',
                Payload: { 'token.$': '$$.Task.Token', 'order.$': '$.order' },
              },
              ResultPath: '$.approval',
              End: true,
            },
          },
        });
        const { executionArn } = await sfn.startExecution({
          stateMachineArn: machine,
          input: '{"order":"o-1"}',
        });
        const { end, history, types } = await finished({ engine, sfn }, executionArn, 5000);
        await Promise.all(answers);
        assert.equal(answers.length, 1, 'the handler ran once');
        assert.equal(end.status, 'SUCCEEDED');
        assert.deepEqual(JSON.parse(end.output ?? 'null'), { order: 'o-1', approval: { approved: 'o-1' } });
        assert.deepEqual(types, [
          'ExecutionStarted',
          'TaskStateEntered',
          'TaskScheduled',
          'TaskStarted',
          'TaskSucceeded',
          'TaskStateExited',
          'ExecutionSucceeded',
        ]);
        assert.deepEqual(history[4]?.taskSucceededEventDetails, {
          resourceType: 'lambda',
          resource: 'invoke.waitForTaskToken',
          output: '{"approved":"o-1"}',
          outputDetails: { truncated: false },
        });
      },
      { handlers },
    );
  });
});

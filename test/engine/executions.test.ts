/**
 * Executions through the in-process Step Functions API on a real SQLite file: StartExecution's
 * idempotency by name, ListExecutions and GetExecutionHistory paging, StopExecution,
 * RedriveExecution, execution TimeoutSeconds, versions, ValidateStateMachineDefinition,
 * TestState, and the state-transition count with its price.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PRICE_PER_TRANSITION_USD } from '../../src/engine/engine.ts';
import {
  assertWellFormedHistory,
  createActivity,
  createMachine,
  finished,
  fullHistory,
  rejectsWith,
  takeTask,
  typesOf,
  withEngine,
} from './fixtures/harness.ts';

/** Succeeds or fails by its input's `fail` flag, without any worker. */
const CHOOSER = {
  StartAt: 'Decide',
  States: {
    Decide: {
      Type: 'Choice',
      Choices: [{ Variable: '$.fail', BooleanEquals: true, Next: 'No' }],
      Default: 'Yes',
    },
    Yes: { Type: 'Succeed' },
    No: { Type: 'Fail', Error: 'Chosen', Cause: 'the input asked for it' },
  },
};

void describe('executions', { concurrency: true }, () => {
  void test('StartExecution is idempotent by name: the same input returns the same execution, another input is ExecutionAlreadyExists', async () => {
    await withEngine(async ({ sfn }) => {
      const activityArn = await createActivity(sfn, 'hold');
      const machine = await createMachine(sfn, 'idem', {
        StartAt: 'T',
        States: { T: { Type: 'Task', Resource: activityArn, End: true } },
      });
      const first = await sfn.startExecution({
        stateMachineArn: machine,
        name: 'nightly-2024-01-01',
        input: '{"day":1}',
      });
      const again = await sfn.startExecution({
        stateMachineArn: machine,
        name: 'nightly-2024-01-01',
        input: '{"day":1}',
      });
      assert.equal(again.executionArn, first.executionArn);
      assert.equal(again.startDate.getTime(), first.startDate.getTime());
      assert.equal(
        first.executionArn,
        'arn:aws:states:us-east-1:123456789012:execution:idem:nightly-2024-01-01',
      );
      await rejectsWith(
        sfn.startExecution({ stateMachineArn: machine, name: 'nightly-2024-01-01', input: '{"day":2}' }),
        'ExecutionAlreadyExists',
      );
      assert.equal((await sfn.listExecutions({ stateMachineArn: machine })).executions.length, 1);
      await rejectsWith(sfn.startExecution({ stateMachineArn: machine, name: 'bad name!' }), 'InvalidName');
      await rejectsWith(
        sfn.startExecution({ stateMachineArn: machine, input: '{not json' }),
        'InvalidExecutionInput',
      );
      await rejectsWith(
        sfn.startExecution({ stateMachineArn: `${machine}-gone` }),
        'StateMachineDoesNotExist',
      );
    });
  });

  void test('a closed execution’s name cannot be reused, even with the same input', async () => {
    await withEngine(async ({ engine, sfn }) => {
      const machine = await createMachine(sfn, 'closed', CHOOSER);
      const { executionArn } = await sfn.startExecution({
        stateMachineArn: machine,
        name: 'once',
        input: '{}',
      });
      await engine.waitForEnd(executionArn, 5000);
      await rejectsWith(
        sfn.startExecution({ stateMachineArn: machine, name: 'once', input: '{}' }),
        'ExecutionAlreadyExists',
      );
    });
  });

  void test('ListExecutions filters by status and machine and pages through every execution exactly once', async () => {
    await withEngine(async ({ engine, sfn }) => {
      const machine = await createMachine(sfn, 'lister', CHOOSER);
      const other = await createMachine(sfn, 'other', CHOOSER);
      // Started together, many share a start millisecond: paging must still neither skip nor repeat.
      const started = await Promise.all(
        Array.from({ length: 23 }, (_, i) =>
          sfn.startExecution({
            stateMachineArn: machine,
            name: `run-${i}`,
            input: JSON.stringify({ fail: i % 3 === 0 }),
          }),
        ),
      );
      const elsewhere = await sfn.startExecution({ stateMachineArn: other, name: 'elsewhere' });
      for (const { executionArn } of [...started, elsewhere]) await engine.waitForEnd(executionArn, 5000);

      const page = async (
        filter: { statusFilter?: string; stateMachineArn?: string },
        maxResults: number,
      ) => {
        const arns: string[] = [];
        let nextToken: string | undefined;
        let pages = 0;
        do {
          const out = await sfn.listExecutions({
            ...filter,
            maxResults,
            ...(nextToken ? { nextToken } : {}),
          });
          assert.ok(out.executions.length <= maxResults);
          arns.push(...out.executions.map((e) => String(e.executionArn)));
          nextToken = out.nextToken;
          pages++;
        } while (nextToken);
        return { arns, pages };
      };
      const all = await page({ stateMachineArn: machine }, 4);
      assert.equal(all.arns.length, 23, 'no gaps');
      assert.equal(new Set(all.arns).size, 23, 'no repeats');
      assert.deepEqual(new Set(all.arns), new Set(started.map((s) => s.executionArn)));
      assert.equal(all.pages, 6);

      const failed = await page({ stateMachineArn: machine, statusFilter: 'FAILED' }, 3);
      const expectFailed = started.filter((_, i) => i % 3 === 0).map((s) => s.executionArn);
      assert.deepEqual(new Set(failed.arns), new Set(expectFailed));
      assert.equal(failed.arns.length, expectFailed.length);
      const succeeded = await page({ stateMachineArn: machine, statusFilter: 'SUCCEEDED' }, 100);
      assert.equal(succeeded.arns.length, 23 - expectFailed.length);
      assert.equal((await page({ stateMachineArn: machine, statusFilter: 'RUNNING' }, 10)).arns.length, 0);

      const everything = await page({}, 7);
      assert.equal(new Set(everything.arns).size, 24);
      const listed = (await sfn.listExecutions({ stateMachineArn: machine, maxResults: 1 })).executions[0];
      assert.ok(
        listed && ['SUCCEEDED', 'FAILED'].includes(String(listed.status)) && listed.stopDate instanceof Date,
      );
    });
  });

  void test('GetExecutionHistory pages forwards and backwards, and leaves out inputs and outputs when asked', async () => {
    await withEngine(async ({ engine, sfn }) => {
      const machine = await createMachine(sfn, 'passes', {
        StartAt: 'P1',
        States: {
          P1: { Type: 'Pass', Result: 1, ResultPath: '$.p1', Next: 'P2' },
          P2: { Type: 'Pass', Result: 2, ResultPath: '$.p2', Next: 'P3' },
          P3: { Type: 'Pass', Result: 3, ResultPath: '$.p3', Next: 'P4' },
          P4: { Type: 'Pass', Result: 4, ResultPath: '$.p4', Next: 'P5' },
          P5: { Type: 'Pass', Result: 5, ResultPath: '$.p5', End: true },
        },
      });
      const { executionArn } = await sfn.startExecution({
        stateMachineArn: machine,
        input: '{"secret":"s3cr3t"}',
      });
      await engine.waitForEnd(executionArn, 5000);
      const all = await fullHistory(sfn, executionArn);
      assertWellFormedHistory(all);
      assert.equal(all.length, 12);

      const sizes: number[] = [];
      const forward: number[] = [];
      let nextToken: string | undefined;
      do {
        const out = await sfn.getExecutionHistory({
          executionArn,
          maxResults: 5,
          ...(nextToken ? { nextToken } : {}),
        });
        sizes.push(out.events.length);
        forward.push(...out.events.map((e) => e.id));
        nextToken = out.nextToken;
      } while (nextToken);
      assert.deepEqual(sizes, [5, 5, 2]);
      assert.deepEqual(
        forward,
        all.map((e) => e.id),
      );

      const backward = await fullHistory(sfn, executionArn, { reverseOrder: true, maxResults: 5 });
      assert.deepEqual(
        backward.map((e) => e.id),
        [...all].reverse().map((e) => e.id),
      );
      assert.equal(backward[0]?.type, 'ExecutionSucceeded');

      const bare = await fullHistory(sfn, executionArn, { includeExecutionData: false });
      assert.deepEqual(typesOf(bare), typesOf(all));
      assert.ok(!JSON.stringify(bare).includes('s3cr3t'), 'no input or output in the history');
      assert.equal(
        (bare[0]?.executionStartedEventDetails as Record<string, unknown>).roleArn,
        (all[0]?.executionStartedEventDetails as Record<string, unknown>).roleArn,
      );
      assert.ok(JSON.stringify(all).includes('s3cr3t'), 'data is there by default');
      await rejectsWith(
        sfn.getExecutionHistory({ executionArn: `${executionArn}-missing` }),
        'ExecutionDoesNotExist',
      );
    });
  });

  void test('StopExecution aborts a running execution, records ExecutionAborted, and refuses its open task’s token afterwards', async () => {
    await withEngine(async ({ sfn }) => {
      const activityArn = await createActivity(sfn, 'stoppable');
      const machine = await createMachine(sfn, 'stoppable', {
        StartAt: 'T',
        States: { T: { Type: 'Task', Resource: activityArn, End: true } },
      });
      const { executionArn } = await sfn.startExecution({ stateMachineArn: machine });
      const { taskToken } = await takeTask(sfn, activityArn);
      const { stopDate } = await sfn.stopExecution({
        executionArn,
        error: 'Operator.Stop',
        cause: 'maintenance',
      });
      assert.ok(stopDate instanceof Date);
      const described = await sfn.describeExecution({ executionArn });
      assert.equal(described.status, 'ABORTED');
      assert.equal((described.stopDate as Date).getTime(), stopDate.getTime());
      const history = await fullHistory(sfn, executionArn);
      assertWellFormedHistory(history);
      assert.equal(history.at(-1)?.type, 'ExecutionAborted');
      assert.deepEqual(history.at(-1)?.executionAbortedEventDetails, {
        error: 'Operator.Stop',
        cause: 'maintenance',
      });
      await rejectsWith(sfn.sendTaskSuccess({ taskToken, output: '{}' }), [
        'TaskDoesNotExist',
        'TaskTimedOut',
      ]);
      await rejectsWith(sfn.sendTaskHeartbeat({ taskToken }), ['TaskDoesNotExist', 'TaskTimedOut']);
      assert.equal((await sfn.getActivityTask({ activityArn }, { pollMs: 10 })).taskToken, undefined);
    });
  });

  void test('RedriveExecution of a failed execution goes on from the failed state and succeeds, with redriveCount 1', async () => {
    await withEngine(async ({ engine, sfn }) => {
      const activityArn = await createActivity(sfn, 'flaky');
      const machine = await createMachine(sfn, 'redrive', {
        StartAt: 'Before',
        States: {
          Before: { Type: 'Pass', Result: 'kept', ResultPath: '$.before', Next: 'Work' },
          Work: { Type: 'Task', Resource: activityArn, ResultPath: '$.work', End: true },
        },
      });
      const { executionArn } = await sfn.startExecution({ stateMachineArn: machine, input: '{"id":1}' });
      await sfn.sendTaskFailure({
        taskToken: (await takeTask(sfn, activityArn)).taskToken,
        error: 'Transient',
      });
      assert.equal((await engine.waitForEnd(executionArn, 5000)).status, 'FAILED');
      await rejectsWith(
        sfn.redriveExecution({ executionArn: `${executionArn}-missing` }),
        'ExecutionDoesNotExist',
      );

      await sfn.redriveExecution({ executionArn });
      const task = await takeTask(sfn, activityArn, 'test-worker', 3000);
      assert.deepEqual(task.input, { id: 1, before: 'kept' }, 'the failed state runs again on its own input');
      await sfn.sendTaskSuccess({ taskToken: task.taskToken, output: '"ok"' });
      const { end, types } = await finished({ engine, sfn }, executionArn, 5000);
      assert.equal(end.status, 'SUCCEEDED');
      assert.deepEqual(JSON.parse(end.output ?? 'null'), { id: 1, before: 'kept', work: 'ok' });
      const described = await sfn.describeExecution({ executionArn });
      assert.equal(described.redriveCount, 1);
      assert.ok(described.redriveDate instanceof Date);
      assert.equal(
        types.filter((t) => t === 'PassStateEntered').length,
        1,
        'states that succeeded do not run again',
      );
      assert.ok(types.indexOf('ExecutionRedriven') > types.indexOf('ExecutionFailed'));
      assert.equal(types.at(-1), 'ExecutionSucceeded');
      await rejectsWith(sfn.redriveExecution({ executionArn }), 'ExecutionNotRedrivable');
    });
  });

  void test('execution TimeoutSeconds ends a run that takes too long as TIMED_OUT', async () => {
    await withEngine(async ({ engine, sfn }) => {
      const machine = await createMachine(sfn, 'too-slow', {
        TimeoutSeconds: 1,
        StartAt: 'Nap',
        States: { Nap: { Type: 'Wait', Seconds: 30, End: true } },
      });
      const { executionArn } = await sfn.startExecution({ stateMachineArn: machine });
      const { end, types } = await finished({ engine, sfn }, executionArn, 5000);
      assert.equal(end.status, 'TIMED_OUT');
      assert.equal(end.error, 'States.Timeout');
      assert.ok(
        end.stop_ms !== null && end.stop_ms - end.start_ms >= 950 && end.stop_ms - end.start_ms < 3000,
      );
      assert.deepEqual(types, ['ExecutionStarted', 'WaitStateEntered', 'ExecutionTimedOut']);
      assert.equal((await sfn.describeExecution({ executionArn })).status, 'TIMED_OUT');
    });
  });

  void test('a published version keeps its definition and runs when started by its version ARN', async () => {
    await withEngine(async ({ engine, sfn }) => {
      const v1 = { StartAt: 'Say', States: { Say: { Type: 'Pass', Result: 'v1', End: true } } };
      const created = await sfn.createStateMachine({
        name: 'versioned',
        definition: JSON.stringify(v1),
        roleArn: 'arn:aws:iam::123456789012:role/r',
        publish: true,
      });
      assert.equal(created.stateMachineVersionArn, `${created.stateMachineArn}:1`);
      const v2 = { StartAt: 'Say', States: { Say: { Type: 'Pass', Result: 'v2', End: true } } };
      const updated = await sfn.updateStateMachine({
        stateMachineArn: created.stateMachineArn,
        definition: JSON.stringify(v2),
        publish: true,
      });
      assert.equal(updated.stateMachineVersionArn, `${created.stateMachineArn}:2`);
      await sfn.updateStateMachine({
        stateMachineArn: created.stateMachineArn,
        definition: JSON.stringify({ ...v2, States: { Say: { Type: 'Pass', Result: 'draft', End: true } } }),
      });

      const run = async (stateMachineArn: string) => {
        const { executionArn } = await sfn.startExecution({ stateMachineArn });
        return { executionArn, end: await engine.waitForEnd(executionArn, 5000) };
      };
      const one = await run(`${created.stateMachineArn}:1`);
      assert.equal(one.end.output, '"v1"');
      assert.equal((await run(`${created.stateMachineArn}:2`)).end.output, '"v2"');
      assert.equal((await run(created.stateMachineArn)).end.output, '"draft"');
      const described = await sfn.describeExecution({ executionArn: one.executionArn });
      assert.equal(described.stateMachineVersionArn, `${created.stateMachineArn}:1`);
      const versions = await sfn.listStateMachineVersions({ stateMachineArn: created.stateMachineArn });
      assert.deepEqual(
        versions.stateMachineVersions.map((v) => v.stateMachineVersionArn),
        [`${created.stateMachineArn}:2`, `${created.stateMachineArn}:1`],
      );
      assert.equal(
        JSON.parse(
          (await sfn.describeStateMachine({ stateMachineArn: `${created.stateMachineArn}:1` })).definition,
        ).States.Say.Result,
        'v1',
      );
      await rejectsWith(
        sfn.startExecution({ stateMachineArn: `${created.stateMachineArn}:9` }),
        'StateMachineDoesNotExist',
      );
    });
  });

  void test('every execution counts its state transitions, retries included, and prices them at $0.025 per 1,000', async () => {
    await withEngine(async ({ engine, sfn }) => {
      const activityArn = await createActivity(sfn, 'counted');
      const machine = await createMachine(sfn, 'counted', {
        StartAt: 'A',
        States: {
          A: { Type: 'Pass', Next: 'B' },
          B: {
            Type: 'Task',
            Resource: activityArn,
            Retry: [{ ErrorEquals: ['Again'], IntervalSeconds: 1, MaxAttempts: 2 }],
            Next: 'C',
          },
          C: { Type: 'Succeed' },
        },
      });
      const { executionArn } = await sfn.startExecution({ stateMachineArn: machine });
      await sfn.sendTaskFailure({ taskToken: (await takeTask(sfn, activityArn)).taskToken, error: 'Again' });
      await sfn.sendTaskSuccess({ taskToken: (await takeTask(sfn, activityArn)).taskToken, output: '{}' });
      await engine.waitForEnd(executionArn, 5000);
      const described = await sfn.describeExecution({ executionArn });
      // A, B, C entered, plus one retry of B.
      assert.equal(described.stateTransitions, 4);
      assert.equal(described.costUsd, 4 * PRICE_PER_TRANSITION_USD);
      assert.equal(PRICE_PER_TRANSITION_USD * 1000, 0.025);
    });
  });
});

void describe('definitions without executions', { concurrency: true }, () => {
  void test('ValidateStateMachineDefinition says OK to a good definition and lists diagnostics for bad ones', async () => {
    await withEngine(async ({ sfn }) => {
      const ok = await sfn.validateStateMachineDefinition({ definition: JSON.stringify(CHOOSER) });
      assert.deepEqual(ok, { result: 'OK', diagnostics: [], truncated: false });

      const dangling = await sfn.validateStateMachineDefinition({
        definition: JSON.stringify({ StartAt: 'A', States: { A: { Type: 'Pass', Next: 'Nowhere' } } }),
      });
      assert.equal(dangling.result, 'FAIL');
      assert.ok(dangling.diagnostics.length > 0);
      for (const d of dangling.diagnostics) {
        assert.equal(d.severity, 'ERROR');
        assert.ok(d.code.length > 0 && d.message.length > 0);
      }
      assert.ok(
        dangling.diagnostics.some((d) => d.message.includes('Nowhere')),
        JSON.stringify(dangling.diagnostics),
      );

      const notJson = await sfn.validateStateMachineDefinition({ definition: '{"StartAt": ' });
      assert.equal(notJson.result, 'FAIL');
      assert.equal(notJson.diagnostics[0]?.code, 'INVALID_JSON_DESCRIPTION');
      await rejectsWith(
        sfn.createStateMachine({
          name: 'broken',
          definition: '{"StartAt":"A","States":{}}',
          roleArn: 'arn:aws:iam::1:role/r',
        }),
        'InvalidDefinition',
      );
    });
  });

  void test('TestState runs a Pass on an input and reports a Choice’s next state', async () => {
    await withEngine(async ({ sfn }) => {
      const pass = await sfn.testState({
        definition: JSON.stringify({
          Type: 'Pass',
          Parameters: { 'total.$': 'States.MathAdd($.a, $.b)' },
          ResultPath: '$.sum',
          Next: 'Report',
        }),
        input: '{"a":2,"b":3}',
      });
      assert.equal(pass.status, 'SUCCEEDED');
      assert.deepEqual(JSON.parse(String(pass.output)), { a: 2, b: 3, sum: { total: 5 } });
      assert.equal(pass.nextState, 'Report');

      const choice = JSON.stringify({
        Type: 'Choice',
        Choices: [{ Variable: '$.size', NumericGreaterThan: 100, Next: 'Big' }],
        Default: 'Small',
      });
      const big = await sfn.testState({ definition: choice, input: '{"size":500}' });
      assert.equal(big.status, 'SUCCEEDED');
      assert.equal(big.nextState, 'Big');
      assert.deepEqual(JSON.parse(String(big.output)), { size: 500 });
      assert.equal((await sfn.testState({ definition: choice, input: '{"size":5}' })).nextState, 'Small');
      // Its input is checked as StartExecution's is.
      await rejectsWith(sfn.testState({ definition: choice, input: '{"size":' }), 'InvalidExecutionInput');
    });
  });
});

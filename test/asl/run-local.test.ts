// The in-memory runner end to end: the history a simple Task flow records (types, ids,
// previousEventId), state transitions as AWS bills them, Pass/Choice/Wait/Fail semantics,
// the context object, intrinsics in Parameters and workflow variables — on a virtual clock,
// so Wait states are instant and their time is observable.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runLocal, virtualClock } from '../../src/asl/run-local.ts';
import { StatesError } from '../../src/asl/errors.ts';
import { run, output, START } from './helpers.ts';

const PREPARE = 'arn:aws:states:us-east-1:123456789012:activity:prepare';

/** A one-state machine around `state`, for field semantics that need nothing else. */
function single(state: object): object {
  return { StartAt: 'S', States: { S: { ...state, End: true } } };
}

void describe('history of a Task flow', () => {
  const definition = {
    StartAt: 'Prepare',
    States: { Prepare: { Type: 'Task', Resource: PREPARE, End: true } },
  };
  const tasks = { [PREPARE]: async (input: unknown) => ({ prepared: input }) };

  void test('records the AWS event sequence with ids and previousEventId chained', async () => {
    const result = await run(definition, { chunk: 1 }, { tasks });
    assert.deepEqual(
      result.history.map((e) => [e.id, e.previousEventId, e.type]),
      [
        [1, 0, 'ExecutionStarted'],
        [2, 0, 'TaskStateEntered'],
        [3, 2, 'ActivityScheduled'],
        [4, 3, 'ActivityStarted'],
        [5, 4, 'ActivitySucceeded'],
        [6, 5, 'TaskStateExited'],
        [7, 6, 'ExecutionSucceeded'],
      ],
    );
  });

  void test('event details carry the state name, the input and output as JSON text, and the activity ARN', async () => {
    const result = await run(definition, { chunk: 1 }, { tasks });
    const byType = new Map(result.history.map((e) => [e.type, e]));
    assert.deepEqual(byType.get('ExecutionStarted')?.executionStartedEventDetails, {
      input: '{"chunk":1}',
      inputDetails: { truncated: false },
      roleArn: 'arn:aws:iam::123456789012:role/inlet-local',
    });
    assert.deepEqual(byType.get('TaskStateEntered')?.stateEnteredEventDetails, {
      name: 'Prepare',
      input: '{"chunk":1}',
      inputDetails: { truncated: false },
    });
    assert.equal(byType.get('ActivityScheduled')?.activityScheduledEventDetails?.resource, PREPARE);
    assert.equal(byType.get('ActivityScheduled')?.activityScheduledEventDetails?.input, '{"chunk":1}');
    assert.equal(
      byType.get('ActivitySucceeded')?.activitySucceededEventDetails?.output,
      '{"prepared":{"chunk":1}}',
    );
    assert.equal(byType.get('TaskStateExited')?.stateExitedEventDetails?.output, '{"prepared":{"chunk":1}}');
    assert.equal(result.output, '{"prepared":{"chunk":1}}');
  });

  void test('the activity schedule records TimeoutSeconds and HeartbeatSeconds', async () => {
    const timed = single({ Type: 'Task', Resource: PREPARE, TimeoutSeconds: 60, HeartbeatSeconds: 10 });
    const result = await run(timed, {}, { tasks });
    const scheduled = result.history.find((e) => e.type === 'ActivityScheduled');
    assert.equal(scheduled?.activityScheduledEventDetails?.timeoutInSeconds, 60);
    assert.equal(scheduled?.activityScheduledEventDetails?.heartbeatInSeconds, 10);
  });

  void test('a resource that is not an activity records Task* events instead of Activity* ones', async () => {
    const lambda = 'arn:aws:lambda:us-east-1:123456789012:function:prepare';
    const result = await run(
      single({ Type: 'Task', Resource: lambda }),
      {},
      { tasks: { [lambda]: async () => 'ok' } },
    );
    assert.deepEqual(
      result.history.map((e) => e.type),
      [
        'ExecutionStarted',
        'TaskStateEntered',
        'TaskScheduled',
        'TaskStarted',
        'TaskSucceeded',
        'TaskStateExited',
        'ExecutionSucceeded',
      ],
    );
  });

  void test('execution and state machine ARNs follow the region, account and names given', async () => {
    const result = await run(
      definition,
      {},
      {
        tasks,
        region: 'eu-west-1',
        accountId: '111122223333',
        stateMachineName: 'datalake-sync',
        executionName: 'sync-1',
      },
    );
    assert.equal(result.stateMachineArn, 'arn:aws:states:eu-west-1:111122223333:stateMachine:datalake-sync');
    assert.equal(result.executionArn, 'arn:aws:states:eu-west-1:111122223333:execution:datalake-sync:sync-1');
  });

  void test('the task handler receives the input after InputPath and Parameters', async () => {
    const seen: unknown[] = [];
    const shaped = single({
      Type: 'Task',
      Resource: PREPARE,
      InputPath: '$.job',
      Parameters: { 'chunk.$': '$.chunk', fixed: 'x' },
    });
    await run(
      shaped,
      { job: { chunk: 'c-7', other: 1 } },
      { tasks: { [PREPARE]: async (input) => seen.push(input) } },
    );
    assert.deepEqual(seen, [{ chunk: 'c-7', fixed: 'x' }]);
  });

  void test('the task result goes through ResultSelector, ResultPath and OutputPath in that order', async () => {
    const shaped = single({
      Type: 'Task',
      Resource: PREPARE,
      ResultSelector: { 'rows.$': '$.stats.rows' },
      ResultPath: '$.prepare',
      OutputPath: '$.prepare',
    });
    const result = await run(
      shaped,
      { source: 's1' },
      { tasks: { [PREPARE]: async () => ({ stats: { rows: 42, bytes: 9 } }) } },
    );
    assert.deepEqual(output(result), { rows: 42 });
  });

  void test('$$.Task.Token hands a .waitForTaskToken task its token through Parameters', async () => {
    const callback = 'arn:aws:states:::lambda:invoke.waitForTaskToken';
    let token = '';
    const withToken = single({
      Type: 'Task',
      Resource: callback,
      Parameters: { 'token.$': '$$.Task.Token' },
    });
    const result = await run(
      withToken,
      {},
      {
        tasks: {
          [callback]: async (input, context) => {
            token = context.token;
            return input;
          },
        },
      },
    );
    assert.notEqual(token, '');
    assert.deepEqual(output(result), { token });
  });
});

void describe('state transitions', () => {
  void test('every entered state counts one transition', async () => {
    const definition = {
      StartAt: 'A',
      States: { A: { Type: 'Pass', Next: 'B' }, B: { Type: 'Pass', Next: 'C' }, C: { Type: 'Succeed' } },
    };
    const result = await run(definition);
    assert.equal(result.stateTransitions, 3);
  });

  void test('each retry attempt counts a transition, as AWS bills it', async () => {
    let calls = 0;
    const definition = single({
      Type: 'Task',
      Resource: PREPARE,
      Retry: [{ ErrorEquals: ['Flaky'], IntervalSeconds: 1, MaxAttempts: 3 }],
    });
    const result = await run(
      definition,
      {},
      {
        tasks: {
          [PREPARE]: async () => {
            calls++;
            if (calls < 3) throw new StatesError('Flaky', 'try again');
            return 'done';
          },
        },
      },
    );
    assert.equal(calls, 3);
    assert.equal(output(result), 'done');
    assert.equal(result.stateTransitions, 3);
  });
});

void describe('Pass', () => {
  void test('Result replaces the input unless ResultPath places it inside the input', async () => {
    assert.deepEqual(output(await run(single({ Type: 'Pass', Result: { a: 1 } }), { keep: true })), { a: 1 });
    assert.deepEqual(
      output(await run(single({ Type: 'Pass', Result: { a: 1 }, ResultPath: '$.r' }), { keep: true })),
      {
        keep: true,
        r: { a: 1 },
      },
    );
  });

  void test('ResultPath null discards the result and passes the input through', async () => {
    assert.deepEqual(
      output(await run(single({ Type: 'Pass', Result: 'ignored', ResultPath: null }), { keep: 1 })),
      { keep: 1 },
    );
  });

  void test('Parameters builds a new object from the input and the context object', async () => {
    const pass = single({
      Type: 'Pass',
      Parameters: {
        'user.$': '$.user.id',
        literal: 'v',
        nested: { 'list.$': '$.items[1:]' },
        'stateName.$': '$$.State.Name',
        'enteredTime.$': '$$.State.EnteredTime',
        'executionName.$': '$$.Execution.Name',
        'executionInput.$': '$$.Execution.Input',
        'machine.$': '$$.StateMachine.Name',
      },
    });
    const input = { user: { id: 'u1' }, items: [1, 2, 3] };
    const result = await run(pass, input, { executionName: 'exec-1', stateMachineName: 'sm' });
    assert.deepEqual(output(result), {
      user: 'u1',
      literal: 'v',
      nested: { list: [2, 3] },
      stateName: 'S',
      enteredTime: '2024-01-01T00:00:00.000Z',
      executionName: 'exec-1',
      executionInput: input,
      machine: 'sm',
    });
  });

  void test('InputPath null gives the state an empty object, OutputPath null outputs one', async () => {
    assert.deepEqual(output(await run(single({ Type: 'Pass', InputPath: null }), { a: 1 })), {});
    assert.deepEqual(
      output(await run(single({ Type: 'Pass', Result: 'r', OutputPath: null }), { a: 1 })),
      {},
    );
  });

  void test('InputPath selects part of the input and OutputPath selects part of the output', async () => {
    const pass = single({ Type: 'Pass', InputPath: '$.a', ResultPath: '$.copied', OutputPath: '$.copied' });
    assert.deepEqual(output(await run(pass, { a: { b: 2 } })), { b: 2 });
  });

  void test('a path in Parameters that matches nothing fails with States.Runtime', async () => {
    const result = await run(single({ Type: 'Pass', Parameters: { 'x.$': '$.missing' } }), { present: 1 });
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'States.Runtime');
    assert.match(result.cause ?? '', /\$\.missing/);
    assert.match(result.cause ?? '', /state 'S'/);
  });

  void test('an OutputPath that matches nothing fails with States.Runtime', async () => {
    const result = await run(single({ Type: 'Pass', OutputPath: '$.nowhere' }), { present: 1 });
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'States.Runtime');
  });

  void test('intrinsic functions compute values in Parameters', async () => {
    const pass = single({
      Type: 'Pass',
      Parameters: {
        'greeting.$': "States.Format('Hello, {}! You have {} items.', $.name, States.ArrayLength($.items))",
        'sum.$': 'States.MathAdd($.n, 5)',
        'parts.$': "States.StringSplit($.csv, ',')",
        'merged.$': 'States.JsonMerge($.a, $.b, false)',
        'encoded.$': 'States.Base64Encode($.name)',
      },
    });
    const input = { name: 'Ada', items: [1, 2, 3], n: 10, csv: 'x,y', a: { k: 1 }, b: { j: 2 } };
    assert.deepEqual(output(await run(pass, input)), {
      greeting: 'Hello, Ada! You have 3 items.',
      sum: 15,
      parts: ['x', 'y'],
      merged: { k: 1, j: 2 },
      encoded: 'QWRh',
    });
  });

  void test('an intrinsic that fails at run time fails the execution with States.IntrinsicFailure', async () => {
    const result = await run(
      single({ Type: 'Pass', Parameters: { 'x.$': 'States.ArrayGetItem($.list, 5)' } }),
      { list: [1] },
    );
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'States.IntrinsicFailure');
  });
});

void describe('Choice', () => {
  const router = {
    StartAt: 'Route',
    States: {
      Route: {
        Type: 'Choice',
        Choices: [
          {
            And: [
              { Variable: '$.kind', StringEquals: 'track' },
              { Not: { Variable: '$.size', NumericGreaterThan: 100 } },
            ],
            Next: 'SmallTrack',
          },
          {
            Or: [
              { Variable: '$.kind', StringEquals: 'identify' },
              { Variable: '$.kind', StringMatches: 'pa*' },
            ],
            Next: 'Profile',
          },
        ],
        Default: 'Other',
      },
      SmallTrack: { Type: 'Pass', Result: 'small-track', End: true },
      Profile: { Type: 'Pass', Result: 'profile', End: true },
      Other: { Type: 'Pass', Result: 'other', End: true },
    },
  };

  void test('And with Not takes the first branch only when every condition holds', async () => {
    assert.equal(output(await run(router, { kind: 'track', size: 10 })), 'small-track');
    assert.equal(output(await run(router, { kind: 'track', size: 1000 })), 'other');
  });

  void test('Or takes its branch when any condition holds', async () => {
    assert.equal(output(await run(router, { kind: 'identify', size: 1 })), 'profile');
    assert.equal(output(await run(router, { kind: 'page', size: 1 })), 'profile');
  });

  void test('Default is taken when no rule matches', async () => {
    assert.equal(output(await run(router, { kind: 'alias', size: 1 })), 'other');
  });

  void test('rules are tried in order and the first match wins', async () => {
    const definition = {
      StartAt: 'C',
      States: {
        C: {
          Type: 'Choice',
          Choices: [
            { Variable: '$.n', NumericGreaterThan: 1, Next: 'First' },
            { Variable: '$.n', NumericGreaterThan: 0, Next: 'Second' },
          ],
        },
        First: { Type: 'Pass', Result: 1, End: true },
        Second: { Type: 'Pass', Result: 2, End: true },
      },
    };
    assert.equal(output(await run(definition, { n: 5 })), 1);
    assert.equal(output(await run(definition, { n: 0.5 })), 2);
  });

  void test('a comparison against a value of another type is false, not an error', async () => {
    // NumericGreaterThan on a string is false, so its Not is true.
    assert.equal(output(await run(router, { kind: 'track', size: 'big' })), 'small-track');
    assert.equal(output(await run(router, { kind: ['identify'], size: 1 })), 'other');
  });

  void test('without a match or a Default the execution fails with States.NoChoiceMatched', async () => {
    const definition = {
      StartAt: 'C',
      States: {
        C: { Type: 'Choice', Choices: [{ Variable: '$.n', NumericEquals: 1, Next: 'Done' }] },
        Done: { Type: 'Succeed' },
      },
    };
    const result = await run(definition, { n: 2 });
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'States.NoChoiceMatched');
    assert.equal(result.history.at(-1)?.type, 'ExecutionFailed');
  });

  void test('IsPresent tests for a field without failing when it is missing', async () => {
    const definition = {
      StartAt: 'C',
      States: {
        C: {
          Type: 'Choice',
          Choices: [{ Variable: '$.optional', IsPresent: false, Next: 'Absent' }],
          Default: 'Present',
        },
        Absent: { Type: 'Pass', Result: 'absent', End: true },
        Present: { Type: 'Pass', Result: 'present', End: true },
      },
    };
    assert.equal(output(await run(definition, {})), 'absent');
    assert.equal(output(await run(definition, { optional: null })), 'present');
  });

  void test('a comparison on a field that is missing fails with States.Runtime', async () => {
    const definition = {
      StartAt: 'C',
      States: {
        C: {
          Type: 'Choice',
          Choices: [{ Variable: '$.missing', StringEquals: 'x', Next: 'Done' }],
          Default: 'Done',
        },
        Done: { Type: 'Succeed' },
      },
    };
    const result = await run(definition, {});
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'States.Runtime');
    assert.match(result.cause ?? '', /\$\.missing/);
  });

  void test('timestamp comparisons compare instants, not strings', async () => {
    const definition = {
      StartAt: 'C',
      States: {
        C: {
          Type: 'Choice',
          Choices: [{ Variable: '$.at', TimestampLessThan: '2024-01-01T12:00:00Z', Next: 'Morning' }],
          Default: 'Later',
        },
        Morning: { Type: 'Pass', Result: 'morning', End: true },
        Later: { Type: 'Pass', Result: 'later', End: true },
      },
    };
    assert.equal(output(await run(definition, { at: '2024-01-01T13:00:00+02:00' })), 'morning');
    assert.equal(output(await run(definition, { at: '2024-01-01T12:30:00Z' })), 'later');
  });

  void test('the Choice passes its input through (after InputPath and OutputPath) to the chosen state', async () => {
    const definition = {
      StartAt: 'C',
      States: {
        C: {
          Type: 'Choice',
          InputPath: '$.inner',
          Choices: [{ Variable: '$.ok', BooleanEquals: true, Next: 'Done' }],
        },
        Done: { Type: 'Succeed' },
      },
    };
    assert.deepEqual(output(await run(definition, { inner: { ok: true }, outer: 1 })), { ok: true });
  });
});

void describe('Wait', () => {
  function waitThenPass(wait: object): object {
    return {
      StartAt: 'W',
      States: {
        W: { Type: 'Wait', ...wait, Next: 'After' },
        After: { Type: 'Pass', Parameters: { 'at.$': '$$.State.EnteredTime' }, End: true },
      },
    };
  }

  async function waited(wait: object, input: unknown = {}): Promise<number> {
    const clock = virtualClock(START);
    const result = await run(waitThenPass(wait), input, { clock });
    const at = (output(result) as { at: string }).at;
    assert.equal(Date.parse(at), clock.now(), 'the next state is entered when the wait ends');
    return clock.now() - START;
  }

  void test('Seconds advances the clock by that many seconds', async () => {
    assert.equal(await waited({ Seconds: 90 }), 90_000);
  });

  void test('SecondsPath reads the number of seconds from the input', async () => {
    assert.equal(await waited({ SecondsPath: '$.delay' }, { delay: 5 }), 5_000);
  });

  void test('Timestamp waits until that instant', async () => {
    assert.equal(await waited({ Timestamp: '2024-01-01T01:00:00Z' }), 3_600_000);
  });

  void test('TimestampPath reads the instant from the input, with an offset', async () => {
    assert.equal(
      await waited({ TimestampPath: '$.until' }, { until: '2024-01-01T02:30:00+02:00' }),
      30 * 60_000,
    );
  });

  void test('a Timestamp in the past does not wait', async () => {
    assert.equal(await waited({ Timestamp: '2020-01-01T00:00:00Z' }), 0);
  });

  void test('the history shows the wait between WaitStateEntered and WaitStateExited', async () => {
    const result = await run(waitThenPass({ Seconds: 30 }), { x: 1 });
    const entered = result.history.find((e) => e.type === 'WaitStateEntered');
    const exited = result.history.find((e) => e.type === 'WaitStateExited');
    assert.equal((exited?.timestamp.getTime() ?? 0) - (entered?.timestamp.getTime() ?? 0), 30_000);
    assert.equal(exited?.stateExitedEventDetails?.output, '{"x":1}');
  });

  void test('a SecondsPath that is not an integer fails with States.Runtime', async () => {
    const result = await run(waitThenPass({ SecondsPath: '$.delay' }), { delay: 'soon' });
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'States.Runtime');
  });

  void test('a TimestampPath that is not an ISO-8601 timestamp fails with States.Runtime', async () => {
    const result = await run(waitThenPass({ TimestampPath: '$.until' }), { until: '2024-13-45' });
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'States.Runtime');
  });
});

void describe('Succeed and Fail', () => {
  void test('Fail ends the execution with its Error and Cause', async () => {
    const result = await run({
      StartAt: 'F',
      States: { F: { Type: 'Fail', Error: 'Sync.Broken', Cause: 'raw store offline' } },
    });
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'Sync.Broken');
    assert.equal(result.cause, 'raw store offline');
    const last = result.history.at(-1);
    assert.equal(last?.type, 'ExecutionFailed');
    assert.deepEqual(last?.executionFailedEventDetails, { error: 'Sync.Broken', cause: 'raw store offline' });
  });

  void test('Fail takes its Error and Cause from the input through ErrorPath and CausePath', async () => {
    const definition = {
      StartAt: 'F',
      States: { F: { Type: 'Fail', ErrorPath: '$.e', CausePath: "States.Format('code {}', $.code)" } },
    };
    const result = await run(definition, { e: 'Bad', code: 7 });
    assert.equal(result.error, 'Bad');
    assert.equal(result.cause, 'code 7');
  });

  void test('Succeed with OutputPath ends the execution with part of its input', async () => {
    const result = await run(
      { StartAt: 'S', States: { S: { Type: 'Succeed', OutputPath: '$.keep' } } },
      { keep: [1], drop: 2 },
    );
    assert.deepEqual(output(result), [1]);
  });
});

void describe('variables (Assign)', () => {
  void test('a variable assigned in one state is readable in later states', async () => {
    const definition = {
      StartAt: 'Set',
      States: {
        Set: { Type: 'Pass', Assign: { source: 'web', 'count.$': '$.n' }, Next: 'Middle' },
        Middle: { Type: 'Pass', Result: 'unrelated', Next: 'Use' },
        Use: {
          Type: 'Pass',
          Parameters: { 'source.$': '$source', 'count.$': '$count', 'total.$': 'States.MathAdd($count, 1)' },
          End: true,
        },
      },
    };
    assert.deepEqual(output(await run(definition, { n: 41 })), { source: 'web', count: 41, total: 42 });
  });

  void test('every Assign expression of a state sees the variables as they were when the state was entered', async () => {
    const definition = {
      StartAt: 'One',
      States: {
        One: { Type: 'Pass', Assign: { a: 1 }, Next: 'Two' },
        Two: { Type: 'Pass', Assign: { a: 2, 'b.$': '$a' }, Next: 'Show' },
        Show: { Type: 'Pass', Parameters: { 'a.$': '$a', 'b.$': '$b' }, End: true },
      },
    };
    assert.deepEqual(output(await run(definition)), { a: 2, b: 1 });
  });

  void test('assigned variables are recorded on the exited event as JSON text', async () => {
    const result = await run(single({ Type: 'Pass', Assign: { list: [1, 2], name: 'x' } }));
    const exited = result.history.find((e) => e.type === 'PassStateExited');
    assert.deepEqual(exited?.stateExitedEventDetails?.assignedVariables, { list: '[1,2]', name: '"x"' });
  });

  void test('a Choice rule may assign variables when it is taken', async () => {
    const definition = {
      StartAt: 'C',
      States: {
        C: {
          Type: 'Choice',
          Choices: [{ Variable: '$.n', NumericGreaterThan: 0, Assign: { sign: 'positive' }, Next: 'Show' }],
          Default: 'Show',
          Assign: { sign: 'not positive' },
        },
        Show: { Type: 'Pass', Parameters: { 'sign.$': '$sign' }, End: true },
      },
    };
    assert.deepEqual(output(await run(definition, { n: 3 })), { sign: 'positive' });
    assert.deepEqual(output(await run(definition, { n: -3 })), { sign: 'not positive' });
  });
});

void describe('execution limits and bad input', () => {
  void test('a state machine TimeoutSeconds ends a long wait with TIMED_OUT at the deadline', async () => {
    const clock = virtualClock(START);
    const definition = {
      TimeoutSeconds: 60,
      StartAt: 'W',
      States: { W: { Type: 'Wait', Seconds: 3600, End: true } },
    };
    const result = await run(definition, {}, { clock });
    assert.equal(result.status, 'TIMED_OUT');
    assert.equal(result.error, 'States.Timeout');
    assert.equal(clock.now() - START, 60_000);
    assert.equal(result.history.at(-1)?.type, 'ExecutionTimedOut');
  });

  void test('maxRunMs stops a run that would wait longer and reports it RUNNING', async () => {
    const definition = { StartAt: 'W', States: { W: { Type: 'Wait', Seconds: 86_400 * 365, End: true } } };
    const result = await run(definition, {}, { maxRunMs: 1000 });
    assert.equal(result.status, 'RUNNING');
    assert.deepEqual(
      result.history.map((e) => e.type),
      ['ExecutionStarted', 'WaitStateEntered'],
    );
  });

  void test('an invalid definition is refused before anything runs', async () => {
    await assert.rejects(
      run({ StartAt: 'Nowhere', States: { A: { Type: 'Pass', End: true } } }),
      (e: unknown) => {
        assert.ok(e instanceof StatesError);
        assert.match(e.message, /Invalid State Machine Definition/);
        return true;
      },
    );
  });

  void test('input that is not JSON is refused', async () => {
    await assert.rejects(
      runLocal(single({ Type: 'Pass' }), '{not json', { clock: virtualClock(START) }),
      StatesError,
    );
  });
});

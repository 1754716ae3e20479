// Retry and Catch as AWS applies them: back-off IntervalSeconds × BackoffRate^n capped by
// MaxDelaySeconds (measured as virtual time between attempts in the history), MaxAttempts,
// retrier order and wildcards, FULL jitter through the injected randomness, catchers that put
// `{Error, Cause}` at ResultPath, and the failure an uncaught error leaves on the execution.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runLocal, virtualClock } from '../../src/asl/run-local.ts';
import type { Clock, LocalExecutionResult, RunLocalOptions, TaskHandler } from '../../src/asl/run-local.ts';
import { StatesError } from '../../src/asl/errors.ts';
import type { Retrier } from '../../src/asl/definition.ts';
import { START } from './helpers.ts';

const LOAD = 'arn:aws:states:us-east-1:123456789012:activity:load';

/** A handler that fails with the given errors in turn, then returns `result`. */
function failing(
  errors: StatesError[],
  result: unknown = { loaded: true },
): { handler: TaskHandler; calls: () => number } {
  let calls = 0;
  const handler: TaskHandler = async () => {
    const error = errors[calls++];
    if (error) throw error;
    return result;
  };
  return { handler, calls: () => calls };
}

/** A one-Task machine with the given fields; a Catch there may route to `Caught`. */
function loadState(fields: object): object {
  const load = { Type: 'Task', Resource: LOAD, End: true, ...fields };
  const caught = 'Catch' in fields ? { Caught: { Type: 'Pass', End: true } } : {};
  return { StartAt: 'Load', States: { Load: load, ...caught } };
}

function withRetry(retry: Retrier[], catchers?: object[]): object {
  return loadState(catchers ? { Retry: retry, Catch: catchers } : { Retry: retry });
}

function run(
  definition: object,
  handler: TaskHandler,
  options: RunLocalOptions = {},
): Promise<LocalExecutionResult> {
  return runLocal(definition, JSON.stringify({ source: 's1' }), {
    clock: virtualClock(START),
    tasks: { [LOAD]: handler },
    ...options,
  });
}

/** Virtual milliseconds between each failed attempt and the next attempt's schedule. */
function backoffs(result: LocalExecutionResult): number[] {
  const out: number[] = [];
  let failedAt: number | undefined;
  for (const event of result.history) {
    if (event.type === 'ActivityFailed' || event.type === 'ActivityTimedOut')
      failedAt = event.timestamp.getTime();
    if (event.type === 'ActivityScheduled' && failedAt !== undefined) {
      out.push(event.timestamp.getTime() - failedAt);
      failedAt = undefined;
    }
  }
  return out;
}

const times = (n: number, error: string): StatesError[] =>
  Array.from({ length: n }, () => new StatesError(error, 'boom'));

void describe('Retry back-off', () => {
  void test('waits IntervalSeconds × BackoffRate^n before attempt n+1', async () => {
    const { handler, calls } = failing(times(3, 'Load.Busy'));
    const result = await run(
      withRetry([{ ErrorEquals: ['Load.Busy'], IntervalSeconds: 2, BackoffRate: 3, MaxAttempts: 3 }]),
      handler,
    );
    assert.equal(result.status, 'SUCCEEDED');
    assert.equal(calls(), 4);
    assert.deepEqual(backoffs(result), [2_000, 6_000, 18_000]);
  });

  void test('MaxDelaySeconds caps the growing delay', async () => {
    const { handler } = failing(times(4, 'Load.Busy'));
    const retry = [
      {
        ErrorEquals: ['Load.Busy'],
        IntervalSeconds: 1,
        BackoffRate: 10,
        MaxAttempts: 4,
        MaxDelaySeconds: 30,
      },
    ];
    const result = await run(withRetry(retry), handler);
    assert.equal(result.status, 'SUCCEEDED');
    assert.deepEqual(backoffs(result), [1_000, 10_000, 30_000, 30_000]);
  });

  void test('without settings a retrier waits 1 s, doubles it, and gives up after 3 retries', async () => {
    const { handler, calls } = failing(times(10, 'Load.Busy'));
    const result = await run(withRetry([{ ErrorEquals: ['Load.Busy'] }]), handler);
    assert.equal(result.status, 'FAILED');
    assert.equal(calls(), 4);
    assert.deepEqual(backoffs(result), [1_000, 2_000, 4_000]);
  });

  void test('fractional IntervalSeconds and BackoffRate are honoured to the millisecond', async () => {
    const { handler } = failing(times(2, 'Load.Busy'));
    const result = await run(
      withRetry([{ ErrorEquals: ['Load.Busy'], IntervalSeconds: 1, BackoffRate: 1.5, MaxAttempts: 2 }]),
      handler,
    );
    assert.deepEqual(backoffs(result), [1_000, 1_500]);
  });

  void test('JitterStrategy FULL scales each delay by the injected random number', async () => {
    const { handler } = failing(times(3, 'Load.Busy'));
    const retry: Retrier[] = [
      {
        ErrorEquals: ['Load.Busy'],
        IntervalSeconds: 4,
        BackoffRate: 2,
        MaxAttempts: 3,
        JitterStrategy: 'FULL',
      },
    ];
    const draws = [0.25, 0.5, 0];
    const result = await run(withRetry(retry), handler, { random: () => draws.shift() ?? 1 });
    assert.equal(result.status, 'SUCCEEDED');
    assert.deepEqual(backoffs(result), [1_000, 4_000, 0]);
  });

  void test('jitter applies after the MaxDelaySeconds cap', async () => {
    const { handler } = failing(times(1, 'Load.Busy'));
    const retry: Retrier[] = [
      { ErrorEquals: ['Load.Busy'], IntervalSeconds: 100, MaxDelaySeconds: 10, JitterStrategy: 'FULL' },
    ];
    const result = await run(withRetry(retry), handler, { random: () => 0.5 });
    assert.deepEqual(backoffs(result), [5_000]);
  });

  void test('the whole run takes exactly the sum of the back-offs on the virtual clock', async () => {
    const clock = virtualClock(START);
    const { handler } = failing(times(2, 'Load.Busy'));
    await run(withRetry([{ ErrorEquals: ['Load.Busy'], IntervalSeconds: 3, MaxAttempts: 2 }]), handler, {
      clock,
    });
    assert.equal(clock.now() - START, 3_000 + 6_000);
  });

  void test('$$.State.RetryCount counts the attempts already made', async () => {
    const seen: unknown[] = [];
    let calls = 0;
    const handler: TaskHandler = async (input) => {
      seen.push(input);
      if (calls++ < 2) throw new StatesError('Load.Busy');
      return 'ok';
    };
    const definition = loadState({
      Parameters: { 'attempt.$': '$$.State.RetryCount' },
      Retry: [{ ErrorEquals: ['Load.Busy'], MaxAttempts: 5 }],
    });
    await run(definition, handler);
    assert.deepEqual(seen, [{ attempt: 0 }, { attempt: 1 }, { attempt: 2 }]);
  });

  void test('each retry starts again from the state’s original input', async () => {
    const seen: unknown[] = [];
    const { handler: fail } = failing(times(1, 'Load.Busy'), { rows: 1 });
    const handler: TaskHandler = async (input, context) => {
      seen.push(input);
      return fail(input, context);
    };
    const result = await run(
      loadState({ ResultPath: '$.result', Retry: [{ ErrorEquals: ['Load.Busy'] }] }),
      handler,
    );
    assert.deepEqual(seen, [{ source: 's1' }, { source: 's1' }]);
    assert.equal(result.output, '{"source":"s1","result":{"rows":1}}');
  });
});

void describe('States.Timeout', () => {
  /** A handler that takes `seconds[i]` of virtual time on call i. */
  function slow(clock: Clock, seconds: number[]): TaskHandler {
    let call = 0;
    return async () => {
      await clock.sleep((seconds[call++] ?? 0) * 1000);
      return { done: call };
    };
  }

  void test('a task that outlives TimeoutSeconds fails with States.Timeout and an ActivityTimedOut event', async () => {
    const clock = virtualClock(START);
    const result = await run(loadState({ TimeoutSeconds: 5 }), slow(clock, [10]), { clock });
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'States.Timeout');
    assert.ok(
      result.history.some((e) => e.type === 'ActivityTimedOut'),
      'no ActivityTimedOut event',
    );
  });

  void test(
    'a task that never answers times out after TimeoutSeconds of virtual time',
    async () => {
      const clock = virtualClock(START);
      const never: TaskHandler = () => new Promise<never>(() => undefined);
      const guard = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 200));
      const result = await Promise.race([run(loadState({ TimeoutSeconds: 5 }), never, { clock }), guard]);
      assert.notEqual(result, 'hung', 'runLocal did not return');
      if (result !== 'hung') assert.equal(result.error, 'States.Timeout');
      assert.equal(clock.now() - START, 5_000);
    },
  );

  const timedOut = (): StatesError => new StatesError('States.Timeout', 'Task timed out');

  void test('retries States.Timeout with exponential back-off capped by MaxDelaySeconds', async () => {
    const { handler, calls } = failing([timedOut(), timedOut(), timedOut()]);
    const retry = [
      {
        ErrorEquals: ['States.Timeout'],
        IntervalSeconds: 4,
        BackoffRate: 4,
        MaxDelaySeconds: 10,
        MaxAttempts: 3,
      },
    ];
    const result = await run(loadState({ TimeoutSeconds: 5, Retry: retry }), handler);
    assert.equal(result.status, 'SUCCEEDED');
    assert.equal(calls(), 4);
    assert.deepEqual(backoffs(result), [4_000, 10_000, 10_000]);
  });

  void test('States.TaskFailed in ErrorEquals matches task errors but not States.Timeout', async () => {
    const catchTaskFailed = [{ ErrorEquals: ['States.TaskFailed'], Next: 'Caught' }];
    const timeout = await run(loadState({ Catch: catchTaskFailed }), failing([timedOut()]).handler);
    assert.equal(timeout.status, 'FAILED');
    assert.equal(timeout.error, 'States.Timeout');
    const custom = await run(
      loadState({ Catch: catchTaskFailed }),
      failing(times(1, 'Custom.Error')).handler,
    );
    assert.equal(custom.status, 'SUCCEEDED');
  });
});

void describe('Retry history', () => {
  void test('a retried activity is scheduled again right after its failure, in one chain of events', async () => {
    const { handler } = failing(times(1, 'Load.Busy'));
    const result = await run(withRetry([{ ErrorEquals: ['Load.Busy'] }]), handler);
    assert.deepEqual(
      result.history.map((e) => [e.id, e.previousEventId, e.type]),
      [
        [1, 0, 'ExecutionStarted'],
        [2, 0, 'TaskStateEntered'],
        [3, 2, 'ActivityScheduled'],
        [4, 3, 'ActivityStarted'],
        [5, 4, 'ActivityFailed'],
        [6, 5, 'ActivityScheduled'],
        [7, 6, 'ActivityStarted'],
        [8, 7, 'ActivitySucceeded'],
        [9, 8, 'TaskStateExited'],
        [10, 9, 'ExecutionSucceeded'],
      ],
    );
  });

  void test('an execution TimeoutSeconds shorter than the back-off ends the run TIMED_OUT at the deadline', async () => {
    const clock = virtualClock(START);
    const { handler, calls } = failing(times(5, 'Load.Busy'));
    const definition = {
      ...withRetry([{ ErrorEquals: ['Load.Busy'], IntervalSeconds: 60 }]),
      TimeoutSeconds: 30,
    };
    const result = await run(definition, handler, { clock });
    assert.equal(result.status, 'TIMED_OUT');
    assert.equal(calls(), 1);
    assert.equal(clock.now() - START, 30_000);
  });
});

void describe('Retry matching', () => {
  void test('MaxAttempts 0 means the error is never retried', async () => {
    const { handler, calls } = failing(times(1, 'Load.Busy'));
    const result = await run(withRetry([{ ErrorEquals: ['Load.Busy'], MaxAttempts: 0 }]), handler);
    assert.equal(result.status, 'FAILED');
    assert.equal(calls(), 1);
    assert.equal(result.stateTransitions, 1);
  });

  void test('the first retrier that names the error applies, in order', async () => {
    const { handler } = failing(times(1, 'Load.Busy'));
    const retry = [
      { ErrorEquals: ['Other'], IntervalSeconds: 50 },
      { ErrorEquals: ['Load.Busy'], IntervalSeconds: 7 },
      { ErrorEquals: ['States.ALL'], IntervalSeconds: 100 },
    ];
    assert.deepEqual(backoffs(await run(withRetry(retry), handler)), [7_000]);
  });

  void test('States.ALL retries errors no earlier retrier names', async () => {
    const { handler } = failing(times(1, 'Anything.At.All'));
    const retry = [
      { ErrorEquals: ['Load.Busy'], IntervalSeconds: 7 },
      { ErrorEquals: ['States.ALL'], IntervalSeconds: 3 },
    ];
    const result = await run(withRetry(retry), handler);
    assert.equal(result.status, 'SUCCEEDED');
    assert.deepEqual(backoffs(result), [3_000]);
  });

  void test('an exhausted retrier does not hand the error on to a later retrier', async () => {
    const { handler, calls } = failing(times(10, 'Load.Busy'));
    const retry = [
      { ErrorEquals: ['Load.Busy'], MaxAttempts: 1 },
      { ErrorEquals: ['States.ALL'], MaxAttempts: 5 },
    ];
    const result = await run(withRetry(retry), handler);
    assert.equal(result.status, 'FAILED');
    assert.equal(calls(), 2);
  });

  void test('each retrier counts its own attempts', async () => {
    const errors = ['A', 'B', 'A', 'B', 'A'].map((e) => new StatesError(e));
    const { handler, calls } = failing(errors);
    const retry = [
      { ErrorEquals: ['A'], MaxAttempts: 2, IntervalSeconds: 1, BackoffRate: 1 },
      { ErrorEquals: ['B'], MaxAttempts: 2, IntervalSeconds: 10, BackoffRate: 1 },
    ];
    const result = await run(withRetry(retry), handler);
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'A');
    assert.equal(calls(), 5);
    assert.deepEqual(backoffs(result), [1_000, 10_000, 1_000, 10_000]);
  });

  void test('States.ALL does not match States.Runtime, so neither Retry nor Catch handles it', async () => {
    const { handler, calls } = failing([], { no: 'rows here' });
    const definition = loadState({
      ResultSelector: { 'rows.$': '$.rows' },
      Retry: [{ ErrorEquals: ['States.ALL'] }],
      Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }],
    });
    const result = await run(definition, handler);
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'States.Runtime');
    assert.equal(calls(), 1);
  });
});

void describe('Catch', () => {
  void test('routes to Next with {Error, Cause} at the catcher’s ResultPath', async () => {
    const { handler } = failing([new StatesError('Load.Failed', 'disk full')]);
    const result = await run(
      loadState({ Catch: [{ ErrorEquals: ['Load.Failed'], ResultPath: '$.error', Next: 'Caught' }] }),
      handler,
    );
    assert.equal(result.status, 'SUCCEEDED');
    assert.deepEqual(JSON.parse(result.output ?? ''), {
      source: 's1',
      error: { Error: 'Load.Failed', Cause: 'disk full' },
    });
    const entered = result.history
      .filter((e) => e.type.endsWith('StateEntered'))
      .map((e) => e.stateEnteredEventDetails?.name);
    assert.deepEqual(entered, ['Load', 'Caught']);
  });

  void test('without ResultPath the error output replaces the input', async () => {
    const { handler } = failing([new StatesError('Load.Failed', 'disk full')]);
    const result = await run(
      loadState({ Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }] }),
      handler,
    );
    assert.deepEqual(JSON.parse(result.output ?? ''), { Error: 'Load.Failed', Cause: 'disk full' });
  });

  void test('the first catcher that names the error wins', async () => {
    const definition = {
      StartAt: 'Load',
      States: {
        Load: {
          Type: 'Task',
          Resource: LOAD,
          Catch: [
            { ErrorEquals: ['Other'], Next: 'Wrong' },
            { ErrorEquals: ['Load.Failed'], Next: 'Right' },
            { ErrorEquals: ['States.ALL'], Next: 'Wrong' },
          ],
          End: true,
        },
        Right: { Type: 'Pass', Result: 'right', End: true },
        Wrong: { Type: 'Pass', Result: 'wrong', End: true },
      },
    };
    const { handler } = failing([new StatesError('Load.Failed')]);
    assert.equal((await run(definition, handler)).output, '"right"');
  });

  void test('Retry runs first; Catch takes the error once the retrier is exhausted', async () => {
    const { handler, calls } = failing(times(5, 'Load.Busy'));
    const result = await run(
      withRetry(
        [{ ErrorEquals: ['Load.Busy'], MaxAttempts: 2 }],
        [{ ErrorEquals: ['Load.Busy'], ResultPath: '$.err', Next: 'Caught' }],
      ),
      handler,
    );
    assert.equal(result.status, 'SUCCEEDED');
    assert.equal(calls(), 3);
    assert.deepEqual(JSON.parse(result.output ?? ''), {
      source: 's1',
      err: { Error: 'Load.Busy', Cause: 'boom' },
    });
  });

  void test('a caught failure records the failure, then the state exits with the error output', async () => {
    const { handler } = failing([new StatesError('Load.Failed', 'disk full')]);
    const result = await run(
      loadState({ Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }] }),
      handler,
    );
    assert.deepEqual(
      result.history.map((e) => [e.id, e.previousEventId, e.type]),
      [
        [1, 0, 'ExecutionStarted'],
        [2, 0, 'TaskStateEntered'],
        [3, 2, 'ActivityScheduled'],
        [4, 3, 'ActivityStarted'],
        [5, 4, 'ActivityFailed'],
        [6, 5, 'TaskStateExited'],
        [7, 6, 'PassStateEntered'],
        [8, 7, 'PassStateExited'],
        [9, 8, 'ExecutionSucceeded'],
      ],
    );
    assert.deepEqual(result.history[4]?.activityFailedEventDetails, {
      error: 'Load.Failed',
      cause: 'disk full',
    });
  });

  void test('a Catch on a Fail state’s error inside a Parallel branch routes the Parallel state', async () => {
    const definition = {
      StartAt: 'Both',
      States: {
        Both: {
          Type: 'Parallel',
          Branches: [
            { StartAt: 'Ok', States: { Ok: { Type: 'Pass', End: true } } },
            { StartAt: 'Bad', States: { Bad: { Type: 'Fail', Error: 'Branch.Bad', Cause: 'no' } } },
          ],
          Catch: [{ ErrorEquals: ['Branch.Bad'], ResultPath: '$.failure', Next: 'Caught' }],
          End: true,
        },
        Caught: { Type: 'Pass', End: true },
      },
    };
    const result = await run(definition, async () => null);
    assert.deepEqual(JSON.parse(result.output ?? ''), {
      source: 's1',
      failure: { Error: 'Branch.Bad', Cause: 'no' },
    });
  });
});

void describe('uncaught failures', () => {
  void test('fail the execution with the task’s error and cause, without exiting the state', async () => {
    const { handler } = failing([new StatesError('Load.Failed', 'disk full')]);
    const result = await run(loadState({ Catch: [{ ErrorEquals: ['Other'], Next: 'Caught' }] }), handler);
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'Load.Failed');
    assert.equal(result.cause, 'disk full');
    assert.deepEqual(
      result.history.map((e) => e.type),
      [
        'ExecutionStarted',
        'TaskStateEntered',
        'ActivityScheduled',
        'ActivityStarted',
        'ActivityFailed',
        'ExecutionFailed',
      ],
    );
    assert.deepEqual(result.history.at(-1)?.executionFailedEventDetails, {
      error: 'Load.Failed',
      cause: 'disk full',
    });
  });

  void test('a handler that throws a plain Error fails with States.TaskFailed and the message as cause', async () => {
    const result = await run(loadState({}), async () => {
      throw new Error('socket hang up');
    });
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'States.TaskFailed');
    assert.equal(result.cause, 'socket hang up');
  });

  void test('a resource with no handler fails the task rather than the runner', async () => {
    const result = await runLocal(loadState({}), '{}', { clock: virtualClock(START), tasks: {} });
    assert.equal(result.status, 'FAILED');
    assert.match(result.cause ?? '', /No task handler/);
  });
});

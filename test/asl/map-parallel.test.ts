// Map and Parallel as a Step Functions user relies on them: results in input (branch) order
// whatever order the work finishes in, MaxConcurrency honoured, ItemSelector with the
// `$$.Map.Item` context, tolerated failures, a failing iteration or branch failing the state,
// Retry re-running the whole state, and variables scoped to each iteration or branch.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runLocal, virtualClock } from '../../src/asl/run-local.ts';
import type { LocalExecutionResult, TaskHandler } from '../../src/asl/run-local.ts';
import { StatesError } from '../../src/asl/errors.ts';
import { output } from './helpers.ts';

const WORK = 'arn:aws:states:us-east-1:123456789012:activity:work';

/** Yields to the event loop `n` times, so concurrent work interleaves and finishes out of order. */
async function ticks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A handler that records how many calls were in flight at once; `delay(input)` picks how long each takes. */
function tracked(delay: (input: unknown) => number, result: (input: unknown) => unknown = (i) => i) {
  let inFlight = 0;
  const stats = { peak: 0, calls: 0, finished: [] as unknown[] };
  const handler: TaskHandler = async (input) => {
    stats.calls++;
    inFlight++;
    stats.peak = Math.max(stats.peak, inFlight);
    await ticks(delay(input));
    inFlight--;
    stats.finished.push(input);
    return result(input);
  };
  return { handler, stats };
}

function run(
  definition: object,
  input: unknown,
  tasks: Record<string, TaskHandler> = {},
): Promise<LocalExecutionResult> {
  return runLocal(definition, JSON.stringify(input), { clock: virtualClock(), tasks });
}

/** A machine whose only state is a Map with `fields`, each item handled by `processor` states. */
function mapOf(
  fields: object,
  processor: object = { Work: { Type: 'Task', Resource: WORK, End: true } },
): object {
  const startAt = Object.keys(processor)[0];
  return {
    StartAt: 'Each',
    States: {
      Each: { Type: 'Map', ItemProcessor: { StartAt: startAt, States: processor }, End: true, ...fields },
    },
  };
}

const failItem = {
  Check: {
    Type: 'Choice',
    Choices: [{ Variable: '$.ok', BooleanEquals: false, Next: 'Broken' }],
    Default: 'Fine',
  },
  Broken: { Type: 'Fail', Error: 'Item.Broken', Cause: 'bad item' },
  Fine: { Type: 'Pass', OutputPath: '$.id', End: true },
};

/** `n` items with ids 0..n-1, the ones in `bad` marked to fail in the `failItem` processor. */
function items(n: number, bad: number[]): { id: number; ok: boolean }[] {
  return Array.from({ length: n }, (_, id) => ({ id, ok: !bad.includes(id) }));
}

void describe('Map', () => {
  void test('output order equals input order with MaxConcurrency 2, and no more than 2 run at once', async () => {
    const { handler, stats } = tracked((n) => (10 - Number(n)) * 3);
    const result = await run(mapOf({ MaxConcurrency: 2 }), [1, 2, 3, 4, 5, 6, 7, 8, 9], { [WORK]: handler });
    assert.deepEqual(output(result), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(stats.peak, 2);
    assert.notDeepEqual(stats.finished, [1, 2, 3, 4, 5, 6, 7, 8, 9], 'work finished out of order');
  });

  void test('without MaxConcurrency every iteration may run at once', async () => {
    const { handler, stats } = tracked((n) => 5 - Number(n));
    const result = await run(mapOf({}), [1, 2, 3, 4], { [WORK]: handler });
    assert.deepEqual(output(result), [1, 2, 3, 4]);
    assert.equal(stats.peak, 4);
    assert.deepEqual(stats.finished, [4, 3, 2, 1]);
  });

  void test('MaxConcurrency 1 runs the items one after another', async () => {
    const { handler, stats } = tracked((n) => 5 - Number(n));
    await run(mapOf({ MaxConcurrency: 1 }), [1, 2, 3], { [WORK]: handler });
    assert.equal(stats.peak, 1);
    assert.deepEqual(stats.finished, [1, 2, 3]);
  });

  void test('MaxConcurrencyPath reads the limit from the input', async () => {
    const { handler, stats } = tracked(() => 3);
    const result = await run(
      mapOf({ ItemsPath: '$.list', MaxConcurrencyPath: '$.limit' }),
      { list: [1, 2, 3, 4, 5], limit: 3 },
      {
        [WORK]: handler,
      },
    );
    assert.deepEqual(output(result), [1, 2, 3, 4, 5]);
    assert.equal(stats.peak, 3);
  });

  void test('ItemSelector builds each item from $$.Map.Item.Index, $$.Map.Item.Value and the Map input', async () => {
    const definition = mapOf(
      {
        ItemsPath: '$.files',
        ItemSelector: {
          'index.$': '$$.Map.Item.Index',
          'file.$': '$$.Map.Item.Value',
          'source.$': '$.source',
        },
      },
      { Keep: { Type: 'Pass', End: true } },
    );
    const result = await run(definition, { source: 's1', files: ['a.gz', 'b.gz'] });
    assert.deepEqual(output(result), [
      { index: 0, file: 'a.gz', source: 's1' },
      { index: 1, file: 'b.gz', source: 's1' },
    ]);
  });

  void test('legacy Parameters on a Map selects items like ItemSelector', async () => {
    const definition = mapOf(
      { Parameters: { 'v.$': '$$.Map.Item.Value', k: 'c' } },
      { Keep: { Type: 'Pass', End: true } },
    );
    assert.deepEqual(output(await run(definition, ['x', 'y'])), [
      { v: 'x', k: 'c' },
      { v: 'y', k: 'c' },
    ]);
  });

  void test('the iteration context object carries $$.Map.Item inside the processor too', async () => {
    const definition = mapOf(
      {},
      {
        Show: {
          Type: 'Pass',
          Parameters: { 'i.$': '$$.Map.Item.Index', 'v.$': '$$.Map.Item.Value' },
          End: true,
        },
      },
    );
    assert.deepEqual(output(await run(definition, ['p', 'q'])), [
      { i: 0, v: 'p' },
      { i: 1, v: 'q' },
    ]);
  });

  void test('ResultPath places the results array into the Map input', async () => {
    const definition = mapOf(
      { ItemsPath: '$.n', ResultPath: '$.results' },
      { Keep: { Type: 'Pass', End: true } },
    );
    assert.deepEqual(output(await run(definition, { n: [1, 2] })), { n: [1, 2], results: [1, 2] });
  });

  void test('an empty array gives an empty result', async () => {
    const result = await run(mapOf({}, { Keep: { Type: 'Pass', End: true } }), []);
    assert.deepEqual(output(result), []);
    assert.deepEqual(result.history.find((e) => e.type === 'MapStateStarted')?.mapStateStartedEventDetails, {
      length: 0,
    });
  });

  void test('ItemsPath that is not an array fails the Map with States.Runtime', async () => {
    const result = await run(mapOf({ ItemsPath: '$.n' }, { Keep: { Type: 'Pass', End: true } }), {
      n: 'nope',
    });
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'States.Runtime');
  });

  void test('records the Map history as AWS does: started with the length, each iteration started and succeeded', async () => {
    const result = await run(mapOf({ MaxConcurrency: 1 }, { Inner: { Type: 'Pass', End: true } }), [
      'a',
      'b',
    ]);
    assert.deepEqual(
      result.history.map((e) => [e.id, e.previousEventId, e.type]),
      [
        [1, 0, 'ExecutionStarted'],
        [2, 0, 'MapStateEntered'],
        [3, 2, 'MapStateStarted'],
        [4, 3, 'MapIterationStarted'],
        [5, 4, 'PassStateEntered'],
        [6, 5, 'PassStateExited'],
        [7, 6, 'MapIterationSucceeded'],
        [8, 6, 'MapIterationStarted'],
        [9, 8, 'PassStateEntered'],
        [10, 9, 'PassStateExited'],
        [11, 10, 'MapIterationSucceeded'],
        [12, 11, 'MapStateSucceeded'],
        [13, 11, 'MapStateExited'],
        [14, 13, 'ExecutionSucceeded'],
      ],
    );
    assert.deepEqual(result.history[2]?.mapStateStartedEventDetails, { length: 2 });
    assert.deepEqual(result.history[7]?.mapIterationStartedEventDetails, { index: 1, name: 'Each' });
  });
});

void describe('Map failures', () => {
  void test('a failing iteration fails the Map with the iteration’s error and cause', async () => {
    const result = await run(mapOf({ MaxConcurrency: 1 }, failItem), items(3, [1]));
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'Item.Broken');
    assert.equal(result.cause, 'bad item');
    const types = result.history.map((e) => e.type);
    assert.ok(types.includes('MapIterationFailed'));
    assert.deepEqual(types.slice(-2), ['MapStateFailed', 'ExecutionFailed']);
  });

  void test('a failing iteration stops the Map from starting further iterations', async () => {
    const { handler, stats } = tracked(() => 0);
    const processor = { ...failItem, Fine: { Type: 'Task', Resource: WORK, End: true } };
    await run(mapOf({ MaxConcurrency: 1 }, processor), items(5, [1]), { [WORK]: handler });
    assert.equal(stats.calls, 1);
  });

  void test('Catch on the Map routes an iteration’s failure', async () => {
    const definition = {
      StartAt: 'Each',
      States: {
        Each: {
          Type: 'Map',
          ItemProcessor: { StartAt: 'Check', States: failItem },
          Catch: [{ ErrorEquals: ['Item.Broken'], ResultPath: '$.error', Next: 'Recover' }],
          ItemsPath: '$.items',
          End: true,
        },
        Recover: { Type: 'Pass', OutputPath: '$.error', End: true },
      },
    };
    assert.deepEqual(output(await run(definition, { items: items(2, [0]) })), {
      Error: 'Item.Broken',
      Cause: 'bad item',
    });
  });

  void test('Retry on the Map runs every iteration again', async () => {
    let calls = 0;
    const handler: TaskHandler = async (input) => {
      calls++;
      if (calls === 2) throw new StatesError('Work.Flaky');
      return input;
    };
    const result = await run(mapOf({ MaxConcurrency: 1, Retry: [{ ErrorEquals: ['Work.Flaky'] }] }), [1, 2], {
      [WORK]: handler,
    });
    assert.deepEqual(output(result), [1, 2]);
    assert.equal(calls, 4);
    assert.equal(result.history.filter((e) => e.type === 'MapStateStarted').length, 2);
  });

  void test('ToleratedFailureCount lets up to that many iterations fail', async () => {
    const result = await run(mapOf({ ToleratedFailureCount: 2 }, failItem), items(5, [1, 3]));
    const out = output(result) as unknown[];
    assert.equal(out.length, 5);
    assert.deepEqual([out[0], out[2], out[4]], [0, 2, 4]);
  });

  void test('one failure more than ToleratedFailureCount fails with States.ExceedToleratedFailureThreshold', async () => {
    const result = await run(mapOf({ ToleratedFailureCount: 1 }, failItem), items(5, [1, 3]));
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'States.ExceedToleratedFailureThreshold');
  });

  void test('ToleratedFailureCountPath reads the count from the input', async () => {
    const definition = mapOf({ ItemsPath: '$.items', ToleratedFailureCountPath: '$.allowed' }, failItem);
    assert.equal((await run(definition, { items: items(3, [0]), allowed: 1 })).status, 'SUCCEEDED');
    assert.equal((await run(definition, { items: items(3, [0, 1]), allowed: 1 })).status, 'FAILED');
  });

  void test('ToleratedFailurePercentage lets that share of the items fail', async () => {
    assert.equal(
      (await run(mapOf({ ToleratedFailurePercentage: 50 }, failItem), items(4, [0, 2]))).status,
      'SUCCEEDED',
    );
    const over = await run(mapOf({ ToleratedFailurePercentage: 50 }, failItem), items(4, [0, 1, 2]));
    assert.equal(over.status, 'FAILED');
    assert.equal(over.error, 'States.ExceedToleratedFailureThreshold');
  });

  void test('with both thresholds the Map fails when either is exceeded', async () => {
    // 2 of 10 failed: the count (5) is not exceeded, the percentage (10 %) is.
    const result = await run(
      mapOf({ ToleratedFailureCount: 5, ToleratedFailurePercentage: 10 }, failItem),
      items(10, [0, 1]),
    );
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'States.ExceedToleratedFailureThreshold');
  });

  void test('a ToleratedFailurePercentage above 100 fails the Map with States.Runtime', async () => {
    const definition = mapOf({ ItemsPath: '$.items', ToleratedFailurePercentagePath: '$.pct' }, failItem);
    const result = await run(definition, { items: items(1, []), pct: 101 });
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'States.Runtime');
  });
});

void describe('Parallel', () => {
  /** Branches that each run one task on `{ branch }` merged into the input. */
  function branches(n: number, fields: object = {}): object {
    return {
      StartAt: 'Both',
      States: {
        Both: {
          Type: 'Parallel',
          Branches: Array.from({ length: n }, (_, i) => ({
            StartAt: `B${i}`,
            States: {
              [`B${i}`]: {
                Type: 'Task',
                Resource: WORK,
                Parameters: { branch: i, 'input.$': '$' },
                End: true,
              },
            },
          })),
          End: true,
          ...fields,
        },
      },
    };
  }

  void test('output is the array of branch outputs in branch order, whatever order they finish in', async () => {
    const { handler, stats } = tracked(
      (input) => 10 - (input as { branch: number }).branch * 3,
      (input) => `done-${(input as { branch: number }).branch}`,
    );
    const result = await run(branches(3), { x: 1 }, { [WORK]: handler });
    assert.deepEqual(output(result), ['done-0', 'done-1', 'done-2']);
    assert.deepEqual(
      stats.finished.map((i) => (i as { branch: number }).branch),
      [2, 1, 0],
    );
    assert.equal(stats.peak, 3, 'branches run concurrently');
  });

  void test('every branch receives the Parallel state’s input, and changes in one branch do not reach another', async () => {
    const seen: unknown[] = [];
    const handler: TaskHandler = async (input) => {
      const copy = structuredClone(input);
      (input as { input: { x: number } }).input.x = 99;
      seen.push(copy);
      return null;
    };
    await run(branches(2), { x: 1 }, { [WORK]: handler });
    assert.deepEqual(
      seen.map((s) => (s as { input: unknown }).input),
      [{ x: 1 }, { x: 1 }],
    );
  });

  void test('ResultSelector and ResultPath shape the array of branch outputs', async () => {
    const handler: TaskHandler = async (input) => (input as { branch: number }).branch * 10;
    const result = await run(
      branches(2, { ResultSelector: { 'second.$': '$[1]' }, ResultPath: '$.parallel' }),
      { x: 1 },
      {
        [WORK]: handler,
      },
    );
    assert.deepEqual(output(result), { x: 1, parallel: { second: 10 } });
  });

  void test('a failing branch fails the Parallel state with that branch’s error', async () => {
    const handler: TaskHandler = async (input) => {
      if ((input as { branch: number }).branch === 1) throw new StatesError('Branch.Failed', 'second branch');
      return 'ok';
    };
    const result = await run(branches(3), {}, { [WORK]: handler });
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'Branch.Failed');
    assert.equal(result.cause, 'second branch');
    assert.deepEqual(result.history.map((e) => e.type).slice(-2), ['ParallelStateFailed', 'ExecutionFailed']);
  });

  void test('records ParallelStateStarted and ParallelStateSucceeded around the branches', async () => {
    const result = await run(branches(1), {}, { [WORK]: async () => 'ok' });
    const types = result.history.map((e) => e.type);
    assert.deepEqual(types.slice(0, 3), ['ExecutionStarted', 'ParallelStateEntered', 'ParallelStateStarted']);
    assert.deepEqual(types.slice(-3), [
      'ParallelStateSucceeded',
      'ParallelStateExited',
      'ExecutionSucceeded',
    ]);
  });

  void test('Retry on a Parallel state runs all branches again', async () => {
    let calls = 0;
    const handler: TaskHandler = async () => {
      if (++calls === 1) throw new StatesError('Branch.Flaky');
      return calls;
    };
    const result = await run(
      branches(2, { Retry: [{ ErrorEquals: ['Branch.Flaky'] }] }),
      {},
      { [WORK]: handler },
    );
    assert.equal(result.status, 'SUCCEEDED');
    assert.equal(calls, 4);
    assert.equal(result.history.filter((e) => e.type === 'ParallelStateStarted').length, 2);
  });
});

void describe('variables in Map iterations and Parallel branches', () => {
  void test('iterations read outer variables, and each sees only its own assignments', async () => {
    const definition = {
      StartAt: 'Set',
      States: {
        Set: { Type: 'Pass', Assign: { prefix: 'item' }, Next: 'Each' },
        Each: {
          Type: 'Map',
          ItemProcessor: {
            StartAt: 'Remember',
            States: {
              Remember: { Type: 'Pass', Assign: { 'mine.$': '$' }, Next: 'Pause' },
              Pause: { Type: 'Task', Resource: WORK, Next: 'Show' },
              Show: {
                Type: 'Pass',
                Parameters: { 'label.$': "States.Format('{}-{}', $prefix, $mine)" },
                End: true,
              },
            },
          },
          End: true,
        },
      },
    };
    // Later items finish their Pause first, so a shared scope would show another item's value.
    const { handler } = tracked((n) => 10 - Number(n));
    const result = await run(definition, [1, 2, 3], { [WORK]: handler });
    assert.deepEqual(output(result), [{ label: 'item-1' }, { label: 'item-2' }, { label: 'item-3' }]);
  });

  void test('variables assigned inside an iteration are not visible after the Map', async () => {
    const definition = {
      StartAt: 'Each',
      States: {
        Each: {
          Type: 'Map',
          ItemProcessor: {
            StartAt: 'Inner',
            States: { Inner: { Type: 'Pass', Assign: { inner: 1 }, End: true } },
          },
          Next: 'After',
        },
        After: { Type: 'Pass', QueryLanguage: 'JSONata', Output: '{% $exists($inner) %}', End: true },
      },
    };
    assert.equal(output(await run(definition, [1])), false);
  });

  void test('Parallel branches read outer variables and keep their own assignments to themselves', async () => {
    const definition = {
      StartAt: 'Set',
      States: {
        Set: { Type: 'Pass', Assign: { base: 10 }, Next: 'Both' },
        Both: {
          Type: 'Parallel',
          Branches: [0, 1].map((i) => ({
            StartAt: `A${i}`,
            States: {
              [`A${i}`]: { Type: 'Pass', Assign: { 'own.$': `States.MathAdd($base, ${i})` }, Next: `B${i}` },
              [`B${i}`]: { Type: 'Pass', Parameters: { 'own.$': '$own' }, End: true },
            },
          })),
          Next: 'After',
        },
        After: {
          Type: 'Pass',
          QueryLanguage: 'JSONata',
          Output: '{% {"results": $states.input, "leaked": $exists($own)} %}',
          End: true,
        },
      },
    };
    assert.deepEqual(output(await run(definition, {})), {
      results: [{ own: 10 }, { own: 11 }],
      leaked: false,
    });
  });
});

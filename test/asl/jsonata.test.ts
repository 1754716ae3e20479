// JSONata states end to end: `{% %}` templates in Arguments, Output, Assign, Condition, Items,
// Seconds and Fail fields; `$states.input/result/errorOutput/context`; variables as `$name`;
// the functions AWS adds; and the States.QueryEvaluationError an expression failure raises.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { virtualClock } from '../../src/asl/run-local.ts';
import type { TaskHandler } from '../../src/asl/run-local.ts';
import { StatesError } from '../../src/asl/errors.ts';
import { run, output, START } from './helpers.ts';

const LOAD = 'arn:aws:states:us-east-1:123456789012:activity:load';

/** A JSONata machine of the given states, starting at the first. */
function machine(states: Record<string, object>): object {
  return { QueryLanguage: 'JSONata', StartAt: Object.keys(states)[0], States: states };
}

/** A JSONata machine with a single terminal state. */
function single(state: object): object {
  return machine({ S: { ...state, End: true } });
}

void describe('JSONata Pass and Task', () => {
  void test('Output computes the state output from $states.input', async () => {
    const result = await run(
      single({
        Type: 'Pass',
        Output: { total: '{% $sum($states.input.items.price) %}', n: '{% $count($states.input.items) %}' },
      }),
      {
        items: [{ price: 2 }, { price: 3.5 }],
      },
    );
    assert.deepEqual(output(result), { total: 5.5, n: 2 });
  });

  void test('without Output a Pass state passes its input through', async () => {
    assert.deepEqual(output(await run(single({ Type: 'Pass' }), { a: 1 })), { a: 1 });
  });

  void test('Arguments shape the task input, and Output combines $states.input with $states.result', async () => {
    const seen: unknown[] = [];
    const handler: TaskHandler = async (input) => {
      seen.push(input);
      return { rows: 7 };
    };
    const definition = single({
      Type: 'Task',
      Resource: LOAD,
      Arguments: { table: '{% $lowercase($states.input.event) %}', literal: 1 },
      Output: { source: '{% $states.input.source %}', rows: '{% $states.result.rows %}' },
    });
    const result = await run(
      definition,
      { event: 'Order_Completed', source: 's1' },
      { tasks: { [LOAD]: handler } },
    );
    assert.deepEqual(seen, [{ table: 'order_completed', literal: 1 }]);
    assert.deepEqual(output(result), { source: 's1', rows: 7 });
  });

  void test('a task without Output outputs its raw result', async () => {
    const result = await run(
      single({ Type: 'Task', Resource: LOAD }),
      { a: 1 },
      { tasks: { [LOAD]: async () => ({ r: 2 }) } },
    );
    assert.deepEqual(output(result), { r: 2 });
  });

  void test('a string is a template only when it is one whole {% %} expression', async () => {
    const result = await run(
      single({ Type: 'Pass', Output: { whole: '{% 1 + 1 %}', partial: 'sum: {% 1 + 1 %}' } }),
    );
    assert.deepEqual(output(result), { whole: 2, partial: 'sum: {% 1 + 1 %}' });
  });

  void test('$states.context exposes the execution, the state and the entered time', async () => {
    const definition = single({
      Type: 'Pass',
      Output: {
        execution: '{% $states.context.Execution.Name %}',
        state: '{% $states.context.State.Name %}',
        entered: '{% $states.context.State.EnteredTime %}',
        input: '{% $states.context.Execution.Input.x %}',
      },
    });
    const result = await run(definition, { x: 5 }, { executionName: 'run-9' });
    assert.deepEqual(output(result), {
      execution: 'run-9',
      state: 'S',
      entered: '2024-01-01T00:00:00.000Z',
      input: 5,
    });
  });
});

void describe('JSONata variables', () => {
  void test('Assign stores values, visible as $name in later states', async () => {
    const definition = machine({
      Load: {
        Type: 'Task',
        Resource: LOAD,
        Assign: { rows: '{% $states.result.rows %}', table: '{% $states.input.table %}' },
        Output: {},
        Next: 'Report',
      },
      Report: { Type: 'Pass', Output: '{% $table & ": " & $string($rows) %}', End: true },
    });
    const result = await run(
      definition,
      { table: 'pages' },
      { tasks: { [LOAD]: async () => ({ rows: 12 }) } },
    );
    assert.equal(output(result), 'pages: 12');
  });

  void test('Output and Assign of the same state both see the variables from before the state', async () => {
    const definition = machine({
      One: { Type: 'Pass', Assign: { n: 1 }, Next: 'Two' },
      Two: {
        Type: 'Pass',
        Assign: { n: '{% $n + 1 %}', was: '{% $n %}' },
        Output: '{% $n %}',
        Next: 'Three',
      },
      Three: {
        Type: 'Pass',
        Output: { n: '{% $n %}', was: '{% $was %}', input: '{% $states.input %}' },
        End: true,
      },
    });
    assert.deepEqual(output(await run(definition)), { n: 2, was: 1, input: 1 });
  });
});

void describe('JSONata Choice', () => {
  const route = machine({
    Route: {
      Type: 'Choice',
      Choices: [
        {
          Condition: '{% $states.input.size > 100 and $states.input.kind = "track" %}',
          Next: 'Big',
          Assign: { path: 'big' },
        },
        {
          Condition: '{% $states.input.kind in ["identify", "group"] %}',
          Next: 'Profile',
          Output: { who: '{% $states.input.userId %}' },
        },
      ],
      Default: 'Other',
    },
    Big: { Type: 'Pass', Output: '{% $path %}', End: true },
    Profile: { Type: 'Pass', End: true },
    Other: { Type: 'Pass', Output: 'other', End: true },
  });

  void test('the first rule whose Condition is true is taken, with its Assign', async () => {
    assert.equal(output(await run(route, { kind: 'track', size: 500 })), 'big');
  });

  void test('a rule’s Output becomes the input of the next state', async () => {
    assert.deepEqual(output(await run(route, { kind: 'group', userId: 'u1' })), { who: 'u1' });
  });

  void test('Default is taken when no Condition holds', async () => {
    assert.equal(output(await run(route, { kind: 'track', size: 1 })), 'other');
  });

  void test('no true Condition and no Default fails with States.NoChoiceMatched', async () => {
    const definition = machine({
      C: { Type: 'Choice', Choices: [{ Condition: '{% false %}', Next: 'D' }] },
      D: { Type: 'Succeed' },
    });
    const result = await run(definition);
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'States.NoChoiceMatched');
  });

  void test('a Condition that is not boolean fails with States.QueryEvaluationError', async () => {
    const definition = machine({
      C: { Type: 'Choice', Choices: [{ Condition: '{% $states.input.kind %}', Next: 'D' }], Default: 'D' },
      D: { Type: 'Succeed' },
    });
    const result = await run(definition, { kind: 'track' });
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'States.QueryEvaluationError');
  });
});

void describe('JSONata Catch', () => {
  void test('Catch Output and Assign read the error from $states.errorOutput', async () => {
    const definition = machine({
      Load: {
        Type: 'Task',
        Resource: LOAD,
        Catch: [
          {
            ErrorEquals: ['States.ALL'],
            Output: { failed: '{% $states.input.table %}', error: '{% $states.errorOutput.Error %}' },
            Assign: { reason: '{% $states.errorOutput.Cause %}' },
            Next: 'Report',
          },
        ],
        End: true,
      },
      Report: { Type: 'Pass', Output: { out: '{% $states.input %}', reason: '{% $reason %}' }, End: true },
    });
    const handler: TaskHandler = async () => {
      throw new StatesError('Load.Failed', 'disk full');
    };
    const result = await run(definition, { table: 'pages' }, { tasks: { [LOAD]: handler } });
    assert.deepEqual(output(result), { out: { failed: 'pages', error: 'Load.Failed' }, reason: 'disk full' });
  });

  void test('a catcher without Output passes {Error, Cause} on', async () => {
    const definition = machine({
      Load: {
        Type: 'Task',
        Resource: LOAD,
        Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Done' }],
        End: true,
      },
      Done: { Type: 'Succeed' },
    });
    const handler: TaskHandler = async () => {
      throw new StatesError('Load.Failed', 'disk full');
    };
    assert.deepEqual(output(await run(definition, {}, { tasks: { [LOAD]: handler } })), {
      Error: 'Load.Failed',
      Cause: 'disk full',
    });
  });
});

void describe('JSONata in Map, Wait and Fail', () => {
  void test('Items, ItemSelector and MaxConcurrency take expressions', async () => {
    const definition = single({
      Type: 'Map',
      Items: '{% $states.input.files[size > 0] %}',
      MaxConcurrency: '{% 1 %}',
      ItemSelector: {
        name: '{% $states.context.Map.Item.Value.name %}',
        index: '{% $states.context.Map.Item.Index %}',
      },
      ItemProcessor: { StartAt: 'Keep', States: { Keep: { Type: 'Pass', End: true } } },
    });
    const files = [
      { name: 'a', size: 1 },
      { name: 'b', size: 0 },
      { name: 'c', size: 3 },
    ];
    assert.deepEqual(output(await run(definition, { files })), [
      { name: 'a', index: 0 },
      { name: 'c', index: 1 },
    ]);
  });

  void test('Items that do not evaluate to an array fail with States.QueryEvaluationError', async () => {
    const definition = single({
      Type: 'Map',
      Items: '{% $states.input.count %}',
      ItemProcessor: { StartAt: 'Keep', States: { Keep: { Type: 'Pass', End: true } } },
    });
    const result = await run(definition, { count: 3 });
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'States.QueryEvaluationError');
  });

  void test('Wait Seconds may be an expression, and the clock advances by its value', async () => {
    const clock = virtualClock(START);
    await run(
      single({ Type: 'Wait', Seconds: '{% $states.input.minutes * 60 %}' }),
      { minutes: 2 },
      { clock },
    );
    assert.equal(clock.now() - START, 120_000);
  });

  void test('Wait Timestamp may be an expression', async () => {
    const clock = virtualClock(START);
    await run(
      single({ Type: 'Wait', Timestamp: '{% $states.input.at %}' }),
      { at: '2024-01-01T00:00:10Z' },
      { clock },
    );
    assert.equal(clock.now() - START, 10_000);
  });

  void test('Fail Error and Cause may be expressions', async () => {
    const definition = machine({
      F: { Type: 'Fail', Error: '{% $states.input.code %}', Cause: '{% "bad " & $states.input.what %}' },
    });
    const result = await run(definition, { code: 'Sync.Bad', what: 'input' });
    assert.equal(result.error, 'Sync.Bad');
    assert.equal(result.cause, 'bad input');
  });
});

void describe('JSONata failures', () => {
  void test('an expression that returns nothing fails with States.QueryEvaluationError and an EvaluationFailed event', async () => {
    const result = await run(single({ Type: 'Pass', Output: '{% $states.input.missing %}' }), { present: 1 });
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'States.QueryEvaluationError');
    assert.equal(
      result.cause,
      "An error occurred while executing the state 'S' (entered at the event id #2). The JSONata expression '$states.input.missing' specified for the field 'Output' returned nothing (undefined).",
    );
    assert.deepEqual(
      result.history.map((e) => [e.id, e.previousEventId, e.type]),
      [
        [1, 0, 'ExecutionStarted'],
        [2, 0, 'PassStateEntered'],
        [3, 0, 'EvaluationFailed'],
        [4, 3, 'ExecutionFailed'],
      ],
    );
    assert.deepEqual(result.history[2]?.evaluationFailedEventDetails, {
      error: 'States.QueryEvaluationError',
      cause: result.cause,
      state: 'S',
      location: 'Output',
    });
  });

  void test('an expression that throws fails with States.QueryEvaluationError naming the field', async () => {
    const result = await run(single({ Type: 'Pass', Output: { n: '{% $number($states.input.text) %}' } }), {
      text: 'abc',
    });
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'States.QueryEvaluationError');
    assert.match(result.cause ?? '', /specified for the field 'Output\/n' threw an error during evaluation/);
  });

  void test('States.QueryEvaluationError can be caught', async () => {
    const definition = machine({
      S: {
        Type: 'Task',
        Resource: LOAD,
        Output: '{% $states.result.nothing %}',
        Catch: [
          {
            ErrorEquals: ['States.QueryEvaluationError'],
            Output: '{% $states.errorOutput.Error %}',
            Next: 'Done',
          },
        ],
        End: true,
      },
      Done: { Type: 'Succeed' },
    });
    assert.equal(
      output(await run(definition, {}, { tasks: { [LOAD]: async () => ({}) } })),
      'States.QueryEvaluationError',
    );
  });
});

void describe('functions Step Functions adds to JSONata', () => {
  void test('$partition, $range, $hash and $parse compute as documented', async () => {
    const definition = single({
      Type: 'Pass',
      Output: {
        chunks: '{% $partition([1, 2, 3, 4, 5], 2) %}',
        range: '{% $range(0, 10, 5) %}',
        hash: '{% $hash("abc", "SHA-256") %}',
        parsed: '{% $parse($states.input.json).a %}',
      },
    });
    assert.deepEqual(output(await run(definition, { json: '{"a":[1]}' })), {
      chunks: [[1, 2], [3, 4], [5]],
      range: [0, 5, 10],
      hash: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      parsed: [1],
    });
  });

  void test('$random and $uuid draw from the injected randomness; a seeded $random repeats', async () => {
    const definition = single({
      Type: 'Pass',
      Output: { r: '{% $random() %}', id: '{% $uuid() %}', same: '{% $random(42) = $random(42) %}' },
    });
    type Drawn = { r: number; id: string; same: boolean };
    const first = output(await run(definition, {}, { random: () => 0.5 })) as Drawn;
    const again = output(await run(definition, {}, { random: () => 0.5 })) as Drawn;
    const other = output(await run(definition, {}, { random: () => 0.25 })) as Drawn;
    assert.equal(first.r, 0.5);
    assert.match(first.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(again.id, first.id);
    assert.notEqual(other.id, first.id);
    assert.equal(first.same, true);
  });
});

void describe('mixing query languages', () => {
  void test('a JSONata state inside a JSONPath machine sees the same variables and input', async () => {
    const definition = {
      StartAt: 'Set',
      States: {
        Set: { Type: 'Pass', Assign: { who: 'ada' }, Parameters: { 'n.$': '$.n' }, Next: 'Mix' },
        Mix: {
          Type: 'Pass',
          QueryLanguage: 'JSONata',
          Output: { who: '{% $uppercase($who) %}', n: '{% $states.input.n * 2 %}' },
          Next: 'Back',
        },
        Back: { Type: 'Pass', Parameters: { 'who.$': '$.who', 'n.$': 'States.MathAdd($.n, 1)' }, End: true },
      },
    };
    assert.deepEqual(output(await run(definition, { n: 4 })), { who: 'ADA', n: 9 });
  });

  void test('states in a JSONata Map processor inherit JSONata', async () => {
    const definition = single({
      Type: 'Map',
      Items: [1, 2],
      ItemProcessor: {
        StartAt: 'Double',
        States: { Double: { Type: 'Pass', Output: '{% $states.input * 2 %}', End: true } },
      },
    });
    assert.deepEqual(output(await run(definition)), [2, 4]);
  });

  void test('Parallel Arguments become every branch’s input', async () => {
    const definition = single({
      Type: 'Parallel',
      Arguments: { v: '{% $states.input.v + 1 %}' },
      Branches: [
        { StartAt: 'A', States: { A: { Type: 'Pass', Output: '{% $states.input.v %}', End: true } } },
        { StartAt: 'B', States: { B: { Type: 'Pass', Output: '{% $states.input.v * 10 %}', End: true } } },
      ],
      Output: '{% $states.result %}',
    });
    assert.deepEqual(output(await run(definition, { v: 1 })), [2, 20]);
  });
});

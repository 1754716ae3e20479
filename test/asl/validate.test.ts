// Static validation as ValidateStateMachineDefinition reports it: each mistake a user can make in
// a definition gives an ERROR diagnostic with a code, a message naming the state and the field,
// and a location pointing into the definition — and a valid definition gives none.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { validateDefinition } from '../../src/asl/validate.ts';
import type { Diagnostic } from '../../src/asl/validate.ts';

const RESOURCE = 'arn:aws:states:us-east-1:123456789012:activity:load';

/** The one diagnostic at `location`; fails when there is none. */
function at(diagnostics: Diagnostic[], location: string): Diagnostic {
  const found = diagnostics.find((d) => d.location === location);
  assert.ok(found, `no diagnostic at ${location}; got ${JSON.stringify(diagnostics)}`);
  assert.equal(found.severity, 'ERROR');
  return found;
}

/** A machine of `states` starting at the first, with a `Done` state to route to. */
function machine(states: Record<string, unknown>, extra: object = {}): object {
  return { StartAt: Object.keys(states)[0], States: { ...states, Done: { Type: 'Succeed' } }, ...extra };
}

void describe('valid definitions', () => {
  void test('a definition using every state type gives no diagnostics', () => {
    const definition = {
      Comment: 'all eight state types',
      StartAt: 'Prepare',
      TimeoutSeconds: 3600,
      States: {
        Prepare: {
          Type: 'Task',
          Resource: RESOURCE,
          TimeoutSeconds: 60,
          HeartbeatSeconds: 10,
          Retry: [
            {
              ErrorEquals: ['States.Timeout'],
              IntervalSeconds: 2,
              BackoffRate: 2,
              MaxAttempts: 3,
              MaxDelaySeconds: 10,
              JitterStrategy: 'FULL',
            },
            { ErrorEquals: ['States.ALL'] },
          ],
          Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Broken' }],
          Next: 'Route',
        },
        Route: {
          Type: 'Choice',
          Choices: [
            {
              And: [
                { Variable: '$.n', NumericGreaterThan: 1 },
                { Not: { Variable: '$.s', StringEquals: 'x' } },
              ],
              Next: 'Both',
            },
          ],
          Default: 'Pause',
        },
        Pause: { Type: 'Wait', SecondsPath: '$.delay', Next: 'Both' },
        Both: {
          Type: 'Parallel',
          Branches: [{ StartAt: 'One', States: { One: { Type: 'Pass', Result: 1, End: true } } }],
          Next: 'Each',
        },
        Each: {
          Type: 'Map',
          ItemsPath: '$.items',
          MaxConcurrency: 2,
          ItemSelector: { 'v.$': '$$.Map.Item.Value' },
          ItemProcessor: { StartAt: 'Item', States: { Item: { Type: 'Pass', End: true } } },
          Next: 'Finish',
        },
        Finish: { Type: 'Succeed' },
        Broken: { Type: 'Fail', Error: 'Sync.Failed', Cause: 'see error' },
      },
    };
    assert.deepEqual(validateDefinition(definition), []);
  });

  void test('a JSONata definition with Condition rules gives no diagnostics', () => {
    const definition = {
      QueryLanguage: 'JSONata',
      StartAt: 'C',
      States: {
        C: {
          Type: 'Choice',
          Choices: [{ Condition: '{% $states.input.ok %}', Next: 'Done' }],
          Default: 'Done',
        },
        Done: { Type: 'Pass', Output: '{% $states.input %}', End: true },
      },
    };
    assert.deepEqual(validateDefinition(definition), []);
  });
});

void describe('transitions', () => {
  void test('a StartAt naming no state is a MISSING_TRANSITION_TARGET at /StartAt', () => {
    const d = at(
      validateDefinition({ StartAt: 'Begin', States: { Start: { Type: 'Succeed' } } }),
      '/StartAt',
    );
    assert.equal(d.code, 'MISSING_TRANSITION_TARGET');
    assert.match(d.message, /Begin/);
  });

  void test('a Next naming no state is a MISSING_TRANSITION_TARGET at that Next', () => {
    const d = at(validateDefinition(machine({ Load: { Type: 'Pass', Next: 'Lod' } })), '/States/Load/Next');
    assert.equal(d.code, 'MISSING_TRANSITION_TARGET');
    assert.match(d.message, /'Next'/);
    assert.match(d.message, /Lod/);
  });

  void test('Choice rule, Default and Catch targets are checked too', () => {
    const diagnostics = validateDefinition(
      machine({
        C: {
          Type: 'Choice',
          Choices: [{ Variable: '$.a', IsPresent: true, Next: 'Nowhere' }],
          Default: 'Gone',
        },
        T: {
          Type: 'Task',
          Resource: RESOURCE,
          Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Lost' }],
          End: true,
        },
      }),
    );
    assert.match(at(diagnostics, '/States/C/Choices/0/Next').message, /Nowhere/);
    assert.match(at(diagnostics, '/States/C/Default').message, /Gone/);
    assert.match(at(diagnostics, '/States/T/Catch/0/Next').message, /Lost/);
    for (const d of diagnostics.filter((x) => x.message.match(/Nowhere|Gone|Lost/)))
      assert.equal(d.code, 'MISSING_TRANSITION_TARGET');
  });

  void test('a state nothing leads to is reported as not reachable, at the state', () => {
    const d = at(
      validateDefinition(
        machine({ A: { Type: 'Pass', Next: 'Done' }, Orphan: { Type: 'Pass', Next: 'Done' } }),
      ),
      '/States/Orphan',
    );
    assert.match(d.message, /Orphan/);
    assert.match(d.message, /not reachable/);
  });

  void test('a state reached only through a Catch or a Choice Default is reachable', () => {
    const definition = machine({
      T: {
        Type: 'Task',
        Resource: RESOURCE,
        Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Handler' }],
        Next: 'C',
      },
      C: { Type: 'Choice', Choices: [{ Variable: '$.a', IsNull: true, Next: 'Done' }], Default: 'Fallback' },
      Handler: { Type: 'Pass', End: true },
      Fallback: { Type: 'Pass', End: true },
    });
    assert.deepEqual(validateDefinition(definition), []);
  });

  void test('a state with both Next and End is refused, naming the state and both fields', () => {
    const d = at(validateDefinition(machine({ A: { Type: 'Pass', Next: 'Done', End: true } })), '/States/A');
    assert.equal(d.code, 'SCHEMA_VALIDATION_FAILED');
    assert.match(d.message, /'A'/);
    assert.match(d.message, /Next/);
    assert.match(d.message, /End/);
  });

  void test('a non-terminal state with neither Next nor End is refused', () => {
    const d = at(validateDefinition({ StartAt: 'A', States: { A: { Type: 'Pass' } } }), '/States/A');
    assert.equal(d.code, 'SCHEMA_VALIDATION_FAILED');
    assert.match(d.message, /'A'/);
  });

  void test('a branch may not jump to a state outside it', () => {
    const definition = machine({
      P: {
        Type: 'Parallel',
        Branches: [{ StartAt: 'X', States: { X: { Type: 'Pass', Next: 'Done' } } }],
        Next: 'Done',
      },
    });
    const d = at(validateDefinition(definition), '/States/P/Branches/0/States/X/Next');
    assert.equal(d.code, 'MISSING_TRANSITION_TARGET');
  });

  void test('mistakes inside a Map processor are located inside it', () => {
    const definition = machine({
      M: {
        Type: 'Map',
        ItemProcessor: { StartAt: 'Nope', States: { X: { Type: 'Pass', End: true } } },
        Next: 'Done',
      },
    });
    const diagnostics = validateDefinition(definition);
    assert.equal(at(diagnostics, '/States/M/ItemProcessor/StartAt').code, 'MISSING_TRANSITION_TARGET');
    assert.match(at(diagnostics, '/States/M/ItemProcessor/States/X').message, /not reachable/);
  });

  void test('a workflow with no terminal state is refused with MISSING_END_STATE', () => {
    const loop = {
      StartAt: 'A',
      States: { A: { Type: 'Pass', Next: 'B' }, B: { Type: 'Wait', Seconds: 1, Next: 'A' } },
    };
    assert.ok(
      validateDefinition(loop).some((d) => d.code === 'MISSING_END_STATE'),
      'no MISSING_END_STATE diagnostic',
    );
  });

  void test('unreachable states and duplicate names carry the codes AWS gives them', () => {
    const unreachable = validateDefinition(
      machine({ A: { Type: 'Pass', Next: 'Done' }, Orphan: { Type: 'Pass', Next: 'Done' } }),
    );
    assert.equal(at(unreachable, '/States/Orphan').code, 'MISSING_TRANSITION_TARGET');
    const duplicate = validateDefinition(
      machine({
        P: {
          Type: 'Parallel',
          Branches: [{ StartAt: 'P', States: { P: { Type: 'Pass', End: true } } }],
          Next: 'Done',
        },
      }),
    );
    assert.ok(
      duplicate.some((d) => d.code === 'DUPLICATE_STATE_NAME'),
      'no DUPLICATE_STATE_NAME diagnostic',
    );
  });
});

void describe('Retry and Catch', () => {
  void test('States.ALL in a Retrier that is not the last is refused', () => {
    const definition = machine({
      T: {
        Type: 'Task',
        Resource: RESOURCE,
        Retry: [{ ErrorEquals: ['States.ALL'] }, { ErrorEquals: ['X'] }],
        End: true,
      },
    });
    const d = at(validateDefinition(definition), '/States/T/Retry/0/ErrorEquals');
    assert.equal(d.code, 'SCHEMA_VALIDATION_FAILED');
    assert.match(d.message, /States\.ALL/);
    assert.match(d.message, /'T'/);
  });

  void test('States.ALL next to other error names in a Retrier is refused', () => {
    const definition = machine({
      T: { Type: 'Task', Resource: RESOURCE, Retry: [{ ErrorEquals: ['X', 'States.ALL'] }], End: true },
    });
    at(validateDefinition(definition), '/States/T/Retry/0/ErrorEquals');
  });

  void test('States.ALL in a Catcher that is not the last, or not alone, is refused', () => {
    const notLast = machine({
      T: {
        Type: 'Task',
        Resource: RESOURCE,
        Catch: [
          { ErrorEquals: ['States.ALL'], Next: 'Done' },
          { ErrorEquals: ['X'], Next: 'Done' },
        ],
        End: true,
      },
    });
    at(validateDefinition(notLast), '/States/T/Catch/0/ErrorEquals');
    const notAlone = machine({
      T: {
        Type: 'Task',
        Resource: RESOURCE,
        Catch: [{ ErrorEquals: ['X', 'States.ALL'], Next: 'Done' }],
        End: true,
      },
    });
    at(validateDefinition(notAlone), '/States/T/Catch/0/ErrorEquals');
  });

  void test('an empty ErrorEquals, a negative MaxAttempts and a BackoffRate below 1 are refused', () => {
    const definition = machine({
      T: {
        Type: 'Task',
        Resource: RESOURCE,
        Retry: [
          { ErrorEquals: [] },
          { ErrorEquals: ['A'], MaxAttempts: -1 },
          { ErrorEquals: ['B'], BackoffRate: 0.5 },
        ],
        End: true,
      },
    });
    const diagnostics = validateDefinition(definition);
    at(diagnostics, '/States/T/Retry/0/ErrorEquals');
    assert.match(at(diagnostics, '/States/T/Retry/1/MaxAttempts').message, /MaxAttempts/);
    assert.match(at(diagnostics, '/States/T/Retry/2/BackoffRate').message, /BackoffRate/);
  });

  void test('Retry on a state type that cannot fail with a task error is refused', () => {
    const d = at(
      validateDefinition(machine({ A: { Type: 'Pass', Retry: [{ ErrorEquals: ['X'] }], Next: 'Done' } })),
      '/States/A/Retry',
    );
    assert.equal(d.code, 'SCHEMA_VALIDATION_FAILED');
    assert.match(d.message, /'Retry'/);
    assert.match(d.message, /'A'/);
  });
});

void describe('paths and expressions', () => {
  void test('a malformed InputPath is refused at that field', () => {
    const d = at(
      validateDefinition(machine({ A: { Type: 'Pass', InputPath: '$.a[', Next: 'Done' } })),
      '/States/A/InputPath',
    );
    assert.equal(d.code, 'SCHEMA_VALIDATION_FAILED');
    assert.match(d.message, /\$\.a\[/);
  });

  void test('a ResultPath that is not a Reference Path is refused', () => {
    const d = at(
      validateDefinition(machine({ A: { Type: 'Pass', ResultPath: '$.items[*]', Next: 'Done' } })),
      '/States/A/ResultPath',
    );
    assert.equal(d.code, 'SCHEMA_VALIDATION_FAILED');
  });

  void test('malformed OutputPath, ItemsPath and SecondsPath are each located at their field', () => {
    const diagnostics = validateDefinition(
      machine({
        A: { Type: 'Pass', OutputPath: 'no-dollar', Next: 'M' },
        M: {
          Type: 'Map',
          ItemsPath: '$..[',
          ItemProcessor: { StartAt: 'I', States: { I: { Type: 'Pass', End: true } } },
          Next: 'W',
        },
        W: { Type: 'Wait', SecondsPath: '$.[', Next: 'Done' },
      }),
    );
    at(diagnostics, '/States/A/OutputPath');
    at(diagnostics, '/States/M/ItemsPath');
    at(diagnostics, '/States/W/SecondsPath');
  });

  void test('a malformed path or intrinsic in Parameters or a Choice Variable is refused before the run', () => {
    const diagnostics = validateDefinition(
      machine({
        A: {
          Type: 'Pass',
          Parameters: { 'x.$': 'not a path', 'y.$': 'States.NoSuchFunction($.a)' },
          Next: 'C',
        },
        C: { Type: 'Choice', Choices: [{ Variable: 'nope', StringEquals: 'x', Next: 'Done' }] },
      }),
    );
    assert.ok(
      diagnostics.some((d) => d.location.startsWith('/States/A/Parameters')),
      'Parameters not reported',
    );
    assert.ok(
      diagnostics.some((d) => d.location.startsWith('/States/C/Choices/0')),
      'Choice Variable not reported',
    );
  });

  void test('a JSONata expression that does not parse is refused before the run', () => {
    const definition = {
      QueryLanguage: 'JSONata',
      StartAt: 'A',
      States: { A: { Type: 'Pass', Output: '{% 1 + %}', End: true } },
    };
    assert.ok(validateDefinition(definition).length > 0, 'the JSONata syntax error is not reported');
  });

  void test('JSONPath-only fields in a JSONata state are refused', () => {
    const definition = {
      QueryLanguage: 'JSONata',
      StartAt: 'A',
      States: { A: { Type: 'Pass', InputPath: '$.x', Parameters: { a: 1 }, End: true } },
    };
    const diagnostics = validateDefinition(definition);
    assert.ok(
      diagnostics.some((d) => /InputPath/.test(d.message)),
      'InputPath not reported',
    );
    assert.ok(
      diagnostics.some((d) => /Parameters/.test(d.message)),
      'Parameters not reported',
    );
  });

  void test('a JSONata Choice rule without a Condition is refused', () => {
    const definition = {
      QueryLanguage: 'JSONata',
      StartAt: 'C',
      States: { C: { Type: 'Choice', Choices: [{ Next: 'D' }] }, D: { Type: 'Succeed' } },
    };
    at(validateDefinition(definition), '/States/C/Choices/0');
  });

  void test('a JSONPath Choice rule needs a Variable and exactly one comparison', () => {
    const diagnostics = validateDefinition(
      machine({
        C: {
          Type: 'Choice',
          Choices: [
            { Variable: '$.a', StringEquals: 'x', NumericEquals: 1, Next: 'Done' },
            { Not: { StringEquals: 'x' }, Next: 'Done' },
          ],
        },
      }),
    );
    at(diagnostics, '/States/C/Choices/0');
    at(diagnostics, '/States/C/Choices/1/Not');
  });
});

void describe('state fields', () => {
  void test('an unknown state Type is refused at Type', () => {
    const d = at(validateDefinition(machine({ A: { Type: 'Sleep', Next: 'Done' } })), '/States/A/Type');
    assert.match(d.message, /'A'/);
    assert.match(d.message, /Sleep/);
  });

  void test('a Wait needs exactly one of Seconds, SecondsPath, Timestamp and TimestampPath', () => {
    at(
      validateDefinition(machine({ W: { Type: 'Wait', Seconds: 1, SecondsPath: '$.s', Next: 'Done' } })),
      '/States/W',
    );
    at(validateDefinition(machine({ W: { Type: 'Wait', Next: 'Done' } })), '/States/W');
  });

  void test('HeartbeatSeconds must be smaller than TimeoutSeconds', () => {
    const definition = machine({
      T: { Type: 'Task', Resource: RESOURCE, TimeoutSeconds: 10, HeartbeatSeconds: 10, End: true },
    });
    assert.match(at(validateDefinition(definition), '/States/T/HeartbeatSeconds').message, /'T'/);
  });

  void test('a Task without a Resource is refused', () => {
    at(validateDefinition(machine({ T: { Type: 'Task', End: true } })), '/States/T/Resource');
  });

  void test('a Choice without rules and a Parallel without branches are refused', () => {
    const diagnostics = validateDefinition(
      machine({
        C: { Type: 'Choice', Choices: [], Default: 'P' },
        P: { Type: 'Parallel', Branches: [], Next: 'Done' },
      }),
    );
    at(diagnostics, '/States/C/Choices');
    at(diagnostics, '/States/P/Branches');
  });

  void test('a Map without an ItemProcessor is refused', () => {
    assert.match(
      at(validateDefinition(machine({ M: { Type: 'Map', Next: 'Done' } })), '/States/M').message,
      /ItemProcessor/,
    );
  });

  void test('a definition that is not an object, or has no States, is refused', () => {
    assert.equal(validateDefinition([])[0]?.code, 'INVALID_JSON_DESCRIPTION');
    assert.equal(validateDefinition('{}')[0]?.code, 'INVALID_JSON_DESCRIPTION');
    at(validateDefinition({ StartAt: 'A' }), '/States');
  });

  void test('every mistake is reported, not just the first', () => {
    const diagnostics = validateDefinition({
      StartAt: 'A',
      States: { A: { Type: 'Pass', Next: 'X' }, B: { Type: 'Wait', Next: 'A' }, C: { Type: 'Nope' } },
    });
    const locations = diagnostics.map((d) => d.location);
    for (const expected of ['/States/A/Next', '/States/B', '/States/C/Type'])
      assert.ok(locations.includes(expected), expected);
  });
});

void test('a Map that reads items from S3 or writes results there is refused, not run over its input', () => {
  const diagnostics = validateDefinition({
    StartAt: 'M',
    States: {
      M: {
        Type: 'Map',
        ItemReader: { Resource: 'arn:aws:states:::s3:getObject', Parameters: { Bucket: 'b', Key: 'k' } },
        ResultWriter: { Resource: 'arn:aws:states:::s3:putObject', Parameters: { Bucket: 'b', Prefix: 'p' } },
        ItemProcessor: {
          ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
          StartAt: 'P',
          States: { P: { Type: 'Pass', End: true } },
        },
        End: true,
      },
    },
  });
  assert.deepEqual(
    diagnostics.map((d) => d.location),
    ['/States/M/ItemReader', '/States/M/ResultWriter'],
  );
  assert.match(diagnostics[0]?.message ?? '', /'ItemReader' is not supported/);
});

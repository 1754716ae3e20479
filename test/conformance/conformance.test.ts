/**
 * Inlet against real AWS Step Functions: every recorded case is replayed on the in-memory
 * runner and compared after the recordings' own normalisation. One test per category keeps the
 * output readable; a case that fails must be listed in known-failures.json with a reason, and a
 * listed case that passes must be taken off the list, so the list stays true and a regression
 * fails the build. The normaliser itself is tested on the recorded data first: if it were wrong,
 * every verdict below would be too.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { LocalExecutionResult } from '../../src/asl/run-local.ts';
import type { HistoryEvent } from '../../src/asl/history.ts';
import {
  CLOCK_START_MS,
  RUN_IDENTITY,
  actualComparable,
  availableRunner,
  dynamicTimestamp,
  expectedComparable,
  loadCases,
  loadKnownFailures,
  prepareRun,
  runCases,
  uuidFromSeed,
} from './cases.ts';
import type { CaseOutcome, ConformanceCase, PreparedRun } from './cases.ts';
import {
  cloneJson,
  describeDifference,
  firstDifference,
  groupMapIterations,
  isJsonObject,
  normaliseSnapshot,
  removeSkipPaths,
  sfnNoneRecursiveParallel,
  sortZeroedParallelRuns,
} from './normalise.ts';
import type { Json, JsonObject, RuntimeValues } from './normalise.ts';
import { findPath, parsePath } from './json-path.ts';

const cases = loadCases();
const knownFailures = loadKnownFailures();
const runner = availableRunner();
const hasParallelTransformer = (c: ConformanceCase): boolean =>
  c.transformers.some((t) => t.type === 'SfnNoneRecursiveParallelTransformer');

const RUNTIME: RuntimeValues = {
  ...RUN_IDENTITY,
  stateMachineName: 'sm-test',
  executionName: uuidFromSeed('execution'),
};

/** Values to stand in for the recordings' placeholders when faking what AWS returned. */
function placeholderValues(testCase: ConformanceCase, run: PreparedRun): Map<string, string> {
  const values = new Map<string, string>([
    ['snf_role_arn', RUN_IDENTITY.roleArn],
    ['sfn_role_arn', RUN_IDENTITY.roleArn],
    ['arn:<partition>:', 'arn:aws:'],
    ['<region>', RUN_IDENTITY.region],
    ['111111111111', RUN_IDENTITY.accountId],
    ['<role-name>', 'sfn-role'],
  ]);
  for (const t of testCase.transformers) {
    if (t.type !== 'RegexTransformer' || !('runtimeValue' in t)) continue;
    const literal: Record<string, string | undefined> = {
      stateMachineName: run.options.stateMachineName,
      executionName: run.options.executionName,
      expressExecutionArnPart1: run.options.executionName,
      expressExecutionArnPart2: uuidFromSeed('express-part-2'),
      mapRunArnPart1: uuidFromSeed(`map-run-1-${t.replacement}`),
      mapRunArnPart0: uuidFromSeed(`map-run-0-${t.replacement}`),
      dynamicInput: run.dynamicInput,
    };
    const value = literal[t.runtimeValue];
    if (value !== undefined) values.set(t.replacement, value);
  }
  return values;
}

/** Turns normalised recorded data back into something shaped like a raw AWS value. */
function denormaliseValue(value: Json, placeholders: Map<string, string>): Json {
  let text = JSON.stringify(value);
  for (const [placeholder, literal] of placeholders) text = text.split(placeholder).join(literal);
  text = text.replace(/<uuid:(\d+)>/g, (_, n: string) => uuidFromSeed(`uuid-${n}`));
  const restore = (item: Json): Json => {
    if (item === 'date') return '2016-03-14T01:59:00Z';
    if (Array.isArray(item)) return item.map(restore);
    if (isJsonObject(item)) return Object.fromEntries(Object.entries(item).map(([k, v]) => [k, restore(v)]));
    return item;
  };
  return restore(JSON.parse(text) as Json);
}

/** AWS returns details' input/output and assigned variables as JSON text. */
function stringifyPayloads(event: JsonObject): void {
  for (const [key, details] of Object.entries(event)) {
    if (!key.endsWith('EventDetails') || !isJsonObject(details)) continue;
    for (const field of ['input', 'output']) {
      const payload = details[field];
      if (payload !== undefined && typeof payload !== 'string') details[field] = JSON.stringify(payload);
    }
    const assigned = details['assignedVariables'];
    if (isJsonObject(assigned)) {
      for (const [name, v] of Object.entries(assigned))
        if (typeof v !== 'string') assigned[name] = JSON.stringify(v);
    }
  }
}

/** Undoes the Parallel transformer's id zeroing and re-inserts the ParallelStateSucceeded it deleted. */
function restoreParallelBlocks(events: JsonObject[]): JsonObject[] | undefined {
  const out: JsonObject[] = [];
  for (let i = 0; i < events.length; i++) {
    const event = events[i] as JsonObject;
    out.push(event);
    if (event['type'] !== 'ParallelStateStarted' || typeof event['id'] !== 'number') continue;
    let end = i + 1;
    while (end < events.length && JSON.stringify(events[end]?.['id']) === '[0]') end++;
    const exited = events[end];
    const size = end - i - 1;
    if (exited?.['type'] !== 'ParallelStateExited' || exited['id'] !== event['id'] + size + 2)
      return undefined;
    for (let k = 0; k < size; k++) {
      const inner = events[i + 1 + k] as JsonObject;
      inner['id'] = event['id'] + 1 + k;
      inner['previousEventId'] = event['id'] + k;
      out.push(inner);
    }
    const succeededId = exited['id'] - 1;
    out.push({
      id: succeededId,
      previousEventId: succeededId - 1,
      timestamp: 'timestamp',
      type: 'ParallelStateSucceeded',
    });
    i = end - 1;
  }
  return out;
}

function isDetailsKey(key: string): key is `${string}EventDetails` {
  return key.endsWith('EventDetails');
}

/** A result shaped like the runner's, holding what AWS recorded with real values put back. */
function fakeAwsResult(testCase: ConformanceCase, run: PreparedRun): LocalExecutionResult | undefined {
  const placeholders = placeholderValues(testCase, run);
  const { expected } = testCase;
  const smName = run.options.stateMachineName ?? '';
  const execName = run.options.executionName ?? '';
  const express = testCase.stateMachineType === 'EXPRESS';
  let events = expected.history ? cloneJson(expected.history) : [];
  if (hasParallelTransformer(testCase)) {
    const restored = restoreParallelBlocks(events);
    if (!restored) return undefined;
    events = restored;
  }
  const history = events.map((recorded) => {
    const event = denormaliseValue(recorded, placeholders);
    assert.ok(isJsonObject(event));
    stringifyPayloads(event);
    const out: HistoryEvent = {
      timestamp: new Date(CLOCK_START_MS),
      type: String(event['type']),
      id: Number(event['id']),
      previousEventId: Number(event['previousEventId']),
    };
    for (const [key, details] of Object.entries(event))
      if (isDetailsKey(key) && isJsonObject(details)) out[key] = details;
    return out;
  });
  const result: LocalExecutionResult = {
    status: expected.status,
    history,
    executionArn: express
      ? `arn:aws:states:us-east-1:123456789012:express:${smName}:${execName}:${placeholders.get('<ExpressExecArn_Part2_0idx>') ?? placeholders.get('<SyncExecArn_Part2_0idx>') ?? 'x'}`
      : `arn:aws:states:us-east-1:123456789012:execution:${smName}:${execName}`,
    stateMachineArn: `arn:aws:states:us-east-1:123456789012:stateMachine:${smName}`,
    stateTransitions: 0,
  };
  if (expected.output !== undefined)
    result.output = JSON.stringify(denormaliseValue(expected.output, placeholders));
  if (expected.error !== undefined) result.error = String(denormaliseValue(expected.error, placeholders));
  if (expected.cause !== undefined) result.cause = String(denormaliseValue(expected.cause, placeholders));
  return result;
}

/**
 * The one rule that is not idempotent by design: an ISO date under a *timestamp* key was
 * recorded as "date", and "date" is not ISO, so a second pass calls it "timestamp".
 */
function dateUnderTimestampKeysRenamed<T extends Json>(value: T): T {
  const walk = (item: Json): Json => {
    if (Array.isArray(item)) return item.map(walk);
    if (!isJsonObject(item)) return item;
    return Object.fromEntries(
      Object.entries(item).map(([k, v]) => [k, /timestamp/i.test(k) && v === 'date' ? 'timestamp' : walk(v)]),
    );
  };
  return walk(value) as T;
}

void describe('normalising results the way the AWS recordings were normalised', () => {
  void test('the recorded cases load, and every category has cases', () => {
    assert.ok(cases.length > 0);
    for (const c of cases) assert.ok(c.category, `${c.file} has no category`);
  });

  void test('normalising already-normalised recorded data changes nothing', () => {
    const failures: string[] = [];
    for (const c of cases) {
      const snapshot: JsonObject = { execution: { output: c.expected.output ?? null } };
      if (c.expected.history) snapshot['history'] = { events: cloneJson(c.expected.history) };
      const again = normaliseSnapshot(snapshot, c.transformers, RUNTIME, { parseJsonStrings: false });
      for (const doc of [snapshot, again]) {
        const events = isJsonObject(doc['history']) ? doc['history']['events'] : undefined;
        if (Array.isArray(events)) sortZeroedParallelRuns(events);
      }
      const difference = firstDifference(dateUnderTimestampKeysRenamed(snapshot), again);
      if (difference) failures.push(`${c.id}: ${describeDifference(difference)}`);
    }
    assert.deepEqual(failures, []);
  });

  void test('a run with real ARNs, names, UUIDs, dates and timestamps normalises to exactly what AWS recorded', () => {
    const failures: string[] = [];
    let checked = 0;
    for (const c of cases) {
      const run = prepareRun(c);
      const fake = fakeAwsResult(c, run);
      if (!fake) continue;
      checked++;
      const difference = firstDifference(expectedComparable(c), actualComparable(c, fake, run));
      if (difference) failures.push(`${c.id}: ${describeDifference(difference)}`);
    }
    assert.deepEqual(failures, []);
    assert.ok(checked >= cases.length - 5, `only ${checked} of ${cases.length} cases could be faked`);
  });

  void test('a difference is reported at its first path with expected and actual values', () => {
    const c = cases.find(
      (x) => x.expected.history && x.expected.history.length > 3 && !hasParallelTransformer(x),
    );
    assert.ok(c);
    const run = prepareRun(c);
    const fake = fakeAwsResult(c, run);
    assert.ok(fake);
    const third = fake.history[2];
    assert.ok(third);
    third.type = 'SomethingElse';
    const difference = firstDifference(expectedComparable(c), actualComparable(c, fake, run));
    assert.ok(difference);
    assert.equal(difference.path, '$.history.events[2].type');
    assert.equal(difference.actual, 'SomethingElse');
    assert.match(
      describeDifference(difference),
      /^at \$\.history\.events\[2\]\.type: expected ".+", actual "SomethingElse"$/,
    );
  });

  void test('JSON strings starting with { are parsed once, other JSON strings stay strings', () => {
    const out = normaliseSnapshot(
      { h: { a: '{"b":"{\\"c\\":1}"}', list: [{ d: '{"e":2}' }], arr: '[1,2]', num: '3' } },
      [],
      RUNTIME,
    );
    assert.deepEqual(out, { h: { a: { b: '{"c":1}' }, arr: '[1,2]', list: [{ d: { e: 2 } }], num: '3' } });
  });

  void test('global rules: account, region, partition, UUIDs under *id keys, ISO dates and timestamp keys', () => {
    const uuid = '0f8fad5b-d9cb-469f-a165-70867728950e';
    const out = normaliseSnapshot(
      {
        h: {
          arn: 'arn:aws:states:us-east-1:123456789012:stateMachine:x',
          requestId: uuid,
          echo: `seen ${uuid}`,
          when: 'at 2016-03-14T01:59:00Z and 2016-03-14T01:59:00+01:00',
          naive: '2016-03-14T01:59:00',
          TimestampValue: '2016-12-05 21:29:29Z',
          timestamp: 'datetime',
        },
      },
      [],
      RUNTIME,
    );
    assert.deepEqual(out['h'], {
      arn: 'arn:<partition>:states:<region>:111111111111:stateMachine:x',
      requestId: '<uuid:1>',
      echo: 'seen <uuid:1>',
      when: 'at date and date',
      naive: '2016-03-14T01:59:00',
      TimestampValue: 'timestamp',
      timestamp: 'timestamp',
    });
  });

  void test('runtime values are replaced before the generic rules, so a UUID execution name keeps its placeholder', () => {
    const name = RUNTIME.executionName ?? '';
    const out = normaliseSnapshot(
      { h: { executionId: name, Name: name } },
      [{ type: 'RegexTransformer', runtimeValue: 'executionName', replacement: '<ExecArnPart_0idx>' }],
      RUNTIME,
    );
    assert.deepEqual(out['h'], { executionId: '<ExecArnPart_0idx>', Name: '<ExecArnPart_0idx>' });
  });

  void test('a cause quoting the JSON input replaces that JSON by a numbered reference everywhere', () => {
    const out = normaliseSnapshot(
      { h: { cause: `Invalid input '{"a": 1}'`, other: 'x {"a": 1} y' } },
      [],
      RUNTIME,
    );
    assert.deepEqual(out['h'], { cause: `Invalid input '<json-input:1>'`, other: 'x <json-input:1> y' });
  });

  void test('JsonpathTransformer sets existing matches only, or numbers references', () => {
    const out = normaliseSnapshot(
      { h: { a: { StartTime: 't1' }, b: [{ StartTime: 't2' }], c: { name: 'n1' }, d: 'n1 again' } },
      [
        {
          type: 'JsonpathTransformer',
          jsonpath: '$..StartTime',
          replacement: 'start-time',
          replaceReference: false,
        },
        { type: 'JsonpathTransformer', jsonpath: '$..Missing', replacement: 'x', replaceReference: false },
        { type: 'JsonpathTransformer', jsonpath: '$..c.name', replacement: 'nm', replaceReference: true },
      ],
      RUNTIME,
    );
    assert.deepEqual(out['h'], {
      a: { StartTime: 'start-time' },
      b: [{ StartTime: 'start-time' }],
      c: { name: '<nm:1>' },
      d: '<nm:1> again',
    });
  });

  void test('the Parallel transformer zeroes block ids and deletes ParallelStateSucceeded before ParallelStateExited', () => {
    const ev = (id: number, type: string, name = ''): Json => ({
      id,
      previousEventId: id - 1,
      type,
      ...(name ? { stateEnteredEventDetails: { name } } : {}),
    });
    const events: Json[] = [
      ev(1, 'ParallelStateStarted'),
      ev(2, 'PassStateEntered', 'B'),
      ev(3, 'PassStateEntered', 'A'),
      ev(4, 'ParallelStateSucceeded'),
      ev(5, 'ParallelStateExited'),
      ev(6, 'ExecutionSucceeded'),
    ];
    sfnNoneRecursiveParallel(events);
    assert.deepEqual(
      events.map((e) => (isJsonObject(e) ? [e['id'], e['type']] : null)),
      [
        [1, 'ParallelStateStarted'],
        [[0], 'PassStateEntered'],
        [[0], 'PassStateEntered'],
        [5, 'ParallelStateExited'],
        [6, 'ExecutionSucceeded'],
      ],
    );
  });

  void test('Map iterations that AWS interleaved differently compare equal once grouped per iteration', () => {
    const ev = (id: number, prev: number, type: string, details: JsonObject = {}): JsonObject => ({
      id,
      previousEventId: prev,
      type,
      ...details,
    });
    const iteration = (kind: string, index: number): JsonObject => ({
      [`mapIteration${kind}EventDetails`]: { index, name: 'M' },
    });
    const pass = (kind: string, value: number): JsonObject => ({
      [kind === 'Entered' ? 'stateEnteredEventDetails' : 'stateExitedEventDetails']: { name: 'P', value },
    });
    const head = [ev(1, 0, 'MapStateEntered'), ev(2, 1, 'MapStateStarted')];
    const sequential: Json[] = [
      ...head,
      ev(3, 2, 'MapIterationStarted', iteration('Started', 0)),
      ev(4, 3, 'PassStateEntered', pass('Entered', 0)),
      ev(5, 4, 'MapIterationSucceeded', iteration('Succeeded', 0)),
      ev(6, 2, 'MapIterationStarted', iteration('Started', 1)),
      ev(7, 6, 'PassStateEntered', pass('Entered', 1)),
      ev(8, 7, 'MapIterationSucceeded', iteration('Succeeded', 1)),
      ev(9, 8, 'MapStateSucceeded'),
      ev(10, 8, 'MapStateExited'),
    ];
    const interleaved: Json[] = [
      ...head,
      ev(3, 2, 'MapIterationStarted', iteration('Started', 1)),
      ev(4, 2, 'MapIterationStarted', iteration('Started', 0)),
      ev(5, 4, 'PassStateEntered', pass('Entered', 0)),
      ev(6, 3, 'PassStateEntered', pass('Entered', 1)),
      ev(7, 6, 'MapIterationSucceeded', iteration('Succeeded', 1)),
      ev(8, 5, 'MapIterationSucceeded', iteration('Succeeded', 0)),
      ev(9, 8, 'MapStateSucceeded'),
      ev(10, 8, 'MapStateExited'),
    ];
    const other = cloneJson(interleaved);
    groupMapIterations(sequential);
    groupMapIterations(interleaved);
    assert.deepEqual(interleaved, sequential);
    // A wrong value inside an iteration still shows.
    const stateEntered = other[4];
    assert.ok(isJsonObject(stateEntered));
    stateEntered['stateEnteredEventDetails'] = { name: 'P', value: 9 };
    groupMapIterations(other);
    assert.notDeepEqual(other, sequential);
  });

  void test('skipVerify paths are removed, list items by index without shifting later indexes', () => {
    const doc: JsonObject = {
      history: {
        events: [
          { a: 1, p: 0 },
          { a: 2, p: 1 },
          { a: 3, p: 2 },
        ],
      },
      output: { Cause: 'x', keep: 1 },
    };
    removeSkipPaths(doc, ['$..events[0].p', '$..output.Cause', '$..events[1]', '$..events[2].a']);
    assert.deepEqual(doc, { history: { events: [{ a: 1 }, { p: 2 }] }, output: { keep: 1 } });
  });

  void test('the JSONPath subset parses the recorded paths and finds descendants at any depth', () => {
    assert.deepEqual(parsePath('$..events[4].previousEventId'), [
      { kind: 'field', name: 'events', descendant: true },
      { kind: 'index', index: 4, descendant: false },
      { kind: 'field', name: 'previousEventId', descendant: false },
    ]);
    const doc = { events: [{ d: { cause: 1 } }, { x: [{ d: { cause: 2 } }] }] };
    assert.deepEqual(
      findPath(doc, '$..events..d.cause').map((m) => m.value),
      [1, 2],
    );
    for (const c of cases) for (const path of c.skipVerify) assert.doesNotThrow(() => parsePath(path), path);
  });

  void test('dynamic inputs are timestamps relative to the virtual clock', () => {
    const now = Date.UTC(2024, 0, 1, 8, 16, 22, 500);
    assert.equal(
      dynamicTimestamp("UTC now, formatted %Y-%m-%dT%H:%M:%S followed by 'Z'", now),
      '2024-01-01T08:16:22Z',
    );
    assert.equal(
      dynamicTimestamp("UTC now + 24855 days, formatted %Y-%m-%dT%H:%M:%S followed by '.000Z'", now),
      '2092-01-19T08:16:22.000Z',
    );
    for (const c of cases.filter((x) => x.dynamicInput)) assert.ok(prepareRun(c).dynamicInput, c.id);
  });
});

let outcomes: Promise<Map<string, CaseOutcome>> | undefined;
/** All cases run once, shared by the per-category tests and the pass-rate test. */
function allOutcomes(): Promise<Map<string, CaseOutcome>> {
  if (!runner) throw new Error('runLocal is not implemented');
  outcomes ??= runCases(cases, runner).then((list) => new Map(list.map((o) => [o.id, o])));
  return outcomes;
}

const skipReason = runner ? false : 'runLocal in src/asl/run-local.ts is not implemented yet';
const categories = [...new Set(cases.map((c) => c.category))].sort();

void describe('conformance with AWS Step Functions', () => {
  void test('known-failures.json only names recorded cases', () => {
    const ids = new Set(cases.map((c) => c.id));
    assert.deepEqual(
      Object.keys(knownFailures).filter((id) => !ids.has(id)),
      [],
    );
  });

  for (const category of categories) {
    const inCategory = cases.filter((c) => c.category === category);
    void test(
      `${category}: all ${inCategory.length} cases match AWS or are listed known failures`,
      { skip: skipReason },
      async () => {
        const results = await allOutcomes();
        const regressions: string[] = [];
        const nowPassing: string[] = [];
        for (const c of inCategory) {
          const outcome = results.get(c.id);
          assert.ok(outcome);
          const listed = Object.hasOwn(knownFailures, c.id);
          if (!outcome.passed && !listed)
            regressions.push(`${c.id} (${c.file})\n  ${outcome.detail ?? outcome.summary ?? ''}`);
          if (outcome.passed && listed) nowPassing.push(c.id);
        }
        assert.equal(regressions.length, 0, `cases that differ from AWS:\n${regressions.join('\n')}`);
        assert.equal(
          nowPassing.length,
          0,
          `now passing, remove from known-failures.json:\n${nowPassing.join('\n')}`,
        );
      },
    );
  }

  void test('at least 95% of all recorded cases match AWS', { skip: skipReason }, async () => {
    const results = [...(await allOutcomes()).values()];
    const passed = results.filter((o) => o.passed).length;
    const rate = passed / results.length;
    assert.ok(
      rate >= 0.95,
      `pass rate ${(rate * 100).toFixed(1)}% (${passed}/${results.length}) is below 95%`,
    );
  });
});

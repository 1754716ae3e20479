/**
 * The recorded AWS Step Functions executions and how to replay one on Inlet's in-memory runner.
 * The cases live outside the repository (`../shared/conformance/cases` beside the clone, as in
 * CI) because they are shared data, not code; this module finds them, checks their shape, runs
 * a case with fixed run-time values on a virtual clock, and compares the normalised result with
 * what AWS returned. The test and the report script both go through here, so they agree.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as runLocalModule from '../../src/asl/run-local.ts';
import type { LocalExecutionResult, RunLocalOptions } from '../../src/asl/run-local.ts';
import { findPath } from './json-path.ts';
import {
  canonicalJson,
  cloneJson,
  describeDifference,
  firstDifference,
  groupMapIterations,
  isJsonObject,
  normaliseSnapshot,
  removeSkipPaths,
  sortZeroedParallelRuns,
  toPlainJson,
} from './normalise.ts';
import type { CaseTransformer, Difference, Json, JsonObject, RuntimeValues } from './normalise.ts';

/** One recorded execution (see `shared/conformance/README.md` for every field). */
export interface ConformanceCase {
  id: string;
  category: string;
  /** The file it was read from, for messages. */
  file: string;
  source: { template: string | null; test: string; snapshotKey: string; [key: string]: Json };
  definition: JsonObject;
  input: Json;
  inputString: string | null;
  expected: {
    status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'RUNNING';
    output?: Json;
    error?: string;
    cause?: string;
    history: JsonObject[] | null;
    endEvent?: JsonObject;
  };
  skipVerify: string[];
  transformers: CaseTransformer[];
  stateMachineType?: 'STANDARD' | 'EXPRESS';
  dynamicInput?: { path: string; recipe: string; placeholder: string };
  notes?: string[];
}

/** Thrown when the recorded cases are not where CI puts them. */
export class ConformanceCasesMissingError extends Error {
  constructor(dir: string) {
    super(
      `AWS conformance cases not found at ${dir}. They are shared data kept beside the repository: ` +
        `clone or copy 'shared/' next to the repo root (../shared/conformance/cases), ` +
        `or point INLET_CONFORMANCE_CASES at the cases folder.`,
    );
    this.name = 'ConformanceCasesMissingError';
  }
}

/** The repository root (this file is test/conformance/cases.ts). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Where the cases are: `$INLET_CONFORMANCE_CASES`, else `../shared/conformance/cases`. */
export function casesDir(): string {
  return process.env['INLET_CONFORMANCE_CASES'] ?? resolve(repoRoot, '../shared/conformance/cases');
}

function fail(file: string, what: string): never {
  throw new Error(`malformed conformance case ${file}: ${what}`);
}

function checkCase(raw: unknown, file: string): ConformanceCase {
  if (!isJsonObject(raw)) fail(file, 'not a JSON object');
  if (typeof raw['id'] !== 'string' || typeof raw['category'] !== 'string')
    fail(file, 'id and category must be strings');
  if (!isJsonObject(raw['definition'])) fail(file, 'definition must be an object');
  const expected = raw['expected'];
  if (!isJsonObject(expected)) fail(file, 'expected must be an object');
  if (!['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'RUNNING'].includes(String(expected['status']))) {
    fail(file, `unknown expected.status ${JSON.stringify(expected['status'])}`);
  }
  const history = expected['history'];
  if (history !== null && !(Array.isArray(history) && history.every(isJsonObject))) {
    fail(file, 'expected.history must be null or an array of events');
  }
  if (!Array.isArray(raw['skipVerify']) || !raw['skipVerify'].every((p) => typeof p === 'string')) {
    fail(file, 'skipVerify must be an array of JSONPath strings');
  }
  if (
    !Array.isArray(raw['transformers']) ||
    !raw['transformers'].every((t) => isJsonObject(t) && typeof t['type'] === 'string')
  ) {
    fail(file, 'transformers must be an array of typed objects');
  }
  if (raw['inputString'] !== null && typeof raw['inputString'] !== 'string')
    fail(file, 'inputString must be a string or null');
  // The shape is checked above; the JSON file is the one source of the fields' finer types.
  return { ...(raw as unknown as Omit<ConformanceCase, 'file'>), file };
}

/** Reads and checks every case, sorted by file name. */
export function loadCases(dir = casesDir()): ConformanceCase[] {
  if (!existsSync(dir)) throw new ConformanceCasesMissingError(dir);
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort();
  if (files.length === 0) throw new ConformanceCasesMissingError(dir);
  return files.map((name) => {
    const path = join(dir, name);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, 'utf8'));
    } catch (error) {
      fail(name, `not JSON (${String(error)})`);
    }
    return checkCase(raw, name);
  });
}

/** Case id → why it fails today; the runner's author keeps it true. */
export type KnownFailures = Record<string, string>;

/** Path of the known-failures list. */
export const knownFailuresPath = join(repoRoot, 'test/conformance/known-failures.json');

/** Reads known-failures.json; every entry must give a reason. */
export function loadKnownFailures(path = knownFailuresPath): KnownFailures {
  const raw: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (!isJsonObject(raw)) throw new Error(`${path} must be an object of case id → reason`);
  const out: KnownFailures = {};
  for (const [id, reason] of Object.entries(raw)) {
    if (typeof reason !== 'string' || reason.trim() === '')
      throw new Error(`${path}: '${id}' needs a reason string`);
    out[id] = reason;
  }
  return out;
}

/** When every run starts, on the virtual clock: fixed, so a run is reproducible. */
export const CLOCK_START_MS = Date.UTC(2024, 0, 1);
/**
 * Virtual time a run may use before it counts as still RUNNING. AWS's recordings were fetched
 * within minutes; anything that waits a day had not ended when AWS was asked either.
 */
export const MAX_VIRTUAL_MS = 24 * 60 * 60 * 1000;
/** Wall-clock guard per case, so a hung runner fails one case instead of the suite. */
export const WALL_CLOCK_LIMIT_MS = 10_000;

/** Run-time identity every case runs under; the placeholders of the recordings stand for these. */
export const RUN_IDENTITY = {
  roleArn: 'arn:aws:iam::123456789012:role/sfn-role',
  region: 'us-east-1',
  accountId: '123456789012',
  partition: 'aws',
} as const;

/** The in-memory runner's signature. */
export type Runner = (
  definition: string | object,
  input: string,
  options?: RunLocalOptions,
) => Promise<LocalExecutionResult>;

/** The runner, or undefined while src/asl/run-local.ts only declares it. */
export function availableRunner(): Runner | undefined {
  const candidate: unknown = runLocalModule.runLocal;
  return typeof candidate === 'function' ? runLocalModule.runLocal : undefined;
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A UUID-shaped execution name derived from the case id, so reruns are identical. */
export function uuidFromSeed(seed: string): string {
  const h = digest(seed);
  const variant = ((parseInt(h.charAt(16), 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A seeded PRNG (mulberry32): `States.UUID`, `$random` and jitter stay reproducible. */
export function seededRandom(seed: string): () => number {
  let state = parseInt(digest(seed).slice(0, 8), 16) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The timestamp a `dynamicInput` recipe asks for, relative to the virtual clock's start, e.g.
 * "UTC now + 24855 days, formatted %Y-%m-%dT%H:%M:%S followed by '.000Z'".
 */
export function dynamicTimestamp(recipe: string, nowMs = CLOCK_START_MS): string {
  const match = /^UTC now(?: \+ (\d+) days)?, formatted %Y-%m-%dT%H:%M:%S followed by '([^']*)'$/.exec(
    recipe,
  );
  if (!match) throw new Error(`unsupported dynamicInput recipe: ${recipe}`);
  const at = new Date(nowMs + Number(match[1] ?? 0) * 86_400_000);
  return `${at.toISOString().slice(0, 19)}${match[2] ?? ''}`;
}

/** Everything needed to run one case and to normalise its result. */
export interface PreparedRun {
  definition: JsonObject;
  inputString: string;
  options: RunLocalOptions;
  /** The generated `dynamicInput` literal, replaced by `<timestamp>` on the way back. */
  dynamicInput?: string;
}

/** Builds the input and options for a case (fresh clock and PRNG each time). */
export function prepareRun(testCase: ConformanceCase): PreparedRun {
  const seed = testCase.id;
  const options: RunLocalOptions = {
    clock: runLocalModule.virtualClock(CLOCK_START_MS),
    random: seededRandom(seed),
    // LocalStack's tests named machines like this; two recorded cases split the name on '-'.
    stateMachineName: `statemachine_create_and_record_execution_${digest(seed).slice(0, 8)}`,
    executionName: uuidFromSeed(seed),
    roleArn: RUN_IDENTITY.roleArn,
    region: RUN_IDENTITY.region,
    accountId: RUN_IDENTITY.accountId,
    stateMachineType: testCase.stateMachineType ?? 'STANDARD',
    maxRunMs: MAX_VIRTUAL_MS,
  };
  const definition = cloneJson(testCase.definition);
  if (!testCase.dynamicInput) {
    return { definition, inputString: testCase.inputString ?? JSON.stringify(testCase.input), options };
  }
  const dynamicInput = dynamicTimestamp(testCase.dynamicInput.recipe);
  const input = cloneJson(testCase.input);
  const targets = findPath(input, testCase.dynamicInput.path);
  if (targets.length === 0)
    throw new Error(`dynamicInput.path ${testCase.dynamicInput.path} matches nothing in the input`);
  for (const { parent, key } of targets) {
    if (Array.isArray(parent)) parent[Number(key)] = dynamicInput;
    else parent[String(key)] = dynamicInput;
  }
  return { definition, inputString: JSON.stringify(input), options, dynamicInput };
}

/** Whether the history is compared: AWS returned one, and the run is STANDARD. */
export function comparesHistory(testCase: ConformanceCase): boolean {
  return testCase.expected.history !== null && testCase.stateMachineType !== 'EXPRESS';
}

/** Whether status/output/error/cause came from a describe call rather than the last event. */
function resultFromDescribe(testCase: ConformanceCase): boolean {
  return (testCase.notes ?? []).some((note) => note.includes('taken from the recorded describe_execution'));
}

function hasMapWithConcurrency(definition: Json): boolean {
  if (Array.isArray(definition)) return definition.some(hasMapWithConcurrency);
  if (!isJsonObject(definition)) return false;
  if (definition['Type'] === 'Map' && definition['MaxConcurrency'] !== 1) return true;
  return Object.values(definition).some(hasMapWithConcurrency);
}

function lastPart(arn: string, separator: string): string {
  return arn.slice(arn.lastIndexOf(separator) + 1);
}

/** The run's own values the placeholders stand for, read from its result. */
export function runtimeValuesOf(result: LocalExecutionResult, run: PreparedRun): RuntimeValues {
  const history = toPlainJson(result.history);
  const mapRunArns = [
    ...new Set(
      findPath(history, '$..mapRunArn')
        .map(({ value }) => value)
        .filter((value): value is string => typeof value === 'string'),
    ),
  ];
  const arnParts = result.executionArn.split(':');
  const values: RuntimeValues = {
    ...RUN_IDENTITY,
    stateMachineName: result.stateMachineArn
      ? lastPart(result.stateMachineArn, ':')
      : (run.options.stateMachineName ?? ''),
    executionName: result.executionArn
      ? lastPart(result.executionArn, ':')
      : (run.options.executionName ?? ''),
    mapRunArns,
  };
  if (run.options.stateMachineType === 'EXPRESS' && arnParts.length >= 2) {
    values.expressExecutionArnPart1 = arnParts.at(-2) ?? '';
    values.expressExecutionArnPart2 = arnParts.at(-1) ?? '';
  }
  if (run.dynamicInput !== undefined) values.dynamicInput = run.dynamicInput;
  try {
    const output: unknown = result.output === undefined ? undefined : JSON.parse(result.output);
    const fn = isJsonObject(output) ? output['FunctionResult'] : undefined;
    if (typeof fn === 'string') values.executionOutputFunctionResult = fn;
  } catch {
    // a non-JSON output is the comparison's business, not the placeholders'
  }
  return values;
}

const TERMINAL_DETAILS: Record<string, `${string}EventDetails`> = {
  ExecutionSucceeded: 'executionSucceededEventDetails',
  ExecutionFailed: 'executionFailedEventDetails',
  ExecutionTimedOut: 'executionTimedOutEventDetails',
  ExecutionAborted: 'executionAbortedEventDetails',
};

function parsedOutput(value: Json | undefined): Json | undefined {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as Json;
  } catch {
    return value;
  }
}

/** The compared view of an execution: `{ status, output?, error?, cause?, history? }`. */
export type Comparable = JsonObject;

function setIfDefined(target: JsonObject, key: string, value: Json | undefined): void {
  if (value !== undefined) target[key] = value;
}

/** The expected side, as recorded, with the comparison's own canonicalisation applied. */
export function expectedComparable(testCase: ConformanceCase): Comparable {
  const { expected } = testCase;
  const out: Comparable = { status: expected.status };
  if ('output' in expected) setIfDefined(out, 'output', cloneJson(expected.output ?? null));
  if (expected.status === 'FAILED') {
    setIfDefined(out, 'error', expected.error);
    setIfDefined(out, 'cause', expected.cause);
  }
  if (comparesHistory(testCase) && expected.history) out['history'] = { events: cloneJson(expected.history) };
  return finishComparable(testCase, out);
}

/** The actual side: the runner's result through the recordings' normalisation. */
export function actualComparable(
  testCase: ConformanceCase,
  result: LocalExecutionResult,
  run: PreparedRun,
): Comparable {
  const runtime = runtimeValuesOf(result, run);
  const snapshot: JsonObject = {};
  const withHistory = comparesHistory(testCase);
  const fromDescribe = !withHistory || resultFromDescribe(testCase);
  if (withHistory) snapshot['history'] = { events: toPlainJson(result.history) };
  if (fromDescribe) {
    const execution: JsonObject = {};
    setIfDefined(execution, 'output', result.output);
    setIfDefined(execution, 'error', result.error);
    setIfDefined(execution, 'cause', result.cause);
    snapshot['execution'] = execution;
  }
  const normalised = normaliseSnapshot(snapshot, testCase.transformers, runtime);
  let fields: JsonObject = {};
  if (fromDescribe) {
    const execution = normalised['execution'];
    fields = isJsonObject(execution) ? execution : {};
  } else {
    const history = normalised['history'];
    const events = isJsonObject(history) ? history['events'] : undefined;
    const last = Array.isArray(events) ? events.at(-1) : undefined;
    const type = isJsonObject(last) ? last['type'] : undefined;
    const detailsKey = typeof type === 'string' ? TERMINAL_DETAILS[type] : undefined;
    const details = detailsKey && isJsonObject(last) ? last[detailsKey] : undefined;
    fields = isJsonObject(details) ? details : {};
  }
  const out: Comparable = { status: result.status };
  if ('output' in testCase.expected) setIfDefined(out, 'output', parsedOutput(fields['output']));
  if (testCase.expected.status === 'FAILED') {
    setIfDefined(out, 'error', fields['error']);
    setIfDefined(out, 'cause', fields['cause']);
  }
  if (withHistory) out['history'] = normalised['history'] ?? { events: [] };
  return finishComparable(testCase, out);
}

/** skipVerify removal and order-insensitive views, the same on both sides. */
function finishComparable(testCase: ConformanceCase, comparable: Comparable): Comparable {
  const history = comparable['history'];
  const events = isJsonObject(history) ? history['events'] : undefined;
  if (Array.isArray(events) && hasMapWithConcurrency(testCase.definition)) groupMapIterations(events);
  removeSkipPaths(comparable, testCase.skipVerify);
  const after = isJsonObject(comparable['history']) ? comparable['history']['events'] : undefined;
  if (
    Array.isArray(after) &&
    testCase.transformers.some((t) => t.type === 'SfnNoneRecursiveParallelTransformer')
  ) {
    sortZeroedParallelRuns(after);
  }
  return comparable;
}

function eventAt(comparable: Comparable, index: number): Json | undefined {
  const history = comparable['history'];
  const events = isJsonObject(history) ? history['events'] : undefined;
  return Array.isArray(events) ? events[index] : undefined;
}

/** The first difference, and for a history difference the whole event on each side. */
function differenceDetail(difference: Difference, expected: Comparable, actual: Comparable): string {
  const lines = [describeDifference(difference, 600)];
  const index = /^\$\.history\.events\[(\d+)\]/.exec(difference.path)?.[1];
  if (index !== undefined) {
    const show = (event: Json | undefined): string =>
      event === undefined ? '(none)' : canonicalJson(event).slice(0, 600);
    lines.push(
      `expected event: ${show(eventAt(expected, Number(index)))}`,
      `actual event:   ${show(eventAt(actual, Number(index)))}`,
    );
  }
  return lines.join('\n  ');
}

/** How one case went. */
export interface CaseOutcome {
  id: string;
  category: string;
  file: string;
  passed: boolean;
  /** One line: the first differing path, or why the run did not finish. */
  summary?: string;
  /** Longer, for assertion messages: expected vs actual at the first difference. */
  detail?: string;
  durationMs: number;
}

async function withWallClockLimit<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not finish within ${ms} ms of wall-clock time`)), ms);
  });
  try {
    return await Promise.race([work, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * History cases compare the output of the terminal event (as AWS's recordings did), so the
 * result's own output and error, which DescribeExecution shows, must say the same.
 */
function resultInconsistency(result: LocalExecutionResult): string | undefined {
  const last = result.history.at(-1);
  const detailsKey = last ? TERMINAL_DETAILS[last.type] : undefined;
  const details = last && detailsKey ? last[detailsKey] : undefined;
  if (!details) return undefined;
  for (const field of ['output', 'error', 'cause'] as const) {
    if (details[field] !== undefined && details[field] !== result[field]) {
      return `result.${field} differs from the ${last?.type ?? ''} event's ${field}`;
    }
  }
  return undefined;
}

/** Runs one case and compares it with AWS. Never throws: a crash is a failed outcome. */
export async function runCase(testCase: ConformanceCase, runner: Runner): Promise<CaseOutcome> {
  const started = performance.now();
  const base = { id: testCase.id, category: testCase.category, file: testCase.file };
  try {
    const run = prepareRun(testCase);
    const result = await withWallClockLimit(
      runner(run.definition, run.inputString, run.options),
      WALL_CLOCK_LIMIT_MS,
    );
    const inconsistency = resultInconsistency(result);
    if (inconsistency)
      return {
        ...base,
        passed: false,
        summary: inconsistency,
        detail: inconsistency,
        durationMs: performance.now() - started,
      };
    const expected = expectedComparable(testCase);
    const actual = actualComparable(testCase, result, run);
    const difference = firstDifference(expected, actual);
    const durationMs = performance.now() - started;
    if (!difference) return { ...base, passed: true, durationMs };
    return {
      ...base,
      passed: false,
      summary: describeDifference(difference, 80),
      detail: differenceDetail(difference, expected, actual),
      durationMs,
    };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return {
      ...base,
      passed: false,
      summary: `run failed: ${message.split('\n')[0] ?? ''}`,
      detail: error instanceof Error ? (error.stack ?? message) : message,
      durationMs: performance.now() - started,
    };
  }
}

/** Runs cases one after another (the runner is in-memory; order keeps output stable). */
export async function runCases(cases: readonly ConformanceCase[], runner: Runner): Promise<CaseOutcome[]> {
  const outcomes: CaseOutcome[] = [];
  for (const testCase of cases) outcomes.push(await runCase(testCase, runner));
  return outcomes;
}

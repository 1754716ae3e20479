/**
 * Compiles a definition into the form the step function runs: paths parsed, payload templates,
 * intrinsic calls and JSONata expressions compiled once, Retry/Catch normalised with AWS's
 * defaults. Compilation assumes a definition that passed {@link ../validate.ts}; it still
 * throws a StatesError rather than crash on anything it cannot compile.
 */
import { StatesError, StatesErrorName } from './errors.ts';
import type { Catcher, ChoiceRule, Json, QueryLanguage, Retrier, State, SubMachine } from './definition.ts';
import { compileReferencePath, compilePathExpression } from './jsonpath.ts';
import type { ReferencePath } from './jsonpath.ts';
import { compileIntrinsic, isIntrinsic } from './intrinsics.ts';
import { compileJsonataValue, compilePayloadTemplate, readPath } from './evaluate.ts';
import type { CompiledValue, EvalEnv } from './evaluate.ts';
import { isJsonataTemplate } from './jsonata.ts';
import { compileChoiceRule } from './choice.ts';
import type { StateType } from './definition.ts';

/** A Retrier with AWS's defaults filled in. */
export interface CompiledRetrier {
  errorEquals: string[];
  intervalSeconds: number;
  maxAttempts: number;
  backoffRate: number;
  maxDelaySeconds?: number;
  jitter: 'FULL' | 'NONE';
}

/** A Catcher, compiled. */
export interface CompiledCatcher {
  errorEquals: string[];
  next: string;
  resultPath?: ReferencePath | null;
  assign?: CompiledValue;
  output?: CompiledValue;
}

/** A compiled Choice branch. */
export interface CompiledChoice {
  condition: (env: EvalEnv) => boolean | Promise<boolean>;
  next: string;
  assign?: CompiledValue;
  output?: CompiledValue;
}

/** A Map state's iteration settings. */
export interface CompiledMap {
  processor: CompiledMachine;
  distributed: boolean;
  items?: CompiledValue;
  itemsText?: string;
  itemsPath?: RootedPath;
  itemSelector?: CompiledValue;
  maxConcurrency?: CompiledValue;
  maxConcurrencyPath?: RootedPath;
  toleratedFailureCount?: CompiledValue;
  toleratedFailureCountPath?: RootedPath;
  toleratedFailurePercentage?: CompiledValue;
  toleratedFailurePercentagePath?: RootedPath;
}

/** One compiled state: every field the step function reads, pre-parsed. */
export interface CompiledState {
  name: string;
  type: StateType;
  jsonata: boolean;
  next?: string;
  inputPath?: RootedPath | null;
  outputPath?: RootedPath | null;
  parameters?: CompiledValue;
  arguments?: CompiledValue;
  result?: unknown;
  resultPath?: ReferencePath | null;
  resultSelector?: CompiledValue;
  assign?: CompiledValue;
  output?: CompiledValue;
  error?: CompiledValue;
  cause?: CompiledValue;
  choices: CompiledChoice[];
  defaultNext?: string;
  wait?: { seconds?: CompiledValue; secondsPath?: RootedPath; timestamp?: CompiledValue; timestampPath?: RootedPath };
  resource?: string;
  timeoutSeconds?: CompiledValue;
  timeoutSecondsPath?: RootedPath;
  heartbeatSeconds?: CompiledValue;
  heartbeatSecondsPath?: RootedPath;
  map?: CompiledMap;
  branches: CompiledMachine[];
  retry: CompiledRetrier[];
  catch: CompiledCatcher[];
  /** Whether any field reads the context object (`$$`, `$states.context`); if not, it is not built. */
  usesContext: boolean;
  definition: State;
}

/** A compiled (sub)machine: the top level, a Parallel branch or a Map processor. */
export interface CompiledMachine {
  startAt: string;
  states: Map<string, CompiledState>;
  /** Any state of this machine, for reporting errors that belong to no state. */
  anyState: CompiledState;
  timeoutSeconds?: number;
  definition: SubMachine;
}

const constant = (value: unknown): CompiledValue => ({ async: false, evaluate: () => value });

/** A path read against the state's data, the context object (`$$`) or a variable (`$name`). */
export interface RootedPath {
  readonly text: string;
  read(env: EvalEnv): { found: true; value: unknown } | { found: false };
}

function compileJsonPath(text: string): RootedPath {
  const path = compilePathExpression(text);
  return { text, read: (env) => readPath(path, env) };
}

/** A value that is a literal, or a `{% %}` template in JSONata states. */
function literalOrJsonata(value: unknown, jsonata: boolean, location: string): CompiledValue {
  if (jsonata && isJsonataTemplate(value)) return compileJsonataValue(value, location);
  return constant(value);
}

function optionalPath(path: string | null | undefined): RootedPath | null | undefined {
  if (path === undefined) return undefined;
  if (path === null) return null;
  return compileJsonPath(path);
}

function compileRetrier(r: Retrier): CompiledRetrier {
  const out: CompiledRetrier = {
    errorEquals: r.ErrorEquals,
    intervalSeconds: r.IntervalSeconds ?? 1,
    maxAttempts: r.MaxAttempts ?? 3,
    backoffRate: r.BackoffRate ?? 2,
    jitter: r.JitterStrategy ?? 'NONE',
  };
  if (r.MaxDelaySeconds !== undefined) out.maxDelaySeconds = r.MaxDelaySeconds;
  return out;
}

function compileCatcher(c: Catcher, jsonata: boolean): CompiledCatcher {
  const out: CompiledCatcher = { errorEquals: c.ErrorEquals, next: c.Next };
  if (c.ResultPath !== undefined) out.resultPath = c.ResultPath === null ? null : compileReferencePath(c.ResultPath);
  if (c.Assign !== undefined) out.assign = compileAssign(c.Assign, jsonata);
  if (c.Output !== undefined) out.output = compileJsonataValue(c.Output, 'Output');
  return out;
}

function compileAssign(assign: unknown, jsonata: boolean): CompiledValue {
  return jsonata ? compileJsonataValue(assign, 'Assign') : compilePayloadTemplate(assign, 'Assign');
}

/** Fail's ErrorPath/CausePath: a path or an intrinsic call, evaluated against the input. */
function compileFailPath(text: string, field: string): CompiledValue {
  if (isIntrinsic(text)) {
    const intrinsic = compileIntrinsic(text);
    return {
      async: false,
      evaluate: (env) =>
        intrinsic.evaluate({
          input: env.input,
          context: env.context,
          variables: () => ({ found: false }),
          random: env.random,
        }),
    };
  }
  const path = compilePathExpression(text);
  return {
    async: false,
    evaluate: (env) => {
      const read = readPath(path, env);
      if (!read.found) {
        throw new StatesError(StatesErrorName.Runtime, `Invalid path '${text}' for the field '${field}'`);
      }
      return read.value;
    },
  };
}

function compileChoice(rule: ChoiceRule, jsonata: boolean): CompiledChoice {
  const out: CompiledChoice = {
    next: rule.Next ?? '',
    condition: jsonata ? compileCondition(rule.Condition) : compileChoiceRule(rule),
  };
  if (rule.Assign !== undefined) out.assign = compileAssign(rule.Assign, jsonata);
  if (rule.Output !== undefined) out.output = compileJsonataValue(rule.Output, 'Output');
  return out;
}

function compileCondition(condition: unknown): (env: EvalEnv) => Promise<boolean> {
  const value = literalOrJsonata(condition, true, 'Condition');
  return async (env) => {
    const result = await value.evaluate(env);
    if (typeof result !== 'boolean') {
      throw new StatesError(
        StatesErrorName.QueryEvaluationError,
        `The Condition field must evaluate to a boolean, but was: ${JSON.stringify(result)}`,
      );
    }
    return result;
  };
}

function compileState(name: string, s: State, inherited: QueryLanguage): CompiledState {
  const jsonata = (s.QueryLanguage ?? inherited) === 'JSONata';
  const d = s as State & Record<string, unknown>;
  const text = JSON.stringify(s);
  const usesContext = text.includes('$$') || text.includes('$states.context');
  const state: CompiledState = { name, type: s.Type, jsonata, choices: [], branches: [], retry: [], catch: [], usesContext, definition: s };
  if (s.Next !== undefined) state.next = s.Next;
  if (!jsonata) {
    const inputPath = optionalPath(s.InputPath);
    const outputPath = optionalPath(s.OutputPath);
    if (inputPath !== undefined) state.inputPath = inputPath;
    if (outputPath !== undefined) state.outputPath = outputPath;
    if (d.Parameters !== undefined) state.parameters = compilePayloadTemplate(d.Parameters, 'Parameters');
    if (d.ResultSelector !== undefined) state.resultSelector = compilePayloadTemplate(d.ResultSelector, 'ResultSelector');
    if (d.ResultPath !== undefined) {
      state.resultPath = d.ResultPath === null ? null : compileReferencePath(String(d.ResultPath));
    }
  } else {
    if (s.Output !== undefined) state.output = compileJsonataValue(s.Output, 'Output');
    if (d.Arguments !== undefined) state.arguments = compileJsonataValue(d.Arguments, 'Arguments');
  }
  if (s.Assign !== undefined) state.assign = compileAssign(s.Assign, jsonata);
  switch (s.Type) {
    case 'Pass':
      if (s.Result !== undefined) state.result = s.Result;
      break;
    case 'Fail':
      if (s.Error !== undefined) state.error = literalOrJsonata(s.Error, jsonata, 'Error');
      if (s.Cause !== undefined) state.cause = literalOrJsonata(s.Cause, jsonata, 'Cause');
      if (s.ErrorPath !== undefined) state.error = compileFailPath(s.ErrorPath, 'ErrorPath');
      if (s.CausePath !== undefined) state.cause = compileFailPath(s.CausePath, 'CausePath');
      break;
    case 'Choice':
      state.choices = s.Choices.map((rule) => compileChoice(rule, jsonata));
      if (s.Default !== undefined) state.defaultNext = s.Default;
      break;
    case 'Wait': {
      const wait: NonNullable<CompiledState['wait']> = {};
      if (s.Seconds !== undefined) wait.seconds = literalOrJsonata(s.Seconds, jsonata, 'Seconds');
      if (s.SecondsPath !== undefined) wait.secondsPath = compileJsonPath(s.SecondsPath);
      if (s.Timestamp !== undefined) wait.timestamp = literalOrJsonata(s.Timestamp, jsonata, 'Timestamp');
      if (s.TimestampPath !== undefined) wait.timestampPath = compileJsonPath(s.TimestampPath);
      state.wait = wait;
      break;
    }
    case 'Task':
      state.resource = s.Resource;
      if (s.TimeoutSeconds !== undefined) state.timeoutSeconds = literalOrJsonata(s.TimeoutSeconds, jsonata, 'TimeoutSeconds');
      if (s.TimeoutSecondsPath !== undefined) state.timeoutSecondsPath = compileJsonPath(s.TimeoutSecondsPath);
      if (s.HeartbeatSeconds !== undefined) state.heartbeatSeconds = literalOrJsonata(s.HeartbeatSeconds, jsonata, 'HeartbeatSeconds');
      if (s.HeartbeatSecondsPath !== undefined) state.heartbeatSecondsPath = compileJsonPath(s.HeartbeatSecondsPath);
      break;
    case 'Parallel':
      state.branches = s.Branches.map((b) => compileMachine(b, jsonata ? 'JSONata' : 'JSONPath'));
      break;
    case 'Map': {
      const processorDef = s.ItemProcessor ?? s.Iterator;
      if (!processorDef) throw new StatesError(StatesErrorName.Runtime, `Map state '${name}' has no ItemProcessor`);
      const map: CompiledMap = {
        processor: compileMachine(processorDef, jsonata ? 'JSONata' : 'JSONPath'),
        distributed: processorDef.ProcessorConfig?.Mode === 'DISTRIBUTED',
      };
      if (s.Items !== undefined) {
        map.items = jsonata ? compileJsonataValue(s.Items, 'Items') : constant(s.Items);
        if (typeof s.Items === 'string') map.itemsText = s.Items.replace(/^\s*\{%\s*|\s*%\}\s*$/g, '');
      }
      if (s.ItemsPath !== undefined) map.itemsPath = compileJsonPath(s.ItemsPath);
      const selector = s.ItemSelector ?? (jsonata ? undefined : s.Parameters);
      if (selector !== undefined) {
        map.itemSelector = jsonata ? compileJsonataValue(selector, 'ItemSelector') : compilePayloadTemplate(selector, 'ItemSelector');
      }
      // Legacy Parameters on Map select items, not the Map's own input.
      if (!jsonata && s.ItemSelector === undefined && s.Parameters !== undefined) delete state.parameters;
      if (s.MaxConcurrency !== undefined) map.maxConcurrency = literalOrJsonata(s.MaxConcurrency, jsonata, 'MaxConcurrency');
      if (s.MaxConcurrencyPath !== undefined) map.maxConcurrencyPath = compileJsonPath(s.MaxConcurrencyPath);
      if (s.ToleratedFailureCount !== undefined) {
        map.toleratedFailureCount = literalOrJsonata(s.ToleratedFailureCount, jsonata, 'ToleratedFailureCount');
      }
      if (s.ToleratedFailureCountPath !== undefined) map.toleratedFailureCountPath = compileJsonPath(s.ToleratedFailureCountPath);
      if (s.ToleratedFailurePercentage !== undefined) {
        map.toleratedFailurePercentage = literalOrJsonata(s.ToleratedFailurePercentage, jsonata, 'ToleratedFailurePercentage');
      }
      if (s.ToleratedFailurePercentagePath !== undefined) {
        map.toleratedFailurePercentagePath = compileJsonPath(s.ToleratedFailurePercentagePath);
      }
      state.map = map;
      break;
    }
    default:
      break;
  }
  if ('Retry' in s && s.Retry) state.retry = s.Retry.map(compileRetrier);
  if ('Catch' in s && s.Catch) state.catch = s.Catch.map((c) => compileCatcher(c, jsonata));
  return state;
}

/** Compiles a (sub)machine; nested machines inherit the query language. */
export function compileMachine(definition: SubMachine & { TimeoutSeconds?: number }, inherited: QueryLanguage = 'JSONPath'): CompiledMachine {
  const language = definition.QueryLanguage ?? inherited;
  const states = new Map<string, CompiledState>();
  for (const [name, s] of Object.entries(definition.States)) states.set(name, compileState(name, s, language));
  const anyState = states.get(definition.StartAt) ?? states.values().next().value;
  if (!anyState) throw new StatesError(StatesErrorName.Runtime, 'The state machine has no states');
  const machine: CompiledMachine = { startAt: definition.StartAt, states, anyState, definition };
  if (definition.TimeoutSeconds !== undefined) machine.timeoutSeconds = definition.TimeoutSeconds;
  return machine;
}

/** Parses definition JSON text with a StatesError for bad JSON. */
export function parseDefinition(definition: string | object): SubMachine & { TimeoutSeconds?: number } {
  if (typeof definition !== 'string') return definition as SubMachine;
  try {
    return JSON.parse(definition) as SubMachine;
  } catch (e) {
    throw new StatesError('States.Runtime', `Invalid State Machine Definition: ${(e as Error).message}`);
  }
}

export type { Json };

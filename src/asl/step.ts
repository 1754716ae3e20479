/**
 * The pure step function of the language core. Given a compiled (sub)machine, a state and its
 * input, it says what happens next as an {@link Effect}: go to a state, end, fail, wait until a
 * time, run a task, start Map iterations or Parallel branches, or retry after a delay; each
 * effect carries the history events to record first. It does no I/O and reads no clock: time,
 * randomness and the history ids it needs come in through {@link StepContext}. The in-memory
 * runner and the durable engine both drive it, so a definition behaves the same on both.
 *
 * A state that needs outside work (Task, Map, Parallel, Wait, a Retry back-off) returns a
 * {@link Suspension}: plain JSON that records where the state is, to be handed back to
 * {@link resumeState} with the outcome — which is what lets the durable engine persist it.
 */
import { StatesError, StatesErrorName, coerceStatesError } from './errors.ts';
import type { HistoryEventDraftWithLink } from './events.ts';
import type { CompiledMachine, CompiledState, CompiledRetrier, RootedPath } from './compile.ts';
import { describeType, QueryEvaluationError } from './evaluate.ts';
import type { EvalEnv, VariableScope } from './evaluate.ts';
import { parseTimestamp } from './choice.ts';

/** The parts of the context object that do not change within a thread. */
export interface ThreadContext {
  Execution: Record<string, unknown>;
  StateMachine: Record<string, unknown>;
  Map?: { Item: { Index: number; Value: unknown } };
}

/** What the step function is handed besides the state: time, randomness, scope. */
export interface StepContext {
  thread: ThreadContext;
  scope: VariableScope;
  /** Milliseconds since the epoch, from the caller's clock. */
  now: number;
  random: () => number;
  /** History id of this state's `*StateEntered` event (AWS quotes it in error causes). */
  enteredEventId: number;
  /** The task token, once a task is scheduled (for `$$.Task.Token`). */
  taskToken?: string;
  /** Set by the step function from the compiled state: build `$$` only when it is read. */
  usesContext?: boolean;
}

/** A state in progress, waiting for outside work. Plain JSON. */
export interface Suspension {
  stateName: string;
  /** The state's raw input. */
  input: unknown;
  enteredTime: string;
  /** Attempts used per retrier index. */
  retries: number[];
}

/** How outside work ended. */
export type Outcome = { ok: true; result: unknown } | { ok: false; error: string; cause?: string };

/**
 * The failed outcome of a task whose handler threw: a StatesError keeps its name, another error
 * is named by its class (`TypeError`, `BadRowError` …), anything else is States.TaskFailed.
 */
export function taskFailure(thrown: unknown): Outcome {
  const err = coerceStatesError(thrown, StatesErrorName.TaskFailed);
  const error = !(thrown instanceof StatesError) && thrown instanceof Error && thrown.name !== 'Error' ? thrown.name : err.error;
  const failed: Outcome = { ok: false, error };
  if (err.cause !== undefined) failed.cause = err.cause;
  return failed;
}

/** What a thread does next. Record `events` first, in order. */
export type Effect =
  | { kind: 'next'; events: HistoryEventDraftWithLink[]; next: string; output: unknown; assigned?: Record<string, unknown> }
  | { kind: 'end'; events: HistoryEventDraftWithLink[]; output: unknown; assigned?: Record<string, unknown> }
  | { kind: 'fail'; events: HistoryEventDraftWithLink[]; error?: string; cause?: string }
  | { kind: 'wait'; events: HistoryEventDraftWithLink[]; until: number; suspension: Suspension }
  | {
      kind: 'task';
      events: HistoryEventDraftWithLink[];
      resource: string;
      input: unknown;
      timeoutSeconds?: number;
      heartbeatSeconds?: number;
      suspension: Suspension;
    }
  | {
      kind: 'map';
      events: HistoryEventDraftWithLink[];
      items: unknown[];
      /** The array the items were read from, when they are its very elements (no ItemSelector). */
      source?: unknown[];
      /** Index of the processor among the state's children in the compiled machine. */
      maxConcurrency: number;
      toleratedFailureCount: number;
      toleratedFailurePercentage: number;
      distributed: boolean;
      suspension: Suspension;
    }
  | { kind: 'parallel'; events: HistoryEventDraftWithLink[]; input: unknown; suspension: Suspension }
  | { kind: 'retry'; events: HistoryEventDraftWithLink[]; delayMs: number; suspension: Suspension };

/** The event that opens a state: `<Type>StateEntered`. Record it, then call {@link runState}. */
export function stateEnteredEvent(state: CompiledState, input: unknown): HistoryEventDraftWithLink {
  return {
    type: `${state.type}StateEntered`,
    details: {
      stateEnteredEventDetails: { name: state.name, input: toJson(input), inputDetails: { truncated: false } },
    },
  };
}

const serialised = new WeakMap<object, string>();

/**
 * Compact JSON as AWS writes it in history. A state's output is the next state's input, so
 * objects are serialised once (values flowing between states are never mutated in place).
 */
export function toJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value === undefined ? null : value);
  let text = serialised.get(value);
  if (text === undefined) {
    text = JSON.stringify(value);
    serialised.set(value, text);
  }
  return text;
}

/** The context object `$$`; only Task, Map and Parallel states have a `State.RetryCount`. */
function contextObject(ctx: StepContext, stateName: string, enteredTime: string, retryCount?: number): unknown {
  if (!ctx.usesContext) return undefined;
  const state: Record<string, unknown> = { EnteredTime: enteredTime, Name: stateName };
  if (retryCount !== undefined) state.RetryCount = retryCount;
  const context: Record<string, unknown> = {
    Execution: ctx.thread.Execution,
    StateMachine: ctx.thread.StateMachine,
    State: state,
  };
  if (ctx.taskToken !== undefined) context.Task = { Token: ctx.taskToken };
  if (ctx.thread.Map) context.Map = ctx.thread.Map;
  return context;
}

function env(ctx: StepContext, input: unknown, context: unknown, extra?: Partial<EvalEnv>): EvalEnv {
  return { input, context, variables: ctx.scope, random: ctx.random, ...extra };
}

/** Wraps a failure raised while evaluating a state as AWS reports it. */
function stateError(state: CompiledState, ctx: StepContext, e: unknown): StatesError {
  const err = coerceStatesError(e);
  const prefixed =
    err.error === StatesErrorName.Runtime ||
    err.error === StatesErrorName.QueryEvaluationError ||
    err.error === StatesErrorName.IntrinsicFailure;
  if (!prefixed) return err;
  const cause = `An error occurred while executing the state '${state.name}' (entered at the event id #${ctx.enteredEventId}). ${err.cause ?? ''}`;
  return err instanceof QueryEvaluationError
    ? new QueryEvaluationError(cause, err.location)
    : new StatesError(err.error, cause);
}

function failEffect(state: CompiledState, ctx: StepContext, e: unknown): Effect {
  const err = stateError(state, ctx, e);
  const events: HistoryEventDraftWithLink[] = [];
  if (err.error === StatesErrorName.QueryEvaluationError) {
    const details: Record<string, unknown> = { error: err.error, cause: err.cause, state: state.name };
    if (err instanceof QueryEvaluationError && err.location !== undefined) details.location = err.location;
    events.push({
      type: 'EvaluationFailed',
      details: { evaluationFailedEventDetails: details },
      link: state.type === 'Wait' ? 'source' : 'beforeEntered',
    });
    if (state.type === 'Map' || state.type === 'Parallel') events.push({ type: `${state.type}StateFailed` });
  }
  return withError({ kind: 'fail', events }, err);
}

function withError(effect: { kind: 'fail'; events: HistoryEventDraftWithLink[] }, err: StatesError): Effect {
  const out: Effect = { ...effect };
  if (err.error !== '') out.error = err.error;
  if (err.cause !== undefined) out.cause = err.cause;
  return out;
}

/** The serialised form AWS uses for `assignedVariables`: each value as JSON text. */
function assignedDetails(assigned: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!assigned) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(assigned)) out[k] = toJson(v);
  return { assignedVariables: out, assignedVariablesDetails: { truncated: false } };
}

function exitedEvent(state: CompiledState, output: unknown, assigned?: Record<string, unknown>): HistoryEventDraftWithLink {
  return {
    type: `${state.type}StateExited`,
    details: {
      stateExitedEventDetails: {
        name: state.name,
        output: toJson(output),
        outputDetails: { truncated: false },
        ...assignedDetails(assigned),
      },
    },
  };
}

/** Leaves a state normally: exited event, then next state or end. */
function leave(
  state: CompiledState,
  output: unknown,
  assigned: Record<string, unknown> | undefined,
  events: HistoryEventDraftWithLink[],
  next?: string,
): Effect {
  const nextName = next ?? state.next;
  const all = state.type === 'Fail' ? events : [...events, exitedEvent(state, output, assigned)];
  const effect: Effect =
    nextName === undefined
      ? { kind: 'end', events: all, output }
      : { kind: 'next', events: all, next: nextName, output };
  if (assigned) effect.assigned = assigned;
  return effect;
}

/** Evaluates Assign (either language); values see the variables as they were before the state. */
async function evaluateAssign(state: CompiledState, e: EvalEnv): Promise<Record<string, unknown> | undefined> {
  if (!state.assign) return undefined;
  const value = await state.assign.evaluate(e);
  return value as Record<string, unknown>;
}

/** Runs a state that has been entered. */
export function runState(machine: CompiledMachine, stateName: string, input: unknown, ctx: StepContext): Effect | Promise<Effect> {
  const state = machine.states.get(stateName);
  if (!state) return failEffect(machine.anyState, ctx, new StatesError(StatesErrorName.Runtime, `no state '${stateName}'`));
  // JSONPath Pass states — most states of most machines — need no promise: answer synchronously.
  if (state.type === 'Pass' && !state.jsonata && state.assign?.async !== true) {
    ctx.usesContext = state.usesContext;
    const context = contextObject(ctx, state.name, state.usesContext ? new Date(ctx.now).toISOString() : '');
    try {
      return runPathPass(state, input, context, ctx);
    } catch (e) {
      return failEffect(state, ctx, e);
    }
  }
  return runStateAsync(machine, state, stateName, input, ctx);
}

async function runStateAsync(
  machine: CompiledMachine,
  state: CompiledState,
  stateName: string,
  input: unknown,
  ctx: StepContext,
): Promise<Effect> {
  ctx.usesContext = state.usesContext;
  const enteredTime = state.usesContext || state.type === 'Task' || state.type === 'Map' || state.type === 'Parallel' || state.type === 'Wait' ? new Date(ctx.now).toISOString() : '';
  const context = contextObject(ctx, state.name, enteredTime);
  try {
    switch (state.type) {
      case 'Pass':
        return await runPass(state, input, context, ctx);
      case 'Succeed':
        return await runSucceed(state, input, context, ctx);
      case 'Fail':
        return await runFail(state, input, context, ctx);
      case 'Choice':
        return await runChoice(state, input, context, ctx);
      case 'Wait':
        return await runWait(state, input, context, ctx, enteredTime);
      case 'Task':
      case 'Map':
      case 'Parallel':
        return await startWork(state, { stateName, input, enteredTime, retries: [] }, ctx);
    }
  } catch (e) {
    return failEffect(state, ctx, e);
  }
}

function applyInputPath(state: CompiledState, input: unknown, ctx: StepContext, context: unknown): unknown {
  if (!state.inputPath) return state.inputPath === null ? {} : input;
  const read = state.inputPath.read(env(ctx, input, context));
  if (!read.found) throw invalidPath(state.inputPath.text);
  return read.value;
}

function applyOutputPath(state: CompiledState, output: unknown, ctx: StepContext, context: unknown): unknown {
  if (!state.outputPath) return state.outputPath === null ? {} : output;
  const read = state.outputPath.read(env(ctx, output, context));
  if (!read.found) throw invalidPath(state.outputPath.text);
  return read.value;
}

function invalidPath(path: string): StatesError {
  return new StatesError(StatesErrorName.Runtime, `Invalid path '${path}' : No results for path: ${bracketPath(path)}`);
}

/** `$.a.b[0]` → `$['a']['b'][0]`, the form AWS prints in path errors. */
function bracketPath(path: string): string {
  return path.replace(/\.([^.[\]]+)/g, "['$1']");
}

function applyResultPath(state: CompiledState, rawInput: unknown, result: unknown): unknown {
  if (state.resultPath === null) return rawInput;
  if (!state.resultPath) return result;
  return state.resultPath.set(rawInput, result);
}

async function runPass(state: CompiledState, input: unknown, context: unknown, ctx: StepContext): Promise<Effect> {
  if (!state.jsonata) return runPathPass(state, input, context, ctx);
  const e = env(ctx, input, context);
  const assigned = await evaluateAssign(state, e);
  const output = state.output ? await state.output.evaluate(e) : input;
  return leave(state, output, assigned, []);
}

/** A JSONPath Pass state: every step is synchronous (its Assign, if any, is a payload template). */
function runPathPass(state: CompiledState, input: unknown, context: unknown, ctx: StepContext): Effect {
  const effective = applyInputPath(state, input, ctx, context);
  let result: unknown = effective;
  if (state.parameters) result = state.parameters.evaluate(env(ctx, effective, context));
  if (state.result !== undefined) result = state.result;
  const assigned = state.assign ? (state.assign.evaluate(env(ctx, result, context)) as Record<string, unknown>) : undefined;
  const output = applyOutputPath(state, applyResultPath(state, input, result), ctx, context);
  return leave(state, output, assigned, []);
}

async function runSucceed(state: CompiledState, input: unknown, context: unknown, ctx: StepContext): Promise<Effect> {
  if (state.jsonata) {
    const output = state.output ? await state.output.evaluate(env(ctx, input, context)) : input;
    return leave(state, output, undefined, []);
  }
  return leave(state, applyOutputPath(state, applyInputPath(state, input, ctx, context), ctx, context), undefined, []);
}

async function runFail(state: CompiledState, input: unknown, context: unknown, ctx: StepContext): Promise<Effect> {
  const e = env(ctx, input, context);
  const error = state.error ? await state.error.evaluate(e) : undefined;
  const cause = state.cause ? await state.cause.evaluate(e) : undefined;
  const effect: Effect = { kind: 'fail', events: [] };
  if (error !== undefined && error !== null) effect.error = String(error);
  if (cause !== undefined && cause !== null) effect.cause = String(cause);
  return effect;
}

async function runChoice(state: CompiledState, input: unknown, context: unknown, ctx: StepContext): Promise<Effect> {
  if (state.jsonata) {
    const e = env(ctx, input, context);
    for (const choice of state.choices) {
      const matched = await choice.condition(e);
      if (matched) {
        const assigned = choice.assign ? ((await choice.assign.evaluate(e)) as Record<string, unknown>) : undefined;
        const output = choice.output ? await choice.output.evaluate(e) : input;
        return leave(state, output, assigned, [], choice.next);
      }
    }
    if (state.defaultNext === undefined) {
      throw new StatesError(StatesErrorName.NoChoiceMatched, 'No Matches!');
    }
    const assigned = await evaluateAssign(state, e);
    const output = state.output ? await state.output.evaluate(e) : input;
    return leave(state, output, assigned, [], state.defaultNext);
  }
  const effective = applyInputPath(state, input, ctx, context);
  const e = env(ctx, effective, context);
  for (const choice of state.choices) {
    if (await choice.condition(e)) {
      const assigned = choice.assign ? ((await choice.assign.evaluate(e)) as Record<string, unknown>) : undefined;
      return leave(state, applyOutputPath(state, effective, ctx, context), assigned, [], choice.next);
    }
  }
  if (state.defaultNext === undefined) throw new StatesError(StatesErrorName.NoChoiceMatched, 'No Matches!');
  const assigned = await evaluateAssign(state, e);
  return leave(state, applyOutputPath(state, effective, ctx, context), assigned, [], state.defaultNext);
}

async function runWait(
  state: CompiledState,
  input: unknown,
  context: unknown,
  ctx: StepContext,
  enteredTime: string,
): Promise<Effect> {
  const effective = state.jsonata ? input : applyInputPath(state, input, ctx, context);
  const e = env(ctx, effective, context);
  let until = ctx.now;
  const wait = state.wait;
  if (wait?.seconds !== undefined) {
    const seconds = await wait.seconds.evaluate(e);
    if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 0) {
      throw new StatesError(
        StatesErrorName.QueryEvaluationError,
        `The Seconds field must be a non-negative integer, but was: ${toJson(seconds)}`,
      );
    }
    until = ctx.now + seconds * 1000;
  } else if (wait?.secondsPath) {
    const read = wait.secondsPath.read(e);
    const text = wait.secondsPath.text;
    if (!read.found) {
      throw new StatesError(StatesErrorName.Runtime, `The SecondsPath parameter does not reference an input value: ${text}`);
    }
    const v = read.value;
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      throw new StatesError(StatesErrorName.Runtime, `The SecondsPath parameter cannot be parsed as a long value: ${text} == ${toText(v)}`);
    }
    if (v < 0) throw new StatesError(StatesErrorName.Runtime, `The SecondsPath parameter references a negative value: ${text} == ${v}`);
    until = ctx.now + v * 1000;
  } else if (wait?.timestamp !== undefined) {
    const ts = await wait.timestamp.evaluate(e);
    const ms = parseTimestamp(ts);
    if (ms === undefined) {
      throw new QueryEvaluationError(
        `The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: ${toText(ts)}`,
        'Timestamp',
      );
    }
    until = ms;
  } else if (wait?.timestampPath) {
    const read = wait.timestampPath.read(e);
    const ms = read.found ? parseTimestamp(read.value) : undefined;
    if (ms === undefined) {
      throw new StatesError(
        StatesErrorName.Runtime,
        `The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: ${wait.timestampPath.text} == ${read.found ? toText(read.value) : ''}`,
      );
    }
    until = ms;
  }
  return { kind: 'wait', events: [], until, suspension: { stateName: state.name, input, enteredTime, retries: [] } };
}

function toText(value: unknown): string {
  return typeof value === 'string' ? value : toJson(value);
}

/** Finishes a Wait once its time has come. */
export async function finishWait(machine: CompiledMachine, suspension: Suspension, ctx: StepContext): Promise<Effect> {
  const state = machine.states.get(suspension.stateName) as CompiledState;
  ctx.usesContext = state.usesContext;
  const context = contextObject(ctx, state.name, suspension.enteredTime);
  try {
    if (state.jsonata) {
      const e = env(ctx, suspension.input, context);
      const assigned = await evaluateAssign(state, e);
      const output = state.output ? await state.output.evaluate(e) : suspension.input;
      return leave(state, output, assigned, []);
    }
    const effective = applyInputPath(state, suspension.input, ctx, context);
    const assigned = await evaluateAssign(state, env(ctx, effective, context));
    return leave(state, applyOutputPath(state, effective, ctx, context), assigned, []);
  } catch (e) {
    return failEffect(state, ctx, e);
  }
}

async function resolveCount(
  e: EvalEnv,
  value: { evaluate(env: EvalEnv): unknown } | undefined,
  path: RootedPath | undefined,
  field: string,
  fallback: number,
  allowFraction = false,
): Promise<number> {
  if (value) return Number(await value.evaluate(e));
  if (!path) return fallback;
  const read = path.read(e);
  const v = read.found ? read.value : undefined;
  if (typeof v !== 'number' || (!Number.isInteger(v) && !allowFraction)) {
    throw new StatesError(
      StatesErrorName.Runtime,
      `The ${field} field refers to value "${typeof v === 'string' ? v : toJson(v ?? null)}" which is not a valid ${allowFraction ? 'float' : 'integer'}: ${path.text}`,
    );
  }
  return v;
}

/** Starts (or restarts, on Retry) the work of a Task, Map or Parallel state. */
async function startWork(state: CompiledState, suspension: Suspension, ctx: StepContext): Promise<Effect> {
  const retryCount = suspension.retries.reduce((a, b) => a + b, 0);
  const context = contextObject(ctx, state.name, suspension.enteredTime, retryCount);
  const input = suspension.input;
  let effective: unknown;
  let e: EvalEnv;
  if (state.jsonata) {
    e = env(ctx, input, context);
    effective = state.arguments ? await state.arguments.evaluate(e) : input;
  } else {
    const afterInputPath = applyInputPath(state, input, ctx, context);
    e = env(ctx, afterInputPath, context);
    effective = state.parameters ? state.parameters.evaluate(e) : afterInputPath;
  }
  const resumed = suspension;
  if (state.type === 'Task') {
    const effect: Effect = { kind: 'task', events: [], resource: state.resource ?? '', input: effective, suspension: resumed };
    const timeout = await resolveCount(e, state.timeoutSeconds, state.timeoutSecondsPath, 'TimeoutSecondsPath', 0);
    const heartbeat = await resolveCount(e, state.heartbeatSeconds, state.heartbeatSecondsPath, 'HeartbeatSecondsPath', 0);
    if (timeout > 0) effect.timeoutSeconds = timeout;
    if (heartbeat > 0) effect.heartbeatSeconds = heartbeat;
    return effect;
  }
  if (state.type === 'Parallel') {
    return { kind: 'parallel', events: [{ type: 'ParallelStateStarted' }], input: effective, suspension: resumed };
  }
  return startMap(state, resumed, ctx, context, input, effective);
}

async function startMap(
  state: CompiledState,
  suspension: Suspension,
  ctx: StepContext,
  context: unknown,
  rawInput: unknown,
  effective: unknown,
): Promise<Effect> {
  const map = state.map;
  if (!map) throw new StatesError(StatesErrorName.Runtime, 'Map state without an item processor');
  const e = env(ctx, state.jsonata ? rawInput : effective, context);
  let items: unknown;
  if (map.items) {
    items = await map.items.evaluate(e);
    if (!Array.isArray(items)) {
      throw new QueryEvaluationError(
        `The JSONata expression '${map.itemsText ?? ''}' specified for the field 'Items' returned an unexpected result type. Expected 'array', but was '${describeType(items)}' for value: ${toJson(items)}`,
        'Items',
      );
    }
  } else if (map.itemsPath) {
    const read = map.itemsPath.read(env(ctx, effective, context));
    if (!read.found) throw invalidPath(map.itemsPath.text);
    items = read.value;
  } else {
    items = state.jsonata ? rawInput : effective;
  }
  if (!Array.isArray(items)) {
    if (state.jsonata) {
      throw new StatesError(StatesErrorName.QueryEvaluationError, `Map state input must be an array but was: ${toJson(items)}`);
    }
    throw new StatesError(StatesErrorName.Runtime, `Map state input must be an array but was: ${toJson(items)}`);
  }
  const maxConcurrency = await resolveCount(e, map.maxConcurrency, map.maxConcurrencyPath, 'MaxConcurrencyPath', 0);
  let toleratedFailurePercentage = 0;
  let toleratedFailureCount = 0;
  const startedEvent: HistoryEventDraftWithLink = {
    type: 'MapStateStarted',
    details: { mapStateStartedEventDetails: { length: items.length } },
  };
  try {
    toleratedFailureCount = await resolveCount(e, map.toleratedFailureCount, map.toleratedFailureCountPath, 'ToleratedFailureCountPath', 0);
    toleratedFailurePercentage = await resolveCount(e,
      map.toleratedFailurePercentage,
      map.toleratedFailurePercentagePath,
      'ToleratedFailurePercentagePath',
      0,
      true,
    );
    if (toleratedFailurePercentage < 0 || toleratedFailurePercentage > 100) {
      throw new StatesError(StatesErrorName.Runtime, 'ToleratedFailurePercentage must be between 0 and 100.');
    }
  } catch (err) {
    const failed = failEffect(state, ctx, err);
    failed.events.unshift(startedEvent);
    return failed;
  }
  // ItemSelector is evaluated per item, with $$.Map.Item in the context object.
  const selected: unknown[] = [];
  for (let index = 0; index < items.length; index++) {
    const value: unknown = items[index];
    if (!map.itemSelector) {
      selected.push(value);
      continue;
    }
    const itemContext = { ...(context as Record<string, unknown>), Map: { Item: { Index: index, Value: value } } };
    selected.push(await map.itemSelector.evaluate(env(ctx, state.jsonata ? rawInput : effective, itemContext)));
  }
  return {
    kind: 'map',
    events: [startedEvent],
    items: selected,
    ...(map.itemSelector ? {} : { source: items }),
    maxConcurrency,
    toleratedFailureCount,
    toleratedFailurePercentage,
    distributed: map.distributed,
    suspension,
  };
}

/** Hands a Task's, Map's or Parallel's outcome back: result processing, or Retry/Catch. */
export async function resumeState(machine: CompiledMachine, suspension: Suspension, outcome: Outcome, ctx: StepContext): Promise<Effect> {
  const state = machine.states.get(suspension.stateName) as CompiledState;
  ctx.usesContext = state.usesContext;
  const retryCount = suspension.retries.reduce((a, b) => a + b, 0);
  const context = contextObject(ctx, state.name, suspension.enteredTime, retryCount);
  if (outcome.ok) {
    try {
      return await finishWork(state, suspension, outcome.result, context, ctx);
    } catch (e) {
      const err = stateError(state, ctx, e);
      return handleError(state, suspension, { ok: false, error: err.error, ...(err.cause !== undefined ? { cause: err.cause } : {}) }, ctx, context);
    }
  }
  return handleError(state, suspension, outcome, ctx, context);
}

async function finishWork(state: CompiledState, suspension: Suspension, result: unknown, context: unknown, ctx: StepContext): Promise<Effect> {
  const events: HistoryEventDraftWithLink[] = [];
  if (state.type === 'Map' || state.type === 'Parallel') events.push({ type: `${state.type}StateSucceeded`, link: 'keepSource' });
  if (state.jsonata) {
    const e = env(ctx, suspension.input, context, { result });
    const assigned = await evaluateAssign(state, e);
    const output = state.output ? await state.output.evaluate(e) : result;
    return leave(state, output, assigned, events);
  }
  const assigned = await evaluateAssign(state, env(ctx, result, context));
  let selected = result;
  if (state.resultSelector) selected = state.resultSelector.evaluate(env(ctx, result, context));
  const output = applyOutputPath(state, applyResultPath(state, suspension.input, selected), ctx, context);
  return leave(state, output, assigned, events);
}

function errorMatches(names: readonly string[], error: string): boolean {
  return names.some(
    (name) =>
      name === error ||
      // A heartbeat timeout is a kind of timeout: AWS matches it with States.Timeout too.
      (name === StatesErrorName.Timeout && error === StatesErrorName.HeartbeatTimeout) ||
      (name === StatesErrorName.ALL && error !== StatesErrorName.Runtime && error !== StatesErrorName.DataLimitExceeded) ||
      (name === StatesErrorName.TaskFailed &&
        error !== StatesErrorName.Timeout &&
        error !== StatesErrorName.HeartbeatTimeout &&
        error !== StatesErrorName.Runtime &&
        error !== StatesErrorName.DataLimitExceeded),
  );
}

/** Delay before retry attempt `attempt` (0-based) as AWS computes it. */
export function retryDelayMs(retrier: CompiledRetrier, attempt: number, random: () => number): number {
  let seconds = retrier.intervalSeconds * Math.pow(retrier.backoffRate, attempt);
  if (retrier.maxDelaySeconds !== undefined) seconds = Math.min(seconds, retrier.maxDelaySeconds);
  if (retrier.jitter === 'FULL') seconds = random() * seconds;
  return Math.round(seconds * 1000);
}

async function handleError(
  state: CompiledState,
  suspension: Suspension,
  failure: { ok: false; error: string; cause?: string },
  ctx: StepContext,
  context: unknown,
): Promise<Effect> {
  const events: HistoryEventDraftWithLink[] = [];
  const index = state.retry.findIndex((r) => errorMatches(r.errorEquals, failure.error));
  if (index >= 0) {
    const retrier = state.retry[index] as CompiledRetrier;
    const used = suspension.retries[index] ?? 0;
    if (used < retrier.maxAttempts) {
      const retries = [...suspension.retries];
      while (retries.length <= index) retries.push(0);
      retries[index] = used + 1;
      return {
        kind: 'retry',
        events,
        delayMs: retryDelayMs(retrier, used, ctx.random),
        suspension: { stateName: suspension.stateName, input: suspension.input, enteredTime: suspension.enteredTime, retries },
      };
    }
  }
  const errorOutput = { Error: failure.error, Cause: failure.cause ?? '' };
  if (state.type === 'Map' || state.type === 'Parallel') events.push({ type: `${state.type}StateFailed` });
  const catcher = state.catch.find((c) => errorMatches(c.errorEquals, failure.error));
  if (!catcher) {
    const effect: Effect = { kind: 'fail', events, error: failure.error };
    if (failure.cause !== undefined) effect.cause = failure.cause;
    return effect;
  }
  try {
    if (state.jsonata) {
      const e = env(ctx, suspension.input, context, { errorOutput });
      const assigned = catcher.assign ? ((await catcher.assign.evaluate(e)) as Record<string, unknown>) : undefined;
      const output = catcher.output ? await catcher.output.evaluate(e) : errorOutput;
      return leave(state, output, assigned, events, catcher.next);
    }
    const assigned = catcher.assign ? ((await catcher.assign.evaluate(env(ctx, errorOutput, context))) as Record<string, unknown>) : undefined;
    const output = catcher.resultPath === null ? suspension.input : catcher.resultPath ? catcher.resultPath.set(suspension.input, errorOutput) : errorOutput;
    return leave(state, output, assigned, events, catcher.next);
  } catch (e) {
    return failEffect(state, ctx, e);
  }
}

/** Restarts a state's work after a Retry back-off. */
export async function retryState(machine: CompiledMachine, suspension: Suspension, ctx: StepContext): Promise<Effect> {
  const state = machine.states.get(suspension.stateName) as CompiledState;
  ctx.usesContext = state.usesContext;
  try {
    return await startWork(state, suspension, ctx);
  } catch (e) {
    return failEffect(state, ctx, e);
  }
}

/** Applies assigned variables to a scope (after the state exits, so Assign saw the old values). */
export function applyAssigned(scope: VariableScope, assigned: Record<string, unknown> | undefined): void {
  if (!assigned) return;
  // Inner scopes (Map iterations, Parallel branches) write their own variables, never an outer one.
  for (const [name, value] of Object.entries(assigned)) scope.vars[name] = value;
}

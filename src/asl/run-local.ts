/**
 * The in-memory runner: executes a whole state machine in this process with task handlers the
 * caller supplies, on a clock it can be handed, and records the history AWS would. It drives
 * the same pure step function as the durable engine, so a definition behaves the same on both.
 */
import { randomUUID } from 'node:crypto';
import type { HistoryEvent, ExecutionStatus } from './history.ts';
import { StatesError, StatesErrorName } from './errors.ts';
import { compileMachine, parseDefinition } from './compile.ts';
import { taskFailure } from './step.ts';
import type { Outcome } from './step.ts';
import { validateDefinition } from './validate.ts';
import { advance, machineIndex, newRuntime } from './interpreter.ts';
import type { AdvanceContext, TaskRequest, TimerRequest, Wake } from './interpreter.ts';
import type { CompiledMachine } from './compile.ts';

/** Time as the runner sees it. A virtual clock makes Wait states and back-off instant in tests. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
  /**
   * A virtual clock moves only when slept on, so in-flight task handlers take no time — up to
   * {@link VIRTUAL_HANDLER_GRACE_MS} of real time, after which a due timer (a task's timeout, a
   * Wait in another branch) fires all the same, so a handler that never answers times out.
   */
  readonly virtual?: boolean;
}

/** Runs one Task state's work: resolves with the result, or throws (a StatesError names the error). */
export type TaskHandler = (input: unknown, context: { token: string; heartbeat(): void }) => Promise<unknown>;

/** Options for {@link runLocal}. */
export interface RunLocalOptions {
  /** Task handlers by the Task state's `Resource` ARN. */
  tasks?: Record<string, TaskHandler>;
  clock?: Clock;
  /** Randomness for JitterStrategy, $random, States.UUID …; Math.random by default. */
  random?: () => number;
  stateMachineName?: string;
  executionName?: string;
  roleArn?: string;
  region?: string;
  accountId?: string;
  stateMachineType?: 'STANDARD' | 'EXPRESS';
  /**
   * Stop after this much (virtual) time and report RUNNING with the history so far — for
   * executions that would wait longer than a test cares to (AWS allows a year).
   */
  maxRunMs?: number;
}

/** What an execution ended with, as DescribeExecution and GetExecutionHistory would say. */
export interface LocalExecutionResult {
  status: ExecutionStatus;
  /** JSON text of the output, when SUCCEEDED. */
  output?: string;
  error?: string;
  cause?: string;
  history: HistoryEvent[];
  executionArn: string;
  stateMachineArn: string;
  /** State transitions as AWS bills them (retries count). */
  stateTransitions: number;
}

/**
 * On a virtual clock, how long (real milliseconds) the runner waits for a running handler before
 * it lets virtual time move on to the next timer.
 */
export const VIRTUAL_HANDLER_GRACE_MS = 100;

/** A clock that never waits: sleeping moves virtual time forward at once. */
export function virtualClock(startMs = Date.UTC(2024, 0, 1)): Clock {
  let now = startMs;
  return {
    virtual: true,
    now: () => now,
    sleep: async (ms) => {
      now += Math.max(0, ms);
      await Promise.resolve();
    },
  };
}


const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** Runs one task handler and turns whatever it throws into an outcome. */
async function runHandler(handler: TaskHandler | undefined, request: TaskRequest): Promise<Outcome> {
  if (!handler) return { ok: false, error: StatesErrorName.Runtime, cause: `No task handler for resource '${request.resource}'` };
  try {
    return { ok: true, result: await handler(request.input, { token: request.token, heartbeat: () => undefined }) };
  } catch (e) {
    return taskFailure(e);
  }
}

const compiledCache = new Map<string, { root: CompiledMachine; machines: ReadonlyMap<string, CompiledMachine> }>();

/** Validates and compiles a definition once per text; running it again reuses the result. */
/** The same definition object run again skips even serialising it to find its cache entry. */
const compiledByObject = new WeakMap<object, { root: CompiledMachine; machines: ReadonlyMap<string, CompiledMachine> }>();

function compiledOnce(definition: string | object): { root: CompiledMachine; machines: ReadonlyMap<string, CompiledMachine> } {
  if (typeof definition === 'object') {
    let byObject = compiledByObject.get(definition);
    if (!byObject) {
      byObject = compiledOnce(JSON.stringify(definition));
      compiledByObject.set(definition, byObject);
    }
    return byObject;
  }
  const key = definition;
  let compiled = compiledCache.get(key);
  if (!compiled) {
    const parsed = parseDefinition(definition);
    const diagnostics = validateDefinition(parsed);
    if (diagnostics.length > 0) {
      throw new StatesError(StatesErrorName.Runtime, `Invalid State Machine Definition: ${diagnostics.map((d) => d.message).join('; ')}`);
    }
    const root = compileMachine(parsed);
    compiled = { root, machines: machineIndex(root) };
    if (compiledCache.size >= 128) compiledCache.clear();
    compiledCache.set(key, compiled);
  }
  return compiled;
}

/** Runs `definition` (JSON text or object) on `input` (JSON text) to the end. */
export async function runLocal(definition: string | object, input: string, options: RunLocalOptions = {}): Promise<LocalExecutionResult> {
  const region = options.region ?? 'us-east-1';
  const account = options.accountId ?? '123456789012';
  const smName = options.stateMachineName ?? 'local';
  const execName = options.executionName ?? randomUUID();
  const express = options.stateMachineType === 'EXPRESS';
  const stateMachineArn = `arn:aws:states:${region}:${account}:stateMachine:${smName}`;
  // Express execution ARNs carry a second, generated part after the name.
  const executionArn = express
    ? `arn:aws:states:${region}:${account}:express:${smName}:${execName}:${randomUUID()}`
    : `arn:aws:states:${region}:${account}:execution:${smName}:${execName}`;
  const { root, machines } = compiledOnce(definition);
  let parsedInput: unknown;
  try {
    parsedInput = JSON.parse(input);
  } catch (e) {
    throw new StatesError(StatesErrorName.Runtime, `Invalid execution input: ${(e as Error).message}`);
  }
  const clock = options.clock ?? realClock;
  const random = options.random ?? Math.random;
  const handlers = options.tasks ?? {};
  const startMs = clock.now();
  const deadline = root.timeoutSeconds === undefined ? Infinity : startMs + root.timeoutSeconds * 1000;
  const budgetEnd = options.maxRunMs === undefined ? Infinity : startMs + options.maxRunMs;
  const roleArn = options.roleArn ?? `arn:aws:iam::${account}:role/inlet-local`;
  const context = (): AdvanceContext => ({
    machines,
    now: clock.now(),
    random,
    newToken: () => randomUUID(),
    region,
    execution: { Id: executionArn, Input: parsedInput, StartTime: new Date(startMs).toISOString(), Name: execName, RoleArn: roleArn, RedriveCount: 0 },
    stateMachine: { Id: stateMachineArn, Name: smName },
  });
  const rt = newRuntime();
  const history: LocalExecutionResult['history'] = [];
  let timers: TimerRequest[] = [];
  /** Handlers that have finished, in the order they finished, and who waits for the next one. */
  const finished: { token: string; outcome: Outcome }[] = [];
  let running = 0;
  let notify: (() => void) | undefined;
  const open = new Set<string>();
  let end: Awaited<ReturnType<typeof advance>>['end'];
  const pendingStarts: TaskRequest[] = [];

  const step = async (wake: Wake): Promise<void> => {
    const out = await advance(rt, wake, context());
    for (const event of out.events) history.push(event);
    for (const timer of out.timers) timers.push(timer);
    if (out.closedTokens.length > 0) {
      const closed = new Set(out.closedTokens);
      timers = timers.filter((t) => t.token === undefined || !closed.has(t.token));
      for (const token of closed) open.delete(token);
    }
    for (const request of out.tasks) pendingStarts.push(request);
    end ??= out.end;
  };
  const launch = (request: TaskRequest): void => {
    running++;
    open.add(request.token);
    void runHandler(handlers[request.resource], request).then((outcome) => {
      running--;
      finished.push({ token: request.token, outcome });
      const wakeUp = notify;
      notify = undefined;
      wakeUp?.();
    });
  };
  /**
   * Waits for a handler to finish, or until `due` (on a virtual clock, for a grace of real time
   * when a timer is pending); false when the timer's turn came first.
   */
  const nextFinished = async (due: number): Promise<boolean> => {
    if (finished.length > 0) return true;
    let grace: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      notify = resolve;
      if (!Number.isFinite(due)) return;
      if (clock.virtual) grace = setTimeout(resolve, VIRTUAL_HANDLER_GRACE_MS);
      else void clock.sleep(Math.max(0, due - clock.now())).then(resolve);
    });
    clearTimeout(grace);
    notify = undefined;
    return finished.length > 0;
  };

  await step({ kind: 'start', input, roleArn });
  while (!end) {
    // Record each task's start (and arm its timers) before its handler runs.
    for (const request of pendingStarts.splice(0)) {
      await step({ kind: 'taskStarted', token: request.token, workerName: 'local' });
      if (end) break;
      launch(request);
    }
    if (end) break;
    timers.sort((a, b) => a.due - b.due);
    const timer = timers[0];
    const due = timer?.due ?? Infinity;
    if ((running > 0 || finished.length > 0) && (clock.virtual || due > clock.now())) {
      // A handler finishing wins over a timer that is not yet due (always, on a virtual clock).
      if (await nextFinished(due)) {
        const done = finished.shift() as { token: string; outcome: Outcome };
        // Timers that fell due while the handler ran (a task timeout, say) happened first.
        timers.sort((a, b) => a.due - b.due);
        while (timers[0] && timers[0].due <= clock.now() && !end) await step({ kind: 'timer', timer: timers.shift() as TimerRequest });
        if (!end && open.has(done.token)) await step({ kind: 'taskDone', token: done.token, outcome: done.outcome });
        continue;
      }
    }
    if (!timer) break;
    if (due > deadline || due > budgetEnd) {
      const stop = Math.min(deadline, budgetEnd);
      await clock.sleep(Math.max(0, stop - clock.now()));
      if (stop === budgetEnd && budgetEnd < deadline) break;
      await step({ kind: 'timeout' });
      break;
    }
    timers.shift();
    await clock.sleep(Math.max(0, due - clock.now()));
    await step({ kind: 'timer', timer });
  }
  const result: LocalExecutionResult = {
    executionArn,
    stateMachineArn,
    status: end?.status ?? 'RUNNING',
    history,
    stateTransitions: rt.transitions,
  };
  if (end?.output !== undefined) result.output = end.output;
  if (end?.error !== undefined) result.error = end.error;
  if (end?.cause !== undefined) result.cause = end.cause;
  return result;
}

/**
 * The in-memory runner: executes a whole state machine in this process with task handlers the
 * caller supplies, on a clock it can be handed, and records the history AWS would. It drives
 * the same pure step function as the durable engine, so a definition behaves the same on both.
 */
import { randomUUID } from 'node:crypto';
import type { HistoryEvent, ExecutionStatus } from './history.ts';
import { StatesError, StatesErrorName, coerceStatesError } from './errors.ts';
import { compileMachine, parseDefinition } from './compile.ts';
import type { CompiledMachine, CompiledState } from './compile.ts';
import { cursorAfter, integrateCursor, linkEvent } from './events.ts';
import type { EventCursor, HistoryEventDraftWithLink } from './events.ts';
import { applyAssigned, finishWait, resumeState, retryState, runState, stateEnteredEvent, toJson } from './step.ts';
import type { Effect, Outcome, StepContext, ThreadContext } from './step.ts';
import type { VariableScope } from './evaluate.ts';
import { taskFailedEvent, taskScheduledEvent, taskStartedEvent, taskSucceededEvent } from './task-events.ts';
import { validateDefinition } from './validate.ts';

/** Time as the runner sees it. A virtual clock makes Wait states and back-off instant in tests. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
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

/** A clock that never waits: sleeping moves virtual time forward at once. */
export function virtualClock(startMs = Date.UTC(2024, 0, 1)): Clock {
  let now = startMs;
  return {
    now: () => now,
    sleep: async (ms) => {
      now += Math.max(0, ms);
      await Promise.resolve();
    },
  };
}


type ThreadResult = { ok: true; output: unknown } | { ok: false; error?: string; cause?: string };

/** Raised inside a run to unwind when the execution stops as a whole (timeout, time budget). */
class RunHalted extends Error {
  constructor(readonly status: ExecutionStatus) {
    super(status);
  }
}

/** One execution in memory: the history, the clock, and the threads of control. */
class LocalExecution {
  readonly history: HistoryEvent[] = [];
  stateTransitions = 0;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly tasks: Record<string, TaskHandler>;
  private readonly deadline: number;
  private readonly budgetEnd: number;

  constructor(
    private readonly region: string,
    options: RunLocalOptions,
    startMs: number,
    timeoutSeconds: number | undefined,
  ) {
    this.clock = options.clock ?? realClock;
    this.random = options.random ?? Math.random;
    this.tasks = options.tasks ?? {};
    this.deadline = timeoutSeconds === undefined ? Infinity : startMs + timeoutSeconds * 1000;
    this.budgetEnd = options.maxRunMs === undefined ? Infinity : startMs + options.maxRunMs;
  }

  record(cursor: EventCursor, draft: HistoryEventDraftWithLink): number {
    const id = this.history.length + 1;
    const previousEventId = linkEvent(cursor, draft, id);
    const event = { timestamp: new Date(this.clock.now()), type: draft.type, id, previousEventId, ...draft.details } as HistoryEvent;
    this.history.push(event);
    return id;
  }

  /** Sleeps on the clock, but never past the execution's timeout or the run's time budget. */
  private async sleepUntil(until: number): Promise<void> {
    const stop = Math.min(this.deadline, this.budgetEnd);
    if (until > stop) {
      await this.clock.sleep(Math.max(0, stop - this.clock.now()));
      throw new RunHalted(stop === this.deadline ? 'TIMED_OUT' : 'RUNNING');
    }
    await this.clock.sleep(Math.max(0, until - this.clock.now()));
  }

  /** Runs one thread (the execution, a branch, an iteration) from StartAt to its end. */
  async runThread(machine: CompiledMachine, input: unknown, cursor: EventCursor, thread: ThreadContext, scope: VariableScope): Promise<ThreadResult> {
    let name = machine.startAt;
    let stateInput = input;
    for (;;) {
      const state = machine.states.get(name) as CompiledState;
      if (this.clock.now() >= this.deadline) throw new RunHalted('TIMED_OUT');
      const enteredEventId = this.record(cursor, stateEnteredEvent(state, stateInput));
      this.stateTransitions++;
      const ctx = (extra?: Partial<StepContext>): StepContext => ({
        thread,
        scope,
        now: this.clock.now(),
        random: this.random,
        enteredEventId,
        ...extra,
      });
      let effect: Effect = await runState(machine, name, stateInput, ctx());
      for (;;) {
        for (const draft of effect.events) this.record(cursor, draft);
        if (effect.kind === 'next') {
          applyAssigned(scope, effect.assigned);
          name = effect.next;
          stateInput = effect.output;
          break;
        }
        if (effect.kind === 'end') {
          applyAssigned(scope, effect.assigned);
          return { ok: true, output: effect.output };
        }
        if (effect.kind === 'fail') {
          const failed: ThreadResult = { ok: false };
          if (effect.error !== undefined) failed.error = effect.error;
          if (effect.cause !== undefined) failed.cause = effect.cause;
          return failed;
        }
        if (effect.kind === 'wait') {
          await this.sleepUntil(effect.until);
          effect = await finishWait(machine, effect.suspension, ctx());
        } else if (effect.kind === 'retry') {
          this.stateTransitions++;
          await this.sleepUntil(this.clock.now() + effect.delayMs);
          effect = await retryState(machine, effect.suspension, ctx());
        } else if (effect.kind === 'task') {
          const token = randomUUID();
          const outcome = await this.runTask(effect, cursor, token);
          effect = await resumeState(machine, effect.suspension, outcome, ctx({ taskToken: token }));
        } else if (effect.kind === 'parallel') {
          const outcome = await this.runParallel(state, effect.input, cursor, thread, scope);
          effect = await resumeState(machine, effect.suspension, outcome, ctx());
        } else {
          const outcome = await this.runMap(state, effect, cursor, thread, scope);
          effect = await resumeState(machine, effect.suspension, outcome, ctx());
        }
      }
    }
  }

  private async runTask(effect: Extract<Effect, { kind: 'task' }>, cursor: EventCursor, token: string): Promise<Outcome> {
    const { resource, input } = effect;
    this.record(cursor, taskScheduledEvent(resource, input, this.region, effect.timeoutSeconds, effect.heartbeatSeconds));
    const handler = this.tasks[resource];
    if (!handler) {
      const cause = `No task handler for resource '${resource}'`;
      this.record(cursor, taskFailedEvent(resource, StatesErrorName.Runtime, cause, false));
      return { ok: false, error: StatesErrorName.Runtime, cause };
    }
    this.record(cursor, taskStartedEvent(resource, 'local'));
    const started = this.clock.now();
    try {
      const result = await handler(input, { token, heartbeat: () => undefined });
      if (effect.timeoutSeconds !== undefined && this.clock.now() - started > effect.timeoutSeconds * 1000) {
        throw new StatesError(StatesErrorName.Timeout, 'Task timed out');
      }
      this.record(cursor, taskSucceededEvent(resource, result));
      return { ok: true, result };
    } catch (e) {
      const err = coerceStatesError(e, StatesErrorName.TaskFailed);
      const error = e instanceof StatesError ? err.error : e instanceof Error && e.name !== 'Error' ? e.name : err.error;
      this.record(cursor, taskFailedEvent(resource, error, err.cause, error === StatesErrorName.Timeout));
      const failed: Outcome = { ok: false, error };
      if (err.cause !== undefined) failed.cause = err.cause;
      return failed;
    }
  }

  private async runParallel(state: CompiledState, input: unknown, cursor: EventCursor, thread: ThreadContext, scope: VariableScope): Promise<Outcome> {
    const branchThread: ThreadContext = { Execution: thread.Execution, StateMachine: thread.StateMachine };
    const results = await Promise.all(
      state.branches.map(async (branch) => {
        const branchCursor = cursorAfter(cursor.source);
        const result = await this.runThread(branch, structuredClone(input), branchCursor, branchThread, { vars: {}, parent: scope });
        return { result, branchCursor };
      }),
    );
    for (const { branchCursor } of results) integrateCursor(cursor, branchCursor);
    const failure = results.find((r) => !r.result.ok)?.result;
    if (failure && !failure.ok) return outcomeOf(failure);
    return { ok: true, result: results.map((r) => (r.result.ok ? r.result.output : null)) };
  }

  private async runMap(
    state: CompiledState,
    effect: Extract<Effect, { kind: 'map' }>,
    cursor: EventCursor,
    thread: ThreadContext,
    scope: VariableScope,
  ): Promise<Outcome> {
    const processor = state.map?.processor as CompiledMachine;
    const items = effect.items;
    const outputs: unknown[] = new Array<unknown>(items.length).fill(null);
    const iterationThread = (index: number): ThreadContext => ({
      Execution: thread.Execution,
      StateMachine: thread.StateMachine,
      Map: { Item: { Index: index, Value: items[index] } },
    });
    if (effect.distributed) return this.runDistributedMap(state, effect, cursor, scope, processor, outputs, iterationThread);
    let next = 0;
    let failures = 0;
    let firstFailure: ThreadResult | undefined;
    let stop = false;
    const tolerated = (): boolean =>
      failures <= effect.toleratedFailureCount ||
      (effect.toleratedFailurePercentage > 0 && (failures / items.length) * 100 <= effect.toleratedFailurePercentage);
    const worker = async (): Promise<void> => {
      const workerCursor = cursorAfter(cursor.source);
      for (;;) {
        if (stop || next >= items.length) break;
        const index = next++;
        const jobCursor = cursorAfter(workerCursor.source);
        const details = { index, name: state.name };
        this.record(jobCursor, { type: 'MapIterationStarted', details: { mapIterationStartedEventDetails: details } });
        const result = await this.runThread(processor, items[index], jobCursor, iterationThread(index), { vars: {}, parent: scope });
        if (result.ok) {
          outputs[index] = result.output;
          this.record(jobCursor, { type: 'MapIterationSucceeded', details: { mapIterationSucceededEventDetails: details }, link: 'keepSource' });
          integrateCursor(workerCursor, jobCursor);
          if (next >= items.length || stop) workerCursor.source = jobCursor.last;
          continue;
        }
        this.record(jobCursor, { type: 'MapIterationFailed', details: { mapIterationFailedEventDetails: details }, link: 'keepSource' });
        integrateCursor(workerCursor, jobCursor);
        failures++;
        firstFailure ??= result;
        if (!tolerated()) {
          stop = true;
          break;
        }
      }
      integrateCursor(cursor, workerCursor);
    };
    const workers = effect.maxConcurrency > 0 ? Math.min(effect.maxConcurrency, items.length) : items.length;
    await Promise.all(Array.from({ length: workers }, worker));
    if (failures > 0 && !tolerated()) {
      if (effect.toleratedFailureCount > 0 || effect.toleratedFailurePercentage > 0) {
        return { ok: false, error: StatesErrorName.ExceedToleratedFailureThreshold, cause: 'The specified tolerated failure threshold was exceeded' };
      }
      return outcomeOf(firstFailure as ThreadResult);
    }
    return { ok: true, result: outputs };
  }

  /** Distributed mode: iterations run as child executions, so the parent records only the map run. */
  private async runDistributedMap(
    state: CompiledState,
    effect: Extract<Effect, { kind: 'map' }>,
    cursor: EventCursor,
    scope: VariableScope,
    processor: CompiledMachine,
    outputs: unknown[],
    iterationThread: (index: number) => ThreadContext,
  ): Promise<Outcome> {
    const executionArn = String((iterationThread(0).Execution as { Id?: string }).Id ?? '');
    const parts = executionArn.split(':');
    const label = (state.definition as { Label?: string }).Label ?? randomUUID();
    const mapRunArn = `${parts.slice(0, 5).join(':')}:mapRun:${parts[6] ?? ''}/${label}:${randomUUID()}`;
    this.record(cursor, { type: 'MapRunStarted', details: { mapRunStartedEventDetails: { mapRunArn } } });
    let failures = 0;
    let firstFailure: ThreadResult | undefined;
    for (let index = 0; index < effect.items.length; index++) {
      const child = new LocalExecution(this.region, { clock: this.clock, random: this.random, tasks: this.tasks }, this.clock.now(), undefined);
      const result = await child.runThread(processor, effect.items[index], cursorAfter(0), iterationThread(index), { vars: {}, parent: scope });
      if (result.ok) outputs[index] = result.output;
      else {
        failures++;
        firstFailure ??= result;
      }
    }
    const limit = Math.max(effect.toleratedFailureCount, (effect.toleratedFailurePercentage / 100) * effect.items.length);
    if (failures > limit) {
      this.record(cursor, { type: 'MapRunFailed', details: { mapRunFailedEventDetails: {} } });
      void state;
      return firstFailure && (effect.toleratedFailureCount > 0 || effect.toleratedFailurePercentage > 0)
        ? { ok: false, error: StatesErrorName.ExceedToleratedFailureThreshold, cause: 'The specified tolerated failure threshold was exceeded' }
        : outcomeOf(firstFailure as ThreadResult);
    }
    this.record(cursor, { type: 'MapRunSucceeded' });
    return { ok: true, result: outputs };
  }
}

function outcomeOf(result: ThreadResult): Outcome {
  if (result.ok) return { ok: true, result: result.output };
  const out: Outcome = { ok: false, error: result.error ?? '' };
  if (result.cause !== undefined) out.cause = result.cause;
  return out;
}

const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

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
  const parsed = parseDefinition(definition);
  const diagnostics = validateDefinition(parsed);
  if (diagnostics.length > 0) {
    throw new StatesError('States.Runtime', `Invalid State Machine Definition: ${diagnostics.map((d) => d.message).join('; ')}`);
  }
  const machine = compileMachine(parsed);
  const clock = options.clock ?? realClock;
  const startMs = clock.now();
  const run = new LocalExecution(region, options, startMs, machine.timeoutSeconds);
  const root = cursorAfter(0);
  const roleArn = options.roleArn ?? `arn:aws:iam::${account}:role/inlet-local`;
  let parsedInput: unknown;
  try {
    parsedInput = JSON.parse(input);
  } catch (e) {
    throw new StatesError('States.Runtime', `Invalid execution input: ${(e as Error).message}`);
  }
  run.record(root, {
    type: 'ExecutionStarted',
    link: 'keepSource',
    details: { executionStartedEventDetails: { input, inputDetails: { truncated: false }, roleArn } },
  });
  const thread: ThreadContext = {
    Execution: {
      Id: executionArn,
      Input: parsedInput,
      StartTime: new Date(startMs).toISOString(),
      Name: execName,
      RoleArn: roleArn,
      RedriveCount: 0,
    },
    StateMachine: { Id: stateMachineArn, Name: smName },
  };
  const base = { executionArn, stateMachineArn };
  let result: ThreadResult;
  try {
    result = await run.runThread(machine, parsedInput, root, thread, { vars: {} });
  } catch (e) {
    if (!(e instanceof RunHalted)) throw e;
    if (e.status === 'TIMED_OUT') {
      run.record(root, { type: 'ExecutionTimedOut', details: { executionTimedOutEventDetails: { error: StatesErrorName.Timeout } } });
      return { ...base, status: 'TIMED_OUT', error: StatesErrorName.Timeout, history: run.history, stateTransitions: run.stateTransitions };
    }
    return { ...base, status: 'RUNNING', history: run.history, stateTransitions: run.stateTransitions };
  }
  if (result.ok) {
    const output = toJson(result.output);
    run.record(root, { type: 'ExecutionSucceeded', details: { executionSucceededEventDetails: { output, outputDetails: { truncated: false } } } });
    return { ...base, status: 'SUCCEEDED', output, history: run.history, stateTransitions: run.stateTransitions };
  }
  const details: Record<string, string> = {};
  if (result.error !== undefined) details.error = result.error;
  if (result.cause !== undefined) details.cause = result.cause;
  run.record(root, { type: 'ExecutionFailed', details: { executionFailedEventDetails: details } });
  const failed: LocalExecutionResult = { ...base, status: 'FAILED', history: run.history, stateTransitions: run.stateTransitions };
  if (result.error !== undefined) failed.error = result.error;
  if (result.cause !== undefined) failed.cause = result.cause;
  return failed;
}

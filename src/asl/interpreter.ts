/**
 * The execution interpreter: an execution's whole runtime state as plain JSON
 * ({@link ExecutionRuntime}) and one function, {@link advance}, that takes it forward from a
 * wake-up (start, a timer, a task's start or outcome, a stop) until every thread of control is
 * waiting on the outside world again. It returns the history events to append and the timers and
 * tasks to create; it does no I/O and reads no clock. The in-memory runner drives it in a loop;
 * the durable engine persists the runtime and the returned rows in one transaction per advance,
 * so both run a definition identically and the engine can stop at any commit and go on.
 *
 * Threads: the execution itself, each Parallel branch and each Map iteration. Ready threads take
 * turns one state at a time, which interleaves concurrent branches as AWS's history shows them.
 */
import { StatesErrorName } from './errors.ts';
import type { HistoryEvent, ExecutionStatus } from './history.ts';
import type { CompiledMachine } from './compile.ts';
import { cursorAfter, integrateCursor, linkEvent } from './events.ts';
import type { EventCursor, HistoryEventDraftWithLink } from './events.ts';
import { finishWait, resumeState, retryState, runState, stateEnteredEvent, toJson } from './step.ts';
import type { Effect, Outcome, StepContext, Suspension, ThreadContext } from './step.ts';
import type { VariableScope } from './evaluate.ts';
import { taskFailedEvent, taskScheduledEvent, taskStartedEvent, taskSucceededEvent } from './task-events.ts';

/** How a thread ended. */
export type ThreadResult = { ok: true; output: unknown } | { ok: false; error?: string; cause?: string };

/** A Map state's progress through its items. */
export interface MapProgress {
  items: unknown[];
  /**
   * Where `items` lies in the suspension's input (object keys and array indexes from it), when
   * they are that array's very elements: a stored runtime then writes the path, not the items.
   */
  itemsAt?: (string | number)[];
  next: number;
  active: number;
  failures: number;
  firstFailure?: ThreadResult;
  stop: boolean;
  /** One event cursor per worker: a worker runs its jobs one after another. */
  workers: EventCursor[];
  results: unknown[];
  toleratedFailureCount: number;
  toleratedFailurePercentage: number;
  distributed: boolean;
}

/** Where a thread is. */
export type ThreadPosition =
  | { kind: 'enter'; stateName: string; input: unknown }
  | { kind: 'wait' | 'retry'; enteredEventId: number; suspension: Suspension; until: number }
  | {
      kind: 'task';
      enteredEventId: number;
      suspension: Suspension;
      token: string;
      resource: string;
      started: boolean;
      /** When it was scheduled and started (epoch ms), for ActivityScheduleTime / ActivityRunTime. */
      scheduledAt?: number;
      startedAt?: number;
      timeoutSeconds?: number;
      heartbeatSeconds?: number;
    }
  | { kind: 'parallel'; enteredEventId: number; suspension: Suspension; children: number[]; results: unknown[]; pending: number; failure?: ThreadResult }
  | { kind: 'map'; enteredEventId: number; suspension: Suspension; progress: MapProgress }
  | { kind: 'resume'; enteredEventId: number; suspension: Suspension; op: 'finishWait' | 'retry' | 'outcome'; outcome?: Outcome; token?: string };

/** One thread of control. */
export interface ThreadRecord {
  id: number;
  parent?: number;
  /** Key of the (sub)machine it runs, see {@link machineIndex}. */
  machine: string;
  role: { kind: 'root' } | { kind: 'branch'; index: number } | { kind: 'iteration'; index: number; worker: number };
  cursor: EventCursor;
  vars: Record<string, unknown>;
  outer: Record<string, unknown>;
  /** Events of a distributed Map's iterations belong to child executions, not this history. */
  silent: boolean;
  at: ThreadPosition;
  /** The state this thread is in, and that state's input (where a redrive starts again). */
  current?: { stateName: string; input: unknown };
}

/** An execution's runtime state. Plain JSON. */
export interface ExecutionRuntime {
  threads: Record<string, ThreadRecord>;
  ready: number[];
  nextThreadId: number;
  nextEventId: number;
  transitions: number;
  status: ExecutionStatus;
  /** Open task token → the thread waiting for it. */
  tasks: Record<string, number>;
  /** Where the execution stopped short (failed, timed out, aborted), for RedriveExecution. */
  redriveFrom?: { stateName: string; input: unknown; vars: Record<string, unknown> };
}

/**
 * A runtime as text for a store, with each value a wide Map carries written once: a suspended
 * thread's `current.input` is the very value its suspension holds (the same state's raw input),
 * and a Map's items are usually the elements of an array inside that input. Written out in
 * full they would be stored, and rewritten on every advance, two and three times.
 */
export function serializeRuntime(rt: ExecutionRuntime): string {
  const undo: (() => void)[] = [];
  for (const thread of Object.values(rt.threads)) {
    const current = thread.current;
    const at = thread.at;
    if (current !== undefined && 'suspension' in at && at.suspension.stateName === current.stateName && at.suspension.input === current.input) {
      undo.push(() => (thread.current = current));
      thread.current = { stateName: current.stateName, [SAME_AS_SUSPENSION]: true } as unknown as NonNullable<ThreadRecord['current']>;
    }
    const itemsAt = at.kind === 'map' ? at.progress.itemsAt : undefined;
    if (at.kind === 'map' && itemsAt !== undefined) {
      const { progress } = at;
      const items = progress.items;
      // Only while the array in the input still holds these very items.
      const source = valueAt(at.suspension.input, itemsAt);
      if (Array.isArray(source) && source.length === items.length && source.every((item, i) => item === items[i])) {
        undo.push(() => (progress.items = items));
        progress.items = ITEMS_IN_INPUT as unknown as unknown[];
      }
    }
  }
  try {
    return JSON.stringify(rt);
  } finally {
    for (const restore of undo) restore();
  }
}

/** Reads back what {@link serializeRuntime} wrote, sharing the input and the items again. */
export function parseRuntime(text: string): ExecutionRuntime {
  const rt = JSON.parse(text) as ExecutionRuntime;
  for (const thread of Object.values(rt.threads)) {
    const current = thread.current as (ThreadRecord['current'] & { [SAME_AS_SUSPENSION]?: true }) | undefined;
    if (current?.[SAME_AS_SUSPENSION] === true && 'suspension' in thread.at) {
      thread.current = { stateName: current.stateName, input: thread.at.suspension.input };
    }
    const at = thread.at;
    if (at.kind === 'map' && (at.progress.items as unknown) === ITEMS_IN_INPUT && at.progress.itemsAt !== undefined) {
      at.progress.items = [...(valueAt(at.suspension.input, at.progress.itemsAt) as unknown[])];
    }
  }
  return rt;
}

/** Stands for a Map's items in a stored runtime when they are found at `itemsAt` in its input. */
const ITEMS_IN_INPUT = '$inletItemsInInput';

/** The value at `path` (keys and indexes) inside `value`, or undefined. */
function valueAt(value: unknown, path: readonly (string | number)[]): unknown {
  let at = value;
  for (const step of path) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<string | number, unknown>)[step];
  }
  return at;
}

/** The path (keys and indexes) of `target` itself inside `value`, searched depth first; undefined if absent. */
function pathTo(value: unknown, target: object): (string | number)[] | undefined {
  if (value === target) return [];
  if (value === null || typeof value !== 'object') return undefined;
  const entries: [string | number, unknown][] = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  for (const [key, child] of entries) {
    const below = pathTo(child, target);
    if (below !== undefined) return [key, ...below];
  }
  return undefined;
}

/** Marks a stored `current` whose input is its thread's suspension input. */
const SAME_AS_SUSPENSION = 'inputIsSuspensionInput';

/** A timer the driver must fire at `due` by calling advance with a `timer` wake. */
export interface TimerRequest {
  threadId: number;
  kind: 'wait' | 'retry' | 'taskTimeout' | 'heartbeat';
  due: number;
  token?: string;
}

/** A task the driver must hand to a worker or handler. */
export interface TaskRequest {
  threadId: number;
  token: string;
  resource: string;
  input: unknown;
  timeoutSeconds?: number;
  heartbeatSeconds?: number;
}

/** One task's schedule-to-start or run time, for metrics. */
export interface TaskTiming {
  resource: string;
  phase: 'started' | 'ended';
  ms: number;
  outcome?: 'succeeded' | 'failed' | 'timed_out' | 'heartbeat_timed_out';
}

/** What wakes an execution. */
export type Wake =
  | { kind: 'start'; input: string; roleArn: string }
  | { kind: 'timer'; timer: TimerRequest }
  /** `startedMs`: when the worker took the task, if earlier than this advance. */
  | { kind: 'taskStarted'; token: string; workerName: string; startedMs?: number }
  | { kind: 'taskDone'; token: string; outcome: Outcome }
  | { kind: 'stop'; error?: string; cause?: string }
  | { kind: 'timeout' }
  | { kind: 'redrive' };

/** What the driver is handed for one advance. */
export interface AdvanceContext {
  machines: ReadonlyMap<string, CompiledMachine>;
  now: number;
  random: () => number;
  newToken: () => string;
  region: string;
  /** AWS-compatible mode: a state output larger than this fails with States.DataLimitExceeded. */
  payloadLimitBytes?: number;
  /** Context object parts of the root thread. */
  execution: Record<string, unknown>;
  stateMachine: Record<string, unknown>;
}

/** The result of one advance: rows to write, and the end if the execution ended. */
export interface Advance {
  events: HistoryEvent[];
  timers: TimerRequest[];
  tasks: TaskRequest[];
  /** Tokens whose tasks no longer matter (finished, aborted). */
  closedTokens: string[];
  /** Tasks that started or ended in this advance, with how long they waited or ran. */
  taskTimings: TaskTiming[];
  end?: { status: ExecutionStatus; output?: string; error?: string; cause?: string };
}

/** Indexes a compiled machine and every nested machine by a stable key. */
export function machineIndex(root: CompiledMachine): Map<string, CompiledMachine> {
  const index = new Map<string, CompiledMachine>();
  const visit = (machine: CompiledMachine, key: string): void => {
    index.set(key, machine);
    for (const state of machine.states.values()) {
      if (state.map) visit(state.map.processor, `${key}/${state.name}/items`);
      state.branches.forEach((b, i) => visit(b, `${key}/${state.name}/${i}`));
    }
  };
  visit(root, 'root');
  return index;
}

/** A fresh runtime for an execution that has not started. */
export function newRuntime(): ExecutionRuntime {
  return { threads: {}, ready: [], tasks: {}, nextThreadId: 1, nextEventId: 1, transitions: 0, status: 'RUNNING' };
}

/** Takes the execution forward from `wake` until no thread can move without the outside world. */
export async function advance(rt: ExecutionRuntime, wake: Wake, ctx: AdvanceContext): Promise<Advance> {
  const run = new Advancer(rt, ctx);
  await run.wake(wake);
  await run.drain();
  return run.out;
}

class Advancer {
  readonly out: Advance = { events: [], timers: [], tasks: [], closedTokens: [], taskTimings: [] };

  constructor(
    private readonly rt: ExecutionRuntime,
    private readonly ctx: AdvanceContext,
  ) {}

  private record(thread: ThreadRecord | { cursor: EventCursor; silent: boolean }, draft: HistoryEventDraftWithLink): number {
    if (thread.silent) return 0;
    const id = this.rt.nextEventId++;
    const previousEventId = linkEvent(thread.cursor, draft, id);
    this.out.events.push({ timestamp: new Date(this.ctx.now), type: draft.type, id, previousEventId, ...draft.details } as HistoryEvent);
    return id;
  }

  private thread(id: number): ThreadRecord | undefined {
    return this.rt.threads[String(id)];
  }

  private spawn(t: Omit<ThreadRecord, 'id'>): ThreadRecord {
    const thread: ThreadRecord = { ...t, id: this.rt.nextThreadId++ };
    this.rt.threads[String(thread.id)] = thread;
    return thread;
  }

  private findTask(token: string): ThreadRecord | undefined {
    const id = this.rt.tasks[token];
    const thread = id === undefined ? undefined : this.thread(id);
    return thread?.at.kind === 'task' && thread.at.token === token ? thread : undefined;
  }

  /** The thread no longer waits for `token`. */
  private closeTask(token: string): void {
    delete this.rt.tasks[token];
    this.out.closedTokens.push(token);
  }

  /**
   * Closes a task that ended (its history event already recorded), times it — from when a
   * worker took it, or from its scheduling when none did (a timeout before any worker, a
   * callback task) — and readies its thread to take the outcome.
   */
  private endTask(thread: ThreadRecord, at: Extract<ThreadPosition, { kind: 'task' }>, outcome: Outcome, label: NonNullable<TaskTiming['outcome']>): void {
    this.closeTask(at.token);
    this.out.taskTimings.push({ resource: at.resource, phase: 'ended', ms: this.ctx.now - (at.startedAt ?? at.scheduledAt ?? this.ctx.now), outcome: label });
    thread.at = { kind: 'resume', enteredEventId: at.enteredEventId, suspension: at.suspension, op: 'outcome', outcome, token: at.token };
    this.rt.ready.push(thread.id);
  }

  async wake(wake: Wake): Promise<void> {
    if (wake.kind === 'redrive') return this.redrive();
    if (this.rt.status !== 'RUNNING') return;
    switch (wake.kind) {
      case 'start': {
        const root = this.spawn({
          machine: 'root',
          role: { kind: 'root' },
          cursor: cursorAfter(0),
          vars: {},
          outer: {},
          silent: false,
          at: { kind: 'enter', stateName: (this.ctx.machines.get('root') as CompiledMachine).startAt, input: JSON.parse(wake.input) },
        });
        this.record(root, {
          type: 'ExecutionStarted',
          link: 'keepSource',
          details: { executionStartedEventDetails: { input: wake.input, inputDetails: { truncated: false }, roleArn: wake.roleArn } },
        });
        this.rt.ready.push(root.id);
        return;
      }
      case 'timer': {
        const thread = this.thread(wake.timer.threadId);
        if (!thread) return;
        const at = thread.at;
        if ((wake.timer.kind === 'wait' || wake.timer.kind === 'retry') && at.kind === wake.timer.kind) {
          thread.at = { kind: 'resume', enteredEventId: at.enteredEventId, suspension: at.suspension, op: at.kind === 'wait' ? 'finishWait' : 'retry' };
          this.rt.ready.push(thread.id);
        } else if ((wake.timer.kind === 'taskTimeout' || wake.timer.kind === 'heartbeat') && at.kind === 'task' && at.token === wake.timer.token) {
          const error = wake.timer.kind === 'heartbeat' ? StatesErrorName.HeartbeatTimeout : StatesErrorName.Timeout;
          this.record(thread, taskFailedEvent(at.resource, error, undefined, true));
          this.endTask(thread, at, { ok: false, error }, wake.timer.kind === 'heartbeat' ? 'heartbeat_timed_out' : 'timed_out');
        }
        return;
      }
      case 'taskStarted': {
        const thread = this.findTask(wake.token);
        if (!thread || thread.at.kind !== 'task' || thread.at.started) return;
        // Timers and timings run from the moment the worker took the task, not from this advance.
        const startedAt = Math.min(wake.startedMs ?? this.ctx.now, this.ctx.now);
        thread.at.started = true;
        thread.at.startedAt = startedAt;
        this.out.taskTimings.push({ resource: thread.at.resource, phase: 'started', ms: Math.max(0, startedAt - (thread.at.scheduledAt ?? startedAt)) });
        this.record(thread, taskStartedEvent(thread.at.resource, wake.workerName));
        const { timeoutSeconds, heartbeatSeconds, token } = thread.at;
        if (timeoutSeconds !== undefined) this.out.timers.push({ threadId: thread.id, kind: 'taskTimeout', due: startedAt + timeoutSeconds * 1000, token });
        if (heartbeatSeconds !== undefined) this.out.timers.push({ threadId: thread.id, kind: 'heartbeat', due: startedAt + heartbeatSeconds * 1000, token });
        return;
      }
      case 'taskDone': {
        const thread = this.findTask(wake.token);
        if (!thread || thread.at.kind !== 'task') return;
        const at = thread.at;
        if (!at.started) this.record(thread, taskStartedEvent(at.resource, 'callback'));
        const outcome = wake.outcome;
        this.record(thread, outcome.ok ? taskSucceededEvent(at.resource, outcome.result) : taskFailedEvent(at.resource, outcome.error, outcome.cause, false));
        this.endTask(thread, at, outcome, outcome.ok ? 'succeeded' : 'failed');
        return;
      }
      case 'stop': {
        const details: Record<string, string> = {};
        if (wake.error !== undefined) details.error = wake.error;
        if (wake.cause !== undefined) details.cause = wake.cause;
        this.endExecution({ status: 'ABORTED' }, { type: 'ExecutionAborted', details: { executionAbortedEventDetails: details } });
        return;
      }
      case 'timeout':
        this.endExecution(
          { status: 'TIMED_OUT', error: StatesErrorName.Timeout },
          { type: 'ExecutionTimedOut', details: { executionTimedOutEventDetails: { error: StatesErrorName.Timeout } } },
        );
        return;
    }
  }

  /** Starts a stopped execution again from the state of its root thread that did not finish. */
  private redrive(): void {
    const from = this.rt.redriveFrom;
    if (this.rt.status === 'RUNNING' || this.rt.status === 'SUCCEEDED' || !from) return;
    this.rt.status = 'RUNNING';
    delete this.rt.redriveFrom;
    const root = this.spawn({
      machine: 'root',
      role: { kind: 'root' },
      cursor: cursorAfter(this.rt.nextEventId - 1),
      vars: from.vars,
      outer: {},
      silent: false,
      at: { kind: 'enter', stateName: from.stateName, input: from.input },
    });
    const redriveCount = Number(this.ctx.execution.RedriveCount ?? 1);
    this.record(root, { type: 'ExecutionRedriven', details: { executionRedrivenEventDetails: { redriveCount } } });
    this.rt.ready.push(root.id);
  }

  private endExecution(end: NonNullable<Advance['end']>, event: HistoryEventDraftWithLink): void {
    const root = Object.values(this.rt.threads).find((t) => t.role.kind === 'root');
    if (root?.current && end.status !== 'SUCCEEDED') {
      this.rt.redriveFrom = { stateName: root.current.stateName, input: root.current.input, vars: root.vars };
    }
    this.record(root ?? { cursor: cursorAfter(this.rt.nextEventId - 1), silent: false }, event);
    for (const token of Object.keys(this.rt.tasks ?? {})) this.out.closedTokens.push(token);
    this.rt.tasks = {};
    this.rt.threads = {};
    this.rt.ready = [];
    this.rt.status = end.status;
    this.out.end = end;
  }

  async drain(): Promise<void> {
    // An index instead of shift(): a Map of thousands of iterations keeps thousands ready.
    let next = 0;
    while (next < this.rt.ready.length && this.rt.status === 'RUNNING') {
      const thread = this.thread(this.rt.ready[next++] as number);
      if (!thread) continue;
      const pending = this.turn(thread);
      if (pending) await pending;
    }
    this.rt.ready = this.rt.status === 'RUNNING' ? this.rt.ready.slice(next) : [];
  }

  /**
   * The context object's fixed parts for a thread. They are not stored per thread (a Map of
   * thousands of iterations would copy the execution input thousands of times): the execution's
   * come from the advance context, an iteration's `Map.Item` from its Map's items.
   */
  private threadContext(thread: ThreadRecord): ThreadContext {
    const context: ThreadContext = { Execution: this.ctx.execution, StateMachine: this.ctx.stateMachine };
    if (thread.role.kind === 'iteration') {
      const parent = thread.parent === undefined ? undefined : this.thread(thread.parent);
      const items = parent?.at.kind === 'map' ? parent.at.progress.items : [];
      context.Map = { Item: { Index: thread.role.index, Value: items[thread.role.index] } };
    }
    return context;
  }

  private scope(thread: ThreadRecord): VariableScope {
    return { vars: thread.vars, parent: { vars: thread.outer } };
  }

  private stepContext(thread: ThreadRecord, enteredEventId: number, token?: string): StepContext {
    const ctx: StepContext = { thread: this.threadContext(thread), scope: this.scope(thread), now: this.ctx.now, random: this.ctx.random, enteredEventId };
    if (token !== undefined) ctx.taskToken = token;
    return ctx;
  }

  /** Moves one thread by one state (or one resumption). */
  private turn(thread: ThreadRecord): void | Promise<void> {
    const machine = this.ctx.machines.get(thread.machine) as CompiledMachine;
    const at = thread.at;
    if (at.kind === 'enter') {
      const state = machine.states.get(at.stateName);
      if (!state) return this.complete(thread, { ok: false, error: StatesErrorName.Runtime, cause: `no state '${at.stateName}'` });
      thread.current = { stateName: at.stateName, input: at.input };
      const enteredEventId = this.record(thread, stateEnteredEvent(state, at.input));
      this.rt.transitions++;
      const token = state.type === 'Task' ? this.ctx.newToken() : undefined;
      const effect = runState(machine, at.stateName, at.input, this.stepContext(thread, enteredEventId, token));
      // Synchronous states are applied at once: no promise, no microtask per state.
      if (effect instanceof Promise) return effect.then((e) => this.apply(thread, e, enteredEventId, token));
      return this.apply(thread, effect, enteredEventId, token);
    }
    return this.resumeTurn(machine, thread);
  }

  private async resumeTurn(machine: CompiledMachine, thread: ThreadRecord): Promise<void> {
    const at = thread.at;
    if (at.kind !== 'resume') return;
    const ctx = this.stepContext(thread, at.enteredEventId, at.token);
    if (at.op === 'finishWait') return this.apply(thread, await finishWait(machine, at.suspension, ctx), at.enteredEventId);
    if (at.op === 'retry') {
      const state = machine.states.get(at.suspension.stateName);
      const token = state?.type === 'Task' ? this.ctx.newToken() : undefined;
      const effect = await retryState(machine, at.suspension, this.stepContext(thread, at.enteredEventId, token));
      return this.apply(thread, effect, at.enteredEventId, token);
    }
    const effect = await resumeState(machine, at.suspension, at.outcome as Outcome, ctx);
    return this.apply(thread, effect, at.enteredEventId);
  }

  private apply(thread: ThreadRecord, effect: Effect, enteredEventId: number, token?: string): void {
    const limit = this.ctx.payloadLimitBytes;
    if (limit !== undefined && (effect.kind === 'next' || effect.kind === 'end') && Buffer.byteLength(toJson(effect.output)) > limit) {
      const stateName = thread.current?.stateName ?? '';
      effect = {
        kind: 'fail',
        events: [],
        error: StatesErrorName.DataLimitExceeded,
        cause: `The state/task '${stateName}' returned a result with a size exceeding the maximum number of bytes service limit.`,
      };
    }
    for (const draft of effect.events) this.record(thread, draft);
    switch (effect.kind) {
      case 'next':
        if (effect.assigned) Object.assign(thread.vars, effect.assigned);
        thread.at = { kind: 'enter', stateName: effect.next, input: effect.output };
        this.rt.ready.push(thread.id);
        return;
      case 'end':
        if (effect.assigned) Object.assign(thread.vars, effect.assigned);
        return this.complete(thread, { ok: true, output: effect.output });
      case 'fail': {
        const failed: ThreadResult = { ok: false };
        if (effect.error !== undefined) failed.error = effect.error;
        if (effect.cause !== undefined) failed.cause = effect.cause;
        return this.complete(thread, failed);
      }
      case 'wait':
      case 'retry': {
        if (effect.kind === 'retry') this.rt.transitions++;
        const until = effect.kind === 'wait' ? effect.until : this.ctx.now + effect.delayMs;
        thread.at = { kind: effect.kind, enteredEventId, suspension: effect.suspension, until };
        this.out.timers.push({ threadId: thread.id, kind: effect.kind, due: until });
        return;
      }
      case 'task': {
        const taskToken = token ?? this.ctx.newToken();
        this.record(thread, taskScheduledEvent(effect.resource, effect.input, this.ctx.region, effect.timeoutSeconds, effect.heartbeatSeconds));
        const position: ThreadPosition = {
          kind: 'task',
          enteredEventId,
          suspension: effect.suspension,
          token: taskToken,
          resource: effect.resource,
          started: false,
          scheduledAt: this.ctx.now,
        };
        const request: TaskRequest = { threadId: thread.id, token: taskToken, resource: effect.resource, input: effect.input };
        if (effect.timeoutSeconds !== undefined) position.timeoutSeconds = request.timeoutSeconds = effect.timeoutSeconds;
        if (effect.heartbeatSeconds !== undefined) position.heartbeatSeconds = request.heartbeatSeconds = effect.heartbeatSeconds;
        thread.at = position;
        (this.rt.tasks ??= {})[taskToken] = thread.id;
        this.out.tasks.push(request);
        return;
      }
      case 'parallel': {
        const state = (this.ctx.machines.get(thread.machine) as CompiledMachine).states.get(effect.suspension.stateName);
        const branches = state?.branches ?? [];
        const outer = { ...thread.outer, ...thread.vars };
        const children = branches.map((_, index) => {
          const child = this.spawn({
            parent: thread.id,
            machine: `${thread.machine}/${effect.suspension.stateName}/${index}`,
            role: { kind: 'branch', index },
            cursor: cursorAfter(thread.cursor.source),
            vars: {},
            outer,
            silent: thread.silent,
            at: { kind: 'enter', stateName: (branches[index] as CompiledMachine).startAt, input: structuredClone(effect.input) },
          });
          this.rt.ready.push(child.id);
          return child.id;
        });
        thread.at = { kind: 'parallel', enteredEventId, suspension: effect.suspension, children, results: branches.map(() => null), pending: branches.length };
        if (branches.length === 0) this.resume(thread, { ok: true, result: [] });
        return;
      }
      case 'map': {
        const progress: MapProgress = {
          items: effect.items,
          next: 0,
          active: 0,
          failures: 0,
          stop: false,
          workers: [],
          results: effect.items.map(() => null),
          toleratedFailureCount: effect.toleratedFailureCount,
          toleratedFailurePercentage: effect.toleratedFailurePercentage,
          distributed: effect.distributed,
        };
        const itemsAt = effect.source === undefined ? undefined : pathTo(effect.suspension.input, effect.source);
        if (itemsAt !== undefined) progress.itemsAt = itemsAt;
        thread.at = { kind: 'map', enteredEventId, suspension: effect.suspension, progress };
        if (effect.distributed) {
          const parts = String(this.ctx.execution.Id ?? '').split(':');
          const state = (this.ctx.machines.get(thread.machine) as CompiledMachine).states.get(effect.suspension.stateName);
          const label = (state?.definition as { Label?: string } | undefined)?.Label ?? this.ctx.newToken();
          const mapRunArn = `${parts.slice(0, 5).join(':')}:mapRun:${parts[6] ?? ''}/${label}:${this.ctx.newToken()}`;
          this.record(thread, { type: 'MapRunStarted', details: { mapRunStartedEventDetails: { mapRunArn } } });
        }
        const n = effect.items.length;
        const workers = effect.maxConcurrency > 0 ? Math.min(effect.maxConcurrency, n) : n;
        for (let w = 0; w < workers; w++) progress.workers.push(cursorAfter(thread.cursor.source));
        for (let w = 0; w < workers; w++) this.startJob(thread, w);
        if (n === 0) this.finishMap(thread);
        return;
      }
    }
  }

  private startJob(mapThread: ThreadRecord, worker: number): void {
    const at = mapThread.at;
    if (at.kind !== 'map') return;
    const p = at.progress;
    const index = p.next++;
    const machineKey = `${mapThread.machine}/${at.suspension.stateName}/items`;
    const processor = this.ctx.machines.get(machineKey) as CompiledMachine;
    const child = this.spawn({
      parent: mapThread.id,
      machine: machineKey,
      role: { kind: 'iteration', index, worker },
      cursor: cursorAfter((p.workers[worker] as EventCursor).source),
      vars: {},
      outer: { ...mapThread.outer, ...mapThread.vars },
      silent: mapThread.silent || p.distributed,
      at: { kind: 'enter', stateName: processor.startAt, input: p.items[index] },
    });
    p.active++;
    this.record(child, { type: 'MapIterationStarted', details: { mapIterationStartedEventDetails: { index, name: at.suspension.stateName } } });
    this.rt.ready.push(child.id);
  }

  /** AWS fails the Map as soon as either configured threshold is exceeded; with none, on any failure. */
  private tolerated(p: MapProgress): boolean {
    const count = p.toleratedFailureCount;
    const percentage = p.toleratedFailurePercentage;
    if (count <= 0 && percentage <= 0) return p.failures === 0;
    if (count > 0 && p.failures > count) return false;
    if (percentage > 0 && (p.failures / p.items.length) * 100 > percentage) return false;
    return true;
  }

  private finishMap(mapThread: ThreadRecord): void {
    const at = mapThread.at;
    if (at.kind !== 'map') return;
    const p = at.progress;
    let outcome: Outcome;
    if (p.failures > 0 && !this.tolerated(p)) {
      outcome =
        p.toleratedFailureCount > 0 || p.toleratedFailurePercentage > 0
          ? { ok: false, error: StatesErrorName.ExceedToleratedFailureThreshold, cause: 'The specified tolerated failure threshold was exceeded' }
          : outcomeOf(p.firstFailure as ThreadResult);
    } else outcome = { ok: true, result: p.results };
    if (p.distributed) this.record(mapThread, outcome.ok ? { type: 'MapRunSucceeded' } : { type: 'MapRunFailed', details: { mapRunFailedEventDetails: {} } });
    this.resume(mapThread, outcome);
  }

  private resume(thread: ThreadRecord, outcome: Outcome): void {
    const at = thread.at;
    if (at.kind !== 'map' && at.kind !== 'parallel') return;
    thread.at = { kind: 'resume', enteredEventId: at.enteredEventId, suspension: at.suspension, op: 'outcome', outcome };
    this.rt.ready.push(thread.id);
  }

  /** Removes a thread and everything it spawned; their open tasks are closed (their tokens refused). */
  private abortThread(id: number): void {
    const doomed = new Set<number>([id]);
    let grew = true;
    while (grew) {
      grew = false;
      for (const t of Object.values(this.rt.threads)) {
        if (t.parent !== undefined && doomed.has(t.parent) && !doomed.has(t.id)) {
          doomed.add(t.id);
          grew = true;
        }
      }
    }
    for (const doomedId of doomed) {
      const t = this.thread(doomedId);
      if (!t) continue;
      if (t.at.kind === 'task') this.closeTask(t.at.token);
      delete this.rt.threads[String(doomedId)];
    }
  }

  /** A thread ended: end the execution, or report to the Map or Parallel that spawned it. */
  private complete(thread: ThreadRecord, result: ThreadResult): void {
    delete this.rt.threads[String(thread.id)];
    if (thread.role.kind === 'root') {
      if (result.ok) {
        const output = toJson(result.output);
        this.endExecution(
          { status: 'SUCCEEDED', output },
          { type: 'ExecutionSucceeded', details: { executionSucceededEventDetails: { output, outputDetails: { truncated: false } } } },
        );
        return;
      }
      const details: Record<string, string> = {};
      const end: NonNullable<Advance['end']> = { status: 'FAILED' };
      if (result.error !== undefined) details.error = end.error = result.error;
      if (result.cause !== undefined) details.cause = end.cause = result.cause;
      this.rt.threads[String(thread.id)] = thread;
      this.endExecution(end, { type: 'ExecutionFailed', details: { executionFailedEventDetails: details } });
      return;
    }
    const parent = this.thread(thread.parent as number);
    if (!parent) return;
    if (thread.role.kind === 'branch' && parent.at.kind === 'parallel') {
      const at = parent.at;
      integrateCursor(parent.cursor, thread.cursor);
      at.pending--;
      if (result.ok) at.results[thread.role.index] = result.output;
      else if (!at.failure) {
        // AWS fails the Parallel at once and stops the branches still running.
        at.failure = result;
        for (const id of at.children) this.abortThread(id);
        return this.resume(parent, outcomeOf(result));
      }
      if (at.pending === 0) this.resume(parent, { ok: true, result: at.results });
      return;
    }
    if (thread.role.kind === 'iteration' && parent.at.kind === 'map') {
      const p = parent.at.progress;
      const worker = p.workers[thread.role.worker] as EventCursor;
      const details = { index: thread.role.index, name: parent.at.suspension.stateName };
      p.active--;
      if (result.ok) {
        p.results[thread.role.index] = result.output;
        this.record(thread, { type: 'MapIterationSucceeded', details: { mapIterationSucceededEventDetails: details }, link: 'keepSource' });
        integrateCursor(worker, thread.cursor);
        if (p.next < p.items.length && !p.stop) return this.startJob(parent, thread.role.worker);
        worker.source = thread.cursor.last;
      } else {
        this.record(thread, { type: 'MapIterationFailed', details: { mapIterationFailedEventDetails: details }, link: 'keepSource' });
        integrateCursor(worker, thread.cursor);
        p.failures++;
        p.firstFailure ??= result;
        if (!this.tolerated(p)) {
          // Over the threshold the Map fails at once: iterations still running are aborted.
          p.stop = true;
          for (const sibling of Object.values(this.rt.threads)) {
            if (sibling.parent !== parent.id || sibling.role.kind !== 'iteration') continue;
            const siblingDetails = { index: sibling.role.index, name: parent.at.suspension.stateName };
            this.record(sibling, { type: 'MapIterationAborted', details: { mapIterationAbortedEventDetails: siblingDetails }, link: 'keepSource' });
            this.abortThread(sibling.id);
            p.active--;
          }
        } else if (p.next < p.items.length) return this.startJob(parent, thread.role.worker);
      }
      integrateCursor(parent.cursor, worker);
      if (p.active === 0 && (p.stop || p.next >= p.items.length)) this.finishMap(parent);
    }
  }
}

function outcomeOf(result: ThreadResult): Outcome {
  if (result.ok) return { ok: true, result: result.output };
  const out: Outcome = { ok: false, error: result.error ?? '' };
  if (result.cause !== undefined) out.cause = result.cause;
  return out;
}

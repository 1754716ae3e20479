/**
 * The durable engine: runs executions of the ASL interpreter on a {@link Store}, one commit per
 * advance. Every wake-up — a start, a Wait or Retry timer, a task's start, outcome, heartbeat
 * or timeout, a stop — is an inbox row with a due time; the engine loop takes due rows, advances
 * each execution through them, and commits the new runtime, history events, timers and tasks
 * together with the deletion of the rows it consumed. A crash at any moment therefore loses
 * nothing acknowledged and applies nothing twice: whatever was not committed is still in the
 * inbox and is advanced again after a restart.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { advance, machineIndex, newRuntime, parseRuntime, serializeRuntime } from '../asl/interpreter.ts';
import type { Advance, ExecutionRuntime, TaskRequest, TaskTiming, TimerRequest, Wake } from '../asl/interpreter.ts';
import { compileMachine, parseDefinition } from '../asl/compile.ts';
import type { CompiledMachine } from '../asl/compile.ts';
import { isActivityArn } from '../asl/task-events.ts';
import { StatesErrorName } from '../asl/errors.ts';
import { taskFailure } from '../asl/step.ts';
import type { Outcome } from '../asl/step.ts';
import type { AdvanceCommit, DbExecution, DbExecutionHead, DbHistoryEvent, DbInboxRow, NewInboxRow, Store } from '../store/store.ts';

/** A parsed runtime and what advancing it needs, valid while the row's version is `version`. */
interface CachedRuntime {
  version: number;
  rt: ExecutionRuntime;
  machines: ReadonlyMap<string, CompiledMachine>;
  input: unknown;
}

/** A task run in this process (any non-activity resource), e.g. for tests or built-in stages. */
export type LocalTaskHandler = (input: unknown, context: { token: string }) => Promise<unknown>;

/** What one committed advance did, for metrics (named after Step Functions' CloudWatch metrics). */
export interface AdvanceReport {
  executionArn: string;
  stateMachineArn: string;
  started: boolean;
  /** Set when the execution ended in this advance: its status and run time. */
  ended?: { status: string; seconds: number };
  transitions: number;
  /** Per task: schedule-to-start and run times (ActivityScheduleTime, ActivityRunTime). */
  taskTimings: TaskTiming[];
  /** The resource of every task scheduled in this advance. */
  scheduledResources: string[];
}

/** Options for {@link Engine}. */
export interface EngineOptions {
  /** Called after every committed advance (metrics). */
  onAdvance?: (report: AdvanceReport) => void;
  store: Store;
  region?: string;
  accountId?: string;
  now?: () => number;
  random?: () => number;
  /** Handlers by Task `Resource` for non-activity resources. */
  handlers?: Record<string, LocalTaskHandler>;
  /** AWS-compatible mode: refuse payloads over 256 KB with `States.DataLimitExceeded`. */
  payloadLimitBytes?: number;
  /** How many inbox rows one loop iteration takes. */
  batchSize?: number;
}

/** AWS's price per state transition (Standard workflows, $0.025 per 1,000). */
export const PRICE_PER_TRANSITION_USD = 0.000025;

/** The unguessable token format: 256 random bits, base64url. */
export function newTaskToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Whether a string could be one of our task tokens. */
export function isWellFormedToken(token: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(token);
}

/** After an advance throws, its execution waits this long before the next try, doubling each time. */
const FAILED_ADVANCE_FIRST_DELAY_MS = 500;
const FAILED_ADVANCE_MAX_DELAY_MS = 60_000;

/** See the module comment. */
export class Engine {
  readonly store: Store;
  readonly region: string;
  readonly accountId: string;
  readonly now: () => number;
  private readonly random: () => number;
  private readonly handlers: Record<string, LocalTaskHandler>;
  readonly payloadLimitBytes: number | undefined;
  private readonly batchSize: number;
  private readonly compiled = new Map<string, ReadonlyMap<string, CompiledMachine>>();
  /** Activity ARN → emits 'task' when a task is queued; 'wake' when the inbox has due work. */
  readonly signals = new EventEmitter();
  private running = false;
  private loopDone: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private readonly localTasks = new Set<Promise<void>>();
  private readonly onAdvance: ((report: AdvanceReport) => void) | undefined;

  constructor(options: EngineOptions) {
    this.store = options.store;
    this.region = options.region ?? 'us-east-1';
    this.accountId = options.accountId ?? '123456789012';
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.handlers = options.handlers ?? {};
    this.payloadLimitBytes = options.payloadLimitBytes;
    this.batchSize = options.batchSize ?? 256;
    this.onAdvance = options.onAdvance;
    this.signals.setMaxListeners(0);
  }

  /** The ARN prefix of this engine's resources, e.g. `arn:aws:states:us-east-1:123:`. */
  arnPrefix(): string {
    return `arn:aws:states:${this.region}:${this.accountId}:`;
  }

  /** Starts the loop, and re-runs in-process tasks that were open when the last process died. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    // Tasks another engine on the same database scheduled reach this one's long-polls at once.
    this.stopListening = await this.store.listen?.((wake) => this.signals.emit(`task:${wake.activityArn}`));
    for (const task of await this.store.openTasksOfResources(`${this.arnPrefix()}activity:`)) {
      this.runLocalTask({ threadId: 0, token: task.token, resource: task.activity_arn, input: JSON.parse(task.input) }, task.execution_arn);
    }
    this.loopDone = this.loop();
  }

  /** Stops the loop after the advance in progress; waits for in-process tasks to settle. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.stopListening?.();
    this.stopListening = undefined;
    await this.loopDone;
    await Promise.allSettled([...this.localTasks]);
  }

  /** Executions whose last advance threw, and when to try them again. */
  private readonly failing = new Map<string, { retryAt: number; delayMs: number }>();

  /** Stops the store's announcements of other engines' tasks, when it makes them. */
  private stopListening: (() => Promise<void>) | undefined;

  /** Set when woken while not sleeping, so a wake between a check and the sleep is not lost. */
  private wokenMeanwhile = false;

  /** Tells the loop there may be due work now. */
  wake(): void {
    const wakeUp = this.wakeUp;
    this.wakeUp = undefined;
    this.sleepUntil = undefined;
    if (wakeUp) wakeUp();
    else this.wokenMeanwhile = true;
  }

  /** When the sleeping loop's timer fires; undefined while the loop is awake. */
  private sleepUntil: number | undefined;

  /**
   * Tells the loop there is due work that may wait up to `ms`: work that arrives meanwhile (a
   * task's outcome, most often) is then folded into the same advance. A task's start is such
   * work: its ActivityStarted event and heartbeat timer need not cost an advance of their own.
   */
  wakeWithin(ms: number): void {
    if (this.sleepUntil === undefined) return; // awake: it takes every due row on its next pass
    const at = Date.now() + ms;
    if (at >= this.sleepUntil) return;
    this.sleepUntil = at;
    this.rearm?.(ms);
  }

  private rearm: ((ms: number) => void) | undefined;

  private async loop(): Promise<void> {
    while (this.running) {
      this.wokenMeanwhile = false;
      const rows = await this.store.dueInbox(this.now(), this.batchSize);
      if (rows.length === 0) {
        if (this.wokenMeanwhile || !this.running) continue;
        const next = await this.store.nextDue();
        const delay = next === undefined ? 1000 : Math.min(1000, Math.max(0, next - this.now()));
        await new Promise<void>((resolve) => {
          let timer = setTimeout(resolve, delay);
          this.sleepUntil = Date.now() + delay;
          this.rearm = (ms) => {
            clearTimeout(timer);
            timer = setTimeout(resolve, ms);
          };
          this.wakeUp = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.sleepUntil = undefined;
        this.rearm = undefined;
        // A wake comes from a request handler; requests read in the same I/O phase (other
        // workers' SendTaskSuccess) are still to run. Letting them in first folds their
        // completions into one advance instead of one advance each.
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      const byExecution = new Map<string, DbInboxRow[]>();
      for (const row of rows) {
        const list = byExecution.get(row.execution_arn) ?? [];
        list.push(row);
        byExecution.set(row.execution_arn, list);
      }
      let advanced = 0;
      for (const [arn, list] of byExecution) {
        const failing = this.failing.get(arn);
        if (failing !== undefined && failing.retryAt > Date.now()) continue;
        advanced++;
        try {
          await this.advanceExecution(arn, list);
          this.failing.delete(arn);
        } catch (e) {
          // An advance that cannot run is a bug (or a value the store refuses), not a reason to
          // stop every other execution, nor to retry it as fast as the loop turns.
          const delayMs = Math.min(2 * (failing?.delayMs ?? FAILED_ADVANCE_FIRST_DELAY_MS / 2), FAILED_ADVANCE_MAX_DELAY_MS);
          this.failing.set(arn, { retryAt: Date.now() + delayMs, delayMs });
          console.error(`inlet engine: advancing ${arn} failed (next try in ${delayMs} ms):`, e);
        }
        // SQLite calls are synchronous: let HTTP requests, heartbeats and pollers in between executions.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      // Everything due belongs to executions waiting out a failure: wait too, not spin.
      if (advanced === 0) await new Promise<void>((resolve) => setTimeout(resolve, 100));
    }
  }

  /** The compiled machines of a definition text, cached. */
  machinesOf(definition: string): ReadonlyMap<string, CompiledMachine> {
    let machines = this.compiled.get(definition);
    if (!machines) {
      machines = machineIndex(compileMachine(parseDefinition(definition)));
      if (this.compiled.size > 256) this.compiled.clear();
      this.compiled.set(definition, machines);
    }
    return machines;
  }

  /**
   * Running executions' runtimes as parsed objects, keyed by ARN and checked against the row's
   * version, so an advance does not re-parse a large runtime it wrote itself a moment ago.
   */
  private readonly runtimes = new Map<string, CachedRuntime>();

  private async loadRuntime(arn: string): Promise<{ head: DbExecutionHead; cached: CachedRuntime } | undefined> {
    const head = await this.store.getExecutionHead(arn);
    if (!head) return undefined;
    let cached = this.runtimes.get(arn);
    if (!cached || cached.version !== head.version) {
      const full = await this.store.getExecution(arn);
      if (!full) return undefined;
      cached = {
        version: full.version,
        rt: parseRuntime(full.runtime),
        machines: this.machinesOf(full.definition),
        input: JSON.parse(full.input) as unknown,
      };
      if (this.runtimes.size >= 10_000) this.runtimes.clear();
      this.runtimes.set(arn, cached);
    }
    return { head, cached };
  }

  private async advanceExecution(arn: string, unordered: DbInboxRow[]): Promise<void> {
    // Answers the API already acknowledged (a task's start or outcome) come before timers of the
    // same batch: a worker told "accepted" must see its result applied, not a timeout after it.
    const rank = (row: DbInboxRow) => (row.kind === 'taskStarted' ? 0 : row.kind === 'taskDone' ? 1 : 2);
    const loaded = await this.loadRuntime(arn);
    if (!loaded) return;
    const { head: execution, cached } = loaded;
    // Starts of claimed tasks not yet due ride along; only an execution with open tasks has any.
    const taken = new Set(unordered.map((row) => row.id));
    const early = Object.keys(cached.rt.tasks).length === 0 ? [] : (await this.store.taskStartsOf(arn)).filter((row) => !taken.has(row.id));
    const rows = [...unordered, ...early].sort((a, b) => rank(a) - rank(b) || a.due_ms - b.due_ms || a.id - b.id);
    // The cached runtime is changed in place; until the commit succeeds it is not to be trusted.
    this.runtimes.delete(arn);
    const consumed = rows.map((r) => r.id);
    const rt = cached.rt;
    const expectedTransitions = execution.transitions;
    const total: Advance = { events: [], timers: [], tasks: [], closedTokens: [], taskTimings: [] };
    const timedOut = new Set<string>();
    if (execution.status === 'RUNNING') {
      const machines = cached.machines;
      for (const row of rows) {
        const wake = JSON.parse(row.wake) as Wake;
        // A stopped runtime takes only a redrive; anything else queued for it is stale.
        if (rt.status !== 'RUNNING' && wake.kind !== 'redrive') continue;
        const out = await advance(rt, wake, {
          ...(this.payloadLimitBytes === undefined ? {} : { payloadLimitBytes: this.payloadLimitBytes }),
          machines,
          now: this.now(),
          random: this.random,
          newToken: newTaskToken,
          region: this.region,
          execution: {
            Id: execution.arn,
            Input: cached.input,
            StartTime: new Date(execution.start_ms).toISOString(),
            Name: execution.name,
            RoleArn: execution.role_arn,
            RedriveCount: execution.redrive_count,
          },
          stateMachine: { Id: execution.started_with_arn, Name: execution.state_machine_arn.split(':')[6] ?? '' },
        });
        for (const event of out.events) total.events.push(event);
        for (const timer of out.timers) total.timers.push(timer);
        for (const task of out.tasks) total.tasks.push(task);
        for (const token of out.closedTokens) total.closedTokens.push(token);
        // Only a timer that actually closed its task timed it out (an answer may have closed it first).
        if (wake.kind === 'timer' && wake.timer.token && out.closedTokens.includes(wake.timer.token)) timedOut.add(wake.timer.token);
        for (const timing of out.taskTimings) total.taskTimings.push(timing);
        if (out.end) total.end ??= out.end;
      }
    }
    const commit: AdvanceCommit = {
      executionArn: arn,
      expectedVersion: execution.version,
      execution: {
        status: rt.status,
        runtime: serializeRuntime(rt),
        transitions: rt.transitions,
        output: total.end?.output ?? execution.output,
        error: total.end?.error ?? execution.error,
        cause: total.end?.cause ?? execution.cause,
        stop_ms: total.end ? this.now() : execution.stop_ms,
      },
      events: total.events.map((e) => toDbEvent(arn, e)),
      consumedInbox: consumed,
      newInbox: total.timers.map((t) => timerRow(arn, t)),
      newTasks: total.tasks.map((t) => ({
        token: t.token,
        activity_arn: t.resource,
        execution_arn: arn,
        input: JSON.stringify(t.input ?? null),
        status: 'scheduled' as const,
        created_ms: this.now(),
        heartbeat_seconds: t.heartbeatSeconds ?? null,
      })),
      closedTasks: total.closedTokens.map((token) => ({ token, reason: timedOut.has(token) ? 'timed_out' : 'aborted' })),
    };
    if (!(await this.store.commitAdvance(commit))) return;
    if (rt.status === 'RUNNING') this.runtimes.set(arn, { ...cached, version: execution.version + 1 });
    if (this.onAdvance) {
      const report: AdvanceReport = {
        executionArn: arn,
        stateMachineArn: execution.state_machine_arn,
        started: total.events.some((e) => e.type === 'ExecutionStarted'),
        transitions: rt.transitions - expectedTransitions,
        taskTimings: total.taskTimings,
        scheduledResources: total.tasks.map((t) => t.resource),
      };
      if (total.end) report.ended = { status: total.end.status, seconds: (this.now() - execution.start_ms) / 1000 };
      this.onAdvance(report);
    }
    const queued = new Set<string>();
    for (const task of total.tasks) {
      if (isActivityArn(task.resource)) queued.add(task.resource);
      else this.runLocalTask(task, arn);
    }
    for (const activityArn of queued) this.signals.emit(`task:${activityArn}`);
    if (total.end) this.signals.emit(`end:${arn}`, total.end);
  }

  /** Runs an in-process task handler and reports its outcome like a worker would. */
  private runLocalTask(task: TaskRequest, executionArn: string): void {
    const callback = task.resource.endsWith('.waitForTaskToken');
    const resource = callback ? task.resource.slice(0, -'.waitForTaskToken'.length) : task.resource;
    const handler = this.handlers[resource] ?? this.handlers[task.resource];
    const work = (async () => {
      await this.store.claimActivityTask(task.resource, 'inlet-local', this.now());
      this.wake();
      let outcome: Outcome;
      if (!handler) {
        outcome = { ok: false, error: StatesErrorName.Runtime, cause: `No handler for resource '${task.resource}'` };
      } else {
        try {
          const result = await handler(task.input, { token: task.token });
          if (callback) return; // completed later through SendTaskSuccess/Failure with the token
          outcome = { ok: true, result };
        } catch (e) {
          outcome = taskFailure(e);
        }
      }
      await this.completeTask(task.token, outcome, executionArn);
    })().catch((e: unknown) => console.error('inlet engine: local task failed to report:', e));
    this.localTasks.add(work);
    void work.finally(() => this.localTasks.delete(work));
  }

  /** Closes an open task with its outcome and queues the wake-up; false if it was not open. */
  async completeTask(token: string, outcome: Outcome, executionArn: string): Promise<boolean> {
    const closed = await this.store.closeActivityTask(token, outcome.ok ? 'succeeded' : 'failed', {
      execution_arn: executionArn,
      due_ms: this.now(),
      token: null,
      kind: 'taskDone',
      wake: JSON.stringify({ kind: 'taskDone', token, outcome } satisfies Wake),
    });
    if (closed) this.wake();
    return closed;
  }

  /** Creates an execution row with its start (and timeout) wake-ups, atomically. */
  async insertExecution(execution: DbExecution, timeoutSeconds: number | undefined): Promise<boolean> {
    const inbox: NewInboxRow[] = [
      {
        execution_arn: execution.arn,
        due_ms: execution.start_ms,
        token: null,
        kind: 'start',
        wake: JSON.stringify({ kind: 'start', input: execution.input, roleArn: execution.role_arn } satisfies Wake),
      },
    ];
    if (timeoutSeconds !== undefined) {
      inbox.push({
        execution_arn: execution.arn,
        due_ms: execution.start_ms + timeoutSeconds * 1000,
        token: null,
        kind: 'timeout',
        wake: JSON.stringify({ kind: 'timeout' } satisfies Wake),
      });
    }
    const inserted = await this.store.insertExecution({ ...execution, runtime: JSON.stringify(newRuntime()) }, inbox);
    if (inserted) this.wake();
    return inserted;
  }

  /** Queues a stop for a running execution. */
  async requestStop(executionArn: string, error: string | undefined, cause: string | undefined): Promise<void> {
    const wake: Wake = { kind: 'stop' };
    if (error !== undefined) wake.error = error;
    if (cause !== undefined) wake.cause = cause;
    await this.store.addInbox([{ execution_arn: executionArn, due_ms: this.now(), token: null, kind: 'stop', wake: JSON.stringify(wake) }]);
    this.wake();
  }

  /** Resolves when the execution has ended (or at once if it has). */
  async waitForEnd(executionArn: string, timeoutMs = 60_000): Promise<DbExecution> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const execution = await this.store.getExecution(executionArn);
      if (!execution) throw new Error(`no execution ${executionArn}`);
      if (execution.status !== 'RUNNING') return execution;
      const left = deadline - Date.now();
      if (left <= 0) return execution;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          this.signals.off(`end:${executionArn}`, done);
          resolve();
        }, Math.min(left, 200));
        this.signals.once(`end:${executionArn}`, done);
      });
    }
  }
}

function toDbEvent(arn: string, e: Advance['events'][number]): DbHistoryEvent {
  const { timestamp, type, id, previousEventId, ...details } = e;
  return {
    execution_arn: arn,
    id,
    type,
    timestamp_ms: timestamp.getTime(),
    previous_event_id: previousEventId,
    details: Object.keys(details).length > 0 ? JSON.stringify(details) : null,
  };
}

function timerRow(arn: string, timer: TimerRequest): NewInboxRow {
  return {
    execution_arn: arn,
    due_ms: timer.due,
    token: timer.token ?? null,
    kind: timer.kind,
    wake: JSON.stringify({ kind: 'timer', timer } satisfies Wake),
  };
}

/**
 * The activity worker runtime: handlers registered per activity, each activity polled by its own
 * set of pollers, so `pollers` bounds how many of its tasks run here at once — a poller takes a
 * task only when it is free, which is the back-pressure Step Functions expects from workers.
 *
 * While a handler runs, the worker heartbeats on its own, so a long handler is not mistaken for a
 * dead worker; when a heartbeat is refused (the task timed out or its execution stopped) the
 * handler's `signal` aborts and nothing is reported. A handler's result becomes SendTaskSuccess,
 * a thrown error SendTaskFailure with the error's name and message only (never its stack or the
 * task's data). Stopping aborts the long polls at once but lets running handlers finish and
 * report, so a deploy that sends SIGTERM loses no work.
 *
 * It talks only through {@link ActivityApi}; see `activity-api.ts` for why.
 */
import { hostname } from 'node:os';
import type { ActivityApi } from './activity-api.ts';

/** AWS's limits on SendTaskFailure's fields, in characters. */
export const MAX_ERROR_LENGTH = 256;
/** See {@link MAX_ERROR_LENGTH}. */
export const MAX_CAUSE_LENGTH = 32_768;
/** AWS's limit on GetActivityTask's workerName. */
const MAX_WORKER_NAME_LENGTH = 80;

/** What a handler gets besides its input. */
export interface ActivityContext {
  readonly activityArn: string;
  readonly taskToken: string;
  readonly workerName: string;
  /**
   * Aborted when the task is lost: a heartbeat was refused because the task timed out, or its
   * execution was stopped. A long handler should give up then; its result would be refused.
   */
  readonly signal: AbortSignal;
}

/** Runs one task: the parsed input in, the JSON-serialisable output out; throw to fail the task. */
export type ActivityHandler<I = unknown, O = unknown> = (input: I, context: ActivityContext) => Promise<O> | O;

/** Per-activity settings; each falls back to the worker's. */
export interface ActivityOptions {
  /** Concurrent pollers, hence the most tasks of this activity running here at once. */
  pollers?: number;
  /**
   * Seconds between automatic heartbeats while a handler runs (fractions allowed; 0 turns them
   * off). The worker cannot see the state's HeartbeatSeconds, so set this to at most a third of
   * it: one lost or slow heartbeat must not time the task out.
   */
  heartbeatIntervalSeconds?: number;
}

/** Where the worker reports trouble it recovers from; error names and messages only. */
export interface WorkerLogger {
  warn(message: string): void;
  error(message: string): void;
}

/** Options for {@link Worker}. */
export interface WorkerOptions extends ActivityOptions {
  api: ActivityApi;
  /** Shown in ActivityStarted events; `<host>-<pid>` by default. */
  workerName?: string;
  /**
   * Lets handlers be registered by activity name: the ARN is this prefix plus the name, e.g.
   * `arn:aws:states:us-east-1:123456789012:activity:`.
   */
  activityArnPrefix?: string;
  logger?: WorkerLogger;
  /** Attempts at delivering a task's result when the API is unreachable (default 5). */
  reportAttempts?: number;
}

/**
 * The worker's lifecycle:
 * - `idle` → `running` on {@link Worker.start};
 * - `running` → `stopping` on {@link Worker.stop} (or a signal): polls are aborted, handlers go on;
 * - `stopping` → `stopped` when every poller has ended, i.e. every claimed task was reported;
 * - `stopped` → `running` on another start.
 */
export const WorkerState = {
  Idle: 'idle',
  Running: 'running',
  Stopping: 'stopping',
  Stopped: 'stopped',
} as const;
/** See {@link WorkerState}. */
export type WorkerState = (typeof WorkerState)[keyof typeof WorkerState];

interface Registration {
  activityArn: string;
  /** The handler, given the task's input text (parsed here, so a handler's input type needs no cast). */
  run(input: string, context: ActivityContext): unknown;
  pollers: number;
  heartbeatMs: number;
}

const DEFAULT_POLLERS = 1;
const DEFAULT_HEARTBEAT_SECONDS = 10;
const MAX_POLL_BACKOFF_MS = 30_000;
/** Refusals meaning the task is no longer ours: retrying or reporting is pointless. */
const TASK_GONE = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);
/** Refusals of a result itself: reported as the task's failure instead, so it does not hang. */
const RESULT_REFUSED = new Set(['InvalidOutput', 'ValidationException']);

/** See the module comment. */
export class Worker {
  private readonly api: ActivityApi;
  readonly workerName: string;
  private readonly activityArnPrefix: string | undefined;
  private readonly defaults: Required<ActivityOptions>;
  private readonly logger: WorkerLogger;
  private readonly reportAttempts: number;
  private readonly registrations = new Map<string, Registration>();
  private currentState: WorkerState = WorkerState.Idle;
  private pollAbort = new AbortController();
  private pollersDone: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | undefined;
  private running = 0;

  constructor(options: WorkerOptions) {
    this.api = options.api;
    this.workerName = (options.workerName ?? `${hostname()}-${process.pid}`).slice(0, MAX_WORKER_NAME_LENGTH);
    this.activityArnPrefix = options.activityArnPrefix;
    this.defaults = {
      pollers: positiveInteger(options.pollers ?? DEFAULT_POLLERS, 'pollers'),
      heartbeatIntervalSeconds: heartbeatSeconds(options.heartbeatIntervalSeconds ?? DEFAULT_HEARTBEAT_SECONDS),
    };
    this.logger = options.logger ?? { warn: (m) => console.warn(m), error: (m) => console.error(m) };
    this.reportAttempts = positiveInteger(options.reportAttempts ?? 5, 'reportAttempts');
  }

  /** Where the worker is in its lifecycle. */
  get state(): WorkerState {
    return this.currentState;
  }

  /** How many handlers are running now. */
  get inFlight(): number {
    return this.running;
  }

  /**
   * Handles tasks of an activity, given by ARN, or by name with `activityArnPrefix`. Register
   * before {@link start}; one handler per activity.
   */
  register<I = unknown, O = unknown>(activity: string, handler: ActivityHandler<I, O>, options: ActivityOptions = {}): this {
    if (this.currentState !== WorkerState.Idle) throw new Error('register handlers before starting the worker');
    const activityArn = this.resolveArn(activity);
    if (this.registrations.has(activityArn)) throw new Error(`a handler for ${activityArn} is already registered`);
    this.registrations.set(activityArn, {
      activityArn,
      run: (input, context) => handler(JSON.parse(input), context),
      pollers: positiveInteger(options.pollers ?? this.defaults.pollers, 'pollers'),
      heartbeatMs: heartbeatSeconds(options.heartbeatIntervalSeconds ?? this.defaults.heartbeatIntervalSeconds) * 1000,
    });
    return this;
  }

  private resolveArn(activity: string): string {
    if (activity.startsWith('arn:')) return activity;
    if (this.activityArnPrefix === undefined) {
      throw new Error(`'${activity}' is not an activity ARN; give the worker an activityArnPrefix to register by name`);
    }
    return `${this.activityArnPrefix}${activity}`;
  }

  /** Starts polling every registered activity. */
  start(): void {
    if (this.currentState === WorkerState.Running || this.currentState === WorkerState.Stopping) {
      throw new Error(`the worker is ${this.currentState}`);
    }
    if (this.registrations.size === 0) throw new Error('register at least one activity handler before starting');
    this.pollAbort = new AbortController();
    this.stopping = undefined;
    this.setState(WorkerState.Running);
    const loops: Promise<void>[] = [];
    for (const registration of this.registrations.values()) {
      for (let i = 0; i < registration.pollers; i++) loops.push(this.pollLoop(registration));
    }
    this.pollersDone = Promise.all(loops).then(() => undefined);
  }

  /**
   * Starts, and resolves once the worker has stopped (through {@link stop} or a signal set up
   * with {@link stopOnSignals}) — the main loop of a worker process.
   */
  async run(): Promise<void> {
    this.start();
    await this.pollersDone;
    await this.stopping;
  }

  /**
   * Stops taking tasks and resolves once every task already taken has run and been reported.
   * Calling it again returns the same promise.
   */
  stop(): Promise<void> {
    if (this.currentState !== WorkerState.Running) return this.stopping ?? Promise.resolve();
    this.setState(WorkerState.Stopping);
    this.pollAbort.abort();
    this.stopping = this.pollersDone.then(() => this.setState(WorkerState.Stopped));
    return this.stopping;
  }

  /**
   * Stops gracefully on the first of these signals (SIGTERM and SIGINT by default). The handler is
   * installed once per signal, so a second signal gets Node's default and ends the process at
   * once — the way out when a handler hangs. Returns a function that removes the handlers.
   */
  stopOnSignals(signals: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): () => void {
    const onSignal = (signal: NodeJS.Signals) => {
      remove();
      this.logger.warn(`inlet worker: ${signal}: finishing ${this.running} running task(s), polling no more`);
      this.stop().catch((e: unknown) => this.logger.error(`inlet worker: stopping failed: ${describe(e)}`));
    };
    const remove = () => {
      for (const signal of signals) process.off(signal, onSignal);
    };
    for (const signal of signals) process.once(signal, onSignal);
    return remove;
  }

  /** The only place the state changes; see {@link WorkerState} for the transitions. */
  private setState(next: WorkerState): void {
    this.currentState = next;
  }

  private async pollLoop(registration: Registration): Promise<void> {
    const signal = this.pollAbort.signal;
    let failures = 0;
    while (!signal.aborted) {
      let task;
      try {
        task = await this.api.getActivityTask({ activityArn: registration.activityArn, workerName: this.workerName }, { signal });
        failures = 0;
      } catch (e) {
        if (signal.aborted) break;
        failures++;
        const delay = Math.min(MAX_POLL_BACKOFF_MS, 500 * 2 ** (failures - 1));
        this.logger.warn(`inlet worker: polling ${registration.activityArn} failed (${describe(e)}); retrying in ${delay} ms`);
        await sleep(delay, signal);
        continue;
      }
      // A task can arrive even as the poll is aborted; it is claimed, so it runs.
      if (task.taskToken) await this.runTask(registration, task.taskToken, task.input ?? 'null');
    }
  }

  private async runTask(registration: Registration, taskToken: string, input: string): Promise<void> {
    this.running++;
    const lost = new AbortController();
    const heartbeat = this.heartbeat(registration, taskToken, lost);
    let outcome: { ok: true; output: string } | { ok: false; error: string; cause: string };
    try {
      const result = await registration.run(input, {
        activityArn: registration.activityArn,
        taskToken,
        workerName: this.workerName,
        signal: lost.signal,
      });
      outcome = { ok: true, output: JSON.stringify(result) ?? 'null' };
    } catch (e) {
      outcome = { ok: false, ...taskFailureOf(e) };
    }
    try {
      await heartbeat.stop();
      if (lost.signal.aborted) {
        this.logger.warn(`inlet worker: a task of ${registration.activityArn} was lost before it finished (${describe(lost.signal.reason)}); its result is dropped`);
        return;
      }
      await this.report(registration, taskToken, outcome);
    } finally {
      this.running--;
    }
  }

  /** Heartbeats every interval until stopped or refused; a refusal aborts `lost`. */
  private heartbeat(registration: Registration, taskToken: string, lost: AbortController): { stop(): Promise<void> } {
    if (registration.heartbeatMs === 0) return { stop: async () => undefined };
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let beating: Promise<void> = Promise.resolve();
    const beat = async () => {
      try {
        await this.api.sendTaskHeartbeat({ taskToken });
      } catch (e) {
        if (TASK_GONE.has(errorName(e))) {
          lost.abort(e);
          return;
        }
        this.logger.warn(`inlet worker: heartbeat for ${registration.activityArn} failed (${describe(e)})`);
      }
      if (!stopped) schedule();
    };
    const schedule = () => {
      timer = setTimeout(() => {
        beating = beat();
      }, registration.heartbeatMs);
    };
    schedule();
    return {
      async stop() {
        stopped = true;
        clearTimeout(timer);
        await beating;
      },
    };
  }

  /** Delivers a result, retrying while the API is unreachable; gives up once the task is gone. */
  private async report(
    registration: Registration,
    taskToken: string,
    outcome: { ok: true; output: string } | { ok: false; error: string; cause: string },
  ): Promise<void> {
    let current = outcome;
    for (let attempt = 1; ; attempt++) {
      try {
        if (current.ok) await this.api.sendTaskSuccess({ taskToken, output: current.output });
        else await this.api.sendTaskFailure({ taskToken, error: current.error, cause: current.cause });
        return;
      } catch (e) {
        const name = errorName(e);
        if (TASK_GONE.has(name)) {
          this.logger.warn(`inlet worker: the result of a task of ${registration.activityArn} was refused (${describe(e)})`);
          return;
        }
        if (current.ok && RESULT_REFUSED.has(name)) {
          current = { ok: false, ...taskFailureOf(e) };
          continue;
        }
        if (attempt >= this.reportAttempts) {
          this.logger.error(`inlet worker: giving up reporting a task of ${registration.activityArn} (${describe(e)}); its timeout will retry it`);
          return;
        }
        await sleep(Math.min(5000, 100 * 2 ** (attempt - 1)));
      }
    }
  }
}

/**
 * The `error` and `cause` SendTaskFailure gets for a thrown value: an `error` string property or
 * the error's `name`, and its `message`, cut to AWS's lengths. Nothing else of the error (stack,
 * own properties) leaves the process.
 */
export function taskFailureOf(thrown: unknown): { error: string; cause: string } {
  let error = 'Error';
  let cause: string;
  if (typeof thrown === 'object' && thrown !== null) {
    if ('error' in thrown && typeof thrown.error === 'string' && thrown.error !== '') error = thrown.error;
    else if ('name' in thrown && typeof thrown.name === 'string' && thrown.name !== '') error = thrown.name;
    cause = 'message' in thrown && typeof thrown.message === 'string' ? thrown.message : String(thrown);
  } else {
    cause = String(thrown);
  }
  return { error: truncate(error, MAX_ERROR_LENGTH), cause: truncate(cause, MAX_CAUSE_LENGTH) };
}

/** Cuts to `max` UTF-16 units without leaving half a surrogate pair. */
function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

function errorName(e: unknown): string {
  return typeof e === 'object' && e !== null && 'name' in e && typeof e.name === 'string' ? e.name : '';
}

function describe(e: unknown): string {
  const { error, cause } = taskFailureOf(e);
  return `${error}: ${cause}`;
}

/** Waits, ending early (without throwing) when the signal aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done);
  });
}

function positiveInteger(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${what} must be a positive integer, got ${value}`);
  return value;
}

function heartbeatSeconds(value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`heartbeatIntervalSeconds must be 0 or more, got ${value}`);
  return value;
}

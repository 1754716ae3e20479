/**
 * The Step Functions HTTP API bench: what a worker on another machine gets from Inlet's engine
 * through the real `@aws-sdk/client-sfn`, next to the same work called in process. Workers talk
 * to the engine only through this API, so its round trip is what a sync's Prepare fan-out waits
 * on. Measured in one run:
 *
 * - activity round trips per second with 8 concurrent pollers (`GetActivityTask` →
 *   `SendTaskSuccess` → poll again) draining one execution of a Map (MaxConcurrency 8) whose
 *   iterations are each one activity Task, and the latency from a `SendTaskSuccess` call to the
 *   task it made room for reaching a poller; over HTTP and in process, interleaved run by run;
 * - the same with one poller and MaxConcurrency 1: the latency floor, with nothing queued;
 * - accepted `StartExecution` requests per second with 16 requests in flight, of a one-Pass
 *   machine whose executions run meanwhile; over HTTP and in process.
 *
 * The HTTP server (engine, SQLite file, `startSfnServer` with SigV4) runs in a child process
 * (`bench/api-server.ts`) so that client and server do not share one event loop; the clients use
 * a keep-alive agent. Set `INLET_BENCH_API_CPU_PROF=<dir>` to have the child write a V8 CPU
 * profile there. Every run checks the execution's output, transition count and history, so a
 * broken engine fails the bench instead of looking fast.
 *
 *   node --import tsx bench/index.ts --only api   or   node --import tsx bench/api.ts
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  CreateActivityCommand,
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  GetActivityTaskCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { Engine } from '../src/engine/engine.ts';
import { StepFunctions } from '../src/engine/step-functions.ts';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { activityMapDefinition, latencySummary, sendToNextTaskMs, successOrder, type HistoryItem } from './activity-map.ts';
import type { ApiServerKind, ApiServerMessage, ApiServerRequest } from './api-server.ts';
import { median, perSecond, progress, round } from './util.ts';

/** The goals of the issue (HTTP figures). */
const GOALS = { roundTripsPerSecond: 1000, latencyP50Ms: 10, startExecutionsPerSecond: 2000 } as const;

const POLLERS = 8;
const START_CONCURRENCY = 16;
/** Map items per measured activity run, and measured runs per side. */
const MAP_TASKS = 300;
const ACTIVITY_ROUNDS = 3;
const SERIAL_TASKS = 100;
/** Round trips of the floor run (no engine behind the server). */
const FLOOR_ROUND_TRIPS = 600;
/** A StartExecution window ends at whichever comes first. */
const START_WINDOW_MS = 2000;
const START_WINDOW_MAX = 2000;
const START_ROUNDS = 2;
/**
 * Warm-up until the serving process has spent this much CPU on a kind of work (not a fixed
 * count: a server still being compiled by V8 costs twice as much per request, and a busy machine
 * would shrink a wall-clock warm-up).
 */
const WARMUP_CPU_MS = { activity: 1500, start: 750 } as const;
const REGION = 'us-east-1';
const ROLE_ARN = 'arn:aws:iam::123456789012:role/inlet-bench';
/** The one-Pass machine of the StartExecution runs. */
const PASS_MACHINE = JSON.stringify({ StartAt: 'Done', States: { Done: { Type: 'Pass', End: true } } });

/**
 * What the runs need from a Step Functions API, implemented over HTTP with the SDK and in
 * process with {@link StepFunctions}, so both sides run exactly the same client loop.
 */
interface Api {
  /** `floor`: the SDK against a server that speaks the protocol with nothing behind it. */
  side: 'http' | 'inProcess' | 'floor';
  createActivity(name: string): Promise<string>;
  createStateMachine(name: string, definition: string): Promise<string>;
  startExecution(stateMachineArn: string, input: string): Promise<string>;
  getActivityTask(
    activityArn: string,
    workerName: string,
    signal: AbortSignal,
  ): Promise<{ taskToken?: string; input?: string }>;
  sendTaskSuccess(taskToken: string, output: string): Promise<void>;
  waitForEnd(executionArn: string): Promise<{ status: string; output?: string }>;
  historyPage(
    executionArn: string,
    nextToken?: string,
  ): Promise<{ events: HistoryItem[]; nextToken?: string }>;
  /** Whether the machine has any execution in `status`. */
  anyExecution(stateMachineArn: string, status: 'RUNNING' | 'FAILED'): Promise<boolean>;
  /** The serving process's CPU time so far (this process's, in process) and the advances its engine committed. */
  serverStats(): Promise<ServerStats>;
}

/** See {@link Api.serverStats}. */
interface ServerStats {
  cpuMs: number;
  advances: number;
}

function cpuMsOf(used: NodeJS.CpuUsage): number {
  return (used.user + used.system) / 1000;
}

// ---------------------------------------------------------------------------------------------
// The server child and the two API sides

/** The forked `bench/api-server.ts`. */
interface ServerChild {
  url: string;
  store?: { journalMode: string; synchronous: string };
  /** Unexpected errors the server reported (500s); checked after every phase. */
  errors: string[];
  stats(): Promise<ServerStats>;
  stop(): Promise<void>;
}

/** The access key the clients sign with and the server children accept, made for one run. */
interface BenchKey {
  keyId: string;
  secret: string;
}

async function startServerChild(kind: ApiServerKind, key: BenchKey): Promise<ServerChild> {
  const profileDir = process.env.INLET_BENCH_API_CPU_PROF;
  const child: ChildProcess = fork(fileURLToPath(new URL('./api-server.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx', ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])],
    env: {
      ...process.env,
      INLET_BENCH_API_KIND: kind,
      INLET_BENCH_KEY_ID: key.keyId,
      INLET_BENCH_SECRET: key.secret,
    },
    // The child's output goes to stderr, keeping stdout for the JSON report.
    stdio: ['ignore', 2, 2, 'ipc'],
  });
  const errors: string[] = [];
  const statsWaiters: ((stats: ServerStats) => void)[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const ready = new Promise<Extract<ApiServerMessage, { type: 'ready' }>>((resolve, reject) => {
    child.on('message', (message: ApiServerMessage) => {
      if (message.type === 'ready') resolve(message);
      else if (message.type === 'stats')
        statsWaiters.shift()?.({ cpuMs: message.cpuMs, advances: message.advances });
      else errors.push(message.message);
    });
    void exited.then((code) =>
      reject(new Error(`the ${kind} API server child exited with ${code} before it was ready`)),
    );
  });
  const request = (message: ApiServerRequest): void => {
    child.send(message);
  };
  const { url, store } = await ready;
  return {
    url,
    ...(store ? { store } : {}),
    errors,
    stats: () =>
      new Promise<ServerStats>((resolve) => {
        statsWaiters.push(resolve);
        request({ type: 'stats' });
      }),
    stop: async () => {
      request({ type: 'stop' });
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(killer);
      if (code !== 0) throw new Error(`the ${kind} API server child exited with ${code}`);
    },
  };
}

/** The SDK against the child's server: SigV4 with the test key, a keep-alive agent, no retries. */
function httpApi(server: ServerChild, key: BenchKey, side: 'http' | 'floor'): Api & { destroy(): void } {
  // 8 long polls and 8 sends in flight, or 16 StartExecutions: room for all of them at once.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const client = new SFNClient({
    endpoint: server.url,
    region: REGION,
    credentials: { accessKeyId: key.keyId, secretAccessKey: key.secret },
    // A failed request must fail the bench, not be retried into a slower number.
    maxAttempts: 1,
    requestHandler: { httpAgent: agent },
  });
  return {
    side,
    createActivity: async (name) =>
      (await client.send(new CreateActivityCommand({ name }))).activityArn ?? '',
    createStateMachine: async (name, definition) =>
      (await client.send(new CreateStateMachineCommand({ name, definition, roleArn: ROLE_ARN })))
        .stateMachineArn ?? '',
    startExecution: async (stateMachineArn, input) =>
      (await client.send(new StartExecutionCommand({ stateMachineArn, input }))).executionArn ?? '',
    getActivityTask: async (activityArn, workerName, signal) => {
      try {
        const out = await client.send(new GetActivityTaskCommand({ activityArn, workerName }), {
          abortSignal: signal,
        });
        return out.taskToken === undefined ? {} : { taskToken: out.taskToken, input: out.input ?? 'null' };
      } catch (e) {
        if (signal.aborted) return {};
        throw e;
      }
    },
    sendTaskSuccess: async (taskToken, output) => {
      await client.send(new SendTaskSuccessCommand({ taskToken, output }));
    },
    waitForEnd: async (executionArn) => {
      const deadline = Date.now() + 120_000;
      for (;;) {
        const out = await client.send(new DescribeExecutionCommand({ executionArn }));
        if (out.status !== 'RUNNING' || Date.now() > deadline) {
          return out.output === undefined
            ? { status: String(out.status) }
            : { status: String(out.status), output: out.output };
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    historyPage: async (executionArn, nextToken) => {
      const page = await client.send(
        new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, nextToken }),
      );
      const events = (page.events ?? []).map((e): HistoryItem => {
        const output = e.activitySucceededEventDetails?.output;
        return output === undefined ? { type: String(e.type) } : { type: String(e.type), output };
      });
      return page.nextToken === undefined ? { events } : { events, nextToken: page.nextToken };
    },
    anyExecution: async (stateMachineArn, statusFilter) =>
      (
        (await client.send(new ListExecutionsCommand({ stateMachineArn, statusFilter, maxResults: 1 })))
          .executions ?? []
      ).length > 0,
    serverStats: () => server.stats(),
    destroy: () => {
      client.destroy();
      agent.destroy();
    },
  };
}

/** The engine and API in this process, on a fresh SQLite file: the previous issue's setting. */
async function inProcessApi(): Promise<Api & { close(): Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'inlet-bench-api-local-'));
  const store = openSqliteStore(path.join(dir, 'engine.db'));
  let advances = 0;
  const engine = new Engine({ store, onAdvance: () => void advances++ });
  await engine.start();
  const sfn = new StepFunctions(engine);
  return {
    side: 'inProcess',
    createActivity: async (name) => (await sfn.createActivity({ name })).activityArn,
    createStateMachine: async (name, definition) =>
      (await sfn.createStateMachine({ name, definition, roleArn: ROLE_ARN })).stateMachineArn,
    startExecution: async (stateMachineArn, input) =>
      (await sfn.startExecution({ stateMachineArn, input })).executionArn,
    getActivityTask: async (activityArn, workerName, signal) => {
      const task = await sfn.getActivityTask({ activityArn, workerName }, { pollMs: 60_000, signal });
      return task.taskToken === undefined ? {} : { taskToken: task.taskToken, input: task.input };
    },
    sendTaskSuccess: async (taskToken, output) => {
      await sfn.sendTaskSuccess({ taskToken, output });
    },
    waitForEnd: async (executionArn) => {
      const end = await engine.waitForEnd(executionArn, 120_000);
      return end.output === null ? { status: end.status } : { status: end.status, output: end.output };
    },
    historyPage: async (executionArn, nextToken) => {
      const page = await sfn.getExecutionHistory(
        nextToken === undefined
          ? { executionArn, maxResults: 1000 }
          : { executionArn, maxResults: 1000, nextToken },
      );
      const events = page.events.map((e): HistoryItem => {
        const details = e.activitySucceededEventDetails;
        const output =
          details !== null &&
          typeof details === 'object' &&
          'output' in details &&
          typeof details.output === 'string'
            ? details.output
            : undefined;
        return output === undefined ? { type: e.type } : { type: e.type, output };
      });
      return page.nextToken === undefined ? { events } : { events, nextToken: page.nextToken };
    },
    anyExecution: async (stateMachineArn, statusFilter) =>
      (await sfn.listExecutions({ stateMachineArn, statusFilter, maxResults: 1 })).executions.length > 0,
    serverStats: () => Promise.resolve({ cpuMs: cpuMsOf(process.cpuUsage()), advances }),
    close: async () => {
      await engine.stop();
      await store.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Measuring

/** CPU used during a run, and the engine's committed advances. */
interface CpuSplit {
  /** The bench process: the SDK clients over HTTP; clients, engine and SQLite in process. */
  clientMs: number;
  /** The server child's CPU; absent in process, where it is part of `clientMs`. */
  serverMs?: number;
  totalMs: number;
  /** Advances the engine committed: fewer per task means completions were batched. */
  advances: number;
}

/** Starts counting CPU and advances; the returned function reads what was spent since. */
async function cpuMeter(api: Api): Promise<() => Promise<CpuSplit>> {
  const client = process.cpuUsage();
  const server = await api.serverStats();
  return async () => {
    const clientMs = round(cpuMsOf(process.cpuUsage(client)), 1);
    const now = await api.serverStats();
    const advances = now.advances - server.advances;
    if (api.side === 'inProcess') return { clientMs, totalMs: clientMs, advances };
    const serverMs = round(now.cpuMs - server.cpuMs, 1);
    return { clientMs, serverMs, totalMs: round(clientMs + serverMs, 1), advances };
  };
}

/** What one operation (a round trip, a StartExecution) cost on average. */
interface PerOperation {
  cpuMs: number;
  clientCpuMs: number;
  serverCpuMs?: number;
  advances: number;
}

function perOperation(cpu: CpuSplit, operations: number): PerOperation {
  const per = (value: number): number => round(value / operations, 3);
  const out: PerOperation = {
    cpuMs: per(cpu.totalMs),
    clientCpuMs: per(cpu.clientMs),
    advances: per(cpu.advances),
  };
  if (cpu.serverMs !== undefined) out.serverCpuMs = per(cpu.serverMs);
  return out;
}

interface ActivityRun {
  side: Api['side'];
  tasks: number;
  pollers: number;
  wallMs: number;
  roundTripsPerSecond: number;
  cpu: CpuSplit;
  perRoundTrip: PerOperation;
  /** Round trips per CPU second of client and server together: the rate with a core to spare. */
  roundTripsPerCpuSecond: number;
  latency: {
    /** SendTaskSuccess called → the task it made room for in a poller's hands: the goal's latency. */
    sendToNextTask: ReturnType<typeof latencySummary>;
    /** The SendTaskSuccess call alone. */
    sendTaskSuccessCall: ReturnType<typeof latencySummary>;
  };
}

/**
 * One execution of the activity Map over `tasks` items, drained by `pollers` pollers (the
 * machine's MaxConcurrency must equal `pollers`). Throughput is tasks over the time from the
 * first claim to the last acknowledged success.
 * Latency is matched by cause (`sendToNextTaskMs` in `bench/activity-map.ts`).
 */
async function activityRun(
  api: Api,
  stateMachineArn: string,
  activityArn: string,
  tasks: number,
  pollers: number,
): Promise<ActivityRun> {
  const items = Array.from({ length: tasks }, (_, n) => n);
  const stop = new AbortController();
  const sentAt = new Map<number, number>();
  const claimedAt = new Map<number, number>();
  const sendMs: number[] = [];
  let firstClaim = 0;
  let lastSend = 0;
  let completed = 0;
  const cpu = await cpuMeter(api);
  const poller = async (worker: number): Promise<void> => {
    while (!stop.signal.aborted) {
      const task = await api.getActivityTask(activityArn, `bench-${worker}`, stop.signal);
      if (task.taskToken === undefined) continue;
      const claimed = performance.now();
      if (claimedAt.size === 0) firstClaim = claimed;
      const item = JSON.parse(task.input ?? 'null') as number;
      claimedAt.set(item, claimed);
      const sending = performance.now();
      sentAt.set(item, sending);
      await api.sendTaskSuccess(task.taskToken, task.input ?? 'null');
      lastSend = performance.now();
      sendMs.push(lastSend - sending);
      // Every task is handed out once, so the pollers can stop as soon as the last is done.
      if (++completed === tasks) stop.abort();
    }
  };
  const running = Promise.all(Array.from({ length: pollers }, (_, i) => poller(i)));
  const executionArn = await api.startExecution(stateMachineArn, JSON.stringify({ items }));
  try {
    await running;
  } finally {
    stop.abort();
  }
  const used = await cpu();
  const end = await api.waitForEnd(executionArn);
  assert.equal(end.status, 'SUCCEEDED', `${api.side}: the activity Map ended ${end.status}`);
  assert.deepEqual(
    (JSON.parse(end.output ?? 'null') as { results: unknown }).results,
    items,
    'the Map results differ from its items',
  );
  const order = await successOrder((nextToken) => api.historyPage(executionArn, nextToken));
  assert.equal(order.length, tasks, 'every task has an ActivitySucceeded event');
  const sendToNext = sendToNextTaskMs(order, sentAt, claimedAt, pollers);
  const wallMs = lastSend - firstClaim;
  return {
    side: api.side,
    tasks,
    pollers,
    wallMs: round(wallMs, 1),
    roundTripsPerSecond: perSecond(tasks, wallMs),
    cpu: used,
    perRoundTrip: perOperation(used, tasks),
    roundTripsPerCpuSecond: perSecond(tasks, used.totalMs),
    latency: { sendToNextTask: latencySummary(sendToNext), sendTaskSuccessCall: latencySummary(sendMs) },
  };
}

/** The floor's round trips: the same poller loop, against a server that hands out tasks at once. */
interface FloorRun {
  roundTrips: number;
  pollers: number;
  wallMs: number;
  roundTripsPerSecond: number;
  cpu: CpuSplit;
  perRoundTrip: PerOperation;
  /** GetActivityTask then SendTaskSuccess, one poller's whole turn. */
  roundTrip: ReturnType<typeof latencySummary>;
}

async function floorRun(api: Api, roundTrips: number, pollers: number): Promise<FloorRun> {
  const turnMs: number[] = [];
  let issued = 0;
  const never = new AbortController().signal;
  const cpu = await cpuMeter(api);
  const started = performance.now();
  const poller = async (worker: number): Promise<void> => {
    while (issued++ < roundTrips) {
      const t = performance.now();
      const task = await api.getActivityTask(
        'arn:aws:states:us-east-1:123456789012:activity:floor',
        `bench-${worker}`,
        never,
      );
      assert.ok(task.taskToken, 'the floor server always has a task');
      await api.sendTaskSuccess(task.taskToken, task.input ?? 'null');
      turnMs.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: pollers }, (_, i) => poller(i)));
  const wallMs = performance.now() - started;
  const used = await cpu();
  return {
    roundTrips,
    pollers,
    wallMs: round(wallMs, 1),
    roundTripsPerSecond: perSecond(roundTrips, wallMs),
    cpu: used,
    perRoundTrip: perOperation(used, roundTrips),
    roundTrip: latencySummary(turnMs),
  };
}

interface StartRun {
  side: Api['side'];
  concurrency: number;
  accepted: number;
  wallMs: number;
  startExecutionsPerSecond: number;
  /** During the window. */
  cpu: CpuSplit;
  perStart: PerOperation;
  startExecutionsPerCpuSecond: number;
  /**
   * Window and drain together, per execution accepted: starting it and running it to its end.
   * In process most executions run after the window, so only this compares the two sides.
   */
  perExecutionRun: PerOperation;
  call: ReturnType<typeof latencySummary>;
  /** After the window: until no execution of the machine is RUNNING (the engine's backlog). */
  drainMs: number;
}

/**
 * `concurrency` callers each starting executions back to back until the window closes (by time
 * or by count); the executions run on the same engine meanwhile. Afterwards every execution must
 * finish, and none may fail.
 */
async function startRun(
  api: Api,
  stateMachineArn: string,
  concurrency: number,
  windowMs: number,
  maxRequests: number,
): Promise<StartRun> {
  const callMs: number[] = [];
  let issued = 0;
  const cpu = await cpuMeter(api);
  const started = performance.now();
  const deadline = started + windowMs;
  const caller = async (): Promise<void> => {
    while (issued < maxRequests && performance.now() < deadline) {
      issued++;
      const t = performance.now();
      await api.startExecution(stateMachineArn, '{"bench":true}');
      callMs.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, () => caller()));
  const wallMs = performance.now() - started;
  const used = await cpu();
  const drainStart = performance.now();
  while (await api.anyExecution(stateMachineArn, 'RUNNING')) {
    if (performance.now() - drainStart > 120_000)
      throw new Error(`${api.side}: executions still running 120 s after the window`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const drainMs = performance.now() - drainStart;
  const usedThroughDrain = await cpu();
  assert.equal(
    await api.anyExecution(stateMachineArn, 'FAILED'),
    false,
    `${api.side}: a Pass execution failed`,
  );
  return {
    side: api.side,
    concurrency,
    accepted: callMs.length,
    wallMs: round(wallMs, 1),
    startExecutionsPerSecond: perSecond(callMs.length, wallMs),
    cpu: used,
    perStart: perOperation(used, callMs.length),
    startExecutionsPerCpuSecond: perSecond(callMs.length, used.totalMs),
    perExecutionRun: perOperation(usedThroughDrain, callMs.length),
    call: latencySummary(callMs),
    drainMs: round(drainMs, 1),
  };
}

/** The machines and activity one side runs. */
interface Fixture {
  api: Api;
  activityArn: string;
  map: string;
  serial: string;
  pass: string;
}

async function fixture(api: Api): Promise<Fixture> {
  const activityArn = await api.createActivity('bench-api-work');
  return {
    api,
    activityArn,
    map: await api.createStateMachine('bench-api-map', activityMapDefinition(activityArn, POLLERS)),
    serial: await api.createStateMachine('bench-api-serial', activityMapDefinition(activityArn, 1)),
    pass: await api.createStateMachine('bench-api-pass', PASS_MACHINE),
  };
}

function medianBy<T>(runs: readonly T[], key: (run: T) => number): T {
  return [...runs].sort((a, b) => key(a) - key(b))[Math.floor(runs.length / 2)] as T;
}

/**
 * The median cost per operation over runs, field by field, and for a server in its own process
 * the operations per second of its CPU: what it would serve with a core to itself and its clients
 * elsewhere, however busy the machine was.
 */
function medianPerOperation(per: readonly PerOperation[]): PerOperation & { perServerCpuSecond?: number } {
  const of = (pick: (p: PerOperation) => number): number => round(median(per.map(pick)), 3);
  const out: PerOperation & { perServerCpuSecond?: number } = {
    cpuMs: of((p) => p.cpuMs),
    clientCpuMs: of((p) => p.clientCpuMs),
    advances: of((p) => p.advances),
  };
  if (per.every((p) => p.serverCpuMs !== undefined)) {
    out.serverCpuMs = of((p) => p.serverCpuMs ?? 0);
    out.perServerCpuSecond = round(1000 / out.serverCpuMs);
  }
  return out;
}

/** The median figures of one side's runs, plus the runs themselves. */
function summariseActivity(runs: readonly ActivityRun[], serial: ActivityRun) {
  return {
    roundTripsPerSecond: medianBy(runs, (r) => r.roundTripsPerSecond).roundTripsPerSecond,
    roundTripsPerCpuSecond: round(median(runs.map((r) => r.roundTripsPerCpuSecond))),
    perRoundTrip: medianPerOperation(runs.map((r) => r.perRoundTrip)),
    sendToNextTaskP50Ms: round(median(runs.map((r) => r.latency.sendToNextTask.p50Ms)), 3),
    sendToNextTaskP99Ms: round(median(runs.map((r) => r.latency.sendToNextTask.p99Ms)), 3),
    serialSendToNextTaskP50Ms: serial.latency.sendToNextTask.p50Ms,
    runs,
    serial,
  };
}

function summariseStarts(runs: readonly StartRun[]) {
  return {
    startExecutionsPerSecond: medianBy(runs, (r) => r.startExecutionsPerSecond).startExecutionsPerSecond,
    startExecutionsPerCpuSecond: round(median(runs.map((r) => r.startExecutionsPerCpuSecond))),
    perStart: medianPerOperation(runs.map((r) => r.perStart)),
    perExecutionRun: medianPerOperation(runs.map((r) => r.perExecutionRun)),
    callP50Ms: round(median(runs.map((r) => r.call.p50Ms)), 3),
    runs,
  };
}

/** Repeats `work` until the serving process (this one, in process) has spent `cpuMs` on it, 20 times at most. */
async function warmUp(api: Api, cpuMs: number, work: () => Promise<unknown>): Promise<void> {
  const spent = await cpuMeter(api);
  for (let i = 0; i < 20; i++) {
    await work();
    const used = await spent();
    if ((used.serverMs ?? used.clientMs) >= cpuMs) return;
  }
}

/** Alternates who goes first round by round, so neither always runs on the heels of the other. */
function inTurn<T>(sides: readonly T[], round: number): readonly T[] {
  return round % 2 === 0 ? sides : [...sides].reverse();
}

/** Runs the HTTP API bench; `goalMet` says whether every goal of the issue was reached over HTTP. */
export async function bench(): Promise<Record<string, unknown>> {
  // A throwaway key for this run only; the server children get it through their environment.
  const key: BenchKey = {
    keyId: `AKIDBENCH${randomBytes(6).toString('hex').toUpperCase()}`,
    secret: randomBytes(24).toString('base64url'),
  };
  const server = await startServerChild('engine', key);
  const floorServer = await startServerChild('floor', key);
  const remote = httpApi(server, key, 'http');
  const floor = httpApi(floorServer, key, 'floor');
  const local = await inProcessApi();
  const noServerErrors = (phase: string): void => {
    assert.deepEqual(server.errors, [], `the API server had unexpected errors during ${phase}`);
    assert.deepEqual(floorServer.errors, [], `the floor server had unexpected errors during ${phase}`);
  };
  try {
    const sides = [await fixture(remote), await fixture(local)];
    progress('api: warm-up');
    const floorMachine = 'arn:aws:states:us-east-1:123456789012:stateMachine:floor';
    for (const f of sides) {
      await warmUp(f.api, WARMUP_CPU_MS.activity, () =>
        activityRun(f.api, f.map, f.activityArn, 200, POLLERS),
      );
      await warmUp(f.api, WARMUP_CPU_MS.start, () => startRun(f.api, f.pass, START_CONCURRENCY, 1000, 500));
    }
    await warmUp(floor, WARMUP_CPU_MS.activity, () => floorRun(floor, 200, POLLERS));
    await warmUp(floor, WARMUP_CPU_MS.start, () =>
      startRun(floor, floorMachine, START_CONCURRENCY, 1000, 500),
    );
    noServerErrors('the warm-up');

    const activity: Record<'http' | 'inProcess', ActivityRun[]> = { http: [], inProcess: [] };
    for (let r = 0; r < ACTIVITY_ROUNDS; r++) {
      for (const f of inTurn(sides, r)) {
        const run = await activityRun(f.api, f.map, f.activityArn, MAP_TASKS, POLLERS);
        if (f.api.side !== 'floor') activity[f.api.side].push(run);
        progress(
          `api: ${f.api.side} activity Map x${MAP_TASKS}: ${run.roundTripsPerSecond} round trips/s, send→next task p50 ${run.latency.sendToNextTask.p50Ms} ms p99 ${run.latency.sendToNextTask.p99Ms} ms, CPU per round trip ${JSON.stringify(run.perRoundTrip)}`,
        );
      }
    }
    const serial: Partial<Record<Api['side'], ActivityRun>> = {};
    for (const f of sides) {
      serial[f.api.side] = await activityRun(f.api, f.serial, f.activityArn, SERIAL_TASKS, 1);
      progress(
        `api: ${f.api.side} serial x${SERIAL_TASKS}: send→next task p50 ${serial[f.api.side]?.latency.sendToNextTask.p50Ms} ms`,
      );
    }
    const floorTrips = await floorRun(floor, FLOOR_ROUND_TRIPS, POLLERS);
    progress(
      `api: floor x${FLOOR_ROUND_TRIPS}: ${floorTrips.roundTripsPerSecond} round trips/s, CPU per round trip ${JSON.stringify(floorTrips.perRoundTrip)}`,
    );
    noServerErrors('the activity runs');

    const starts: Record<'http' | 'inProcess', StartRun[]> = { http: [], inProcess: [] };
    for (let r = 0; r < START_ROUNDS; r++) {
      for (const f of inTurn(sides, r)) {
        const run = await startRun(f.api, f.pass, START_CONCURRENCY, START_WINDOW_MS, START_WINDOW_MAX);
        if (f.api.side !== 'floor') starts[f.api.side].push(run);
        progress(
          `api: ${f.api.side} StartExecution x${START_CONCURRENCY} in flight: ${run.startExecutionsPerSecond}/s, call p50 ${run.call.p50Ms} ms, backlog drained in ${run.drainMs} ms, CPU per start ${JSON.stringify(run.perStart)}, per execution run ${JSON.stringify(run.perExecutionRun)}`,
        );
      }
    }
    const floorStarts = await startRun(
      floor,
      floorMachine,
      START_CONCURRENCY,
      START_WINDOW_MS,
      START_WINDOW_MAX,
    );
    progress(
      `api: floor StartExecution: ${floorStarts.startExecutionsPerSecond}/s, CPU per start ${JSON.stringify(floorStarts.perStart)}`,
    );
    noServerErrors('the StartExecution runs');

    const http = summariseActivity(activity.http, serial.http as ActivityRun);
    const httpStarts = summariseStarts(starts.http);
    const goals = {
      ...GOALS,
      roundTripsMet: http.roundTripsPerSecond >= GOALS.roundTripsPerSecond,
      latencyMet: http.sendToNextTaskP50Ms < GOALS.latencyP50Ms,
      startExecutionsMet: httpStarts.startExecutionsPerSecond >= GOALS.startExecutionsPerSecond,
    };
    return {
      setup: {
        server: 'child process (bench/api-server.ts): engine on a SQLite file + startSfnServer, SigV4 on',
        store: { kind: 'sqlite file', ...server.store },
        client:
          '@aws-sdk/client-sfn in the bench process, keep-alive http.Agent (maxSockets 64), maxAttempts 1',
        floor:
          'the same SDK client against a child that reads the body, verifies SigV4 and answers at once (no engine)',
      },
      activities: {
        description: `one execution of a Map (MaxConcurrency ${POLLERS}) of ${MAP_TASKS} activity Tasks, ${POLLERS} pollers; ${ACTIVITY_ROUNDS} runs per side, median; serial: MaxConcurrency 1, one poller, ${SERIAL_TASKS} tasks`,
        http,
        inProcess: summariseActivity(activity.inProcess, serial.inProcess as ActivityRun),
        floor: floorTrips,
        /** HTTP round trips/s over the floor's: the share of the protocol's ceiling the engine leaves. */
        httpOverFloor: round(http.roundTripsPerSecond / floorTrips.roundTripsPerSecond, 2),
      },
      startExecution: {
        description: `a one-Pass machine, ${START_CONCURRENCY} requests in flight, windows of ${START_WINDOW_MS} ms or ${START_WINDOW_MAX} requests; the executions run meanwhile`,
        http: httpStarts,
        inProcess: summariseStarts(starts.inProcess),
        floor: floorStarts,
        httpOverFloor: round(httpStarts.startExecutionsPerSecond / floorStarts.startExecutionsPerSecond, 2),
      },
      goals,
      goalMet: goals.roundTripsMet && goals.latencyMet && goals.startExecutionsMet,
    };
  } finally {
    remote.destroy();
    floor.destroy();
    await local.close();
    await Promise.all([server.stop(), floorServer.stop()]);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const report = {
    machine: { cpus: os.cpus().length, node: process.version },
    results: { api: await bench() },
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

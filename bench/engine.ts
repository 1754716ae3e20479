/**
 * The durable-engine bench. The engine's promise is that durability is nearly free: an
 * execution on a real SQLite file, with every commit safe against a process crash, should run
 * at least as fast as aws-local-stepfunctions runs the same definition in memory, and activity
 * workers should turn tasks around quickly enough that the engine is never what a sync waits
 * for. So it measures, in one run and one process:
 *
 * - durable state transitions per second for the language-core bench's three definitions
 *   (reused from `bench/asl.ts`), each execution started with `StartExecution` and awaited
 *   with `waitForEnd`, interleaved round by round with aws-local-stepfunctions in memory;
 * - activity round trips per second with 8 concurrent pollers calling the in-process Step
 *   Functions API (`GetActivityTask` → `SendTaskSuccess` → next task available), and the
 *   latency from `SendTaskSuccess` to the next task being in a poller's hands.
 *
 * Outputs and transition counts are checked against the baseline and the definition, so a
 * broken engine fails the bench instead of looking fast.
 *
 *   node --import tsx bench/engine.ts        # this bench alone, JSON on stdout
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { StateMachine } from 'aws-local-stepfunctions';
import { Engine } from '../src/engine/engine.ts';
import { StepFunctions } from '../src/engine/step-functions.ts';
import pg from 'pg';
import { openPostgresStore } from '../src/store/postgres/postgres-store.ts';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../src/store/store.ts';
import { activityMapDefinition, latencySummary, sendToNextTaskMs, successOrder } from './activity-map.ts';
import { mapChoice, parallelPasses, passChain, transitionsOf } from './asl.ts';
import { compare, median, pairedSpeedup, perSecond, progress, round } from './util.ts';
import type { Timing, TimingOptions } from './util.ts';

/** One case of the language-core bench: a definition and the input text to run it on. */
type Case = ReturnType<typeof passChain>;

/** The goals of the issue. */
const GOALS = {
  /** Durable transitions/s divided by aws-local-stepfunctions' in memory. */
  durableRatio: 1,
  activityRoundTripsPerSecond: 2000,
  latencyP50Ms: 5,
} as const;

const POLLERS = 8;
const ROLE_ARN = 'arn:aws:iam::123456789012:role/inlet-bench';

/** A running engine on a fresh store (a SQLite file in a temp dir, or a PostgreSQL schema) with its default settings. */
interface DurableRig {
  store: Store;
  engine: Engine;
  sfn: StepFunctions;
  /** What the SQLite file actually runs with, so the report shows the durability that was measured. */
  sqlite?: { journalMode: string; synchronous: string };
  /** Removes the file or schema once the store is closed. */
  remove(): Promise<void>;
}

/** The PostgreSQL the PostgreSQL rigs use (the machine's, trust auth); INLET_BENCH_POSTGRES_URL overrides it. */
const POSTGRES_URL = process.env['INLET_BENCH_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

type Backend = 'sqlite' | 'postgres';

async function openRig(backend: Backend = 'sqlite'): Promise<DurableRig> {
  if (backend === 'postgres') {
    const schema = `inlet_bench_${randomBytes(4).toString('hex')}`;
    const store = await openPostgresStore({ connectionString: POSTGRES_URL, schema });
    const engine = new Engine({ store });
    await engine.start();
    const remove = async (): Promise<void> => {
      const client = new pg.Client(POSTGRES_URL);
      await client.connect();
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
      await client.end();
    };
    return { store, engine, sfn: new StepFunctions(engine), remove };
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'inlet-bench-engine-'));
  const store = openSqliteStore(path.join(dir, 'engine.db'));
  const engine = new Engine({ store });
  await engine.start();
  const journalMode = String(store.db.pragma('journal_mode', { simple: true }));
  const synchronous =
    ['OFF', 'NORMAL', 'FULL', 'EXTRA'][Number(store.db.pragma('synchronous', { simple: true }))] ?? 'unknown';
  // WAL with synchronous=NORMAL (or stricter) is what makes a commit survive a killed process.
  assert.equal(journalMode, 'wal', 'the bench must measure the WAL store');
  assert.notEqual(synchronous, 'OFF', 'the bench must measure commits that survive a process crash');
  const remove = () => fs.rm(dir, { recursive: true, force: true });
  return { store, engine, sfn: new StepFunctions(engine), sqlite: { journalMode, synchronous }, remove };
}

async function closeRig(rig: DurableRig): Promise<void> {
  await rig.engine.stop();
  await rig.store.close();
  await rig.remove();
}

// ---------------------------------------------------------------------------------------------
// 1. Durable transitions per second vs aws-local-stepfunctions in memory

interface SideResult {
  medianMs: number;
  /** The slowest timed run: a stall (a missed wake-up, a checkpoint) shows here, not in the median. */
  maxMs: number;
  medianCpuMs: number;
  transitionsPerSecond: number;
}

interface DurableCaseResult {
  description: string;
  transitions: number;
  runs: number;
  durable: SideResult;
  baseline: SideResult;
  /** Durable speed over the baseline's, wall clock (median of per-round ratios): the goal is >= 1. */
  ratio: number;
  cpuRatio: number;
}

/** One durable execution: StartExecution, then waitForEnd; its parsed output and transitions. */
async function runDurable(
  rig: DurableRig,
  stateMachineArn: string,
  input: string,
): Promise<{ output: unknown; transitions: number }> {
  const { executionArn } = await rig.sfn.startExecution({ stateMachineArn, input });
  const end = await rig.engine.waitForEnd(executionArn);
  if (end.status !== 'SUCCEEDED' || end.output === null) {
    throw new Error(`durable execution ended ${end.status}: ${end.error ?? ''} ${end.cause ?? ''}`);
  }
  return { output: JSON.parse(end.output), transitions: end.transitions };
}

async function durableCase(
  rig: DurableRig,
  benchCase: Case,
  timing: TimingOptions,
): Promise<DurableCaseResult> {
  const definition = JSON.stringify(benchCase.definition);
  const { stateMachineArn } = await rig.sfn.createStateMachine({
    name: `bench-${benchCase.name}`,
    definition,
    roleArn: ROLE_ARN,
  });
  // Built once, outside the timing: its constructor validates with asl-validator (see asl.ts).
  const baselineMachine = new StateMachine(
    benchCase.definition as ConstructorParameters<typeof StateMachine>[0],
  );
  const runBaseline = async (): Promise<unknown> => baselineMachine.run(JSON.parse(benchCase.input)).result;
  const transitions = transitionsOf(benchCase.definition, JSON.parse(benchCase.input));

  const durable = await runDurable(rig, stateMachineArn, benchCase.input);
  assert.deepStrictEqual(
    durable.output,
    await runBaseline(),
    `${benchCase.name}: durable engine and aws-local-stepfunctions disagree on the output`,
  );
  assert.equal(
    durable.transitions,
    transitions,
    `${benchCase.name}: the durable engine counted ${durable.transitions} transitions`,
  );

  progress(`engine: ${benchCase.name} (${transitions} transitions per execution)`);
  const timings = await compare(
    { durable: () => runDurable(rig, stateMachineArn, benchCase.input), baseline: runBaseline },
    timing,
  );
  const side = (t: Timing): SideResult => ({
    medianMs: t.medianMs,
    maxMs: Math.max(...t.samplesMs),
    medianCpuMs: t.medianCpuMs,
    transitionsPerSecond: perSecond(transitions, t.medianMs),
  });
  const result: DurableCaseResult = {
    description: benchCase.description,
    transitions,
    runs: timings.durable.samplesMs.length,
    durable: side(timings.durable),
    baseline: side(timings.baseline),
    ratio: pairedSpeedup(timings.durable, timings.baseline),
    cpuRatio: pairedSpeedup(timings.durable, timings.baseline, 'cpu'),
  };
  progress(
    `engine: ${benchCase.name}: durable ${result.durable.transitionsPerSecond}/s, baseline ${result.baseline.transitionsPerSecond}/s, ratio ${result.ratio} (CPU ${result.cpuRatio})`,
  );
  return result;
}

// ---------------------------------------------------------------------------------------------
// 2. Activity round trips with 8 concurrent pollers

interface PollerLog {
  /** Tasks completed. */
  completed: number;
  /** Per poller: from calling SendTaskSuccess to its own next GetActivityTask returning a task. */
  idleMs: number[];
  /** How long SendTaskSuccess itself took. */
  sendMs: number[];
  /** By task input (a number): when SendTaskSuccess was called for it, and when it was claimed. */
  sentAt: Map<number, number>;
  claimedAt: Map<number, number>;
  /** When the first task was claimed and the last success acknowledged. */
  firstClaim: number;
  lastSend: number;
}

/** Runs `count` async pollers against the activity until `stop` aborts; each echoes its input as output. */
function startPollers(
  sfn: StepFunctions,
  activityArn: string,
  stop: AbortSignal,
  log: PollerLog,
  count = POLLERS,
): Promise<void[]> {
  const poller = async (worker: number): Promise<void> => {
    let sentAt: number | undefined;
    while (!stop.aborted) {
      const task = await sfn.getActivityTask(
        { activityArn, workerName: `bench-${worker}` },
        { pollMs: 5_000, signal: stop },
      );
      if (task.taskToken === undefined) continue;
      const now = performance.now();
      if (log.claimedAt.size === 0) log.firstClaim = now;
      const item = JSON.parse(task.input) as number;
      log.claimedAt.set(item, now);
      if (sentAt !== undefined) log.idleMs.push(now - sentAt);
      sentAt = performance.now();
      log.sentAt.set(item, sentAt);
      await sfn.sendTaskSuccess({ taskToken: task.taskToken, output: task.input });
      const sent = performance.now();
      log.sendMs.push(sent - sentAt);
      log.lastSend = sent;
      log.completed++;
    }
  };
  return Promise.all(Array.from({ length: count }, (_, i) => poller(i)));
}

function newLog(): PollerLog {
  return {
    completed: 0,
    idleMs: [],
    sendMs: [],
    sentAt: new Map(),
    claimedAt: new Map(),
    firstClaim: 0,
    lastSend: 0,
  };
}

interface ActivityRun {
  tasks: number;
  wallMs: number;
  roundTripsPerSecond: number;
  cpuMs: number;
  /**
   * Tasks per second of this process's CPU time: what the run would reach with a core to itself
   * (the pollers, the engine loop and SQLite all share one thread), whatever else the machine runs.
   */
  roundTripsPerCpuSecond: number;
  latency: {
    /** SendTaskSuccess called → the task it made room for claimed by a poller: the goal's latency. */
    sendToNextTask: ReturnType<typeof latencySummary>;
    /** SendTaskSuccess called → the same poller holding its next task: a worker's idle time. */
    pollerIdle: ReturnType<typeof latencySummary>;
    /** The SendTaskSuccess call alone. */
    sendTaskSuccessCall: ReturnType<typeof latencySummary>;
  };
}

/**
 * One execution of the activity Map over `tasks` items with `pollers` pollers (the machine's
 * MaxConcurrency must equal it). Throughput is tasks over
 * the time from the first claim to the last acknowledged success; the execution must then end
 * SUCCEEDED with every item's result, in order.
 * Latency is matched by cause (`sendToNextTaskMs` in `bench/activity-map.ts`).
 */
async function activityMapRun(
  rig: DurableRig,
  stateMachineArn: string,
  activityArn: string,
  tasks: number,
  pollers = POLLERS,
): Promise<ActivityRun> {
  const items = Array.from({ length: tasks }, (_, n) => n);
  const stop = new AbortController();
  const log = newLog();
  const cpuStart = process.cpuUsage();
  const running = startPollers(rig.sfn, activityArn, stop.signal, log, pollers);
  const { executionArn } = await rig.sfn.startExecution({
    stateMachineArn,
    input: JSON.stringify({ items }),
  });
  const end = await rig.engine.waitForEnd(executionArn, 120_000);
  stop.abort();
  await running;
  const cpu = process.cpuUsage(cpuStart);
  assert.equal(
    end.status,
    'SUCCEEDED',
    `activity Map ended ${end.status}: ${end.error ?? ''} ${end.cause ?? ''}`,
  );
  assert.deepEqual(
    (JSON.parse(end.output ?? 'null') as { results: unknown }).results,
    items,
    'activity Map results differ from its items',
  );
  assert.equal(log.completed, tasks, `pollers completed ${log.completed} of ${tasks} tasks`);
  assert.equal(end.transitions, 1 + tasks, `activity Map counted ${end.transitions} transitions`);
  const order = await successOrder(async (nextToken) => {
    const page = await rig.sfn.getExecutionHistory({ executionArn, maxResults: 1000, ...(nextToken === undefined ? {} : { nextToken }) });
    const events = page.events.map((event) => {
      const output = (event.activitySucceededEventDetails as { output?: string } | undefined)?.output;
      return output === undefined ? { type: event.type } : { type: event.type, output };
    });
    return page.nextToken === undefined ? { events } : { events, nextToken: page.nextToken };
  });
  assert.equal(order.length, tasks, 'every task has an ActivitySucceeded event');
  const sendToNext = sendToNextTaskMs(order, log.sentAt, log.claimedAt, pollers);
  const wallMs = log.lastSend - log.firstClaim;
  return {
    tasks,
    wallMs: round(wallMs, 1),
    roundTripsPerSecond: perSecond(tasks, wallMs),
    cpuMs: round((cpu.user + cpu.system) / 1000, 1),
    roundTripsPerCpuSecond: perSecond(tasks, (cpu.user + cpu.system) / 1000),
    latency: {
      sendToNextTask: latencySummary(sendToNext),
      pollerIdle: latencySummary(log.idleMs),
      sendTaskSuccessCall: latencySummary(log.sendMs),
    },
  };
}

/**
 * `executions` single-Task executions started up front, drained by 8 pollers: the other way
 * work reaches workers (many small syncs rather than one wide Map). The queue is never empty, so
 * this measures throughput only.
 */
async function activityQueueRun(
  rig: DurableRig,
  stateMachineArn: string,
  activityArn: string,
  executions: number,
): Promise<Record<string, unknown>> {
  const arns: string[] = [];
  const startBegin = performance.now();
  for (let i = 0; i < executions; i++) {
    arns.push((await rig.sfn.startExecution({ stateMachineArn, input: JSON.stringify(i) })).executionArn);
  }
  const startMs = performance.now() - startBegin;
  const stop = new AbortController();
  const log = newLog();
  const cpuStart = process.cpuUsage();
  const pollers = startPollers(rig.sfn, activityArn, stop.signal, log);
  for (const arn of arns) {
    const end = await rig.engine.waitForEnd(arn, 120_000);
    assert.equal(
      end.status,
      'SUCCEEDED',
      `queued execution ended ${end.status}: ${end.error ?? ''} ${end.cause ?? ''}`,
    );
  }
  stop.abort();
  await pollers;
  const cpu = process.cpuUsage(cpuStart);
  assert.equal(log.completed, executions, `pollers completed ${log.completed} of ${executions} tasks`);
  const wallMs = log.lastSend - log.firstClaim;
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return {
    executions,
    startExecutionsPerSecond: perSecond(executions, startMs),
    wallMs: round(wallMs, 1),
    roundTripsPerSecond: perSecond(executions, wallMs),
    cpuMs: round(cpuMs, 1),
    roundTripsPerCpuSecond: perSecond(executions, cpuMs),
    sendTaskSuccessCall: latencySummary(log.sendMs),
  };
}

async function activityBench(rig: DurableRig): Promise<Record<string, unknown>> {
  const { activityArn } = await rig.sfn.createActivity({ name: 'bench-work' });
  const map = await rig.sfn.createStateMachine({
    name: 'bench-activity-map',
    definition: activityMapDefinition(activityArn, POLLERS),
    roleArn: ROLE_ARN,
  });
  const single = await rig.sfn.createStateMachine({
    name: 'bench-activity-single',
    definition: JSON.stringify({
      StartAt: 'Work',
      States: { Work: { Type: 'Task', Resource: activityArn, End: true } },
    }),
    roleArn: ROLE_ARN,
  });

  progress('engine: activity warm-up');
  await activityMapRun(rig, map.stateMachineArn, activityArn, 300);
  const runs: ActivityRun[] = [];
  for (const tasks of [1000, 1000, 1000]) {
    const run = await activityMapRun(rig, map.stateMachineArn, activityArn, tasks);
    progress(
      `engine: activity Map x${tasks}: ${run.roundTripsPerSecond} round trips/s, send→next task p50 ${run.latency.sendToNextTask.p50Ms} ms p99 ${run.latency.sendToNextTask.p99Ms} ms`,
    );
    runs.push(run);
  }
  const medianRun = [...runs].sort((a, b) => a.roundTripsPerSecond - b.roundTripsPerSecond)[
    Math.floor(runs.length / 2)
  ] as ActivityRun;
  // How the per-advance cost grows with the Map's width: the runtime carries every item and result.
  const wide = await activityMapRun(rig, map.stateMachineArn, activityArn, 2000);
  progress(`engine: activity Map x2000: ${wide.roundTripsPerSecond} round trips/s`);
  // The latency floor: one poller, one task at a time, so nothing queues behind other work.
  const serialMap = await rig.sfn.createStateMachine({
    name: 'bench-activity-serial',
    definition: activityMapDefinition(activityArn, 1),
    roleArn: ROLE_ARN,
  });
  const serial = await activityMapRun(rig, serialMap.stateMachineArn, activityArn, 300, 1);
  progress(`engine: activity serial x300: send→next task p50 ${serial.latency.sendToNextTask.p50Ms} ms`);
  const queue = await activityQueueRun(rig, single.stateMachineArn, activityArn, 1000);
  progress(`engine: activity queue x1000: ${String(queue.roundTripsPerSecond)} round trips/s`);

  const p50 = median(runs.map((r) => r.latency.sendToNextTask.p50Ms));
  const p99 = median(runs.map((r) => r.latency.sendToNextTask.p99Ms));
  return {
    pollers: POLLERS,
    map: {
      description: `one execution: a Map (MaxConcurrency ${POLLERS}) whose iterations are each one activity Task`,
      roundTripsPerSecond: medianRun.roundTripsPerSecond,
      sendToNextTaskP50Ms: round(p50, 3),
      sendToNextTaskP99Ms: round(p99, 3),
      runs,
      wide,
    },
    serial: {
      description: 'the same Map with MaxConcurrency 1 and one poller: the latency floor, nothing queued',
      ...serial,
    },
    queue: { description: 'single-Task executions started up front, drained by the pollers', ...queue },
    goals: {
      roundTripsPerSecond: GOALS.activityRoundTripsPerSecond,
      latencyP50Ms: GOALS.latencyP50Ms,
      roundTripsMet: medianRun.roundTripsPerSecond >= GOALS.activityRoundTripsPerSecond,
      latencyMet: p50 < GOALS.latencyP50Ms,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// 3. The same on the PostgreSQL store

/**
 * The durable cases and the activity runs on the PostgreSQL store, reported beside the SQLite
 * figures the goals are for; skipped, saying why, when no PostgreSQL answers.
 */
async function postgresBench(cases: readonly Case[], timing: TimingOptions): Promise<Record<string, unknown>> {
  let first: DurableRig;
  try {
    first = await openRig('postgres');
  } catch (err) {
    return { skipped: `no PostgreSQL at INLET_BENCH_POSTGRES_URL or the default: ${err instanceof Error ? err.message : String(err)}` };
  }
  await closeRig(first);
  const durable: Record<string, DurableCaseResult> = {};
  for (const benchCase of cases) {
    const rig = await openRig('postgres');
    try {
      durable[benchCase.name] = await durableCase(rig, benchCase, timing);
    } finally {
      await closeRig(rig);
    }
  }
  const rig = await openRig('postgres');
  try {
    return {
      store: 'openPostgresStore on the local PostgreSQL (a fresh schema per case), default pool of 10',
      durable: { cases: durable },
      activities: await activityBench(rig),
    };
  } finally {
    await closeRig(rig);
  }
}

// ---------------------------------------------------------------------------------------------

/** Runs the durable-engine bench; `goalMet` says whether every goal of the issue was reached. */
export async function bench(): Promise<Record<string, unknown>> {
  const timing: TimingOptions = {
    warmupRuns: 3,
    warmupCpuMs: 1000,
    minRuns: 5,
    maxRuns: 100,
    budgetMs: 4000,
  };
  const cases = [passChain(100), mapChoice(1000), parallelPasses(10, 10)];
  const durable: Record<string, DurableCaseResult> = {};
  let sqlite: DurableRig['sqlite'] | undefined;
  for (const benchCase of cases) {
    // A fresh file per case, so one case's history does not weigh on the next.
    const rig = await openRig();
    sqlite = rig.sqlite;
    try {
      durable[benchCase.name] = await durableCase(rig, benchCase, timing);
    } finally {
      await closeRig(rig);
    }
  }
  const rig = await openRig();
  let activities: Record<string, unknown>;
  try {
    activities = await activityBench(rig);
  } finally {
    await closeRig(rig);
  }
  const durableMet = Object.values(durable).every((r) => r.ratio >= GOALS.durableRatio);
  const activityGoals = activities.goals as { roundTripsMet: boolean; latencyMet: boolean };
  const postgres = await postgresBench(cases, timing);
  return {
    store: {
      kind: 'sqlite file',
      ...sqlite,
      note: 'default openSqliteStore settings: a committed advance survives a killed process',
    },
    baseline: 'aws-local-stepfunctions (in memory)',
    durable: {
      unit: 'state transitions per second (median run, one execution at a time)',
      goalRatio: GOALS.durableRatio,
      goalMet: durableMet,
      cases: durable,
    },
    activities,
    postgres,
    goalMet: durableMet && activityGoals.roundTripsMet && activityGoals.latencyMet,
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const report = {
    machine: { cpus: os.cpus().length, node: process.version },
    results: { engine: await bench() },
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

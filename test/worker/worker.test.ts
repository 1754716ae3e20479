/**
 * The worker runtime against a real engine on SQLite, reached both ways a worker can: through the
 * in-process Step Functions API and over HTTP with the real `@aws-sdk/client-sfn` against Inlet's
 * own server (SigV4-authenticated). Every behaviour is checked in both.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SFNClient } from '@aws-sdk/client-sfn';
import { Engine } from '../../src/engine/engine.ts';
import { StepFunctions } from '../../src/engine/step-functions.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { startSfnServer } from '../../src/api/sfn-http.ts';
import type { SfnServer } from '../../src/api/sfn-http.ts';
import { inProcessApi, sfnClientApi, taskFailureOf, Worker, MAX_CAUSE_LENGTH } from '../../src/worker/index.ts';
import type { ActivityApi, WorkerLogger, WorkerOptions } from '../../src/worker/index.ts';

const KEY_ID = 'AKIDWORKERTEST';
const SECRET = 'worker-test-secret';
const FIXTURE = fileURLToPath(new URL('./sigterm-worker.ts', import.meta.url));

/** An engine on a temp SQLite file, with the Step Functions API in process and over HTTP. */
interface Harness {
  dir: string;
  dbPath: string;
  store: SqliteStore;
  engine: Engine;
  sfn: StepFunctions;
  server: SfnServer;
  client: SFNClient;
  close(): Promise<void>;
}

async function openHarness(): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'inlet-worker-'));
  const dbPath = join(dir, 'engine.db');
  const store = openSqliteStore(dbPath);
  const engine = new Engine({ store });
  await engine.start();
  const sfn = new StepFunctions(engine);
  const server = await startSfnServer({ sfn, auth: { mode: 'sigv4', keys: { [KEY_ID]: SECRET } } });
  const client = new SFNClient({ endpoint: server.url, region: 'us-east-1', credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET } });
  return {
    dir,
    dbPath,
    store,
    engine,
    sfn,
    server,
    client,
    async close() {
      client.destroy();
      await server.close();
      await engine.stop();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const transports: { name: string; api(h: Harness): ActivityApi }[] = [
  { name: 'in process', api: (h) => inProcessApi(h.sfn) },
  { name: 'over HTTP with @aws-sdk/client-sfn', api: (h) => sfnClientApi(h.client) },
];

let unique = 0;

/** Creates an activity and a one-Task machine around it; `extra` adds states and Task fields. */
async function machineFor(h: Harness, task: Record<string, unknown> = {}, states: Record<string, unknown> = {}) {
  const name = `a${++unique}`;
  const { activityArn } = await h.sfn.createActivity({ name });
  const definition = {
    StartAt: 'Work',
    States: { Work: { Type: 'Task', Resource: activityArn, TimeoutSeconds: 60, End: true, ...task }, ...states },
  };
  const { stateMachineArn } = await h.sfn.createStateMachine({ name: `m${unique}`, definition: JSON.stringify(definition), roleArn: 'arn:aws:iam::123456789012:role/x' });
  return {
    activityArn,
    start: async (input: unknown) => (await h.sfn.startExecution({ stateMachineArn, input: JSON.stringify(input) })).executionArn,
  };
}

async function historyTypes(h: Harness, executionArn: string): Promise<string[]> {
  return (await h.sfn.getExecutionHistory({ executionArn })).events.map((e) => e.type);
}

function capturingLogger(): WorkerLogger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, warn: (m) => lines.push(m), error: (m) => lines.push(m) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const transport of transports) {
  void describe(`worker ${transport.name}`, () => {
    let h: Harness;
    const workers: Worker[] = [];
    const newWorker = (options: Omit<WorkerOptions, 'api'> = {}) => {
      const worker = new Worker({ api: transport.api(h), workerName: 'test-worker', logger: capturingLogger(), ...options });
      workers.push(worker);
      return worker;
    };
    before(async () => {
      h = await openHarness();
    });
    after(async () => {
      await Promise.all(workers.map((w) => w.stop()));
      await h.close();
    });

    void test("a handler's result becomes the execution's output, and its worker name is in the history", async () => {
      const m = await machineFor(h);
      const worker = newWorker().register(m.activityArn, async (input: { n: number }) => ({ doubled: input.n * 2 }));
      worker.start();
      const arn = await m.start({ n: 21 });
      const done = await h.engine.waitForEnd(arn, 20_000);
      assert.equal(done.status, 'SUCCEEDED');
      assert.deepEqual(JSON.parse(done.output ?? ''), { doubled: 42 });
      const started = (await h.sfn.getExecutionHistory({ executionArn: arn })).events.find((e) => e.type === 'ActivityStarted');
      assert.deepEqual(started?.activityStartedEventDetails, { workerName: 'test-worker' });
      await worker.stop();
    });

    void test('handlers are registered by name under the activity ARN prefix', async () => {
      const m = await machineFor(h);
      const prefix = m.activityArn.slice(0, m.activityArn.lastIndexOf(':') + 1);
      const worker = newWorker({ activityArnPrefix: prefix }).register(m.activityArn.slice(prefix.length), () => 'by name');
      worker.start();
      const done = await h.engine.waitForEnd(await m.start({}), 20_000);
      assert.equal(done.output, '"by name"');
      await worker.stop();
    });

    void test("a thrown error fails the task with the error's name and message, and Catch sees both", async () => {
      const m = await machineFor(
        h,
        { Catch: [{ ErrorEquals: ['BadRowError'], ResultPath: '$.failure', Next: 'Handled' }] },
        { Handled: { Type: 'Pass', End: true } },
      );
      class BadRowError extends Error {
        override name = 'BadRowError';
      }
      const worker = newWorker().register(m.activityArn, () => {
        throw new BadRowError('row 7 has no messageId');
      });
      worker.start();
      const done = await h.engine.waitForEnd(await m.start({ chunk: 'c1' }), 20_000);
      assert.equal(done.status, 'SUCCEEDED');
      assert.deepEqual(JSON.parse(done.output ?? ''), { chunk: 'c1', failure: { Error: 'BadRowError', Cause: 'row 7 has no messageId' } });
      await worker.stop();
    });

    void test('an uncaught handler error fails the execution with its `error` property as the error name', async () => {
      const m = await machineFor(h);
      const worker = newWorker().register(m.activityArn, async () => {
        throw Object.assign(new Error('the load job failed'), { error: 'Load.JobFailed', secretKey: 'never-sent' });
      });
      worker.start();
      const arn = await m.start({});
      const done = await h.engine.waitForEnd(arn, 20_000);
      assert.equal(done.status, 'FAILED');
      assert.equal(done.error, 'Load.JobFailed');
      assert.equal(done.cause, 'the load job failed');
      const history = JSON.stringify((await h.sfn.getExecutionHistory({ executionArn: arn })).events);
      assert.ok(!history.includes('never-sent'), 'only the name and message leave the worker');
      await worker.stop();
    });

    void test('automatic heartbeats keep a handler alive past HeartbeatSeconds; without them the task times out', async () => {
      const slow = async () => {
        await sleep(2500);
        return { slow: true };
      };
      const withBeats = await machineFor(h, { HeartbeatSeconds: 1 });
      const beating = newWorker({ heartbeatIntervalSeconds: 0.25 }).register(withBeats.activityArn, slow);
      const withoutBeats = await machineFor(h, { HeartbeatSeconds: 1 });
      const silentLogger = capturingLogger();
      const silent = newWorker({ heartbeatIntervalSeconds: 0, logger: silentLogger }).register(withoutBeats.activityArn, slow);
      beating.start();
      silent.start();
      const [alive, dead] = await Promise.all([
        withBeats.start({}).then((arn) => h.engine.waitForEnd(arn, 20_000)),
        withoutBeats.start({}).then((arn) => h.engine.waitForEnd(arn, 20_000)),
      ]);
      await Promise.all([beating.stop(), silent.stop()]);
      assert.equal(alive.status, 'SUCCEEDED');
      assert.deepEqual(JSON.parse(alive.output ?? ''), { slow: true });
      assert.equal(dead.status, 'FAILED');
      assert.equal(dead.error, 'States.HeartbeatTimeout');
      assert.ok(silentLogger.lines.some((l) => l.includes('TaskTimedOut')), 'the refused late result is logged');
    });

    void test('a worker started before its activity exists backs off and serves it once it is created', async () => {
      const name = `late${++unique}`;
      const activityArn = `${h.engine.arnPrefix()}activity:${name}`;
      const logger = capturingLogger();
      const worker = newWorker({ logger }).register(activityArn, () => 'served');
      worker.start();
      await sleep(300);
      await h.sfn.createActivity({ name });
      const definition = { StartAt: 'Work', States: { Work: { Type: 'Task', Resource: activityArn, End: true } } };
      const { stateMachineArn } = await h.sfn.createStateMachine({ name: `m-${name}`, definition: JSON.stringify(definition), roleArn: 'arn:aws:iam::123456789012:role/x' });
      const { executionArn } = await h.sfn.startExecution({ stateMachineArn });
      const done = await h.engine.waitForEnd(executionArn, 20_000);
      await worker.stop();
      assert.equal(done.output, '"served"');
      assert.ok(logger.lines.some((l) => l.includes('ActivityDoesNotExist')));
    });

    void test("a handler's signal aborts when its execution is stopped, and its result is dropped", async () => {
      const m = await machineFor(h, { HeartbeatSeconds: 5 });
      let entered!: () => void;
      const inHandler = new Promise<void>((resolve) => (entered = resolve));
      let aborted = false;
      const logger = capturingLogger();
      const worker = newWorker({ heartbeatIntervalSeconds: 0.1, logger }).register(m.activityArn, async (_input, context) => {
        entered();
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 10_000);
          context.signal.addEventListener('abort', () => {
            aborted = true;
            clearTimeout(timer);
            resolve();
          });
        });
        return 'too late';
      });
      worker.start();
      const arn = await m.start({});
      await inHandler;
      await h.sfn.stopExecution({ executionArn: arn, error: 'Operator', cause: 'stopped by the test' });
      await worker.stop();
      assert.ok(aborted, 'the handler was told its task is gone');
      assert.ok(logger.lines.some((l) => l.includes('was lost') && l.includes('TaskDoesNotExist')));
      const done = await h.engine.waitForEnd(arn, 5_000);
      assert.equal(done.status, 'ABORTED');
    });

    void test('N pollers run N tasks of an activity at once, and never more', async () => {
      const m = await machineFor(h);
      let running = 0;
      let maxRunning = 0;
      const worker = newWorker({ pollers: 3 }).register(m.activityArn, async (input: { i: number }) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await sleep(400);
        running--;
        return input.i;
      });
      worker.start();
      const arns = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => m.start({ i })));
      const results = await Promise.all(arns.map((arn) => h.engine.waitForEnd(arn, 20_000)));
      await worker.stop();
      assert.deepEqual(results.map((r) => r.output), ['0', '1', '2', '3', '4', '5']);
      assert.equal(maxRunning, 3);
    });

    void test('stop() finishes the task in flight, reports it, and claims no task afterwards', async () => {
      const m = await machineFor(h);
      let entered!: () => void;
      const inHandler = new Promise<void>((resolve) => (entered = resolve));
      let finished = false;
      const worker = newWorker({ pollers: 2 }).register(m.activityArn, async () => {
        entered();
        await sleep(800);
        finished = true;
        return 'finished';
      });
      worker.start();
      const first = await m.start({});
      await inHandler;
      const stopping = worker.stop();
      assert.equal(worker.state, 'stopping');
      assert.equal(worker.inFlight, 1);
      await stopping;
      assert.ok(finished, 'stop() waited for the handler');
      assert.equal(worker.state, 'stopped');
      const done = await h.engine.waitForEnd(first, 10_000);
      assert.equal(done.status, 'SUCCEEDED');
      assert.equal(done.output, '"finished"');

      const second = await m.start({});
      await sleep(1500);
      const types = await historyTypes(h, second);
      assert.ok(types.includes('ActivityScheduled'));
      assert.ok(!types.includes('ActivityStarted'), 'a stopped worker takes no task');
      await h.sfn.stopExecution({ executionArn: second });
    });

    void test('stop() ends idle long polls at once instead of waiting out the 60-second poll', async () => {
      const m = await machineFor(h);
      const worker = newWorker({ pollers: 4 }).register(m.activityArn, () => 'never');
      worker.start();
      await sleep(300);
      const started = Date.now();
      await worker.stop();
      assert.ok(Date.now() - started < 5_000, `stop took ${Date.now() - started} ms`);
    });

    void test('a worker process sent SIGTERM finishes its task in flight, then exits cleanly', async () => {
      const m = await machineFor(h, { HeartbeatSeconds: 2 });
      const env: NodeJS.ProcessEnv = { ...process.env, INLET_TEST_ACTIVITY_ARN: m.activityArn, INLET_TEST_TASK_MS: '1500' };
      if (transport.name.includes('HTTP')) Object.assign(env, { INLET_TEST_ENDPOINT: h.server.url, INLET_TEST_KEY_ID: KEY_ID, INLET_TEST_SECRET: SECRET });
      else env.INLET_TEST_DB = h.dbPath;
      const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const started = new Promise<void>((resolve) =>
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          if (stdout.includes('started')) resolve();
        }),
      );
      const arn = await m.start({ n: 5 });
      await started;
      child.kill('SIGTERM');
      const code = await exited;
      assert.equal(code, 0, stderr);
      assert.deepEqual(stdout.trim().split('\n'), ['started', 'finished', 'stopped']);
      const done = await h.engine.waitForEnd(arn, 10_000);
      assert.equal(done.status, 'SUCCEEDED');
      assert.equal((JSON.parse(done.output ?? '') as { doubled: number }).doubled, 10);
      const next = await m.start({ n: 6 });
      await sleep(1200);
      assert.ok(!(await historyTypes(h, next)).includes('ActivityStarted'), 'the stopped process took no other task');
      await h.sfn.stopExecution({ executionArn: next });
    });
  });
}

void describe('taskFailureOf', () => {
  void test("uses the error's name, or its `error` property, and its message", () => {
    assert.deepEqual(taskFailureOf(new TypeError('bad')), { error: 'TypeError', cause: 'bad' });
    assert.deepEqual(taskFailureOf(Object.assign(new Error('x'), { error: 'Custom.Name' })), { error: 'Custom.Name', cause: 'x' });
    assert.deepEqual(taskFailureOf('plain string'), { error: 'Error', cause: 'plain string' });
  });

  void test("cuts the cause to AWS's 32,768 characters without splitting a character", () => {
    const long = `${'x'.repeat(MAX_CAUSE_LENGTH - 1)}😀tail`;
    const { cause } = taskFailureOf(new Error(long));
    assert.equal(cause, 'x'.repeat(MAX_CAUSE_LENGTH - 1));
    assert.equal(taskFailureOf(new Error('y'.repeat(40_000))).cause.length, MAX_CAUSE_LENGTH);
  });
});

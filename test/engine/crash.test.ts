/**
 * The engine's crash-safety promise, tested for real, on each store backend. The engine runs in a
 * child process on a SQLite file or a PostgreSQL schema (fixtures/engine-server.ts); this process starts 500 executions of a machine with
 * a Map of activity tasks, a Wait, a Parallel with an activity branch and Retry on every task,
 * and serves the activities with workers of its own over a loopback JSON shim. Meanwhile the
 * engine is SIGKILLed at random moments, again and again, and a new process opens the same file
 * (one is kept loaded and waiting, so restarts are quick and the kills land on busy work); and
 * one worker process is SIGKILLed while it holds a task. At the end:
 *
 * - every acknowledged StartExecution exists and reached the status its input asks for;
 * - every history is one unbroken chain: ids 1..n, each link pointing back, one terminal event;
 * - each activity result was applied exactly once: every worker answers with a value unique to
 *   its token, and each value the engine accepted appears in exactly one ActivitySucceeded
 *   event and exactly once in the final outputs (of the executions that succeed), while refused
 *   answers appear nowhere;
 * - the killed worker's task timed out by its heartbeat and Retry ran it again to success.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Engine } from '../../src/engine/engine.ts';
import { StepFunctions } from '../../src/engine/step-functions.ts';
import { assertWellFormedHistory, dropPostgresSchema, fullHistory, openStoreAt, ROLE_ARN, sleep, tempDir, TEST_POSTGRES_URL } from './fixtures/harness.ts';
import { callSfn, NoAnswerError, SfnHttpError } from './fixtures/sfn-http-client.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const SERVER = join(import.meta.dirname, 'fixtures/engine-server.ts');
const DOOMED_WORKER = join(import.meta.dirname, 'fixtures/doomed-worker.ts');

const EXECUTIONS = 500;
const KILLS = 12;
/** Starts are spread over this long so that the kills land while work is in flight. */
const START_SPREAD_MS = 8000;
const HEARTBEAT_SECONDS = 2;
const WORKERS = 10;

/** Which executions fail on purpose (their Finish task answers with an error that is not retried). */
const isFatal = (i: number) => i % 10 === 3;
/** Which steps fail once with a retried error before they succeed. */
const isFlaky = (execution: string, step: string) => (Number(execution.slice(5)) * 7 + step.length) % 9 === 0;

function machineDefinition(activityArn: string): object {
  const task = (parameters: object) => ({
    Type: 'Task',
    Resource: activityArn,
    Parameters: parameters,
    HeartbeatSeconds: HEARTBEAT_SECONDS,
    Retry: [
      {
        ErrorEquals: ['States.HeartbeatTimeout', 'Flaky'],
        IntervalSeconds: 1,
        MaxAttempts: 100,
        BackoffRate: 1,
      },
    ],
  });
  return {
    StartAt: 'Fan',
    States: {
      Fan: {
        Type: 'Map',
        ItemsPath: '$.items',
        MaxConcurrency: 2,
        ItemSelector: {
          'execution.$': '$$.Execution.Name',
          'step.$': "States.Format('item-{}', $$.Map.Item.Index)",
        },
        ItemProcessor: {
          StartAt: 'Item',
          States: { Item: { ...task({ 'execution.$': '$.execution', 'step.$': '$.step' }), End: true } },
        },
        ResultPath: '$.mapped',
        Next: 'Pause',
      },
      Pause: { Type: 'Wait', Seconds: 1, Next: 'Both' },
      Both: {
        Type: 'Parallel',
        Branches: [
          {
            StartAt: 'Finish',
            States: {
              Finish: {
                ...task({ 'execution.$': '$$.Execution.Name', step: 'finish', 'fatal.$': '$.fatal' }),
                End: true,
              },
            },
          },
          { StartAt: 'Note', States: { Note: { Type: 'Pass', Result: 'noted', End: true } } },
        ],
        ResultPath: '$.both',
        Next: 'Done',
      },
      Done: { Type: 'Succeed' },
    },
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  await new Promise<void>((r) => server.close(() => r()));
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return address.port;
}

/** A TypeScript fixture in a child process, read line by line (each line is JSON). */
function spawnFixture(
  script: string,
  args: string[],
  stderr: string[],
): { child: ChildProcess; next<T>(): Promise<T> } {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString('utf8')));
  const queued: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const waiter = waiting.shift();
    if (waiter) waiter(line);
    else queued.push(line);
  });
  const died = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) =>
      reject(new Error(`${script} exited (${code ?? signal}): ${stderr.join('')}`)),
    );
  });
  died.catch(() => undefined);
  return {
    child,
    next<T>() {
      const line = queued.shift();
      if (line !== undefined) return Promise.resolve(JSON.parse(line) as T);
      return Promise.race([
        new Promise<T>((resolve) => waiting.push((l) => resolve(JSON.parse(l) as T))),
        died,
      ]);
    },
  };
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((r) => child.once('exit', () => r()));
}

/** What became of a worker's answer, by the value it carried. */
type Fate = 'accepted' | 'refused';

/** Where the engine keeps its state: a SQLite file, or a schema of the test PostgreSQL. */
interface Backend {
  name: string;
  /** The store's location for `openStoreAt`, and how to remove it afterwards. */
  create(): Promise<{ location: string; remove(): Promise<void> }>;
}

const BACKENDS: Backend[] = [
  {
    name: 'SQLite',
    async create() {
      const tmp = await tempDir('inlet-engine-crash-');
      return { location: join(tmp.dir, 'engine.db'), remove: () => tmp.remove() };
    },
  },
  {
    name: 'PostgreSQL',
    async create() {
      const schema = `inlet_crash_${randomBytes(4).toString('hex')}`;
      return { location: `${TEST_POSTGRES_URL}#${schema}`, remove: () => dropPostgresSchema(schema) };
    },
  },
];

for (const backend of BACKENDS) void test(
  `on ${backend.name}, 500 executions survive repeated SIGKILLs of the engine and a killed worker: right statuses, unbroken histories, each result applied once`,
  { timeout: 180_000 },
  async () => {
    const tmp = await backend.create();
    const file = tmp.location;
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const engineStderr: string[] = [];
    const children = new Set<ChildProcess>();
    const began = Date.now();
    const timings: Record<string, number> = {};
    let engine: ChildProcess | undefined;
    /** Set when the test ends, however it ends, so no loop outlives it. */
    let over = false;

    /** A loaded engine process waiting to open the file; the next restart takes it. */
    const loadEngine = () => {
      const spawned = spawnFixture(SERVER, [file, String(port)], engineStderr);
      children.add(spawned.child);
      spawned.child.once('exit', () => children.delete(spawned.child));
      return spawned.next<{ loaded: true }>().then(() => spawned);
    };
    let standby = loadEngine();
    const startEngine = async () => {
      const next = await standby;
      standby = loadEngine();
      next.child.stdin?.write('go\n');
      await next.next<{ port: number }>();
      engine = next.child;
    };
    const call = <T = Record<string, unknown>>(action: string, body: object) =>
      callSfn<T>(baseUrl, action, body);
    /** Calls until the engine answers (it may be down for a restart); API errors are answers. */
    const persist = async <T = Record<string, unknown>>(action: string, body: object): Promise<T> => {
      for (;;) {
        try {
          return await call<T>(action, body);
        } catch (e) {
          if (!(e instanceof NoAnswerError) || over) throw e;
          await sleep(30);
        }
      }
    };

    try {
      await startEngine();
      const workArn = (await call<{ activityArn: string }>('createActivity', { name: 'crash-work' }))
        .activityArn;
      const { stateMachineArn } = await call<{ stateMachineArn: string }>('createStateMachine', {
        name: 'crash-sync',
        definition: JSON.stringify(machineDefinition(workArn)),
        roleArn: ROLE_ARN,
      });

      // --- starters: each execution is started until the engine acknowledges it (same name, same input)
      const acknowledged = new Map<string, string>();
      const startAll = async (first: number, step: number) => {
        for (let i = first; i < EXECUTIONS; i += step) {
          const due = spreadFrom + (i * START_SPREAD_MS) / EXECUTIONS;
          if (Date.now() < due) await sleep(due - Date.now());
          const name = `exec-${i}`;
          const input = JSON.stringify({ items: [`${i}-a`, `${i}-b`], fatal: isFatal(i) });
          for (;;) {
            try {
              acknowledged.set(
                name,
                (await call<{ executionArn: string }>('startExecution', { stateMachineArn, name, input }))
                  .executionArn,
              );
              break;
            } catch (e) {
              // A retry after a lost answer finds the execution already there (and maybe already done).
              if (e instanceof SfnHttpError && e.name === 'ExecutionAlreadyExists') {
                acknowledged.set(name, `arn:aws:states:us-east-1:123456789012:execution:crash-sync:${name}`);
                break;
              }
              if (!(e instanceof NoAnswerError) || over) throw e;
              await sleep(30);
            }
          }
        }
      };

      // --- workers: answer each task with a value unique to its token and record what became of it
      const fates = new Map<string, Fate>();
      const attempts = new Map<string, number>();
      const anomalies: string[] = [];
      let seq = 0;
      let lastWorkAt = Date.now();

      /** Sends an answer until the engine decides on it; returns whether it was applied. */
      const answer = async (action: string, body: object): Promise<Fate> => {
        let lostOne = false;
        for (;;) {
          try {
            await call(action, body);
            return 'accepted';
          } catch (e) {
            if (e instanceof NoAnswerError && !over) {
              lostOne = true;
              await sleep(30);
              continue;
            }
            if (!(e instanceof SfnHttpError)) throw e;
            // The task's heartbeat ran out (the engine was down too long, or we were slow): not applied.
            if (e.name === 'TaskTimedOut') return 'refused';
            // Closed already: only possible when an earlier try was applied and its answer lost.
            if (e.name === 'TaskDoesNotExist' && lostOne) return 'accepted';
            anomalies.push(`${action} answered ${e.name}: ${e.message}`);
            return 'refused';
          }
        }
      };

      const worker = async (activityArn: string, workerName: string) => {
        while (!over) {
          let task: { taskToken?: string; input?: string };
          try {
            task = await call('getActivityTask', { activityArn, workerName, pollMs: 500 });
          } catch (e) {
            if (over) return;
            if (!(e instanceof NoAnswerError)) anomalies.push(`getActivityTask answered ${String(e)}`);
            await sleep(30);
            continue;
          }
          if (!task.taskToken) continue;
          lastWorkAt = Date.now();
          const input = JSON.parse(task.input ?? '{}') as {
            execution: string;
            step: string;
            fatal?: boolean;
          };
          const key = `${input.execution}/${input.step}`;
          const attempt = (attempts.get(key) ?? 0) + 1;
          attempts.set(key, attempt);
          await sleep(Math.floor(Math.random() * 20));
          if (Math.random() < 0.2)
            await call('sendTaskHeartbeat', { taskToken: task.taskToken }).catch(() => undefined);
          if (input.fatal) {
            await answer('sendTaskFailure', {
              taskToken: task.taskToken,
              error: 'Fatal',
              cause: `${key} cannot be done`,
            });
          } else if (attempt === 1 && isFlaky(input.execution, input.step)) {
            await answer('sendTaskFailure', {
              taskToken: task.taskToken,
              error: 'Flaky',
              cause: 'try again',
            });
          } else {
            const value = `v${++seq}-${key}`;
            fates.set(
              value,
              await answer('sendTaskSuccess', {
                taskToken: task.taskToken,
                output: JSON.stringify({ value }),
              }),
            );
          }
          lastWorkAt = Date.now();
        }
      };

      const spreadFrom = Date.now();
      // Awaited only after the kills; a handler now keeps an early failure from being unhandled meanwhile.
      const starters = Promise.all([0, 1, 2, 3].map((first) => startAll(first, 4)));
      const workers = Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(workArn, `worker-${i}`)));
      starters.catch(() => undefined);
      workers.catch(() => undefined);

      // --- a worker process that takes a task and is killed holding it
      const doomedStderr: string[] = [];
      const doomed = spawnFixture(DOOMED_WORKER, [baseUrl, workArn, 'doomed-worker'], doomedStderr);
      children.add(doomed.child);
      const doomedTask = doomed.next<{ taskToken: string; input: string }>().then(async (task) => {
        await sleep(100);
        doomed.child.kill('SIGKILL');
        await exited(doomed.child);
        return { ...task, input: JSON.parse(task.input) as { execution: string; step: string } };
      });
      doomedTask.catch(() => undefined);

      // --- the killer: SIGKILL the engine at random moments, restart it on the same file
      let busyKills = 0;
      const downtimes: number[] = [];
      for (let kill = 0; kill < KILLS; kill++) {
        await sleep(300 + Math.random() * 900);
        if (Date.now() - lastWorkAt < 1000 || acknowledged.size < EXECUTIONS) busyKills++;
        const victim = engine as ChildProcess;
        victim.kill('SIGKILL');
        await exited(victim);
        const down = Date.now();
        await startEngine();
        downtimes.push(Date.now() - down);
      }
      timings.killPhaseMs = Date.now() - began;

      await starters;
      assert.equal(acknowledged.size, EXECUTIONS);
      const killedWorkerTask = await doomedTask;

      // --- wait until nothing runs any more
      const deadline = Date.now() + 90_000;
      for (;;) {
        const running = await persist<{ executions: unknown[] }>('listExecutions', {
          stateMachineArn,
          statusFilter: 'RUNNING',
          maxResults: 1,
        });
        if (running.executions.length === 0) break;
        assert.ok(Date.now() < deadline, 'every execution ends within 90 s of the last kill');
        await sleep(250);
      }
      timings.allDoneMs = Date.now() - began;
      over = true;
      await workers;
      // One last kill, then read the file with no engine running: what is on disk is what counts.
      (engine as ChildProcess).kill('SIGKILL');
      await exited(engine as ChildProcess);

      const store = await openStoreAt(file);
      try {
        const sfn = new StepFunctions(new Engine({ store }));
        const listed = new Map<string, { status: string }>();
        let nextToken: string | undefined;
        do {
          const page = await sfn.listExecutions({
            stateMachineArn,
            maxResults: 1000,
            ...(nextToken ? { nextToken } : {}),
          });
          for (const e of page.executions) listed.set(String(e.name), { status: String(e.status) });
          nextToken = page.nextToken;
        } while (nextToken);
        assert.equal(listed.size, EXECUTIONS, 'every acknowledged start, and nothing else');

        const succeededValues: string[] = [];
        const outputValues: string[] = [];
        for (let i = 0; i < EXECUTIONS; i++) {
          const name = `exec-${i}`;
          const executionArn = acknowledged.get(name) as string;
          const described = await sfn.describeExecution({ executionArn });
          const history = await fullHistory(sfn, executionArn);
          assertWellFormedHistory(history, name);
          const terminal = history.filter((e) =>
            /^Execution(Succeeded|Failed|Aborted|TimedOut)$/.test(e.type),
          );
          assert.equal(terminal.length, 1, `${name} has one terminal event`);
          assert.equal(history.at(-1), terminal[0], `${name} ends with its terminal event`);
          for (const e of history) {
            if (e.type === 'ActivitySucceeded') {
              const output = (e.activitySucceededEventDetails as { output: string }).output;
              succeededValues.push((JSON.parse(output) as { value: string }).value);
            }
          }
          if (isFatal(i)) {
            assert.equal(described.status, 'FAILED', `${name} fails as its input asks`);
            assert.equal(described.error, 'Fatal');
            assert.equal(history.at(-1)?.type, 'ExecutionFailed');
            continue;
          }
          assert.equal(
            described.status,
            'SUCCEEDED',
            `${name} succeeds: ${String(described.error)} ${String(described.cause)}`,
          );
          assert.equal(history.at(-1)?.type, 'ExecutionSucceeded');
          const output = JSON.parse(String(described.output)) as {
            items: string[];
            fatal: boolean;
            mapped: { value: string }[];
            both: [{ value: string }, string];
          };
          assert.deepEqual(output.items, [`${i}-a`, `${i}-b`]);
          assert.equal(output.both[1], 'noted');
          const values = [...output.mapped.map((m) => m.value), output.both[0].value];
          // Each value names the step it answered, so a result applied to the wrong place shows too.
          assert.deepEqual(
            values.map((v) => v.replace(/^v\d+-/, '')),
            [`${name}/item-0`, `${name}/item-1`, `${name}/finish`],
          );
          outputValues.push(...values);
        }

        const accepted = [...fates].filter(([, fate]) => fate === 'accepted').map(([value]) => value);
        assert.deepEqual(anomalies, [], 'no answer was refused for an unexpected reason');
        assert.equal(new Set(succeededValues).size, succeededValues.length, 'no result recorded twice');
        assert.equal(new Set(outputValues).size, outputValues.length, 'no result used twice');
        assert.deepEqual(
          new Set(succeededValues),
          new Set(accepted),
          'exactly the accepted results were recorded',
        );
        // Executions that fail on purpose record their Map results but have no output to carry them.
        const ofSucceeded = accepted.filter((v) => !isFatal(Number(/^v\d+-exec-(\d+)\//.exec(v)?.[1])));
        assert.deepEqual(
          new Set(outputValues),
          new Set(ofSucceeded),
          'exactly the accepted results reach the outputs',
        );

        // The killed worker's task: its heartbeat timed out, and a retry succeeded in its place.
        const victimArn = acknowledged.get(killedWorkerTask.input.execution) as string;
        const victimHistory = await fullHistory(sfn, victimArn);
        const started = victimHistory.find(
          (e) =>
            e.type === 'ActivityStarted' &&
            (e.activityStartedEventDetails as { workerName: string }).workerName === 'doomed-worker',
        );
        assert.ok(started, 'the killed worker’s task start is recorded');
        const timedOut = victimHistory.find(
          (e) => e.type === 'ActivityTimedOut' && e.previousEventId === started.id,
        );
        assert.deepEqual(timedOut?.activityTimedOutEventDetails, { error: 'States.HeartbeatTimeout' });
        // The doomed worker takes whichever task comes first: it may belong to an execution that
        // fails on purpose at its Finish step; that one must still end FAILED, the others SUCCEEDED.
        const victimFatal = isFatal(Number(killedWorkerTask.input.execution.slice(5)));
        assert.equal(
          (await sfn.describeExecution({ executionArn: victimArn })).status,
          victimFatal ? 'FAILED' : 'SUCCEEDED',
        );
        if (!victimFatal) {
          assert.ok(
            outputValues.some((v) =>
              v.endsWith(`${killedWorkerTask.input.execution}/${killedWorkerTask.input.step}`),
            ),
          );
        }

        assert.ok(busyKills >= 10, `at least 10 kills landed while work was in flight (${busyKills})`);
        assert.ok(
          !engineStderr.join('').includes('inlet engine:'),
          `the engine reported no internal error:\n${engineStderr.join('')}`,
        );
        const refused = [...fates.values()].filter((f) => f === 'refused').length;
        console.log(
          JSON.stringify({
            ...timings,
            totalMs: Date.now() - began,
            kills: KILLS,
            busyKills,
            downtimeMs: { min: Math.min(...downtimes), max: Math.max(...downtimes) },
            answers: {
              accepted: accepted.length,
              refused,
              attempts: [...attempts.values()].reduce((a, b) => a + b, 0),
            },
          }),
        );
      } finally {
        await store.close();
      }
    } finally {
      over = true;
      for (const child of children) child.kill('SIGKILL');
      await Promise.all([...children].map(exited));
      await tmp.remove();
    }
  },
);

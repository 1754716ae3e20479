/**
 * Two engines sharing one PostgreSQL schema, as two Inlet nodes would: the work one schedules
 * reaches the other's workers through the database. A task scheduled by one engine must reach a
 * worker long-polling the other at once (LISTEN/NOTIFY), not at the poll's next look a second
 * later; the execution must carry on whichever engine hears the worker's answer; when both
 * engines' loops take the same due wake-up, only one may apply it; and an engine aborting a task
 * while another takes the worker's answer for it must not deadlock.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Engine } from '../../src/engine/engine.ts';
import { StepFunctions } from '../../src/engine/step-functions.ts';
import pg from 'pg';
import type { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import type { AdvanceCommit, DbExecution, Store } from '../../src/store/store.ts';
import { BACKENDS, POSTGRES_URL, withDatabase } from './backends.ts';

const ROLE_ARN = 'arn:aws:iam::123456789012:role/inlet-test';
const ROUNDS = 6;
/** Without the announcement a waiting poll looks again only after a second. */
const POLL_RECHECK_MS = 1000;

async function startEngine(store: Store): Promise<{ engine: Engine; sfn: StepFunctions }> {
  const engine = new Engine({ store });
  await engine.start();
  return { engine, sfn: new StepFunctions(engine) };
}

const postgres = BACKENDS.find((b) => b.name === 'postgres');
if (postgres === undefined) throw new Error('the store backends have no postgres');

void describe('two engines on one PostgreSQL database', () => {
  void test('a task one engine schedules reaches a worker polling the other at once, and the answer there finishes the execution', async () => {
    await withDatabase(postgres, async (storeA, db) => {
      const a = await startEngine(storeA);
      const b = await startEngine(await db.open());
      try {
        const { activityArn } = await a.sfn.createActivity({ name: 'shared' });
        const { stateMachineArn } = await a.sfn.createStateMachine({
          name: 'one-task',
          roleArn: ROLE_ARN,
          definition: JSON.stringify({ StartAt: 'Work', States: { Work: { Type: 'Task', Resource: activityArn, End: true } } }),
        });
        const latencies: number[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          // The worker is already waiting on engine B when engine A schedules the task.
          const polled = b.sfn.getActivityTask({ activityArn, workerName: 'on-b' }, { pollMs: 5000 });
          const started = performance.now();
          const { executionArn } = await a.sfn.startExecution({ stateMachineArn, input: JSON.stringify({ round }) });
          const task = await polled;
          latencies.push(performance.now() - started);
          assert.equal(task.input, JSON.stringify({ round }), 'the worker on B got the task A scheduled');
          await b.sfn.sendTaskSuccess({ taskToken: task.taskToken ?? '', output: JSON.stringify({ done: round }) });
          const end = await a.engine.waitForEnd(executionArn, 5000);
          assert.equal(end.status, 'SUCCEEDED');
          assert.deepEqual(JSON.parse(end.output ?? 'null'), { done: round });
        }
        latencies.sort((x, y) => x - y);
        const median = latencies[Math.floor(ROUNDS / 2)] as number;
        assert.ok(
          median < POLL_RECHECK_MS / 4,
          `start on A → task in B's worker's hands took ${latencies.map((l) => Math.round(l)).join(', ')} ms; the median should be far under a poll's second`,
        );
      } finally {
        await a.engine.stop();
        await b.engine.stop();
      }
    });
  });

  void test('both engines take every due wake-up, yet each is applied exactly once', async () => {
    await withDatabase(postgres, async (storeA, db) => {
      const a = await startEngine(storeA);
      const b = await startEngine(await db.open());
      try {
        const { stateMachineArn } = await a.sfn.createStateMachine({
          name: 'pause',
          roleArn: ROLE_ARN,
          definition: JSON.stringify({
            StartAt: 'Note',
            States: { Note: { Type: 'Pass', Next: 'Pause' }, Pause: { Type: 'Wait', Seconds: 1, Next: 'Done' }, Done: { Type: 'Pass', End: true } },
          }),
        });
        // Started through both APIs at once: each engine's loop sees every start and every timer.
        const arns = await Promise.all(
          Array.from({ length: 100 }, async (_, i) =>
            (await (i % 2 === 0 ? a : b).sfn.startExecution({ stateMachineArn, input: JSON.stringify({ i }) })).executionArn,
          ),
        );
        for (const executionArn of arns) {
          assert.equal((await a.engine.waitForEnd(executionArn, 10_000)).status, 'SUCCEEDED');
          const { events } = await a.sfn.getExecutionHistory({ executionArn, maxResults: 1000 });
          const types = events.map((e) => e.type);
          assert.equal(types.filter((t) => t === 'ExecutionStarted').length, 1, `${executionArn} started once`);
          assert.equal(types.filter((t) => t === 'WaitStateExited').length, 1, `${executionArn} waited once`);
          assert.deepEqual(events.map((e) => e.id), events.map((_, i) => i + 1));
        }
      } finally {
        await a.engine.stop();
        await b.engine.stop();
      }
    });
  });

  void test('an advance aborting a task and the worker answer for it, arriving together, do not deadlock', async () => {
    await withDatabase(postgres, async (store) => {
      const schema = (store as PostgresStore).schema;
      const arn = 'arn:aws:states:us-east-1:123456789012:execution:m:raced';
      const activity = 'arn:aws:states:us-east-1:123456789012:activity:work';
      const token = 't'.repeat(43);
      const execution: DbExecution = {
        arn, state_machine_arn: 'arn:aws:states:us-east-1:123456789012:stateMachine:m', started_with_arn: 'arn:aws:states:us-east-1:123456789012:stateMachine:m',
        name: 'raced', status: 'RUNNING', input: '{}', output: null, error: null, cause: null, start_ms: 1, stop_ms: null,
        definition: '{}', role_arn: ROLE_ARN, runtime: '{}', transitions: 0, redrive_count: 0, redrive_ms: null, version: 0,
      };
      const running = { status: 'RUNNING', runtime: '{}', transitions: 1, output: null, error: null, cause: null, stop_ms: null };
      assert.equal(await store.insertExecution(execution, []), true);
      assert.equal(
        await store.commitAdvance({
          executionArn: arn, expectedVersion: 0, execution: running, events: [], consumedInbox: [], closedTasks: [],
          newInbox: [{ execution_arn: arn, due_ms: 9_000_000, token, kind: 'heartbeat', wake: '{}' }],
          newTasks: [{ token, activity_arn: activity, execution_arn: arn, input: '{}', status: 'scheduled', created_ms: 1, heartbeat_seconds: 5 }],
        }),
        true,
      );
      assert.ok(await store.claimActivityTask(activity, 'worker', 2));
      // Only the timing is forced: a third session holds the task row, so the answer queues for
      // it first and the abort second, as when both arrive in the same instant.
      const holder = new pg.Client({ connectionString: POSTGRES_URL });
      const watcher = new pg.Client({ connectionString: POSTGRES_URL });
      await holder.connect();
      await watcher.connect();
      const waitingOnLock = async (sql: string): Promise<void> => {
        for (;;) {
          const { rows } = await watcher.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1`, [sql]);
          if (rows.length > 0) return;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      };
      try {
        await holder.query('BEGIN');
        await holder.query(`SELECT 1 FROM "${schema}".activity_tasks WHERE token = $1 FOR UPDATE`, [token]);
        const answer = store.closeActivityTask(token, 'succeeded', { execution_arn: arn, due_ms: 3, token: null, kind: 'taskDone', wake: '{}' });
        await waitingOnLock('%WITH closed AS%');
        const abort: AdvanceCommit = {
          executionArn: arn, expectedVersion: 1, execution: { ...running, status: 'ABORTED', transitions: 2, stop_ms: 4 },
          events: [], consumedInbox: [], newInbox: [], newTasks: [], closedTasks: [{ token, reason: 'aborted' }],
        };
        const advance = store.commitAdvance(abort);
        await waitingOnLock('%UPDATE executions%');
        await holder.query('ROLLBACK');
        // Neither fails (a deadlock would fail one after a second); the answer, first in line, wins.
        assert.deepEqual(await Promise.all([answer, advance]), [true, true]);
        const task = await store.getActivityTask(token);
        assert.deepEqual([task?.status, task?.closed_reason], ['closed', 'succeeded']);
        assert.equal((await store.getExecutionHead(arn))?.status, 'ABORTED');
      } finally {
        await holder.end();
        await watcher.end();
      }
    });
  });
});

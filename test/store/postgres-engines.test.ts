/**
 * Two engines sharing one PostgreSQL schema, as two Inlet nodes would: the work one schedules
 * reaches the other's workers through the database. A task scheduled by one engine must reach a
 * worker long-polling the other at once (LISTEN/NOTIFY), not at the poll's next look a second
 * later; and the execution must carry on whichever engine hears the worker's answer.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Engine } from '../../src/engine/engine.ts';
import { StepFunctions } from '../../src/engine/step-functions.ts';
import type { Store } from '../../src/store/store.ts';
import { BACKENDS, withDatabase } from './backends.ts';

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
});

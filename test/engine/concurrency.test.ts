/**
 * Map iterations and Parallel branches on the durable engine run their activity tasks at the same
 * time, as workers see it: a Map never has more than MaxConcurrency tasks out at once but does
 * reach it, Parallel hands out every branch's task before any answers, and both put the results
 * back in item or branch order whatever order the workers finish in.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createActivity, createMachine, finished, sleep, takeTask, withEngine } from './fixtures/harness.ts';

void describe('concurrent iterations and branches', { concurrency: true }, () => {
  void test('a Map with MaxConcurrency 2 keeps exactly two activity tasks out at a time and its output in item order', async () => {
    await withEngine(async ({ engine, sfn }) => {
      const activityArn = await createActivity(sfn, 'square');
      const machine = await createMachine(sfn, 'squares', {
        StartAt: 'Each',
        States: {
          Each: {
            Type: 'Map',
            ItemsPath: '$.numbers',
            MaxConcurrency: 2,
            ItemProcessor: {
              StartAt: 'Square',
              States: {
                Square: { Type: 'Task', Resource: activityArn, Parameters: { 'n.$': '$' }, End: true },
              },
            },
            End: true,
          },
        },
      });
      const numbers = [1, 2, 3, 4, 5, 6, 7];
      const { executionArn } = await sfn.startExecution({
        stateMachineArn: machine,
        input: JSON.stringify({ numbers }),
      });

      let out = 0;
      let most = 0;
      let done = false;
      // Four workers, more than the limit, so only the Map can be what holds the count at two.
      const worker = async (name: string) => {
        while (!done) {
          const task = await sfn.getActivityTask({ activityArn, workerName: name }, { pollMs: 200 });
          if (!task.taskToken) continue;
          out++;
          most = Math.max(most, out);
          const { n } = JSON.parse(task.input ?? '{}') as { n: number };
          // Later items finish sooner, so completion order is not item order.
          await sleep(20 + (8 - n) * 15);
          out--;
          await sfn.sendTaskSuccess({ taskToken: task.taskToken, output: JSON.stringify(n * n) });
        }
      };
      const workers = ['w1', 'w2', 'w3', 'w4'].map(worker);
      const { end, types } = await finished({ engine, sfn }, executionArn, 10_000);
      done = true;
      await Promise.all(workers);
      assert.equal(end.status, 'SUCCEEDED');
      assert.deepEqual(JSON.parse(end.output ?? 'null'), [1, 4, 9, 16, 25, 36, 49]);
      assert.equal(most, 2, 'never more than MaxConcurrency tasks out, and the limit reached');

      assert.equal(types.filter((t) => t === 'MapIterationStarted').length, 7);
      assert.equal(types.filter((t) => t === 'MapIterationSucceeded').length, 7);
      assert.equal(types.filter((t) => t === 'ActivitySucceeded').length, 7);
      assert.equal(types.at(-1), 'ExecutionSucceeded');
    });
  });

  void test('Parallel hands out every branch’s activity task at once and collects the results in branch order', async () => {
    await withEngine(async ({ engine, sfn }) => {
      const activityArn = await createActivity(sfn, 'branch-work');
      const branch = (label: string) => ({
        StartAt: label,
        States: {
          [label]: { Type: 'Task', Resource: activityArn, Parameters: { label, 'id.$': '$.id' }, End: true },
        },
      });
      const machine = await createMachine(sfn, 'fork', {
        StartAt: 'Fork',
        States: {
          Fork: {
            Type: 'Parallel',
            Branches: [branch('left'), branch('middle'), branch('right')],
            ResultPath: '$.results',
            Next: 'Join',
          },
          Join: { Type: 'Pass', End: true },
        },
      });
      const { executionArn } = await sfn.startExecution({ stateMachineArn: machine, input: '{"id":9}' });
      // All three tasks are out before any is answered: the branches run side by side.
      const tasks = [
        await takeTask(sfn, activityArn),
        await takeTask(sfn, activityArn),
        await takeTask(sfn, activityArn),
      ];
      for (const task of [...tasks].reverse()) {
        const { label, id } = task.input as { label: string; id: number };
        await sfn.sendTaskSuccess({ taskToken: task.taskToken, output: JSON.stringify(`${label}-${id}`) });
      }
      const { end, types } = await finished({ engine, sfn }, executionArn, 5000);
      assert.equal(end.status, 'SUCCEEDED');
      assert.deepEqual(JSON.parse(end.output ?? 'null'), {
        id: 9,
        results: ['left-9', 'middle-9', 'right-9'],
      });
      assert.equal(types.filter((t) => t === 'ParallelStateStarted').length, 1);
      assert.equal(types.filter((t) => t === 'ActivityScheduled').length, 3);
      assert.equal(types.filter((t) => t === 'ActivitySucceeded').length, 3);
      assert.ok(types.indexOf('ParallelStateSucceeded') > types.lastIndexOf('ActivitySucceeded'));
    });
  });

  // AWS: "If any branch fails … the entire Parallel state fails and all its branches are stopped";
  // likewise a failed inline Map iteration stops the others. One silent worker must not hold the
  // execution open.
  void test('a failing Parallel branch fails the state at once and the other branch’s open task is refused', async () => {
    await withEngine(async ({ engine, sfn }) => {
      const activityArn = await createActivity(sfn, 'branch-fail');
      const branch = (label: string) => ({
        StartAt: label,
        States: { [label]: { Type: 'Task', Resource: activityArn, Parameters: { label }, End: true } },
      });
      const machine = await createMachine(sfn, 'fork-fail', {
        StartAt: 'Fork',
        States: { Fork: { Type: 'Parallel', Branches: [branch('a'), branch('b')], End: true } },
      });
      const { executionArn } = await sfn.startExecution({ stateMachineArn: machine });
      const one = await takeTask(sfn, activityArn);
      const two = await takeTask(sfn, activityArn);
      await sfn.sendTaskFailure({ taskToken: one.taskToken, error: 'Branch.Broke' });
      const { end } = await finished({ engine, sfn }, executionArn, 2000);
      assert.equal(end.status, 'FAILED');
      assert.equal(end.error, 'Branch.Broke');
      await assert.rejects(sfn.sendTaskSuccess({ taskToken: two.taskToken, output: '{}' }), (e: Error) =>
        ['TaskDoesNotExist', 'TaskTimedOut'].includes(e.name),
      );
    });
  });

  void test('a failing Map iteration fails the Map at once and the other iteration’s open task is refused', async () => {
    await withEngine(async ({ engine, sfn }) => {
      const activityArn = await createActivity(sfn, 'item-fail');
      const machine = await createMachine(sfn, 'map-fail', {
        StartAt: 'Each',
        States: {
          Each: {
            Type: 'Map',
            ItemProcessor: {
              StartAt: 'Work',
              States: { Work: { Type: 'Task', Resource: activityArn, End: true } },
            },
            End: true,
          },
        },
      });
      const { executionArn } = await sfn.startExecution({ stateMachineArn: machine, input: '[1, 2]' });
      const one = await takeTask(sfn, activityArn);
      const two = await takeTask(sfn, activityArn);
      await sfn.sendTaskFailure({ taskToken: one.taskToken, error: 'Item.Broke' });
      const { end } = await finished({ engine, sfn }, executionArn, 2000);
      assert.equal(end.status, 'FAILED');
      assert.equal(end.error, 'Item.Broke');
      await assert.rejects(sfn.sendTaskSuccess({ taskToken: two.taskToken, output: '{}' }), (e: Error) =>
        ['TaskDoesNotExist', 'TaskTimedOut'].includes(e.name),
      );
    });
  });
});

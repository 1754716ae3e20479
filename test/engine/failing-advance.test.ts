/**
 * An advance that throws — a bug, or a value the store refuses — must neither stop the other
 * executions nor be retried as fast as the loop turns. The store here is the real SQLite store
 * behind a wrapper that refuses one execution's commits a few times (the only fault injected).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Engine } from '../../src/engine/engine.ts';
import { StepFunctions } from '../../src/engine/step-functions.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { AdvanceCommit, Store } from '../../src/store/store.ts';
import { createMachine, tempDir } from './fixtures/harness.ts';

void test('an execution whose advance keeps throwing is retried with growing pauses while the others run, and finishes once it stops', async () => {
  const tmp = await tempDir();
  const sqlite = openSqliteStore(join(tmp.dir, 'engine.db'));
  let doomed = '';
  let refusals = 3;
  let attempts = 0;
  // Every method is the real store's; commitAdvance throws for one execution while refusals last.
  const store: Store = Object.create(sqlite, {
    commitAdvance: {
      value: async (commit: AdvanceCommit) => {
        if (commit.executionArn === doomed) {
          attempts++;
          if (refusals > 0) {
            refusals--;
            throw new Error('the store refuses this commit');
          }
        }
        return sqlite.commitAdvance(commit);
      },
    },
  }) as Store;
  const errors: string[] = [];
  const originalError = console.error;
  console.error = (...args: unknown[]) => errors.push(args.map(String).join(' '));
  const engine = new Engine({ store });
  await engine.start();
  const sfn = new StepFunctions(engine);
  try {
    const machine = await createMachine(sfn, 'quick', { StartAt: 'Done', States: { Done: { Type: 'Pass', End: true } } });
    const arn = (name: string) => machine.replace(':stateMachine:', ':execution:') + `:${name}`;
    doomed = arn('doomed');
    const started = Date.now();
    await sfn.startExecution({ stateMachineArn: machine, name: 'doomed' });
    // Others started meanwhile finish at once: the failing one does not hold the loop.
    for (let i = 0; i < 5; i++) {
      const { executionArn } = await sfn.startExecution({ stateMachineArn: machine, name: `fine-${i}` });
      assert.equal((await engine.waitForEnd(executionArn, 2000)).status, 'SUCCEEDED');
    }
    const end = await engine.waitForEnd(doomed, 10_000);
    assert.equal(end.status, 'SUCCEEDED', 'the execution finishes once its commits are accepted');
    // Three refusals then success: four attempts, spread over the pauses (0.5 + 1 + 2 s).
    assert.equal(attempts, 4, `the failing advance was tried ${attempts} times`);
    assert.ok(Date.now() - started >= 3000, 'the retries waited out growing pauses');
    assert.equal(errors.filter((e) => e.includes('the store refuses')).length, 3, 'each failure is logged once');
  } finally {
    console.error = originalError;
    await engine.stop();
    await sqlite.close();
    await tmp.remove();
  }
});

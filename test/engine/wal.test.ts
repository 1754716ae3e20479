/**
 * The write-ahead log stays bounded however long the engine runs: SQLite checkpoints it every
 * `walCheckpointPages` pages and then reuses it from the start. (An earlier version checkpointed
 * from another connection only, which never caught up with a busy writer, so the WAL grew by
 * gigabytes.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_WAL_CHECKPOINT_PAGES } from '../../src/store/sqlite/sqlite-store.ts';
import { createMachine, openEngine, tempDir, withEngine } from './fixtures/harness.ts';

void test('the WAL stays near walCheckpointPages while executions write many times that much', async (t) => {
  const tmp = await tempDir('inlet-wal-');
  const pages = 64;
  const { file, store, engine, sfn, stop } = await openEngine(join(tmp.dir, 'inlet.db'), {}, { walCheckpointPages: pages });
  t.after(async () => {
    await stop();
    await tmp.remove();
  });
  const States: Record<string, object> = {};
  for (let i = 0; i < 20; i++) States[`P${i}`] = i === 19 ? { Type: 'Pass', End: true } : { Type: 'Pass', Next: `P${i + 1}` };
  const stateMachineArn = await createMachine(sfn, 'chain', { StartAt: 'P0', States });
  const pageSize = store.db.pragma('page_size', { simple: true }) as number;
  let largestWal = 0;
  for (let i = 0; i < 200; i++) {
    const { executionArn } = await sfn.startExecution({ stateMachineArn, input: JSON.stringify({ run: i, pad: 'x'.repeat(2000) }) });
    await engine.waitForEnd(executionArn);
    largestWal = Math.max(largestWal, statSync(`${file}-wal`).size);
  }
  const written = statSync(file).size;
  assert.ok(written > 8 * pages * pageSize, `the executions wrote ${written} bytes, many times the WAL's bound`);
  // One checkpoint's worth of pages plus the transaction that crossed the line.
  assert.ok(largestWal < 4 * pages * pageSize, `the WAL reached ${largestWal} bytes, over ${4 * pages * pageSize}`);
});

void test('by default the store checkpoints every DEFAULT_WAL_CHECKPOINT_PAGES pages', async () => {
  await withEngine(async ({ store }) => {
    assert.equal(store.db.pragma('wal_autocheckpoint', { simple: true }), DEFAULT_WAL_CHECKPOINT_PAGES);
    assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
  });
});

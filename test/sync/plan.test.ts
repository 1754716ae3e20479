/**
 * How a sync's raw objects are split into Prepare chunks: never past the limits, as few chunks
 * as they allow, and even, because chunks are prepared in parallel and the Load waits for the
 * slowest.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunkObjects } from '../../src/sync/plan.ts';

const objects = (sizes: number[]) => sizes.map((size, i) => ({ key: `o${i}`, size }));
const shape = (chunks: { size: number }[][]) => chunks.map((c) => c.length);

void test('the fewest chunks the limits allow, split evenly rather than filled one after another', () => {
  assert.deepEqual(shape(chunkObjects(objects(Array(20).fill(1)), 1000, 16)), [10, 10]);
  assert.deepEqual(shape(chunkObjects(objects(Array(33).fill(1)), 1000, 16)), [11, 11, 11]);
  // Bounded by bytes: four objects of 10 under a 32-byte limit fill 3 + 1; even is 2 + 2.
  assert.deepEqual(shape(chunkObjects(objects([10, 10, 10, 10]), 32, 16)), [2, 2]);
});

void test('limits always hold, objects keep their order, and an object over the byte limit gets its own chunk', () => {
  const input = objects([5, 40, 3, 3, 30, 1, 1, 1, 9, 2, 2, 20]);
  const chunks = chunkObjects(input, 32, 3);
  assert.deepEqual(chunks.flat(), input);
  for (const chunk of chunks) {
    assert.ok(chunk.length <= 3);
    assert.ok(chunk.length === 1 || chunk.reduce((sum, o) => sum + o.size, 0) <= 32, `chunk ${JSON.stringify(chunk)} is over 32 bytes`);
  }
  assert.ok(chunks.some((c) => c.length === 1 && c[0]?.size === 40));
});

void test('nothing to chunk gives no chunks; one chunk stays one', () => {
  assert.deepEqual(chunkObjects([], 10, 10), []);
  assert.deepEqual(shape(chunkObjects(objects([1, 2, 3]), 10, 10)), [3]);
});

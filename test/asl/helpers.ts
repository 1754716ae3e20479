/**
 * What the ASL behaviour tests share: a run on a virtual clock, and the output of a run that
 * must have succeeded.
 */
import assert from 'node:assert/strict';
import { runLocal, virtualClock } from '../../src/asl/run-local.ts';
import type { LocalExecutionResult, RunLocalOptions } from '../../src/asl/run-local.ts';

/** Where the virtual clock starts. */
export const START = Date.UTC(2024, 0, 1);

/** Runs a definition on `input` with a virtual clock starting at {@link START}. */
export function run(
  definition: object,
  input: unknown = {},
  options: RunLocalOptions = {},
): Promise<LocalExecutionResult> {
  return runLocal(definition, JSON.stringify(input), { clock: virtualClock(START), ...options });
}

/** The parsed output of a run, failing the test with the error when it did not succeed. */
export function output(result: LocalExecutionResult): unknown {
  assert.equal(
    result.status,
    'SUCCEEDED',
    `expected SUCCEEDED, got ${result.status} ${result.error ?? ''}: ${result.cause ?? ''}`,
  );
  return JSON.parse(result.output ?? 'null');
}

/**
 * Wires the scheduler into `inlet start`: for each configured source, start a sync every
 * `everyMinutes` or once `minBytes` of unsynced raw data wait.
 */
import type { Runtime } from './runtime.ts';

/** A running scheduler. */
export interface RunningScheduler {
  stop(): void;
}

/** Placeholder until src/scheduler lands: no automatic syncs. */
export function startScheduler(runtime: Runtime, stateMachineArn: string, log: (m: string) => void): RunningScheduler {
  void runtime;
  void stateMachineArn;
  log('scheduler: not wired yet');
  return { stop() {} };
}

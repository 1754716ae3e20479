/**
 * The in-memory runner: executes a whole state machine in this process with task handlers the
 * caller supplies, on a clock it can be handed, and records the history AWS would. It drives
 * the same pure step function as the durable engine, so a definition behaves the same on both.
 */
import type { HistoryEvent, ExecutionStatus } from './history.ts';

/** Time as the runner sees it. A virtual clock makes Wait states and back-off instant in tests. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** Runs one Task state's work: resolves with the result, or throws (a StatesError names the error). */
export type TaskHandler = (input: unknown, context: { token: string; heartbeat(): void }) => Promise<unknown>;

/** Options for {@link runLocal}. */
export interface RunLocalOptions {
  /** Task handlers by the Task state's `Resource` ARN. */
  tasks?: Record<string, TaskHandler>;
  clock?: Clock;
  /** Randomness for JitterStrategy, $random, States.UUID …; Math.random by default. */
  random?: () => number;
  stateMachineName?: string;
  executionName?: string;
  roleArn?: string;
  region?: string;
  accountId?: string;
  stateMachineType?: 'STANDARD' | 'EXPRESS';
}

/** What an execution ended with, as DescribeExecution and GetExecutionHistory would say. */
export interface LocalExecutionResult {
  status: ExecutionStatus;
  /** JSON text of the output, when SUCCEEDED. */
  output?: string;
  error?: string;
  cause?: string;
  history: HistoryEvent[];
  executionArn: string;
  stateMachineArn: string;
  /** State transitions as AWS bills them (retries count). */
  stateTransitions: number;
}

/** A clock that never waits: sleeping moves virtual time forward at once. */
export function virtualClock(startMs = Date.UTC(2024, 0, 1)): Clock {
  let now = startMs;
  return {
    now: () => now,
    sleep: async (ms) => {
      now += Math.max(0, ms);
      await Promise.resolve();
    },
  };
}

/** Runs `definition` (JSON text or object) on `input` (JSON text) to the end. */
export declare function runLocal(
  definition: string | object,
  input: string,
  options?: RunLocalOptions,
): Promise<LocalExecutionResult>;

/**
 * History events in the shape AWS's GetExecutionHistory returns. The core emits them without
 * ids or timestamps ({@link HistoryEventDraft}); whoever records the history (the in-memory
 * runner, the durable engine) numbers them and stamps the time, so both produce identical
 * histories for the same execution.
 */

/** Details objects, keyed as AWS keys them (`stateEnteredEventDetails`, …). */
export type HistoryEventDetails = Record<string, unknown>;

/** An event as the core emits it: type, details, and which earlier event it follows. */
export interface HistoryEventDraft {
  type: string;
  /** e.g. `{ stateEnteredEventDetails: { name, input, inputDetails } }` */
  details?: HistoryEventDetails;
}

/** A recorded event, as GetExecutionHistory returns it. */
export interface HistoryEvent {
  timestamp: Date;
  type: string;
  id: number;
  previousEventId: number;
  [detailsKey: `${string}EventDetails`]: Record<string, unknown>;
}

/** How an execution ended, or that it has not. */
export const ExecutionStatus = {
  RUNNING: 'RUNNING',
  SUCCEEDED: 'SUCCEEDED',
  FAILED: 'FAILED',
  TIMED_OUT: 'TIMED_OUT',
  ABORTED: 'ABORTED',
  PENDING_REDRIVE: 'PENDING_REDRIVE',
} as const;
export type ExecutionStatus = (typeof ExecutionStatus)[keyof typeof ExecutionStatus];

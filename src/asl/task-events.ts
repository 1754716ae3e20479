/**
 * The history events of a Task state's work, as AWS records them: `Activity*` events for
 * activity ARNs (the worker pattern Inlet's syncs use), `Task*` events for every other
 * resource. Shared by the in-memory runner and the durable engine.
 */
import type { HistoryEventDraftWithLink } from './events.ts';
import { toJson } from './step.ts';

/** Whether a Task resource is a Step Functions activity. */
export function isActivityArn(resource: string): boolean {
  return /^arn:[^:]+:states:[^:]*:[^:]*:activity:/.test(resource);
}

function resourceParts(resource: string): { resourceType: string; resource: string } {
  const m = /^arn:[^:]+:states:::([^:]+):(.+)$/.exec(resource);
  if (m) return { resourceType: m[1] as string, resource: m[2] as string };
  const lambda = /^arn:[^:]+:lambda:/.test(resource);
  return { resourceType: lambda ? 'lambda' : 'unknown', resource: lambda ? 'invoke' : resource };
}

/** Scheduled (+ timeouts) for a task about to be handed to a worker or handler. */
export function taskScheduledEvent(
  resource: string,
  input: unknown,
  region: string,
  timeoutSeconds?: number,
  heartbeatSeconds?: number,
): HistoryEventDraftWithLink {
  if (isActivityArn(resource)) {
    const details: Record<string, unknown> = { resource, input: toJson(input), inputDetails: { truncated: false } };
    if (timeoutSeconds !== undefined) details.timeoutInSeconds = timeoutSeconds;
    if (heartbeatSeconds !== undefined) details.heartbeatInSeconds = heartbeatSeconds;
    return { type: 'ActivityScheduled', details: { activityScheduledEventDetails: details } };
  }
  const details: Record<string, unknown> = { ...resourceParts(resource), region, parameters: toJson(input) };
  if (timeoutSeconds !== undefined) details.timeoutInSeconds = timeoutSeconds;
  if (heartbeatSeconds !== undefined) details.heartbeatInSeconds = heartbeatSeconds;
  return { type: 'TaskScheduled', details: { taskScheduledEventDetails: details } };
}

/** A worker (or handler) took the task. */
export function taskStartedEvent(resource: string, workerName: string): HistoryEventDraftWithLink {
  if (isActivityArn(resource)) return { type: 'ActivityStarted', details: { activityStartedEventDetails: { workerName } } };
  return { type: 'TaskStarted', details: { taskStartedEventDetails: resourceParts(resource) } };
}

/** The task's result came back. */
export function taskSucceededEvent(resource: string, output: unknown): HistoryEventDraftWithLink {
  if (isActivityArn(resource)) {
    return {
      type: 'ActivitySucceeded',
      details: { activitySucceededEventDetails: { output: toJson(output), outputDetails: { truncated: false } } },
    };
  }
  return {
    type: 'TaskSucceeded',
    details: {
      taskSucceededEventDetails: { ...resourceParts(resource), output: toJson(output), outputDetails: { truncated: false } },
    },
  };
}

/** The task failed (`timedOut`: by TimeoutSeconds or HeartbeatSeconds). */
export function taskFailedEvent(resource: string, error: string | undefined, cause: string | undefined, timedOut: boolean): HistoryEventDraftWithLink {
  const details: Record<string, unknown> = {};
  if (error !== undefined) details.error = error;
  if (cause !== undefined) details.cause = cause;
  if (isActivityArn(resource)) {
    return timedOut
      ? { type: 'ActivityTimedOut', details: { activityTimedOutEventDetails: details } }
      : { type: 'ActivityFailed', details: { activityFailedEventDetails: details } };
  }
  const withResource = { ...resourceParts(resource), ...details };
  return timedOut
    ? { type: 'TaskTimedOut', details: { taskTimedOutEventDetails: withResource } }
    : { type: 'TaskFailed', details: { taskFailedEventDetails: withResource } };
}

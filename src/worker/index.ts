/**
 * The activity worker runtime: register handlers per activity, poll, heartbeat, report, stop
 * gracefully. It may import nothing else of Inlet: it reaches an engine only through the Step
 * Functions API, in process or over HTTP, so it runs unchanged against AWS Step Functions.
 */
export { Worker, WorkerState, taskFailureOf, MAX_CAUSE_LENGTH, MAX_ERROR_LENGTH } from './worker.ts';
export type { ActivityContext, ActivityHandler, ActivityOptions, WorkerLogger, WorkerOptions } from './worker.ts';
export { inProcessApi, sfnClientApi } from './activity-api.ts';
export type {
  ActivityApi,
  GetActivityTaskRequest,
  GetActivityTaskResponse,
  InProcessActivityApi,
  InProcessApiOptions,
  PollOptions,
  SendTaskFailureRequest,
} from './activity-api.ts';

/**
 * The four Step Functions actions an activity worker needs, and the two ways to reach them.
 *
 * The worker runtime talks to an engine only through the Step Functions API, so the same worker
 * runs against Inlet in the same process, against Inlet over HTTP, and against AWS Step
 * Functions. {@link ActivityApi} is that narrow contract with AWS's request and response shapes;
 * {@link sfnClientApi} reaches it over HTTP through `@aws-sdk/client-sfn`, and
 * {@link inProcessApi} through any object with the same methods (Inlet's in-process
 * `StepFunctions` fits it structurally, so this module needs to import nothing of the engine).
 */
import {
  GetActivityTaskCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
} from '@aws-sdk/client-sfn';
import type { SFNClient } from '@aws-sdk/client-sfn';

/** GetActivityTask's request, as AWS defines it. */
export interface GetActivityTaskRequest {
  activityArn: string;
  /** Recorded in the execution history's ActivityStarted event. */
  workerName?: string;
}

/** GetActivityTask's response: no `taskToken` when the long poll ended without a task. */
export interface GetActivityTaskResponse {
  taskToken?: string | undefined;
  input?: string | undefined;
}

/** SendTaskFailure's request; AWS allows 256 characters of `error` and 32,768 of `cause`. */
export interface SendTaskFailureRequest {
  taskToken: string;
  error?: string;
  cause?: string;
}

/** How a caller may cut a long poll short. */
export interface PollOptions {
  /** Aborting it ends the poll; the call then resolves with no task or rejects. */
  signal?: AbortSignal;
}

/**
 * The part of the Step Functions API an activity worker uses. Errors are thrown with AWS's error
 * code as their `name` (`TaskTimedOut`, `TaskDoesNotExist`, `InvalidToken` …), as both the AWS
 * SDK and Inlet's in-process API do.
 */
export interface ActivityApi {
  getActivityTask(request: GetActivityTaskRequest, options?: PollOptions): Promise<GetActivityTaskResponse>;
  sendTaskSuccess(request: { taskToken: string; output: string }): Promise<unknown>;
  sendTaskFailure(request: SendTaskFailureRequest): Promise<unknown>;
  sendTaskHeartbeat(request: { taskToken: string }): Promise<unknown>;
}

/** The same methods as {@link ActivityApi}, with the in-process long poll's `pollMs`. */
export interface InProcessActivityApi {
  getActivityTask(request: GetActivityTaskRequest, options?: PollOptions & { pollMs?: number }): Promise<GetActivityTaskResponse>;
  sendTaskSuccess(request: { taskToken: string; output: string }): Promise<unknown>;
  sendTaskFailure(request: SendTaskFailureRequest): Promise<unknown>;
  sendTaskHeartbeat(request: { taskToken: string }): Promise<unknown>;
}

/** Options for {@link inProcessApi}. */
export interface InProcessApiOptions {
  /** How long one poll waits for a task before returning empty; the API's default (60 s) if unset. */
  pollMs?: number;
}

/**
 * Reaches the Step Functions API over HTTP through an `SFNClient` (Inlet's server or AWS). The
 * client's own settings apply: its endpoint, credentials, retries; its default socket timeout
 * already outlasts the 60-second long poll. Aborting a poll aborts its HTTP request.
 */
export function sfnClientApi(client: SFNClient): ActivityApi {
  return {
    async getActivityTask(request, options = {}) {
      const { taskToken, input } = await client.send(
        new GetActivityTaskCommand(request),
        options.signal ? { abortSignal: options.signal } : {},
      );
      return { taskToken, input };
    },
    sendTaskSuccess: (request) => client.send(new SendTaskSuccessCommand(request)),
    sendTaskFailure: (request) => client.send(new SendTaskFailureCommand(request)),
    sendTaskHeartbeat: (request) => client.send(new SendTaskHeartbeatCommand(request)),
  };
}

/** Reaches an API object in this process, e.g. Inlet's `StepFunctions`. */
export function inProcessApi(target: InProcessActivityApi, options: InProcessApiOptions = {}): ActivityApi {
  return {
    getActivityTask(request, poll = {}) {
      const pollOptions: PollOptions & { pollMs?: number } = {};
      if (poll.signal) pollOptions.signal = poll.signal;
      if (options.pollMs !== undefined) pollOptions.pollMs = options.pollMs;
      return target.getActivityTask(request, pollOptions);
    },
    sendTaskSuccess: (request) => target.sendTaskSuccess(request),
    sendTaskFailure: (request) => target.sendTaskFailure(request),
    sendTaskHeartbeat: (request) => target.sendTaskHeartbeat(request),
  };
}

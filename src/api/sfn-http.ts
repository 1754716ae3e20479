/**
 * The Step Functions API over HTTP, in AWS's JSON 1.0 protocol: `POST /` with
 * `X-Amz-Target: AWSStepFunctions.<Action>` and a JSON body, answered with AWS's field names,
 * epoch-second timestamps and AWS error shapes (`__type`, `message`, status). The AWS SDK
 * (`@aws-sdk/client-sfn`) and the AWS CLI work against it with only an endpoint change.
 * Requests are authenticated with SigV4 against configured access keys, unless the server is
 * explicitly started with `auth: { mode: 'none' }` for local development.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { StepFunctions } from '../engine/step-functions.ts';
import { SfnServiceError } from '../engine/errors.ts';
import { AuthError, verifySigV4 } from './sigv4.ts';
import type { AccessKeys } from './sigv4.ts';

/** How callers prove who they are. */
export type SfnAuth = { mode: 'sigv4'; keys: AccessKeys } | { mode: 'none' };

/** Options for {@link createSfnHandler}. */
export interface SfnHandlerOptions {
  sfn: StepFunctions;
  auth: SfnAuth;
  /** Called with every served action, for metrics. */
  onRequest?: (action: string, status: number, seconds: number) => void;
  /** Where unexpected errors go (never to the client). */
  onError?: (error: unknown) => void;
}

/** The actions served, each the StepFunctions method of the same name (lower camel case). */
export const SFN_ACTIONS = [
  'CreateStateMachine',
  'UpdateStateMachine',
  'DescribeStateMachine',
  'DescribeStateMachineForExecution',
  'ListStateMachines',
  'ListStateMachineVersions',
  'DeleteStateMachine',
  'CreateActivity',
  'DescribeActivity',
  'ListActivities',
  'DeleteActivity',
  'StartExecution',
  'StartSyncExecution',
  'DescribeExecution',
  'ListExecutions',
  'GetExecutionHistory',
  'StopExecution',
  'RedriveExecution',
  'ValidateStateMachineDefinition',
  'TestState',
  'GetActivityTask',
  'SendTaskHeartbeat',
  'SendTaskSuccess',
  'SendTaskFailure',
  'TagResource',
  'UntagResource',
  'ListTagsForResource',
] as const;
const ACTIONS: ReadonlySet<string> = new Set(SFN_ACTIONS);
/** Request bodies larger than this are refused (AWS's payload limit is 256 KB; Inlet allows more). */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** Dates become epoch seconds, as AWS JSON 1.0 writes timestamps. */
function toWire(value: unknown): unknown {
  if (value instanceof Date) return value.getTime() / 1000;
  if (Array.isArray(value)) return value.map(toWire);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toWire(v);
    return out;
  }
  return value;
}

function send(res: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string | number> = {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': crypto.randomUUID(),
  };
  if (errorType) headers['x-amzn-errortype'] = errorType;
  res.writeHead(status, headers).end(text);
}

function sendError(res: ServerResponse, status: number, type: string, message: string): void {
  send(res, status, { __type: `com.amazonaws.states#${type}`, message }, type);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new SfnServiceError('ValidationException', 'Request body too large', 413);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** An HTTP handler for the Step Functions API; returns false for requests that are not for it. */
export function createSfnHandler(options: SfnHandlerOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    const target = req.headers['x-amz-target'];
    if (req.method !== 'POST' || typeof target !== 'string' || !target.startsWith('AWSStepFunctions.')) return false;
    const started = process.hrtime.bigint();
    const action = target.slice('AWSStepFunctions.'.length);
    const finish = (status: number) => options.onRequest?.(action, status, Number(process.hrtime.bigint() - started) / 1e9);
    try {
      const body = await readBody(req);
      if (options.auth.mode === 'sigv4') {
        await verifySigV4({ method: req.method, path: req.url ?? '/', headers: req.headers, body }, options.auth.keys);
      }
      if (!ACTIONS.has(action)) {
        sendError(res, 400, 'UnknownOperationException', `Unknown operation: ${action}`);
        return (finish(400), true);
      }
      let request: unknown;
      try {
        request = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
      } catch {
        sendError(res, 400, 'SerializationException', 'The request body is not valid JSON');
        return (finish(400), true);
      }
      if (request === null || typeof request !== 'object' || Array.isArray(request)) {
        sendError(res, 400, 'SerializationException', 'The request body must be a JSON object');
        return (finish(400), true);
      }
      const method = (action[0] as string).toLowerCase() + action.slice(1);
      const sfn = options.sfn as unknown as Record<string, (req: unknown, opts?: unknown) => Promise<unknown>>;
      let result: unknown;
      if (action === 'GetActivityTask') {
        // A client that hangs up must not be handed a task it will never see.
        const abort = new AbortController();
        res.on('close', () => {
          if (!res.writableFinished) abort.abort();
        });
        result = await options.sfn.getActivityTask(request as { activityArn: string; workerName?: string }, { signal: abort.signal });
      } else {
        result = await (sfn[method] as (req: unknown) => Promise<unknown>).call(options.sfn, request);
      }
      send(res, 200, toWire(result));
      finish(200);
    } catch (e) {
      if (e instanceof AuthError) {
        const status = e.code === 'InvalidSignatureException' ? 403 : 400;
        sendError(res, status, e.code, e.message);
        finish(status);
      } else if (e instanceof SfnServiceError) {
        sendError(res, e.httpStatus, e.name, e.message);
        finish(e.httpStatus);
      } else {
        options.onError?.(e);
        sendError(res, 500, 'InternalFailure', 'The request processing has failed because of an unknown error.');
        finish(500);
      }
    }
    return true;
  };
}

/** A running Step Functions HTTP server. */
export interface SfnServer {
  server: Server;
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Serves the Step Functions API on its own port (127.0.0.1 by default). */
export async function startSfnServer(options: SfnHandlerOptions & { port?: number; host?: string }): Promise<SfnServer> {
  const handle = createSfnHandler(options);
  const server = createServer((req, res) => {
    handle(req, res)
      .then((handled) => {
        if (!handled) sendError(res, 404, 'UnknownOperationException', 'Not a Step Functions request');
      })
      .catch((e: unknown) => {
        options.onError?.(e);
        if (!res.headersSent) sendError(res, 500, 'InternalFailure', 'The request processing has failed because of an unknown error.');
      });
  });
  // GetActivityTask holds a request for up to 60 s.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

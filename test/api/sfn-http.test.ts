/**
 * The Step Functions HTTP API as its users meet it: the real `@aws-sdk/client-sfn` against
 * Inlet's server on a real SQLite file, one call per action of `SFN_ACTIONS`, checking what a
 * program written for AWS relies on — ARNs, field names, timestamps that arrive as `Date`s,
 * paging without gaps, the long poll, and errors the SDK raises as its own exception classes.
 * Raw `fetch` covers what the SDK cannot send: unknown actions, malformed bodies, missing or
 * tampered signatures. One engine per file, served twice: SigV4-authenticated through
 * `startSfnServer`, and unauthenticated (`auth: { mode: 'none' }`) mounted in a host server
 * through `createSfnHandler`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import {
  ActivityDoesNotExist,
  CreateActivityCommand,
  CreateStateMachineCommand,
  DeleteActivityCommand,
  DeleteStateMachineCommand,
  DescribeActivityCommand,
  DescribeExecutionCommand,
  DescribeStateMachineCommand,
  DescribeStateMachineForExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  ExecutionNotRedrivable,
  GetActivityTaskCommand,
  GetExecutionHistoryCommand,
  InvalidArn,
  InvalidDefinition,
  InvalidToken,
  ListActivitiesCommand,
  ListExecutionsCommand,
  ListStateMachinesCommand,
  ListStateMachineVersionsCommand,
  ListTagsForResourceCommand,
  RedriveExecutionCommand,
  ResourceNotFound,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
  StartSyncExecutionCommand,
  StateMachineAlreadyExists,
  StateMachineDoesNotExist,
  StateMachineTypeNotSupported,
  StopExecutionCommand,
  TagResourceCommand,
  TestStateCommand,
  UntagResourceCommand,
  UpdateStateMachineCommand,
  ValidateStateMachineDefinitionCommand,
  ValidationException,
} from '@aws-sdk/client-sfn';
import type { GetExecutionHistoryCommandOutput, HistoryEvent, SFNClientConfig } from '@aws-sdk/client-sfn';
import { Engine } from '../../src/engine/engine.ts';
import { StepFunctions } from '../../src/engine/step-functions.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { createSfnHandler, SFN_ACTIONS, startSfnServer } from '../../src/api/sfn-http.ts';
import type { SfnServer } from '../../src/api/sfn-http.ts';

const KEY_ID = 'AKIDSFNHTTPTEST';
const SECRET = 'sfn-http-test-secret';
const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
const ARN_PREFIX = `arn:aws:states:${REGION}:${ACCOUNT}:`;
const ROLE = `arn:aws:iam::${ACCOUNT}:role/inlet-test`;

let dir: string;
let store: SqliteStore;
let engine: Engine;
let server: SfnServer;
/** The same API without authentication, mounted in a host server that also answers other requests. */
let open: { server: Server; url: string };
let client: SFNClient;
/**
 * For StartSyncExecution and TestState: the SDK sends these to `sync-<host>` (where AWS serves
 * them) unless host prefixes are disabled, which any custom endpoint given as an IP needs.
 */
let syncClient: SFNClient;
/** Action → HTTP statuses the SigV4 server answered it with. */
const served = new Map<string, Set<number>>();
/** Errors the server kept to itself (500s); none are expected from well-formed SDK calls. */
const internalErrors: unknown[] = [];

function sdk(config: Partial<SFNClientConfig> = {}): SFNClient {
  return new SFNClient({
    endpoint: server.url,
    region: REGION,
    credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET },
    ...config,
  });
}

let unique = 0;
function name(prefix: string): string {
  return `${prefix}-${++unique}`;
}

const passMachine = JSON.stringify({
  StartAt: 'First',
  States: {
    First: { Type: 'Pass', Result: { step: 1 }, ResultPath: '$.first', Next: 'Second' },
    Second: { Type: 'Pass', End: true },
  },
});
const waitMachine = JSON.stringify({
  StartAt: 'Sleep',
  States: { Sleep: { Type: 'Wait', Seconds: 600, End: true } },
});

async function createMachine(
  definition: string,
  prefix = 'sm',
  type?: 'STANDARD' | 'EXPRESS',
): Promise<string> {
  const { stateMachineArn } = await client.send(
    new CreateStateMachineCommand({
      name: name(prefix),
      definition,
      roleArn: ROLE,
      ...(type ? { type } : {}),
    }),
  );
  assert.ok(stateMachineArn);
  return stateMachineArn;
}

async function createActivity(prefix = 'act'): Promise<string> {
  const { activityArn } = await client.send(new CreateActivityCommand({ name: name(prefix) }));
  assert.ok(activityArn);
  return activityArn;
}

/** A one-Task machine around an activity. */
function activityMachine(activityArn: string): string {
  return JSON.stringify({
    StartAt: 'Work',
    States: {
      Work: { Type: 'Task', Resource: activityArn, TimeoutSeconds: 60, HeartbeatSeconds: 30, End: true },
    },
  });
}

/** Waits until the execution leaves RUNNING (or reaches `status`), returning its description. */
async function settled(executionArn: string, status?: string) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const out = await client.send(new DescribeExecutionCommand({ executionArn }));
    if (status ? out.status === status : out.status !== 'RUNNING') return out;
    if (Date.now() > deadline) assert.fail(`execution ${executionArn} is still ${out.status}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function fullHistory(executionArn: string): Promise<HistoryEvent[]> {
  const { events, nextToken } = await client.send(
    new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }),
  );
  assert.equal(nextToken, undefined);
  return events ?? [];
}

/** The whole history, four events a page, following nextToken. */
async function historyInPages(
  executionArn: string,
  reverseOrder: boolean,
): Promise<{ events: HistoryEvent[]; pages: number }> {
  const events: HistoryEvent[] = [];
  let pages = 0;
  let nextToken: string | undefined;
  do {
    const page: GetExecutionHistoryCommandOutput = await client.send(
      new GetExecutionHistoryCommand({
        executionArn,
        maxResults: 4,
        reverseOrder,
        ...(nextToken ? { nextToken } : {}),
      }),
    );
    pages++;
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return { events, pages };
}

/** A timestamp as the SDK hands it over: a real Date, within a minute of now. */
function assertRecentDate(value: unknown, what: string): asserts value is Date {
  assert.ok(value instanceof Date, `${what} is a Date (got ${String(value)})`);
  assert.ok(
    Math.abs(value.getTime() - Date.now()) < 60_000,
    `${what} is close to now (got ${value.toISOString()})`,
  );
}

/** Expects the SDK to raise its own exception class, named as AWS names the error, with `status`. */
async function rejectsWith(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => SFNServiceException,
  status = 400,
): Promise<SFNServiceException> {
  try {
    await promise;
  } catch (e) {
    assert.ok(
      e instanceof type,
      `expected ${type.name}, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
    );
    assert.equal(e.name, type.name);
    assert.equal(e.$metadata.httpStatusCode, status);
    assert.ok(e.message.length > 0, 'the error carries a message');
    return e;
  }
  assert.fail(`expected ${type.name}, but the call succeeded`);
}

/** A raw AWS JSON 1.0 request; the body is sent as given (so it may be malformed). */
async function raw(url: string, action: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `AWSStepFunctions.${action}`,
      ...headers,
    },
    body,
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    text,
    json: (): Record<string, unknown> => JSON.parse(text) as Record<string, unknown>,
  };
}

/**
 * SigV4 headers for a raw request to the signed server, computed with the SDK's own signer;
 * `payloadHashHeader` also sends the body's hash as `x-amz-content-sha256` (the signer's default).
 */
async function signByHand(
  action: string,
  body: string,
  payloadHashHeader: boolean,
): Promise<Record<string, string>> {
  const host = new URL(server.url).host;
  const signer = new SignatureV4({
    credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET },
    region: REGION,
    service: 'states',
    sha256: Sha256,
    applyChecksum: payloadHashHeader,
  });
  const signed = await signer.sign({
    method: 'POST',
    protocol: 'http:',
    hostname: host,
    path: '/',
    headers: {
      host,
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `AWSStepFunctions.${action}`,
    },
    body,
  });
  const headers: Record<string, string> = {};
  // fetch sets Host itself, to the same value.
  for (const [k, v] of Object.entries(signed.headers)) if (k !== 'host') headers[k] = String(v);
  return headers;
}

void describe('the Step Functions HTTP API with @aws-sdk/client-sfn', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'inlet-sfn-http-'));
    store = openSqliteStore(join(dir, 'engine.db'));
    engine = new Engine({ store, region: REGION, accountId: ACCOUNT });
    await engine.start();
    const sfn = new StepFunctions(engine);
    server = await startSfnServer({
      sfn,
      auth: { mode: 'sigv4', keys: { [KEY_ID]: SECRET } },
      port: 0,
      onRequest: (action, status) => {
        const statuses = served.get(action) ?? new Set<number>();
        statuses.add(status);
        served.set(action, statuses);
      },
      onError: (e) => internalErrors.push(e),
    });
    const handle = createSfnHandler({ sfn, auth: { mode: 'none' }, onError: (e) => internalErrors.push(e) });
    const host = createServer((req, res) => {
      handle(req, res).then(
        (handled) => {
          if (!handled) res.writeHead(200, { 'content-type': 'text/plain' }).end('host server');
        },
        () => res.writeHead(500).end(),
      );
    });
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
    open = { server: host, url: `http://127.0.0.1:${(host.address() as AddressInfo).port}` };
    client = sdk();
    syncClient = sdk({ disableHostPrefix: true });
  });

  after(async () => {
    client.destroy();
    syncClient.destroy();
    open.server.closeAllConnections();
    await new Promise<void>((resolve) => open.server.close(() => resolve()));
    await server.close();
    await engine.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  void test('state machines: create, describe, update with a published version, list versions, delete — with AWS ARNs and Date timestamps', async () => {
    const smName = name('lifecycle');
    const created = await client.send(
      new CreateStateMachineCommand({ name: smName, definition: passMachine, roleArn: ROLE }),
    );
    assert.equal(created.stateMachineArn, `${ARN_PREFIX}stateMachine:${smName}`);
    assertRecentDate(created.creationDate, 'creationDate');
    const arn = created.stateMachineArn;

    const described = await client.send(new DescribeStateMachineCommand({ stateMachineArn: arn }));
    assert.equal(described.stateMachineArn, arn);
    assert.equal(described.name, smName);
    assert.equal(described.status, 'ACTIVE');
    assert.equal(described.type, 'STANDARD');
    assert.equal(described.definition, passMachine);
    assert.equal(described.roleArn, ROLE);
    assert.equal(described.creationDate?.getTime(), created.creationDate.getTime());

    const changed = JSON.stringify({
      StartAt: 'Only',
      States: { Only: { Type: 'Pass', Result: 'v2', End: true } },
    });
    const updated = await client.send(
      new UpdateStateMachineCommand({
        stateMachineArn: arn,
        definition: changed,
        publish: true,
        versionDescription: 'v2',
      }),
    );
    assertRecentDate(updated.updateDate, 'updateDate');
    assert.equal(updated.stateMachineVersionArn, `${arn}:1`);
    assert.equal(typeof updated.revisionId, 'string');
    assert.equal(
      (await client.send(new DescribeStateMachineCommand({ stateMachineArn: arn }))).definition,
      changed,
    );

    const versions = await client.send(new ListStateMachineVersionsCommand({ stateMachineArn: arn }));
    assert.deepEqual(
      versions.stateMachineVersions?.map((v) => v.stateMachineVersionArn),
      [`${arn}:1`],
    );
    assertRecentDate(versions.stateMachineVersions?.[0]?.creationDate, 'version creationDate');
    const version = await client.send(new DescribeStateMachineCommand({ stateMachineArn: `${arn}:1` }));
    assert.equal(version.definition, changed);
    assert.equal(version.description, 'v2');

    // Creating the same machine again is idempotent, as on AWS; another definition under the name is refused.
    const again = await client.send(
      new CreateStateMachineCommand({ name: smName, definition: changed, roleArn: ROLE }),
    );
    assert.equal(again.stateMachineArn, arn);
    await rejectsWith(
      client.send(new CreateStateMachineCommand({ name: smName, definition: passMachine, roleArn: ROLE })),
      StateMachineAlreadyExists,
    );

    assert.deepEqual(
      Object.keys(await client.send(new DeleteStateMachineCommand({ stateMachineArn: arn }))),
      ['$metadata'],
    );
    await rejectsWith(
      client.send(new DescribeStateMachineCommand({ stateMachineArn: arn })),
      StateMachineDoesNotExist,
    );
  });

  void test('CreateStateMachine refuses a definition that does not validate with InvalidDefinition naming the problem', async () => {
    const broken = JSON.stringify({ StartAt: 'Missing', States: { A: { Type: 'Pass', End: true } } });
    const error = await rejectsWith(
      client.send(new CreateStateMachineCommand({ name: name('broken'), definition: broken, roleArn: ROLE })),
      InvalidDefinition,
    );
    assert.match(error.message, /MISSING_TRANSITION_TARGET/);
    await rejectsWith(
      client.send(
        new CreateStateMachineCommand({ name: name('broken'), definition: '{ not json', roleArn: ROLE }),
      ),
      InvalidDefinition,
    );
  });

  void test('ListStateMachines pages two at a time through every machine, in order, without gaps or repeats', async () => {
    const created = new Set<string>();
    for (let i = 0; i < 5; i++) created.add(await createMachine(passMachine, 'paged'));
    const seen: string[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const page = await client.send(
        new ListStateMachinesCommand({ maxResults: 2, ...(nextToken ? { nextToken } : {}) }),
      );
      pages++;
      assert.ok((page.stateMachines ?? []).length <= 2);
      for (const sm of page.stateMachines ?? []) {
        assert.equal(sm.stateMachineArn, `${ARN_PREFIX}stateMachine:${sm.name ?? ''}`);
        assert.equal(sm.type, 'STANDARD');
        assert.ok(sm.creationDate instanceof Date);
        seen.push(sm.stateMachineArn ?? '');
      }
      nextToken = page.nextToken;
    } while (nextToken);
    assert.equal(new Set(seen).size, seen.length, 'no machine is listed twice');
    for (const arn of created) assert.ok(seen.includes(arn), `${arn} is listed`);
    assert.ok(pages >= 3, 'five machines take at least three pages of two');
    assert.equal(
      (await client.send(new ListStateMachinesCommand({}))).stateMachines?.length,
      seen.length,
      'one unpaged call lists the same machines',
    );
  });

  void test('activities: create (idempotent by name), describe, list in pages, delete', async () => {
    const activityName = name('activity');
    const created = await client.send(new CreateActivityCommand({ name: activityName }));
    assert.equal(created.activityArn, `${ARN_PREFIX}activity:${activityName}`);
    assertRecentDate(created.creationDate, 'creationDate');
    const again = await client.send(new CreateActivityCommand({ name: activityName }));
    assert.equal(again.activityArn, created.activityArn);
    assert.equal(again.creationDate?.getTime(), created.creationDate.getTime());

    const described = await client.send(new DescribeActivityCommand({ activityArn: created.activityArn }));
    assert.equal(described.name, activityName);
    assert.equal(described.activityArn, created.activityArn);
    assert.equal(described.creationDate?.getTime(), created.creationDate.getTime());

    for (let i = 0; i < 4; i++) await createActivity('listed');
    const seen: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await client.send(
        new ListActivitiesCommand({ maxResults: 2, ...(nextToken ? { nextToken } : {}) }),
      );
      assert.ok((page.activities ?? []).length <= 2);
      for (const a of page.activities ?? []) {
        assert.ok(a.creationDate instanceof Date);
        seen.push(a.name ?? '');
      }
      nextToken = page.nextToken;
    } while (nextToken);
    assert.equal(new Set(seen).size, seen.length, 'no activity is listed twice');
    assert.deepEqual(seen, [...seen].sort(), 'activities are listed by name');
    assert.ok(seen.includes(activityName));
    assert.ok(seen.filter((n) => n.startsWith('listed-')).length === 4);

    await client.send(new DeleteActivityCommand({ activityArn: created.activityArn }));
    await rejectsWith(
      client.send(new DescribeActivityCommand({ activityArn: created.activityArn })),
      ActivityDoesNotExist,
    );
  });

  void test('StartExecution and DescribeExecution: execution ARN, output, and start/stop dates as Dates close to now; DescribeStateMachineForExecution', async () => {
    const smArn = await createMachine(passMachine);
    const smName = smArn.split(':')[6] ?? '';
    const started = await client.send(
      new StartExecutionCommand({
        stateMachineArn: smArn,
        name: 'first-run',
        input: JSON.stringify({ hello: 'world' }),
      }),
    );
    assert.equal(started.executionArn, `${ARN_PREFIX}execution:${smName}:first-run`);
    assertRecentDate(started.startDate, 'startDate');

    const out = await settled(started.executionArn);
    assert.equal(out.status, 'SUCCEEDED');
    assert.equal(out.executionArn, started.executionArn);
    assert.equal(out.stateMachineArn, smArn);
    assert.equal(out.name, 'first-run');
    assert.deepEqual(JSON.parse(out.input ?? ''), { hello: 'world' });
    assert.deepEqual(JSON.parse(out.output ?? ''), { hello: 'world', first: { step: 1 } });
    assert.deepEqual(out.inputDetails, { included: true });
    assert.deepEqual(out.outputDetails, { included: true });
    assert.equal(
      out.startDate?.getTime(),
      started.startDate.getTime(),
      'the start date is the one StartExecution returned',
    );
    assertRecentDate(out.stopDate, 'stopDate');
    assert.ok(out.stopDate.getTime() >= started.startDate.getTime());
    assert.equal(out.redriveCount, 0);
    assert.equal(out.redriveStatus, 'NOT_REDRIVABLE');

    const forExecution = await client.send(
      new DescribeStateMachineForExecutionCommand({ executionArn: started.executionArn }),
    );
    assert.equal(forExecution.stateMachineArn, smArn);
    assert.equal(forExecution.name, smName);
    assert.equal(forExecution.definition, passMachine);
    assert.equal(forExecution.roleArn, ROLE);
    assertRecentDate(forExecution.updateDate, 'updateDate');
  });

  void test('ListExecutions pages five executions two at a time, newest first, without gaps or repeats, and filters by status', async () => {
    const smArn = await createMachine(passMachine);
    const arns: string[] = [];
    for (let i = 0; i < 5; i++) {
      arns.push(
        (await client.send(new StartExecutionCommand({ stateMachineArn: smArn, name: `run-${i}` })))
          .executionArn ?? '',
      );
    }
    for (const arn of arns) await settled(arn);
    const seen: {
      executionArn?: string | undefined;
      startDate?: Date | undefined;
      status?: string | undefined;
    }[] = [];
    const pageSizes: number[] = [];
    let nextToken: string | undefined;
    do {
      const page = await client.send(
        new ListExecutionsCommand({
          stateMachineArn: smArn,
          maxResults: 2,
          ...(nextToken ? { nextToken } : {}),
        }),
      );
      pageSizes.push(page.executions?.length ?? 0);
      seen.push(...(page.executions ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    assert.deepEqual(pageSizes, [2, 2, 1]);
    assert.deepEqual(new Set(seen.map((e) => e.executionArn)), new Set(arns), 'every execution exactly once');
    assert.equal(seen.length, 5);
    for (const e of seen) {
      assert.equal(e.status, 'SUCCEEDED');
      assertRecentDate(e.startDate, 'startDate');
    }
    const starts = seen.map((e) => e.startDate?.getTime() ?? 0);
    assert.deepEqual(
      starts,
      [...starts].sort((a, b) => b - a),
      'newest first',
    );

    const succeeded = await client.send(
      new ListExecutionsCommand({ stateMachineArn: smArn, statusFilter: 'SUCCEEDED' }),
    );
    assert.equal(succeeded.executions?.length, 5);
    const running = await client.send(
      new ListExecutionsCommand({ stateMachineArn: smArn, statusFilter: 'RUNNING' }),
    );
    assert.deepEqual(running.executions, []);
  });

  void test('GetExecutionHistory: AWS event types with ids and Date timestamps, paged by nextToken, reversed by reverseOrder, without data on request', async () => {
    const smArn = await createMachine(passMachine);
    const { executionArn } = await client.send(
      new StartExecutionCommand({ stateMachineArn: smArn, input: '{"secret":"data"}' }),
    );
    assert.ok(executionArn);
    await settled(executionArn, 'SUCCEEDED');
    const events = await fullHistory(executionArn);
    assert.deepEqual(
      events.map((e) => e.type),
      [
        'ExecutionStarted',
        'PassStateEntered',
        'PassStateExited',
        'PassStateEntered',
        'PassStateExited',
        'ExecutionSucceeded',
      ],
    );
    assert.deepEqual(
      events.map((e) => e.id),
      [1, 2, 3, 4, 5, 6],
    );
    // As on AWS, the first state's entry points back to 0, not to ExecutionStarted.
    assert.deepEqual(
      events.map((e) => e.previousEventId),
      [0, 0, 2, 3, 4, 5],
    );
    for (const e of events) assertRecentDate(e.timestamp, `event ${e.id ?? 0} timestamp`);
    assert.deepEqual(JSON.parse(events[0]?.executionStartedEventDetails?.input ?? ''), { secret: 'data' });
    assert.equal(events[0]?.executionStartedEventDetails?.roleArn, ROLE);
    assert.equal(events[1]?.stateEnteredEventDetails?.name, 'First');
    assert.deepEqual(JSON.parse(events[5]?.executionSucceededEventDetails?.output ?? ''), {
      secret: 'data',
      first: { step: 1 },
    });

    const forward = await historyInPages(executionArn, false);
    assert.equal(forward.pages, 2);
    assert.deepEqual(
      forward.events.map((e) => e.id),
      [1, 2, 3, 4, 5, 6],
    );
    const reversed = await historyInPages(executionArn, true);
    assert.deepEqual(
      reversed.events.map((e) => e.id),
      [6, 5, 4, 3, 2, 1],
    );
    assert.equal(reversed.events[0]?.type, 'ExecutionSucceeded');

    const withoutData = await client.send(
      new GetExecutionHistoryCommand({ executionArn, includeExecutionData: false }),
    );
    const startedDetails = withoutData.events?.[0]?.executionStartedEventDetails;
    assert.ok(startedDetails, 'the event keeps its details');
    assert.equal(startedDetails.input, undefined, 'but not the data');
    assert.equal(startedDetails.roleArn, ROLE);
    assert.equal(withoutData.events?.[5]?.executionSucceededEventDetails?.output, undefined);
  });

  void test('StartExecution is idempotent for a running execution with the same name and input; StopExecution aborts it with the given error and cause', async () => {
    const smArn = await createMachine(waitMachine);
    const first = await client.send(
      new StartExecutionCommand({ stateMachineArn: smArn, name: 'sleeper', input: '{"a":1}' }),
    );
    const second = await client.send(
      new StartExecutionCommand({ stateMachineArn: smArn, name: 'sleeper', input: '{"a":1}' }),
    );
    assert.equal(second.executionArn, first.executionArn);
    assert.equal(second.startDate?.getTime(), first.startDate?.getTime());
    await rejectsWith(
      client.send(new StartExecutionCommand({ stateMachineArn: smArn, name: 'sleeper', input: '{"a":2}' })),
      ExecutionAlreadyExists,
    );
    assert.ok(first.executionArn);
    await settled(first.executionArn, 'RUNNING');

    const stopped = await client.send(
      new StopExecutionCommand({
        executionArn: first.executionArn,
        error: 'Operator.Stop',
        cause: 'maintenance window',
      }),
    );
    assertRecentDate(stopped.stopDate, 'stopDate');
    const out = await client.send(new DescribeExecutionCommand({ executionArn: first.executionArn }));
    assert.equal(out.status, 'ABORTED');
    assert.equal(out.stopDate?.getTime(), stopped.stopDate.getTime());
    assert.equal(out.redriveStatus, 'REDRIVABLE');
    const last = (await fullHistory(first.executionArn)).at(-1);
    assert.equal(last?.type, 'ExecutionAborted');
    assert.equal(last.executionAbortedEventDetails?.error, 'Operator.Stop');
    assert.equal(last.executionAbortedEventDetails?.cause, 'maintenance window');
  });

  void test('GetActivityTask long-polls: a task scheduled 300 ms into the poll goes to the waiting poller, which heartbeats and succeeds', async () => {
    const activityArn = await createActivity();
    const smArn = await createMachine(activityMachine(activityArn));
    const pollStarted = Date.now();
    const poll = client.send(new GetActivityTaskCommand({ activityArn, workerName: 'long-poller' }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { executionArn } = await client.send(
      new StartExecutionCommand({ stateMachineArn: smArn, input: JSON.stringify({ job: 42 }) }),
    );
    assert.ok(executionArn);
    const task = await poll;
    const waited = Date.now() - pollStarted;
    assert.ok(task.taskToken, 'the poll returns a task');
    assert.deepEqual(JSON.parse(task.input ?? ''), { job: 42 });
    assert.ok(waited >= 290, `the poll waited for the task (${waited} ms)`);
    assert.ok(waited < 5_000, `the task reached the poller promptly (${waited} ms)`);

    assert.deepEqual(
      Object.keys(await client.send(new SendTaskHeartbeatCommand({ taskToken: task.taskToken }))),
      ['$metadata'],
    );
    await client.send(
      new SendTaskSuccessCommand({ taskToken: task.taskToken, output: JSON.stringify({ done: true }) }),
    );
    const out = await settled(executionArn);
    assert.equal(out.status, 'SUCCEEDED');
    assert.deepEqual(JSON.parse(out.output ?? ''), { done: true });

    const history = await fullHistory(executionArn);
    const types: string[] = history.map((e) => e.type ?? '');
    for (const type of [
      'TaskStateEntered',
      'ActivityScheduled',
      'ActivityStarted',
      'ActivitySucceeded',
      'TaskStateExited',
      'ExecutionSucceeded',
    ]) {
      assert.ok(types.includes(type), `history has ${type}`);
    }
    const scheduled = history.find((e) => e.type === 'ActivityScheduled')?.activityScheduledEventDetails;
    assert.equal(scheduled?.resource, activityArn);
    assert.equal(scheduled.heartbeatInSeconds, 30);
    assert.equal(scheduled.timeoutInSeconds, 60);
    assert.equal(
      history.find((e) => e.type === 'ActivityStarted')?.activityStartedEventDetails?.workerName,
      'long-poller',
    );

    // A finished task's token is refused, as AWS refuses it.
    await assert.rejects(
      client.send(new SendTaskSuccessCommand({ taskToken: task.taskToken, output: '{}' })),
      (e: unknown) => {
        assert.ok(e instanceof SFNServiceException);
        assert.ok(['TaskDoesNotExist', 'TaskTimedOut', 'InvalidToken'].includes(e.name), e.name);
        return true;
      },
    );
    await rejectsWith(client.send(new SendTaskHeartbeatCommand({ taskToken: 'not-a-token' })), InvalidToken);
  });

  void test('a poller that hung up is not handed a task: the next poller gets it', async () => {
    const activityArn = await createActivity();
    const smArn = await createMachine(activityMachine(activityArn));
    const abort = new AbortController();
    const gone = client.send(new GetActivityTaskCommand({ activityArn }), { abortSignal: abort.signal });
    await new Promise((resolve) => setTimeout(resolve, 100));
    abort.abort();
    await assert.rejects(gone);
    // Give the server a moment to notice the closed connection before a task exists.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const { executionArn } = await client.send(
      new StartExecutionCommand({ stateMachineArn: smArn, input: '{"n":7}' }),
    );
    assert.ok(executionArn);
    const task = await client.send(new GetActivityTaskCommand({ activityArn }));
    assert.ok(task.taskToken);
    assert.deepEqual(JSON.parse(task.input ?? ''), { n: 7 });
    await client.send(new SendTaskSuccessCommand({ taskToken: task.taskToken, output: '{}' }));
    assert.equal((await settled(executionArn)).status, 'SUCCEEDED');
  });

  void test('SendTaskFailure: its error and cause reach the history and the execution; RedriveExecution runs it again from the failed state', async () => {
    const activityArn = await createActivity();
    const smArn = await createMachine(activityMachine(activityArn));
    const { executionArn } = await client.send(
      new StartExecutionCommand({ stateMachineArn: smArn, input: '{"try":1}' }),
    );
    assert.ok(executionArn);
    const first = await client.send(new GetActivityTaskCommand({ activityArn }));
    assert.ok(first.taskToken);
    await client.send(
      new SendTaskFailureCommand({
        taskToken: first.taskToken,
        error: 'Inlet.DiskFull',
        cause: 'no space left on /data',
      }),
    );
    const failed = await settled(executionArn);
    assert.equal(failed.status, 'FAILED');
    assert.equal(failed.error, 'Inlet.DiskFull');
    assert.equal(failed.cause, 'no space left on /data');
    assert.equal(failed.redriveStatus, 'REDRIVABLE');
    const history = await fullHistory(executionArn);
    const activityFailed = history.find((e) => e.type === 'ActivityFailed')?.activityFailedEventDetails;
    assert.deepEqual(
      { error: activityFailed?.error, cause: activityFailed?.cause },
      { error: 'Inlet.DiskFull', cause: 'no space left on /data' },
    );
    const executionFailed = history.at(-1);
    assert.equal(executionFailed?.type, 'ExecutionFailed');
    assert.equal(executionFailed.executionFailedEventDetails?.error, 'Inlet.DiskFull');
    assert.equal(executionFailed.executionFailedEventDetails?.cause, 'no space left on /data');

    const redriven = await client.send(new RedriveExecutionCommand({ executionArn }));
    assertRecentDate(redriven.redriveDate, 'redriveDate');
    const second = await client.send(new GetActivityTaskCommand({ activityArn }));
    assert.ok(second.taskToken);
    assert.notEqual(second.taskToken, first.taskToken, 'a redriven task has a new token');
    assert.deepEqual(JSON.parse(second.input ?? ''), { try: 1 });
    await client.send(new SendTaskSuccessCommand({ taskToken: second.taskToken, output: '{"ok":true}' }));
    const out = await settled(executionArn, 'SUCCEEDED');
    assert.equal(out.redriveCount, 1);
    assert.equal(out.redriveDate?.getTime(), redriven.redriveDate.getTime());
    assert.equal(out.error, undefined);
    assert.deepEqual(JSON.parse(out.output ?? ''), { ok: true });
    assert.ok((await fullHistory(executionArn)).some((e) => e.type === 'ExecutionRedriven'));

    await rejectsWith(client.send(new RedriveExecutionCommand({ executionArn })), ExecutionNotRedrivable);
  });

  void test("TestState runs one state: its output and next state, the branch a Choice takes, and a Fail state's error", async () => {
    const pass = await syncClient.send(
      new TestStateCommand({
        definition: JSON.stringify({
          Type: 'Pass',
          Parameters: { 'doubled.$': 'States.MathAdd($.n, $.n)' },
          Next: 'After',
        }),
        roleArn: ROLE,
        input: '{"n":21}',
      }),
    );
    assert.equal(pass.status, 'SUCCEEDED');
    assert.deepEqual(JSON.parse(pass.output ?? ''), { doubled: 42 });
    assert.equal(pass.nextState, 'After');

    const choice = await syncClient.send(
      new TestStateCommand({
        definition: JSON.stringify({
          Type: 'Choice',
          Choices: [{ Variable: '$.n', NumericGreaterThan: 10, Next: 'Big' }],
          Default: 'Small',
        }),
        roleArn: ROLE,
        input: '{"n":21}',
      }),
    );
    assert.equal(choice.status, 'SUCCEEDED');
    assert.equal(choice.nextState, 'Big');
    assert.deepEqual(JSON.parse(choice.output ?? ''), { n: 21 });

    const fail = await syncClient.send(
      new TestStateCommand({
        definition: JSON.stringify({ Type: 'Fail', Error: 'Custom.Error', Cause: 'because' }),
        roleArn: ROLE,
        input: '{}',
      }),
    );
    assert.equal(fail.status, 'FAILED');
    assert.equal(fail.error, 'Custom.Error');
    assert.equal(fail.cause, 'because');
  });

  void test('ValidateStateMachineDefinition reports OK, or FAIL with diagnostics naming the code and location', async () => {
    const ok = await client.send(new ValidateStateMachineDefinitionCommand({ definition: passMachine }));
    assert.equal(ok.result, 'OK');
    assert.deepEqual(ok.diagnostics, []);

    const bad = await client.send(
      new ValidateStateMachineDefinitionCommand({
        definition: JSON.stringify({ StartAt: 'Nowhere', States: { A: { Type: 'Pass', End: true } } }),
      }),
    );
    assert.equal(bad.result, 'FAIL');
    const diagnostic = bad.diagnostics?.find((d) => d.code === 'MISSING_TRANSITION_TARGET');
    assert.ok(diagnostic, JSON.stringify(bad.diagnostics));
    assert.equal(diagnostic.severity, 'ERROR');
    assert.equal(diagnostic.location, '/StartAt');
    assert.match(diagnostic.message ?? '', /Nowhere/);

    const notJson = await client.send(
      new ValidateStateMachineDefinitionCommand({ definition: '{"StartAt":' }),
    );
    assert.equal(notJson.result, 'FAIL');
    assert.equal(notJson.diagnostics?.[0]?.code, 'INVALID_JSON_DESCRIPTION');
  });

  void test('TagResource, ListTagsForResource and UntagResource on state machines and activities', async () => {
    const smArn = await createMachine(passMachine);
    const activityArn = await createActivity();
    for (const arn of [smArn, activityArn]) {
      await client.send(
        new TagResourceCommand({
          resourceArn: arn,
          tags: [
            { key: 'team', value: 'data' },
            { key: 'env', value: 'test' },
          ],
        }),
      );
      const tagged = await client.send(new ListTagsForResourceCommand({ resourceArn: arn }));
      assert.deepEqual(
        [...(tagged.tags ?? [])].sort((a, b) => (a.key ?? '').localeCompare(b.key ?? '')),
        [
          { key: 'env', value: 'test' },
          { key: 'team', value: 'data' },
        ],
      );
      await client.send(new TagResourceCommand({ resourceArn: arn, tags: [{ key: 'env', value: 'prod' }] }));
      await client.send(new UntagResourceCommand({ resourceArn: arn, tagKeys: ['team'] }));
      assert.deepEqual((await client.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags, [
        { key: 'env', value: 'prod' },
      ]);
    }
    await rejectsWith(
      client.send(
        new ListTagsForResourceCommand({ resourceArn: `${ARN_PREFIX}stateMachine:no-such-machine` }),
      ),
      ResourceNotFound,
    );
  });

  void test('StartSyncExecution runs an EXPRESS machine to its end and returns its output, or its error and cause', async () => {
    const smArn = await createMachine(passMachine, 'express', 'EXPRESS');
    assert.equal(
      (await client.send(new DescribeStateMachineCommand({ stateMachineArn: smArn }))).type,
      'EXPRESS',
    );
    const out = await syncClient.send(
      new StartSyncExecutionCommand({ stateMachineArn: smArn, name: 'quick', input: '{"x":1}' }),
    );
    assert.equal(out.status, 'SUCCEEDED');
    assert.deepEqual(JSON.parse(out.output ?? ''), { x: 1, first: { step: 1 } });
    assert.equal(out.stateMachineArn, smArn);
    assert.equal(out.name, 'quick');
    assert.match(
      out.executionArn ?? '',
      new RegExp(`^${ARN_PREFIX}express:${smArn.split(':')[6] ?? ''}:quick:`),
    );
    assertRecentDate(out.startDate, 'startDate');
    assertRecentDate(out.stopDate, 'stopDate');
    assert.ok(out.stopDate.getTime() >= out.startDate.getTime());
    assert.ok((out.billingDetails?.billedDurationInMilliseconds ?? 0) > 0);

    const failing = await createMachine(
      JSON.stringify({
        StartAt: 'F',
        States: { F: { Type: 'Fail', Error: 'Express.Failed', Cause: 'on purpose' } },
      }),
      'express',
      'EXPRESS',
    );
    const failed = await syncClient.send(
      new StartSyncExecutionCommand({ stateMachineArn: failing, input: '{}' }),
    );
    assert.equal(failed.status, 'FAILED');
    assert.equal(failed.error, 'Express.Failed');
    assert.equal(failed.cause, 'on purpose');
    assert.equal(failed.output, undefined);
  });

  void test('StartSyncExecution on a STANDARD machine is refused with StateMachineTypeNotSupported, as on AWS', async () => {
    const smArn = await createMachine(passMachine);
    await rejectsWith(
      syncClient.send(new StartSyncExecutionCommand({ stateMachineArn: smArn, input: '{}' })),
      StateMachineTypeNotSupported,
    );
  });

  void test("missing and malformed ARNs raise the SDK's ExecutionDoesNotExist, InvalidArn, StateMachineDoesNotExist and ActivityDoesNotExist", async () => {
    const missing = await rejectsWith(
      client.send(new DescribeExecutionCommand({ executionArn: `${ARN_PREFIX}execution:nope:never-ran` })),
      ExecutionDoesNotExist,
    );
    assert.match(missing.message, /never-ran/);
    await rejectsWith(client.send(new DescribeExecutionCommand({ executionArn: 'not-an-arn' })), InvalidArn);
    await rejectsWith(
      client.send(new GetExecutionHistoryCommand({ executionArn: `${ARN_PREFIX}execution:nope:never-ran` })),
      ExecutionDoesNotExist,
    );
    await rejectsWith(
      client.send(new StartExecutionCommand({ stateMachineArn: `${ARN_PREFIX}stateMachine:nope` })),
      StateMachineDoesNotExist,
    );
    await rejectsWith(
      client.send(new GetActivityTaskCommand({ activityArn: `${ARN_PREFIX}activity:nope` })),
      ActivityDoesNotExist,
    );
    await rejectsWith(
      client.send(new ListExecutionsCommand({ stateMachineArn: `${ARN_PREFIX}stateMachine:nope` })),
      StateMachineDoesNotExist,
    );
    const smArn = await createMachine(passMachine);
    await rejectsWith(
      client.send(new ListExecutionsCommand({ stateMachineArn: smArn, maxResults: 5000 })),
      ValidationException,
    );
  });

  void test("SigV4: a wrong secret, an unknown key, a skewed clock and a missing signature are refused with AWS's errors", async () => {
    const wrongSecret = sdk({
      credentials: { accessKeyId: KEY_ID, secretAccessKey: 'not-the-secret' },
      maxAttempts: 1,
    });
    const unknownKey = sdk({
      credentials: { accessKeyId: 'AKIDUNKNOWN', secretAccessKey: SECRET },
      maxAttempts: 1,
    });
    const skewed = sdk({ systemClockOffset: -20 * 60_000, maxAttempts: 1 });
    const skewedWithRetries = sdk({ systemClockOffset: -20 * 60_000 });
    try {
      await assert.rejects(wrongSecret.send(new ListStateMachinesCommand({})), {
        name: 'InvalidSignatureException',
      });
      await assert.rejects(unknownKey.send(new ListStateMachinesCommand({})), {
        name: 'UnrecognizedClientException',
      });
      await assert.rejects(skewed.send(new ListStateMachinesCommand({})), {
        name: 'InvalidSignatureException',
      });
      // The SDK corrects its clock from the response's Date header and retries, as it does with AWS.
      assert.ok(
        Array.isArray((await skewedWithRetries.send(new ListStateMachinesCommand({}))).stateMachines),
      );
    } finally {
      for (const c of [wrongSecret, unknownKey, skewed, skewedWithRetries]) c.destroy();
    }

    const unsigned = await raw(server.url, 'ListStateMachines', '{}');
    assert.ok(unsigned.status === 400 || unsigned.status === 403, String(unsigned.status));
    assert.match(
      String(unsigned.json().__type),
      /#(MissingAuthenticationTokenException|UnrecognizedClientException|InvalidSignatureException)$/,
    );
  });

  void test('SigV4: a request signed without x-amz-content-sha256, as the AWS CLI and boto3 sign, is accepted, and its body is bound to the signature', async () => {
    const headers = await signByHand('ListStateMachines', '{"maxResults":1}', false);
    const accepted = await raw(server.url, 'ListStateMachines', '{"maxResults":1}', headers);
    assert.equal(accepted.status, 200, accepted.text);
    assert.equal((accepted.json().stateMachines as unknown[]).length, 1);
    const tampered = await raw(server.url, 'ListStateMachines', '{"maxResults":2}', headers);
    assert.ok(tampered.status === 400 || tampered.status === 403, String(tampered.status));
    assert.equal(tampered.json().__type, 'com.amazonaws.states#InvalidSignatureException');
  });

  void test('SigV4: a body that does not match its signed x-amz-content-sha256 is refused', async () => {
    const headers = await signByHand('ListStateMachines', '{"maxResults":1}', true);
    assert.equal(typeof headers['x-amz-content-sha256'], 'string');
    assert.equal((await raw(server.url, 'ListStateMachines', '{"maxResults":1}', headers)).status, 200);
    const tampered = await raw(server.url, 'ListStateMachines', '{"maxResults":2}', headers);
    assert.ok(
      tampered.status === 400 || tampered.status === 403,
      `a tampered body was answered ${tampered.status}`,
    );
    assert.equal(tampered.json().__type, 'com.amazonaws.states#InvalidSignatureException');
  });

  void test('auth none accepts unsigned requests and leaves requests that are not for Step Functions to the host server', async () => {
    const listed = await raw(open.url, 'ListStateMachines', '{"maxResults":1}');
    assert.equal(listed.status, 200, listed.text);
    assert.equal(listed.headers.get('content-type'), 'application/x-amz-json-1.0');
    const body = listed.json();
    assert.equal((body.stateMachines as { creationDate: unknown }[]).length, 1);
    assert.equal(
      typeof (body.stateMachines as { creationDate: unknown }[])[0]?.creationDate,
      'number',
      'timestamps are epoch seconds on the wire',
    );
    assert.equal(typeof body.nextToken, 'string');

    const anyCredentials = new SFNClient({
      endpoint: open.url,
      region: REGION,
      credentials: { accessKeyId: 'whatever', secretAccessKey: 'whatever' },
    });
    try {
      assert.ok((await anyCredentials.send(new ListActivitiesCommand({}))).activities);
    } finally {
      anyCredentials.destroy();
    }
    const other = await fetch(`${open.url}/health`);
    assert.equal(other.status, 200);
    assert.equal(await other.text(), 'host server');
  });

  void test("unknown actions and malformed bodies get AWS's 400 errors with __type, and the server keeps serving", async () => {
    const unknown = await raw(open.url, 'LaunchRockets', '{}');
    assert.equal(unknown.status, 400);
    assert.equal(unknown.headers.get('content-type'), 'application/x-amz-json-1.0');
    assert.ok(unknown.headers.get('x-amzn-requestid'));
    assert.match(String(unknown.json().__type), /#UnknownOperationException$/);
    assert.equal(typeof unknown.json().message, 'string');

    for (const body of ['{"stateMachineArn": ', 'not json at all', '\u0000\u0001']) {
      const malformed = await raw(open.url, 'DescribeStateMachine', body);
      assert.equal(malformed.status, 400, body);
      assert.match(String(malformed.json().__type), /#SerializationException$/);
    }
    for (const body of ['[]', '"text"', '42', 'null']) {
      const notObject = await raw(open.url, 'ListActivities', body);
      assert.equal(notObject.status, 400, body);
      assert.match(String(notObject.json().__type), /#SerializationException$/);
    }
    const missingArn = await raw(open.url, 'DescribeExecution', '{}');
    assert.equal(missingArn.status, 400);
    assert.ok(missingArn.json().__type, missingArn.text);

    assert.equal(
      (await raw(open.url, 'ListActivities', '')).status,
      200,
      'an empty body is an empty request',
    );
    assert.equal((await client.send(new ListStateMachinesCommand({}))).$metadata.httpStatusCode, 200);
  });

  void test('every action in SFN_ACTIONS answered the SDK with success, and no well-formed call hit an internal error', () => {
    const missing = SFN_ACTIONS.filter((action) => !served.get(action)?.has(200));
    assert.deepEqual(missing, [], 'actions never answered with 200');
    assert.deepEqual(internalErrors, []);
  });

  void test('fields of the wrong type or missing get a 400 error, never a 500', async () => {
    const failures: string[] = [];
    const bodies = [
      '{}',
      JSON.stringify({
        stateMachineArn: 5,
        executionArn: 5,
        activityArn: 5,
        resourceArn: 5,
        name: 5,
        definition: 5,
        taskToken: 5,
        tags: 'x',
        tagKeys: 'x',
      }),
      JSON.stringify({ definition: 'null', name: 'n' }),
    ];
    for (const action of SFN_ACTIONS) {
      for (const body of bodies) {
        const res = await raw(open.url, action, body);
        if (res.status >= 500) failures.push(`${action} ${body.slice(0, 30)} → ${res.status}`);
      }
    }
    assert.deepEqual(failures, []);
    // Through the SDK too: it does not check required members, so a missing name reaches the server.
    const once = sdk({ maxAttempts: 1 });
    try {
      await rejectsWith(
        once.send(new CreateActivityCommand({ name: undefined as unknown as string })),
        ValidationException,
      );
    } finally {
      once.destroy();
    }
  });
});

/**
 * `inlet deploy --endpoint` against Inlet's own Step Functions server, as an operator runs it:
 * the CLI as a subprocess signing with the server's access keys from the environment, the
 * server on a real SQLite file, and the result checked through `@aws-sdk/client-sfn`. Deploy
 * is the one client of the API that manages definitions as code, so its round trip — create,
 * nothing to change, diff then update — is what proves the API is enough for it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DescribeStateMachineCommand, ListActivitiesCommand, SFNClient } from '@aws-sdk/client-sfn';
import { Engine } from '../../src/engine/engine.ts';
import { StepFunctions } from '../../src/engine/step-functions.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { startSfnServer } from '../../src/api/sfn-http.ts';
import type { SfnServer } from '../../src/api/sfn-http.ts';
import type { DeployChange } from '../../src/cli/deploy.ts';

const BIN = resolve('bin/inlet.js');
const KEY_ID = 'AKIDDEPLOYTEST';
const SECRET = 'deploy-test-secret';
const ARN_PREFIX = 'arn:aws:states:us-east-1:123456789012:';

let dir: string;
let store: SqliteStore;
let engine: Engine;
let server: SfnServer;
let client: SFNClient;
/** The deployed state machine's ARN, once the first deploy made it. */
let machineArn = '';

/**
 * Runs `inlet` in `dir` without blocking this process, which serves the API the CLI talks to.
 * The access keys come from the environment, as an operator would pass them.
 */
async function inlet(args: string[], keys: { id: string; secret: string } = { id: KEY_ID, secret: SECRET }) {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    INLET_ACCESS_KEY_ID: keys.id,
    INLET_SECRET_ACCESS_KEY: keys.secret,
  };
  delete env.INLET_CONFIG;
  const child = spawn(
    process.execPath,
    [BIN, ...args, '--endpoint', server.url, '--data-dir', join(dir, 'data')],
    {
      cwd: dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((done) => child.on('close', done));
  return { code, stdout, stderr };
}

async function deployJson(args: string[] = []): Promise<DeployChange[]> {
  const run = await inlet(['deploy', '--json', ...args]);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as DeployChange[];
}

void describe('inlet deploy --endpoint against the Step Functions HTTP API', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'inlet-sfn-deploy-'));
    store = openSqliteStore(join(dir, 'engine.db'));
    engine = new Engine({ store });
    await engine.start();
    server = await startSfnServer({
      sfn: new StepFunctions(engine),
      auth: { mode: 'sigv4', keys: { [KEY_ID]: SECRET } },
      port: 0,
    });
    client = new SFNClient({
      endpoint: server.url,
      region: 'us-east-1',
      credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET },
    });
  });

  after(async () => {
    client.destroy();
    await server.close();
    await engine.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  void test('the first deploy creates the activities and the state machine, wired to the activity ARNs', async () => {
    const changes = await deployJson();
    const activities = changes.filter((c) => c.kind === 'activity');
    const machines = changes.filter((c) => c.kind === 'stateMachine');
    assert.ok(activities.length >= 1, JSON.stringify(changes));
    assert.equal(machines.length, 1);
    for (const c of changes) assert.equal(c.action, 'create', `${c.kind} ${c.name}`);
    for (const a of activities) assert.equal(a.arn, `${ARN_PREFIX}activity:${a.name}`);
    const machine = machines[0];
    assert.ok(machine);
    assert.equal(machine.arn, `${ARN_PREFIX}stateMachine:${machine.name}`);
    machineArn = machine.arn;

    const listed =
      (await client.send(new ListActivitiesCommand({}))).activities?.map((a) => a.activityArn) ?? [];
    for (const a of activities) assert.ok(listed.includes(a.arn), `${a.name} exists on the server`);
    const described = await client.send(new DescribeStateMachineCommand({ stateMachineArn: machine.arn }));
    const definition = described.definition ?? '';
    assert.doesNotMatch(definition, /:\s*"\$\{\w+\}"/, 'every template variable is filled in');
    for (const a of activities)
      assert.ok(definition.includes(`"${a.arn ?? ''}"`), `the definition uses ${a.name}'s ARN`);
  });

  void test('a second deploy reports everything unchanged and changes nothing on the server', async () => {
    const revision = (await client.send(new DescribeStateMachineCommand({ stateMachineArn: machineArn })))
      .revisionId;
    const changes = await deployJson();
    assert.deepEqual(
      changes.map((c) => `${c.kind} ${c.name} ${c.action}`),
      changes.map((c) => `${c.kind} ${c.name} unchanged`),
    );
    assert.equal(changes.find((c) => c.kind === 'stateMachine')?.arn, machineArn);
    assert.equal(
      (await client.send(new DescribeStateMachineCommand({ stateMachineArn: machineArn }))).revisionId,
      revision,
    );
  });

  void test('a changed setting shows a diff on --dry-run without applying it, then the deploy updates the machine', async () => {
    await writeFile(join(dir, 'inlet.config.json'), JSON.stringify({ sync: { maxConcurrency: 7 } }));
    const dry = await deployJson(['--dry-run']);
    const planned = dry.find((c) => c.kind === 'stateMachine');
    assert.equal(planned?.action, 'update');
    assert.match(planned.diff ?? '', /^\+ .*"MaxConcurrency": 7/m);
    assert.match(planned.diff ?? '', /^- .*"MaxConcurrency": /m);
    assert.equal(planned.arn, machineArn);
    const stillOld = await client.send(new DescribeStateMachineCommand({ stateMachineArn: machineArn }));
    assert.doesNotMatch(stillOld.definition ?? '', /"MaxConcurrency":\s*7/, 'a dry run changes nothing');

    const applied = await deployJson();
    assert.equal(applied.find((c) => c.kind === 'stateMachine')?.action, 'update');
    const updated = await client.send(new DescribeStateMachineCommand({ stateMachineArn: machineArn }));
    assert.match(updated.definition ?? '', /"MaxConcurrency":\s*7/);
  });

  void test("deploy with keys the server does not know fails with exit code 1 and AWS's error name", async () => {
    const run = await inlet(['deploy', '--json'], { id: 'AKIDSTRANGER', secret: SECRET });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /UnrecognizedClientException/);
    assert.equal(run.stdout, '');
  });
});

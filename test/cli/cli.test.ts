/**
 * The `inlet` command as a user runs it: a subprocess, from a clean directory, with real files.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Analytics } from '@segment/analytics-node';
import { ListStateMachinesCommand, SFNClient } from '@aws-sdk/client-sfn';
import pg from 'pg';

const BIN = resolve('bin/inlet.js');

function inlet(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }) {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    encoding: 'utf8',
    timeout: 240_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'inlet-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

void describe('inlet command line', { concurrency: false }, () => {
  void test('the demo syncs a day of events through the state machine from a clean directory, and the lake answers queries', (t) => {
    const dir = tempDir(t);
    const demo = inlet(['demo', '--json'], { cwd: dir });
    assert.equal(demo.code, 0, demo.stderr);
    const out = JSON.parse(demo.stdout) as {
      generated: { valid: number; duplicates: number; badTotal: number };
      sync: { status: string; executionArn: string; report: Record<string, unknown>[] };
      query: { rows: { pages: number }[] };
    };
    assert.equal(out.sync.status, 'finished');
    const source = out.sync.report.find((r) => r.type === 'source') as { read: number; loaded: number; quarantined_total: number; duplicates: { total: number } };
    assert.equal(source.read, out.generated.valid + out.generated.duplicates + out.generated.badTotal, 'every raw line is read');
    assert.equal(source.read, source.loaded + source.duplicates.total + source.quarantined_total, 'the report reconciles');
    assert.equal(source.loaded, out.generated.valid, 'exactly one row per unique valid event');
    assert.equal(source.quarantined_total, out.generated.badTotal, 'every bad line is quarantined');
    const pages = out.sync.report.find((r) => r.table_name === 'pages') as { row_count: number };
    assert.equal(out.query.rows[0]?.pages, pages.row_count);

    const query = inlet(['query', '--json', '--data-dir', '.inlet-demo', 'SELECT count(*) AS n FROM pages'], { cwd: dir });
    assert.equal(query.code, 0, query.stderr);
    assert.equal((JSON.parse(query.stdout) as { n: number }[])[0]?.n, pages.row_count);

    const syncs = inlet(['syncs', 'list', '--json', '--data-dir', '.inlet-demo'], { cwd: dir });
    assert.deepEqual(
      (JSON.parse(syncs.stdout) as { status: string; sourceId: string }[]).map((s) => [s.sourceId, s.status]),
      [['demo', 'finished']],
    );

    const executions = inlet(['executions', 'list', '--json', '--data-dir', '.inlet-demo'], { cwd: dir });
    const list = JSON.parse(executions.stdout) as { status: string; executionArn: string }[];
    assert.deepEqual(list.map((e) => e.status), ['SUCCEEDED']);
    const history = inlet(['executions', 'history', '--json', '--data-dir', '.inlet-demo', out.sync.executionArn], { cwd: dir });
    const types = (JSON.parse(history.stdout) as { type: string }[]).map((e) => e.type);
    for (const type of ['ExecutionStarted', 'MapStateEntered', 'ActivitySucceeded', 'ExecutionSucceeded']) assert.ok(types.includes(type), type);
  });

  void test('with engineDatabase the demo runs its sync on a PostgreSQL engine store, and the commands read it there', async (t) => {
    const dir = tempDir(t);
    const url = 'postgres://postgres@127.0.0.1:5432/test';
    const schema = `inlet_cli_${randomBytes(4).toString('hex')}`;
    t.after(async () => {
      const client = new pg.Client(url);
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    });
    writeFileSync(join(dir, 'inlet.config.json'), JSON.stringify({ engineDatabase: url, engineSchema: schema }));
    const demo = inlet(['demo', '--json'], { cwd: dir });
    assert.equal(demo.code, 0, demo.stderr);
    const out = JSON.parse(demo.stdout) as { sync: { status: string; executionArn: string } };
    assert.equal(out.sync.status, 'finished');
    const client = new pg.Client(url);
    await client.connect();
    try {
      const { rows } = await client.query(`SELECT arn, status FROM ${schema}.executions`);
      assert.deepEqual(rows, [{ arn: out.sync.executionArn, status: 'SUCCEEDED' }]);
    } finally {
      await client.end();
    }
    const executions = inlet(['executions', 'list', '--json', '--data-dir', '.inlet-demo'], { cwd: dir });
    assert.deepEqual((JSON.parse(executions.stdout) as { executionArn: string }[]).map((e) => e.executionArn), [out.sync.executionArn]);
    writeFileSync(join(dir, 'inlet.config.json'), JSON.stringify({ engineDatabase: 'mysql://nope' }));
    const wrong = inlet(['executions', 'list'], { cwd: dir });
    assert.equal(wrong.code, 3);
    assert.match(wrong.stderr, /engineDatabase/);
  });

  void test('deploy creates the sync machine once, then reports nothing to change, then shows a diff for a changed setting', (t) => {
    const dir = tempDir(t);
    const first = inlet(['deploy', '--json'], { cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    const actions = (out: string) => (JSON.parse(out) as { kind: string; action: string; diff?: string }[]).map((c) => `${c.kind}:${c.action}`);
    assert.deepEqual(actions(first.stdout), ['activity:create', 'activity:create', 'activity:create', 'activity:create', 'stateMachine:create']);
    const again = inlet(['deploy', '--json'], { cwd: dir });
    assert.ok(actions(again.stdout).every((a) => a.endsWith(':unchanged')), again.stdout);
    writeFileSync(join(dir, 'inlet.config.json'), JSON.stringify({ sync: { heartbeatSeconds: 45 } }));
    const dry = inlet(['deploy', '--dry-run', '--json'], { cwd: dir });
    const changes = JSON.parse(dry.stdout) as { kind: string; action: string; diff?: string }[];
    const machine = changes.find((c) => c.kind === 'stateMachine');
    assert.equal(machine?.action, 'update');
    assert.match(machine?.diff ?? '', /^\+ .*"HeartbeatSeconds": 45/m);
    assert.match(machine?.diff ?? '', /^- .*"HeartbeatSeconds": 60/m);
    const stillOld = inlet(['deploy', '--dry-run', '--json'], { cwd: dir });
    assert.equal(JSON.parse(stillOld.stdout).find((c: { kind: string }) => c.kind === 'stateMachine').action, 'update', 'a dry run changed nothing');
  });

  void test('wrong usage exits 2 with the usage, a broken config exits 3 naming the problem', (t) => {
    const dir = tempDir(t);
    const usage = inlet(['no-such-command'], { cwd: dir });
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /unknown command 'no-such-command'/);
    assert.match(usage.stderr, /usage: inlet/);
    writeFileSync(join(dir, 'inlet.config.json'), JSON.stringify({ server: { port: 'eighty' } }));
    const config = inlet(['sources', 'list'], { cwd: dir });
    assert.equal(config.code, 3);
    assert.match(config.stderr, /server\.port/);
  });

  void test('inlet start serves the Step Functions API with SigV4, the tracking API and /metrics; events it acknowledged are synced after a stop', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'inlet.config.json'), JSON.stringify({ server: { port: 0 }, sources: [{ id: 'web', writeKeyEnv: 'WEB_WRITE_KEY' }] }));
    const env = { ...process.env, WEB_WRITE_KEY: 'wk-test-123', INLET_ACCESS_KEY_ID: 'AKIDCLI', INLET_SECRET_ACCESS_KEY: 'cli-secret' };
    const server = spawn(process.execPath, [BIN, 'start'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    const url = await new Promise<string>((resolveUrl, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listen line in ${log}`)), 60_000);
      server.stderr.on('data', (chunk: Buffer) => {
        log += chunk.toString();
        const m = /listening on (http:\/\/[^\s]+)/.exec(log);
        if (m?.[1]) {
          clearTimeout(timer);
          resolveUrl(m[1]);
        }
      });
    });
    assert.doesNotMatch(log, /cli-secret|wk-test-123/, 'secrets never appear in the log');
    const sfn = new SFNClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: 'AKIDCLI', secretAccessKey: 'cli-secret' } });
    const machines = await sfn.send(new ListStateMachinesCommand({}));
    assert.deepEqual(machines.stateMachines?.map((m) => m.name), ['datalake-sync']);
    const wrong = new SFNClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: 'AKIDCLI', secretAccessKey: 'nope' } });
    await assert.rejects(wrong.send(new ListStateMachinesCommand({})), { name: 'InvalidSignatureException' });
    const analytics = new Analytics({ writeKey: 'wk-test-123', host: url, flushAt: 1 });
    analytics.track({ userId: 'u1', event: 'CLI Tested', properties: { answer: 42 } });
    await analytics.closeAndFlush();
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /inlet_api_request_seconds_count\{action="ListStateMachines",status="200"\} 1/);
    server.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => server.on('exit', r));
    assert.equal(code, 0, log);
    sfn.destroy();
    wrong.destroy();

    const sync = inlet(['sync', 'web', '--json'], { cwd: dir, env });
    assert.equal(sync.code, 0, sync.stderr);
    assert.equal((JSON.parse(sync.stdout) as { status: string }).status, 'finished');
    const query = inlet(['query', '--json', 'SELECT user_id, answer FROM cli_tested'], { cwd: dir, env });
    assert.deepEqual(JSON.parse(query.stdout), [{ user_id: 'u1', answer: 42 }]);
  });
});

/**
 * The tracking API's durability promise under a real crash: the server runs in a child process,
 * clients send batches at full speed and record every acknowledged messageId, the server is
 * SIGKILLed mid-stream and restarted on the same log, and after its replay every acknowledged
 * event is in the raw store exactly once (and no event, acknowledged or not, is there twice).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { listRawObjects, readRawLines } from '../../src/lake/raw-layout.ts';
import { LocalObjectStore } from '../../src/lake/storage/local-store.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const WRITE_KEY = 'wk-crash-31f0';
const SENDERS = 4;
const EVENTS_PER_BATCH = 50;
const KILL_AFTER_ACKED = 6000;

const SERVER_SCRIPT = `
import { startTrackingServer } from ${JSON.stringify(pathToFileURL(join(ROOT, 'src/api/tracking.ts')).href)};
import { LocalObjectStore } from ${JSON.stringify(pathToFileURL(join(ROOT, 'src/lake/storage/local-store.ts')).href)};
const [logDir, storeDir] = process.argv.slice(2);
const server = await startTrackingServer({
  logDir,
  store: new LocalObjectStore(storeDir),
  sources: [{ id: 'crash-src', writeKey: ${JSON.stringify(WRITE_KEY)} }],
  rollBytes: 128 * 1024,
  rollAgeMs: 150,
});
process.stdout.write(JSON.stringify({ port: server.port, recovery: server.ingest.recovery }) + '\\n');
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
`;

interface Ready {
  port: number;
  recovery: { segments: number; records: number; truncatedBytes: number };
}

/** Starts the server script and resolves with its first stdout line (printed after replay). */
function startServer(script: string, logDir: string, storeDir: string): Promise<{ child: ChildProcess; ready: Ready }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, logDir, storeDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolvePromise, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => resolvePromise({ child, ready: JSON.parse(line) as Ready }));
    child.once('exit', (code) => reject(new Error(`tracking server exited early with ${code}`)));
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

void test('every acknowledged event survives a SIGKILL mid-stream and is in the raw store exactly once after restart', async () => {
  const dir = await fsp.mkdtemp(join(tmpdir(), 'inlet-crash-'));
  const logDir = join(dir, 'log');
  const storeDir = join(dir, 'raw');
  const script = join(dir, 'server.mjs');
  await fsp.writeFile(script, SERVER_SCRIPT);
  let child: ChildProcess | undefined;
  try {
    const first = await startServer(script, logDir, storeDir);
    child = first.child;
    const url = `http://127.0.0.1:${first.ready.port}/v1/batch`;
    const authorization = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;
    const acked = new Set<string>();
    let killed = false;

    const sender = async (senderId: number): Promise<void> => {
      for (let batchNo = 0; !killed; batchNo++) {
        const ids = Array.from({ length: EVENTS_PER_BATCH }, (_, i) => `s${senderId}-b${batchNo}-e${i}`);
        const body = JSON.stringify({
          batch: ids.map((messageId, i) => ({ type: 'track', event: 'Crash Tested', userId: `u${i}`, messageId, properties: { batchNo, i } })),
          sentAt: new Date().toISOString(),
        });
        try {
          const response = await fetch(url, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body });
          if (response.status === 200) for (const id of ids) acked.add(id);
          else await response.arrayBuffer();
        } catch {
          return; // the server is gone: whatever was not acknowledged may or may not be stored
        }
        if (!killed && acked.size >= KILL_AFTER_ACKED) {
          killed = true;
          first.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: SENDERS }, (_, i) => sender(i)));
    await exited(first.child);
    assert.equal(first.child.signalCode, 'SIGKILL');
    assert.ok(acked.size >= KILL_AFTER_ACKED);

    const second = await startServer(script, logDir, storeDir);
    child = second.child;

    const store = new LocalObjectStore(storeDir);
    const seen = new Map<string, number>();
    for await (const object of listRawObjects(store, 'crash-src')) {
      for await (const line of readRawLines(store, object.key)) {
        const id = String((JSON.parse(line.text) as { messageId: unknown }).messageId);
        seen.set(id, (seen.get(id) ?? 0) + 1);
      }
    }
    const missing = [...acked].filter((id) => !seen.has(id));
    const twice = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} of ${acked.size} acknowledged events are missing`);
    assert.deepEqual(twice.slice(0, 5), [], `${twice.length} events are stored more than once`);
    // Events in flight at the kill may land too, but nothing that was never sent.
    assert.ok(seen.size - acked.size <= SENDERS * EVENTS_PER_BATCH, `${seen.size - acked.size} unacknowledged events stored`);
    // The log held the unrolled tail, which the restart replayed.
    assert.ok(second.ready.recovery.records > 0, 'the crash left records in the log for replay');
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited(child);
    }
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

/**
 * WAL checkpoints on a thread of their own. SQLite's automatic checkpoint runs inside whichever
 * COMMIT fills the WAL past 1,000 pages and waits there for its fsyncs, so every few hundred
 * commits one request or advance stalls the whole event loop. Here the writer connection turns
 * automatic checkpoints off and a worker thread, with its own connection to the same file, runs a
 * PASSIVE checkpoint a few times a second instead: it never blocks the writer, and crash safety
 * is unchanged, because a committed transaction is durable in the WAL whether or not it has been
 * copied into the database file yet.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** How often the thread checkpoints. */
const INTERVAL_MS = 250;

/**
 * The thread's code, plain JavaScript evaluated by `new Worker(…, { eval: true })`, so it needs
 * no TypeScript loader whichever way the process was started.
 */
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 5000');
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (err) { parentPort.postMessage({ error: String(err) }); }
}, workerData.intervalMs);
parentPort.on('message', () => { clearInterval(timer); db.close(); process.exit(0); });
`;

/** A running checkpoint thread; `stop` ends it before the writer closes the database. */
export interface Checkpointer {
  stop(): Promise<void>;
}

/** Starts checkpointing the WAL of the SQLite file at `path` from a worker thread. */
export function startCheckpointer(path: string): Checkpointer {
  const worker = new Worker(THREAD, {
    eval: true,
    workerData: { path, module: createRequire(import.meta.url).resolve('better-sqlite3'), intervalMs: INTERVAL_MS },
  });
  // A checkpoint that fails now succeeds later or is done by the writer at close: say so, go on.
  worker.on('message', (m: { error?: string }) => {
    if (m.error) console.error(`inlet store: background WAL checkpoint failed: ${m.error}`);
  });
  worker.unref();
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    async stop() {
      worker.ref(); // keep the process alive until the thread has closed its connection
      worker.postMessage('stop');
      await exited;
    },
  };
}

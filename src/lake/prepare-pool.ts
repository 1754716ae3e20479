/**
 * A small pool of worker threads running {@link prepareChunk}, so one worker process prepares
 * several chunks at once. Prepare is CPU-bound JavaScript (parse, validate, flatten), and the
 * pollers of one process share one event loop: without threads, two chunks take turns on one
 * core however many cores the machine has.
 *
 * A thread cannot be handed an ObjectStore, so stores travel as their {@link StoreLocator} (the
 * location they were opened from, local or S3), which the thread opens again. A store without
 * one — a wrapper, or an S3 store built directly — is prepared on the calling thread.
 *
 * A thread lives while there is work: one idle for `idleMs` exits, giving its heap back before
 * the sync's Load (which wants the memory for DuckDB) instead of holding it until the process
 * ends. Idle threads are also unref'd, so a process that never closes its pool still exits.
 */
import { availableParallelism } from 'node:os';
import { parentPort, Worker } from 'node:worker_threads';
import { prepareChunk, type PrepareOptions } from './prepare.ts';
import { LocalObjectStore } from './storage/local-store.ts';
import type { ObjectStore } from './storage/object-store.ts';
import { localDirectory, storeLocator, type StoreLocator } from './storage/store-locator.ts';
import type { PrepareInput, PrepareLimits, PrepareSummary } from './types.ts';

/** Options for {@link PreparePool}. */
export interface PreparePoolOptions {
  /** Threads at most; the machine's available cores by default. */
  threads?: number;
  /** How long an idle thread waits for the next chunk before it exits; default 1 s. */
  idleMs?: number;
  /**
   * Old-generation heap limit of each thread in MiB; default {@link DEFAULT_THREAD_HEAP_MB}. A
   * chunk that does not fit is prepared again on the calling thread.
   */
  threadHeapMb?: number;
}

/**
 * V8 lets a heap grow far past its live data before it collects when the limit is high: about
 * 290 MiB per thread on the bench's 2 GB input, whose chunks live in under 64 MiB. The pool
 * multiplies that by its threads, so each thread gets a limit well above a chunk's needs (a
 * chunk's messageIds are most of it) but far below the process default.
 */
export const DEFAULT_THREAD_HEAP_MB = 256;

/** What a thread is asked to do: {@link prepareChunk} with its stores given by root folder. */
interface PrepareRequest {
  input: PrepareInput;
  rawStore: StoreLocator;
  lakeStore: StoreLocator;
  limits?: Partial<PrepareLimits>;
  tempDir?: string;
}

/** An error as plain data: a thrown error's own class and fields do not survive the message. */
interface ErrorData {
  name: string;
  message: string;
  stack?: string;
}

/** What a thread answers: the summary, or the error. */
type PrepareReply = { summary: PrepareSummary } | { error: ErrorData };

const BUILT_IN_ERRORS: Readonly<Record<string, ErrorConstructor>> = {
  RangeError,
  TypeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/** The thread's error on this side: a built-in class is kept, any other is an Error of its name. */
function rebuildError(data: ErrorData): Error {
  const error = new (BUILT_IN_ERRORS[data.name] ?? Error)(data.message);
  error.name = data.name;
  if (data.stack !== undefined) error.stack = data.stack;
  return error;
}

interface Task {
  request: PrepareRequest;
  resolve: (summary: PrepareSummary) => void;
  reject: (error: Error) => void;
}

/** Whether a thread died for its heap limit. */
function isOutOfMemory(err: unknown): boolean {
  return err instanceof Error && 'code' in err && err.code === 'ERR_WORKER_OUT_OF_MEMORY';
}

/** Runs prepareChunk calls on up to `threads` worker threads, queueing the rest. */
export class PreparePool {
  /** Threads at most. */
  readonly threads: number;
  private readonly idleMs: number;
  private readonly threadHeapMb: number;
  private readonly workers = new Set<Worker>();
  private readonly idleTimers = new Map<Worker, NodeJS.Timeout>();
  private readonly idle: Worker[] = [];
  private readonly running = new Map<Worker, Task>();
  private readonly queue: Task[] = [];
  private closed = false;

  constructor(options: PreparePoolOptions = {}) {
    const threads = options.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError('threads must be an integer >= 1');
    this.threads = threads;
    this.idleMs = options.idleMs ?? 1000;
    this.threadHeapMb = options.threadHeapMb ?? DEFAULT_THREAD_HEAP_MB;
  }

  /** Threads alive now, busy or idle. */
  get liveThreads(): number {
    return this.workers.size;
  }

  /** {@link prepareChunk} on a pool thread, or on this thread when a store cannot travel. */
  prepare(input: PrepareInput, options: PrepareOptions): Promise<PrepareSummary> {
    const rawStore = storeLocator(options.rawStore);
    const lakeStore = storeLocator(options.lakeStore);
    if (rawStore === undefined || lakeStore === undefined) return prepareChunk(input, options);
    if (this.closed) return Promise.reject(new Error('the Prepare pool is closed'));
    const request: PrepareRequest = { input, rawStore, lakeStore };
    if (options.limits !== undefined) request.limits = options.limits;
    if (options.tempDir !== undefined) request.tempDir = options.tempDir;
    const onThread = new Promise<PrepareSummary>((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      this.dispatch();
    });
    // Prepare removes what an earlier attempt wrote, so the chunk can simply run again here.
    return onThread.catch((err: unknown) => {
      if (isOutOfMemory(err)) return prepareChunk(input, options);
      throw err;
    });
  }

  /** Stops every thread; calls still running or queued are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    for (const task of this.queue.splice(0)) task.reject(new Error('the Prepare pool is closed'));
    await Promise.all([...this.workers].map((w) => w.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let worker = this.idle.pop();
      if (worker === undefined) {
        if (this.workers.size >= this.threads) return;
        worker = this.spawn();
      }
      const task = this.queue.shift() as Task;
      clearTimeout(this.idleTimers.get(worker));
      this.idleTimers.delete(worker);
      this.running.set(worker, task);
      worker.ref();
      worker.postMessage(task.request);
    }
  }

  private spawn(): Worker {
    const worker = new Worker(new URL('./prepare-thread.js', import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: this.threadHeapMb },
    });
    this.workers.add(worker);
    worker.on('message', (reply: PrepareReply) => {
      const task = this.running.get(worker);
      this.running.delete(worker);
      worker.unref();
      this.idle.push(worker);
      const timer = setTimeout(() => {
        // Out of the pool first, so no task is handed to a thread on its way out.
        this.retire(worker);
        void worker.terminate();
      }, this.idleMs);
      timer.unref();
      this.idleTimers.set(worker, timer);
      if ('error' in reply) task?.reject(rebuildError(reply.error));
      else task?.resolve(reply.summary);
      this.dispatch();
    });
    // A thread that dies (an uncaught error, out of memory, terminate) fails its task only.
    worker.on('error', (err) => this.retire(worker, err));
    worker.on('exit', (code) => this.retire(worker, new Error(`a Prepare thread exited with code ${code}`)));
    return worker;
  }

  /** Takes a thread out of the pool, failing the task it ran, if any. */
  private retire(worker: Worker, error?: Error): void {
    if (!this.workers.delete(worker)) return;
    clearTimeout(this.idleTimers.get(worker));
    this.idleTimers.delete(worker);
    const at = this.idle.indexOf(worker);
    if (at >= 0) this.idle.splice(at, 1);
    const task = this.running.get(worker);
    this.running.delete(worker);
    if (task !== undefined) task.reject(error ?? new Error('a Prepare thread stopped'));
    if (!this.closed) this.dispatch();
  }
}

/** Opens a store again in the thread; the S3 SDK is loaded only for a store that needs it. */
async function reopen({ location, env }: StoreLocator): Promise<ObjectStore> {
  const directory = localDirectory(location);
  if (directory !== undefined) return new LocalObjectStore(directory);
  const { openObjectStore } = await import('./storage/open-store.ts');
  return openObjectStore(location, env === undefined ? {} : { env });
}

/** The thread side: answers each request with prepareChunk's summary or error. */
export function servePrepareThread(): void {
  const port = parentPort;
  if (port === null) throw new Error('servePrepareThread runs in a worker thread');
  const prepare = async (request: PrepareRequest): Promise<PrepareSummary> => {
    const options: PrepareOptions = {
      rawStore: await reopen(request.rawStore),
      lakeStore: await reopen(request.lakeStore),
    };
    if (request.limits !== undefined) options.limits = request.limits;
    if (request.tempDir !== undefined) options.tempDir = request.tempDir;
    return prepareChunk(request.input, options);
  };
  port.on('message', (request: PrepareRequest) => {
    prepare(request).then(
      (summary) => port.postMessage({ summary } satisfies PrepareReply),
      (err: unknown) => {
        const error = err instanceof Error ? err : new Error(String(err));
        const data: ErrorData = { name: error.name, message: error.message };
        if (error.stack !== undefined) data.stack = error.stack;
        port.postMessage({ error: data } satisfies PrepareReply);
      },
    );
  });
}

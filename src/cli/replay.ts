/**
 * `inlet replay <source> --from <day> --to <day>`: reloads a range of received days exactly once.
 * A replay is an ordinary datalake-sync execution whose plan names every raw object of the range,
 * synced or not, so it runs in process like `inlet sync` (engine and stage workers here) and goes
 * through the same Prepare, Load (deduplicating against the lake), Follow and Cleanup; the lake
 * gains only the range's missing rows and the report is marked as a replay of the range.
 */
import { parseReplayRange } from '../sync/plan.ts';
import { SyncAlreadyRunningError, runSyncNow } from '../sync/index.ts';
import type { ReplayRange, SyncApi } from '../sync/index.ts';
import type { InletConfig } from './config.ts';
import { openRuntime } from './runtime.ts';
import { describeOutcome, progressPrinter, startInProcessWorkers } from './sync-commands.ts';

/** What `inlet replay` was asked to do, checked. */
export interface ReplayArgs {
  sourceId: string;
  range: ReplayRange;
}

/**
 * Checks the command's arguments; returns the usage problem as `{ usage }` (exit code 2) rather
 * than throwing, so main.ts keeps the one usage error type.
 */
export function parseReplayArgs(
  sourceId: string | undefined,
  from: string | undefined,
  to: string | undefined,
): ReplayArgs | { usage: string } {
  if (!sourceId || from === undefined || to === undefined)
    return { usage: 'usage: inlet replay <source> --from YYYY-MM-DD --to YYYY-MM-DD' };
  try {
    return { sourceId, range: parseReplayRange(from, to) };
  } catch (e) {
    return { usage: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * Runs one replay in this process and prints its outcome; resolves the exit code: 0 finished (or
 * nothing received in the range), 1 failed or refused (the source is syncing, the range is too
 * big for one sync).
 */
export async function runReplay(config: InletConfig, args: ReplayArgs, json: boolean): Promise<number> {
  const runtime = await openRuntime(config);
  let stop = async (): Promise<void> => undefined;
  try {
    await runtime.engine.start();
    const { machine, worker, stages } = await startInProcessWorkers(runtime);
    stop = async () => {
      await worker.stop();
      await stages.idle();
    };
    const outcome = await runSyncNow({
      api: runtime.sfn as unknown as SyncApi,
      stateMachineArn: machine.stateMachineArn,
      sourceId: args.sourceId,
      rawStore: runtime.rawStore,
      lakeStore: runtime.lakeStore,
      catalog: runtime.catalog,
      replay: args.range,
      onProgress: progressPrinter(),
    });
    const { from, to } = args.range;
    const text = () =>
      outcome.status === 'nothing_to_sync'
        ? `source '${args.sourceId}': no raw data received ${from}..${to}`
        : `replay of ${from}..${to}\n${describeOutcome(outcome)}`;
    process.stdout.write(json ? `${JSON.stringify(outcome, null, 2)}\n` : `${text()}\n`);
    return outcome.status === 'failed' ? 1 : 0;
  } catch (e) {
    // Refusals the user can act on: a message, not a stack trace.
    if (e instanceof SyncAlreadyRunningError || e instanceof RangeError) {
      process.stderr.write(`inlet: replay refused: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    await stop();
    await runtime.close();
  }
}

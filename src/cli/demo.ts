/**
 * `inlet demo` (what `npm run demo` runs): on embedded defaults in a fresh data directory,
 * generate a day of sample events for a demo source, run one full sync through the
 * datalake-sync state machine with in-process workers, print the sync report and a sample
 * query, and exit 0 — the whole system in one command.
 */
import { rmSync } from 'node:fs';
import { generateRaw } from '../lake/generate.ts';
import { openLakeQuery } from '../lake/query.ts';
import { runSyncNow } from '../sync/index.ts';
import type { SyncApi } from '../sync/index.ts';
import type { InletConfig } from './config.ts';
import { openRuntime } from './runtime.ts';
import { describeOutcome, progressPrinter, startInProcessWorkers } from './sync-commands.ts';

/** The demo's source id. */
export const DEMO_SOURCE = 'demo';

/** Runs the demo; resolves 0 when the sync succeeded and the query returned rows. */
export async function runDemo(config: InletConfig, json: boolean): Promise<number> {
  const say = (line: string) => process.stderr.write(`${line}\n`);
  // The demo owns its data directory and starts from nothing, so it can be run again and again.
  rmSync(config.dataDir, { recursive: true, force: true });
  const runtime = await openRuntime(config);
  const day = Date.UTC(2024, 0, 15);
  say(`inlet demo: data in ${config.dataDir}`);
  const generated = await generateRaw(runtime.rawStore, {
    seed: 42,
    sourceId: DEMO_SOURCE,
    events: 20_000,
    start: new Date(day),
    durationMs: 86_400_000,
    badLineRate: 0.01,
    duplicateRate: 0.02,
  });
  say(`generated ${generated.counts.valid} events, ${generated.counts.duplicates} duplicates and ${generated.counts.badTotal} bad lines in ${generated.files.length} raw objects`);
  await runtime.engine.start();
  const { machine, worker, stages } = await startInProcessWorkers(runtime);
  try {
    const outcome = await runSyncNow({
      api: runtime.sfn as unknown as SyncApi,
      stateMachineArn: machine.stateMachineArn,
      sourceId: DEMO_SOURCE,
      rawStore: runtime.rawStore,
      lakeStore: runtime.lakeStore,
      catalog: runtime.catalog,
      onProgress: progressPrinter(),
    });
    say(describeOutcome(outcome));
    if (outcome.status !== 'finished') return 1;
    const lake = await openLakeQuery({ catalog: runtime.catalog, lakeStore: runtime.lakeStore, sourceId: DEMO_SOURCE });
    const sql = 'SELECT day, count(*) AS pages, count(DISTINCT anonymous_id) AS visitors FROM pages GROUP BY day ORDER BY day';
    const rows = await lake.runQuery(sql);
    lake.close();
    if (json) {
      process.stdout.write(`${JSON.stringify({ generated: generated.counts, sync: outcome, query: { sql, rows } }, null, 2)}\n`);
    } else {
      process.stdout.write(`${describeOutcome(outcome)}\n\n${sql}\n${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
      process.stdout.write(`\nthe lake and its catalog are in ${config.dataDir}; query them with:\n  node bin/inlet.js query --data-dir ${config.dataDir} "SELECT event_text, count(*) AS events FROM order_completed GROUP BY 1"\n`);
    }
    return outcome.status === 'finished' && rows.length > 0 ? 0 : 1;
  } finally {
    await worker.stop();
    await stages.idle();
    await runtime.close();
  }
}

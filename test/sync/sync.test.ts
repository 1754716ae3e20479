/**
 * Syncs through the real engine, the real worker runtime and DuckDB, in one process: a whole
 * sync lands every unique event exactly once and reports it; a failing Load is caught, cleaned
 * up and recorded, and the next sync loads everything; the template refuses bad variables.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { listRawObjects } from '../../src/lake/raw-layout.ts';
import {
  TemplateVariableError,
  ensureSyncMachine,
  loadSyncTemplate,
  renderDefinition,
  runSyncNow,
  syncDefinitionVars,
  type SyncMachine,
  type SyncProgress,
} from '../../src/sync/index.ts';
import { inProcessApi, type Worker } from '../../src/worker/index.ts';
import { FAST_SETTINGS, generate, lakeCounts, makeDirs, openCatalog, stagesFor, startInProcessEngine, startWorker, type InProcessEngine, type SyncDirs } from './harness.ts';

const ARNS = { prepare: 'arn:p', load: 'arn:l', follow: 'arn:f', cleanup: 'arn:c' };

void describe('the datalake-sync template', () => {
  void test('renders activity ARNs as text and tuning variables as JSON numbers', () => {
    const definition = JSON.parse(renderDefinition(loadSyncTemplate(), syncDefinitionVars(ARNS, { heartbeatSeconds: 7 }))) as {
      States: Record<string, Record<string, unknown>>;
    };
    assert.equal(definition.States['Load']?.['Resource'], 'arn:l');
    assert.equal(definition.States['Load']?.['HeartbeatSeconds'], 7);
    assert.equal(definition.States['PrepareAll']?.['MaxConcurrency'], 3);
  });

  void test('refuses a variable the template uses but was not given, and one it never uses', () => {
    const vars = syncDefinitionVars(ARNS);
    const { activity_follow: _dropped, ...missing } = vars;
    assert.throws(() => renderDefinition(loadSyncTemplate(), missing), TemplateVariableError);
    assert.throws(() => renderDefinition(loadSyncTemplate(), { ...vars, activity_extra: 'x' }), /does not use '\$\{activity_extra\}'/);
  });

  void test('fills variables inside longer strings and keeps $${ as a literal', () => {
    const out = JSON.parse(renderDefinition('{"a":"x-${v}-y","b":"$${v}"}', { v: 3 })) as Record<string, unknown>;
    assert.deepEqual(out, { a: 'x-3-y', b: '${v}' });
  });
});

void describe('a sync through the engine and workers', () => {
  let dirs: SyncDirs;
  let engine: InProcessEngine;
  let sfn: InProcessEngine['sfn'];
  let machine: SyncMachine;
  let worker: Worker;
  let catalogDb: ReturnType<typeof openCatalog>;
  const sourceId = 'web';

  before(async () => {
    dirs = await makeDirs('sync');
    engine = await startInProcessEngine(dirs.dbPath);
    sfn = engine.sfn;
    catalogDb = openCatalog(dirs.dbPath);
    machine = await ensureSyncMachine(sfn, { settings: FAST_SETTINGS });
    worker = startWorker(inProcessApi(sfn, { pollMs: 500 }), machine.activities, stagesFor(dirs, catalogDb.catalog, { executions: sfn }), 'w1');
  });

  after(async () => {
    await worker.stop();
    await engine.close();
    catalogDb.db.close();
    await dirs.remove();
  });

  const run = (onProgress?: (p: SyncProgress) => void, source = sourceId) =>
    runSyncNow({
      api: sfn,
      stateMachineArn: machine.stateMachineArn,
      sourceId: source,
      rawStore: dirs.rawStore,
      lakeStore: dirs.lakeStore,
      catalog: catalogDb.catalog,
      chunkObjects: 2,
      pollMs: 100,
      ...(onProgress ? { onProgress } : {}),
    });

  void test('deploying again with the same settings changes nothing', async () => {
    const again = await ensureSyncMachine(sfn, { settings: FAST_SETTINGS });
    assert.equal(again.change, 'unchanged');
    assert.equal(again.stateMachineArn, machine.stateMachineArn);
  });

  void test('a sync loads each unique event once, marks its raw objects and reports read = loaded + duplicates + quarantined', async () => {
    const generated = await generate(dirs.rawStore, sourceId, 3000, 500);
    const stages = new Set<string>();
    const outcome = await run((p) => stages.add(p.stage));
    assert.equal(outcome.status, 'finished', outcome.error);
    assert.equal(outcome.executionStatus, 'SUCCEEDED');
    assert.equal(outcome.plan?.chunks.length, 3);
    const counts = await lakeCounts(catalogDb.catalog, dirs.lakeStore, sourceId);
    assert.deepEqual(counts, { rows: generated.counts.valid, distinct: generated.counts.valid });

    const source = outcome.report?.find((r) => r['type'] === 'source');
    assert.equal(source?.['status'], 'finished');
    assert.equal(source?.['read'], generated.counts.lines);
    assert.equal(source?.['loaded'], generated.counts.valid);
    assert.equal(source?.['quarantined_total'], generated.counts.badTotal);
    assert.equal((source?.['duplicates'] as { total: number }).total, generated.counts.duplicates);
    // Cleanup counts the states up to itself; the outcome Choice and Succeed come after it.
    const described = await sfn.describeExecution({ executionArn: outcome.executionArn ?? '' });
    const transitions = Number(described.stateTransitions);
    // PrepareAll, three Prepares, Load, Follow, Cleanup, Outcome and Synced, plus any retries.
    assert.ok(transitions >= 9, `a sync of three chunks takes at least nine transitions, got ${transitions}`);
    assert.equal(source?.['state_transitions'], transitions - 2);
    assert.equal(source?.['state_transition_cost_usd'], (transitions - 2) * 0.000025);

    const keys: string[] = [];
    for await (const o of listRawObjects(dirs.rawStore, sourceId)) keys.push(o.key);
    const marks = await catalogDb.catalog.rawSyncMarks(keys);
    assert.equal(marks.size, keys.length, 'every raw object is marked synced');
    const staging = await dirs.lakeStore.list(`segment-data/staging/${sourceId}/`);
    assert.equal(staging.objects.length, 0, 'Cleanup removed staging and manifests');
    assert.ok(stages.size > 0, 'progress was reported');
  });

  void test('with nothing new to sync, no execution is started', async () => {
    const outcome = await run();
    assert.equal(outcome.status, 'nothing_to_sync');
  });

  void test('a failed Load is caught: Cleanup removes staging, records the failure with its cause, and the next sync loads everything', async () => {
    const app = 'app';
    const generated = await generate(dirs.rawStore, app, 1200, 400, 99);
    // A file where the source's lake data directory must be: every Parquet write fails.
    const dataDir = join(dirs.lakeRoot, 'segment-data', 'data', app);
    await mkdir(join(dirs.lakeRoot, 'segment-data', 'data'), { recursive: true });
    await writeFile(dataDir, 'not a directory');

    const failed = await run(undefined, app);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.executionStatus, 'FAILED');
    assert.equal(failed.errorCode, 'Inlet.LoadJobFailed');
    assert.match(failed.error ?? '', /load job .* failed/);
    assert.equal(failed.sync?.status, 'failed');
    assert.match(failed.sync?.error ?? '', /load job/);
    const source = failed.report?.find((r) => r['type'] === 'source');
    assert.equal(source?.['status'], 'failed');
    assert.equal(source?.['error_code'], 'Inlet.LoadJobFailed');
    assert.equal(source?.['read'], generated.counts.lines);
    assert.equal(source?.['loaded'], 0);

    assert.equal((await catalogDb.catalog.rawSyncMarks(generated.keys)).size, 0, 'no raw object of the failed sync is marked');
    assert.deepEqual(await catalogDb.catalog.listTables(app), [], 'the catalog is unchanged');
    const staging = await dirs.lakeStore.list(`segment-data/staging/${app}/`);
    assert.equal(staging.objects.length, 0);
    const quarantine = await dirs.lakeStore.list(`segment-data/quarantine/${app}/${failed.syncId}/`);
    assert.equal(quarantine.objects.length, 0, 'the failed sync left no quarantine records to double up');

    await rm(dataDir, { force: true });
    const fixed = await run(undefined, app);
    assert.equal(fixed.status, 'finished', fixed.error);
    assert.equal((await catalogDb.catalog.rawSyncMarks(generated.keys)).size, generated.keys.length);
    const fixedSource = fixed.report?.find((r) => r['type'] === 'source');
    assert.equal(fixedSource?.['read'], generated.counts.lines);
    assert.equal(fixedSource?.['loaded'], generated.counts.valid);
    assert.deepEqual(await lakeCounts(catalogDb.catalog, dirs.lakeStore, app), {
      rows: generated.counts.valid,
      distinct: generated.counts.valid,
    });
  });
});

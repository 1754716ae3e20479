/**
 * Sync reports as Segment Data Lakes documents them: NDJSON at
 * `segment-data/reports/day=<YYYY-MM-DD>/source=<source-id>/run_id=<sync-id>/report.json`, one
 * `type: "source"` row for the whole sync and one `type: "event"` row per table, with Segment's
 * columns plus what Inlet adds (read, duplicates, quarantine by reason, timings, state
 * transitions). Every report reconciles read = loaded + duplicates + quarantined (+ not loaded,
 * for a failed sync whose rows stay in the raw store for the next one); building one that does
 * not is refused, because a report that does not add up means a row was lost or counted twice.
 */
import { assertSafeId, type PrepareSummary } from './types.ts';
import type { Catalog } from '../catalog/index.ts';
import type { LoadResult } from './load.ts';
import type { ObjectStore } from './storage/object-store.ts';

/** What AWS Step Functions charges per state transition (standard workflows). */
export const USD_PER_STATE_TRANSITION = 0.000025;

/** DuckDB types of the report rows, for the `sync_reports` view (read with a fixed schema). */
export const SYNC_REPORT_COLUMNS: Readonly<Record<string, string>> = {
  type: 'VARCHAR',
  workspace_id: 'VARCHAR',
  source_id: 'VARCHAR',
  database: 'VARCHAR',
  run_id: 'VARCHAR',
  start_time: 'TIMESTAMP',
  finish_time: 'TIMESTAMP',
  duration_mins: 'BIGINT',
  duration_ms: 'BIGINT',
  status: 'VARCHAR',
  error: 'VARCHAR',
  error_code: 'VARCHAR',
  table_name: 'VARCHAR',
  row_count: 'BIGINT',
  partitions: 'STRUCT("day" VARCHAR, hr VARCHAR)[]',
  new_columns: 'STRUCT("name" VARCHAR, "type" VARCHAR)[]',
  widened_columns: 'STRUCT("name" VARCHAR, from_type VARCHAR, to_type VARCHAR)[]',
  is_new: 'BOOLEAN',
  replay: 'BOOLEAN',
  replay_from: 'TIMESTAMP',
  replay_to: 'TIMESTAMP',
  emr_cluster_id: 'VARCHAR',
  s3_bucket: 'VARCHAR',
  day: 'VARCHAR',
  read: 'BIGINT',
  loaded: 'BIGINT',
  not_loaded: 'BIGINT',
  duplicates: 'STRUCT(in_chunk BIGINT, cross_chunk BIGINT, cross_sync BIGINT, total BIGINT)',
  quarantined: 'STRUCT(reason VARCHAR, "count" BIGINT)[]',
  quarantined_total: 'BIGINT',
  timings: 'STRUCT(phase VARCHAR, ms BIGINT)[]',
  state_transitions: 'BIGINT',
  state_transition_cost_usd: 'DOUBLE',
};

/** Everything a report is built from; the caller (Cleanup) passes what the sync produced. */
export interface SyncReportInput {
  sourceId: string;
  syncId: string;
  status: 'finished' | 'failed';
  startedAt: Date;
  finishedAt: Date;
  summaries: readonly PrepareSummary[];
  /** Required for a finished sync. */
  load?: LoadResult;
  error?: { message: string; code?: string };
  /** Catalog database name; default the source id. */
  database?: string;
  workspaceId?: string;
  /** Lake location shown as `s3_bucket`. */
  bucket?: string;
  /** State transitions of the sync's execution (what AWS would bill). */
  stateTransitions?: number;
  /** Phase → milliseconds (prepare, load, follow, cleanup …). */
  timings?: Record<string, number>;
  replay?: { from: Date; to: Date };
}

/** One report row (NDJSON line); fields as in {@link SYNC_REPORT_COLUMNS}. */
export type SyncReportRow = Record<string, unknown>;

/** A built report: its key and its rows. */
export interface SyncReport {
  key: string;
  rows: SyncReportRow[];
  read: number;
  loaded: number;
  duplicates: { inChunk: number; crossChunk: number; crossSync: number; total: number };
  quarantined: Record<string, number>;
  notLoaded: number;
}

/** Raised when a report's counts do not reconcile: a bug upstream, never to be written. */
export class ReportReconciliationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReportReconciliationError';
  }
}

/** Where a sync's report lives. */
export function reportKey(day: string, sourceId: string, syncId: string): string {
  assertSafeId('sourceId', sourceId);
  assertSafeId('syncId', syncId);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new RangeError(`report day '${day}' is not YYYY-MM-DD`);
  return `segment-data/reports/day=${day}/source=${sourceId}/run_id=${syncId}/report.json`;
}

/** Segment's report timestamp form, `YYYY-MM-DD HH:MM:SS.mmm` UTC (Hive's timestamp text). */
function reportTime(date: Date): string {
  return date.toISOString().replace('T', ' ').replace('Z', '');
}

function total(record: Record<string, number>): number {
  return Object.values(record).reduce((a, b) => a + b, 0);
}

/** Builds (and reconciles) a sync report; throws {@link ReportReconciliationError} if it does not add up. */
export function buildSyncReport(input: SyncReportInput): SyncReport {
  const { load } = input;
  if (input.status === 'finished' && load === undefined) {
    throw new ReportReconciliationError('a finished sync report needs the load result');
  }
  const read = input.summaries.reduce((a, s) => a + s.read, 0);
  const prepared = input.summaries.reduce((a, s) => a + s.prepared, 0);
  const inChunk = input.summaries.reduce((a, s) => a + s.duplicates, 0);
  const quarantined: Record<string, number> = {};
  for (const s of input.summaries) {
    for (const [reason, n] of Object.entries(s.quarantined))
      quarantined[reason] = (quarantined[reason] ?? 0) + n;
  }
  const quarantinedTotal = total(quarantined);
  const loaded = load?.loaded ?? 0;
  const crossChunk = load?.crossChunkDuplicates ?? 0;
  const crossSync = load?.crossSyncDuplicates ?? 0;
  const notLoaded = load === undefined ? prepared : 0;
  const duplicates = { inChunk, crossChunk, crossSync, total: inChunk + crossChunk + crossSync };
  if (load !== undefined && load.staged !== prepared) {
    throw new ReportReconciliationError(`load staged ${load.staged} rows but Prepare wrote ${prepared}`);
  }
  if (read !== loaded + duplicates.total + quarantinedTotal + notLoaded) {
    throw new ReportReconciliationError(
      `read ${read} != loaded ${loaded} + duplicates ${duplicates.total} + quarantined ${quarantinedTotal} + not loaded ${notLoaded}`,
    );
  }

  const day = input.startedAt.toISOString().slice(0, 10);
  const durationMs = input.finishedAt.getTime() - input.startedAt.getTime();
  const common: SyncReportRow = {
    workspace_id: input.workspaceId ?? null,
    source_id: input.sourceId,
    database: input.database ?? input.sourceId,
    run_id: input.syncId,
    start_time: reportTime(input.startedAt),
    finish_time: reportTime(input.finishedAt),
    duration_mins: Math.floor(durationMs / 60_000),
    duration_ms: durationMs,
    status: input.status,
    emr_cluster_id: null,
    s3_bucket: input.bucket ?? null,
    day,
    replay: input.replay !== undefined,
    replay_from: input.replay === undefined ? null : reportTime(input.replay.from),
    replay_to: input.replay === undefined ? null : reportTime(input.replay.to),
  };
  const tables = Object.entries(load?.tables ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  const source: SyncReportRow = {
    type: 'source',
    ...common,
    error: input.error?.message ?? null,
    error_code: input.error === undefined ? null : (input.error.code ?? 'Inlet.Internal'),
    table_name: '',
    row_count: loaded,
    partitions: tables.flatMap(([, t]) => t.partitions.map((p) => ({ day: p.day, hr: p.hr }))),
    new_columns: tables.flatMap(([, t]) => t.newColumns),
    read,
    loaded,
    not_loaded: notLoaded,
    duplicates: {
      in_chunk: inChunk,
      cross_chunk: crossChunk,
      cross_sync: crossSync,
      total: duplicates.total,
    },
    quarantined: Object.entries(quarantined)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([reason, count]) => ({ reason, count })),
    quarantined_total: quarantinedTotal,
    timings: Object.entries(input.timings ?? {}).map(([phase, ms]) => ({ phase, ms: Math.round(ms) })),
    state_transitions: input.stateTransitions ?? null,
    state_transition_cost_usd:
      input.stateTransitions === undefined ? null : input.stateTransitions * USD_PER_STATE_TRANSITION,
  };
  const events: SyncReportRow[] = tables.map(([name, t]) => ({
    type: 'event',
    ...common,
    table_name: name,
    row_count: t.loaded,
    partitions: t.partitions.map((p) => ({ day: p.day, hr: p.hr })),
    new_columns: t.newColumns,
    widened_columns: t.widenedColumns.map((w) => ({
      name: w.name,
      from_type: w.fromType,
      to_type: w.toType,
    })),
    is_new: t.isNew,
    duplicates: {
      in_chunk: null,
      cross_chunk: t.crossChunkDuplicates,
      cross_sync: t.crossSyncDuplicates,
      total: null,
    },
  }));
  return {
    key: reportKey(day, input.sourceId, input.syncId),
    rows: [source, ...events],
    read,
    loaded,
    duplicates,
    quarantined,
    notLoaded,
  };
}

/**
 * Builds the report, writes it to the lake and ends the sync record (finished or failed) with
 * the report's key, so the report is in the `sync_reports` view from then on.
 */
export async function writeSyncReport(
  input: SyncReportInput,
  deps: { catalog: Catalog; lakeStore: ObjectStore },
): Promise<SyncReport> {
  const report = buildSyncReport(input);
  const body = report.rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
  await deps.lakeStore.put(report.key, body, { contentType: 'application/x-ndjson' });
  if ((await deps.catalog.getSync(input.syncId)) === undefined) {
    await deps.catalog.startSync(input.sourceId, input.syncId, input.startedAt.toISOString());
  }
  await deps.catalog.finishSync(input.syncId, {
    status: input.status,
    finishedAt: input.finishedAt.toISOString(),
    reportKey: report.key,
    ...(input.error === undefined ? {} : { error: input.error.message }),
  });
  return report;
}

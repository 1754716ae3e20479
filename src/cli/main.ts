/**
 * The `inlet` command line: composes the engine, the APIs, the lake and the workers.
 *
 * Exit codes: 0 success; 1 the operation failed (a sync failed, an execution was not found…);
 * 2 wrong usage; 3 a configuration problem. `--json` prints machine-readable output on stdout;
 * progress always goes to stderr.
 */
import { parseArgs } from 'node:util';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, loadConfig } from './config.ts';
import type { InletConfig } from './config.ts';
import { apiCredentials, openRuntime } from './runtime.ts';
import { deploy } from './deploy.ts';
import type { DeployApi, DeployPlan } from './deploy.ts';
import { sdkStepFunctions, sfnClient } from './sdk-api.ts';
import { startInlet } from './start.ts';
import { describeDiagnostics, validateFile } from './state-machines.ts';
import { runSync, runWorker } from './sync-commands.ts';
import { generateRaw } from '../lake/generate.ts';
import { openLakeQuery } from '../lake/query.ts';
import { SfnServiceError } from '../engine/errors.ts';
import { loadSyncTemplate } from '../sync/definition.ts';
import { DEFAULT_ACTIVITY_NAMES, DEFAULT_SYNC_MACHINE_NAME } from '../sync/index.ts';

/** A wrong invocation: exit code 2 with the usage. */
class UsageError extends Error {}

const USAGE = `usage: inlet <command> [options]

commands:
  start                      serve the Step Functions API, the tracking API and /metrics; run workers and the scheduler
  server                     the same without in-process workers (run 'inlet worker' elsewhere)
  sync <source>              run one sync of a source now and print its report
  replay <source> --from YYYY-MM-DD --to YYYY-MM-DD
                             reload the raw data received in those days (UTC); only missing rows are added
  syncs list [source]        the sync history: status, times, errors (most recent first)
  worker                     run the stage workers against a server (--endpoint)
  deploy [--dry-run]         create or update activities and state machines from their templates
  state-machines list|validate <file>
                             list deployed state machines, or validate a definition file with AWS's diagnostics
  executions list|describe|history [arn]
                             list executions, describe one, or print its history
  query "<SQL>"              query the lake with DuckDB (one view per table)
  generate <source>          write sample raw events (--events N, --seed N, --days N)
  sources list|add <id>      show or add sources (add writes the config file)
  purge --older-than-days N  delete finished executions and their history
  demo                       generate a day of events, sync it through the state machine, print the report and a query

common options:
  --config <file>            the config file (default ./inlet.config.json, or $INLET_CONFIG)
  --data-dir <dir>           where the database, raw data and lake live (default .inlet; the demo uses .inlet-demo)
  --json                     machine-readable output
  --endpoint <url>           talk to a running server (or AWS) instead of the local database
`;

function print(json: boolean, value: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
}

function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cell = (v: unknown) => (v instanceof Date ? v.toISOString() : String(v ?? ''));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(columns), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
}

/** The API a command talks to: a server (or AWS) with --endpoint, else the local database in process. */
async function withApi<T>(config: InletConfig, endpoint: string | undefined, run: (api: Record<string, (req: object) => Promise<Record<string, unknown>>>) => Promise<T>): Promise<T> {
  if (endpoint) {
    const client = sfnClient({ endpoint, region: config.region, credentials: apiCredentials(config) });
    try {
      return await run(sdkStepFunctions(client));
    } finally {
      client.destroy();
    }
  }
  const runtime = await openRuntime(config);
  try {
    return await run(runtime.sfn as unknown as Record<string, (req: object) => Promise<Record<string, unknown>>>);
  } finally {
    await runtime.close();
  }
}

async function executions(config: InletConfig, args: string[], json: boolean, endpoint: string | undefined): Promise<number> {
  const [sub = 'list', arn] = args;
  return withApi(config, endpoint, async (api) => {
    if (sub === 'list') {
      const machines = ((await api.listStateMachines!({}))['stateMachines'] as { stateMachineArn: string }[]) ?? [];
      const rows: Record<string, unknown>[] = [];
      for (const m of machines) {
        const page = await api.listExecutions!({ stateMachineArn: m.stateMachineArn, maxResults: 100 });
        rows.push(...((page['executions'] as Record<string, unknown>[]) ?? []));
      }
      print(json, rows, () => table(rows, ['name', 'status', 'startDate', 'stopDate', 'executionArn']));
      return 0;
    }
    if (!arn) throw new UsageError(`executions ${sub} needs an execution ARN`);
    if (sub === 'describe') {
      const out = await api.describeExecution!({ executionArn: arn });
      print(json, out, () => Object.entries(out).map(([k, v]) => `${k}: ${v instanceof Date ? v.toISOString() : typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('\n'));
      return 0;
    }
    if (sub === 'history') {
      const events: Record<string, unknown>[] = [];
      let nextToken: string | undefined;
      do {
        const page = await api.getExecutionHistory!({ executionArn: arn, maxResults: 1000, ...(nextToken ? { nextToken } : {}) });
        events.push(...((page['events'] as Record<string, unknown>[]) ?? []));
        nextToken = page['nextToken'] as string | undefined;
      } while (nextToken);
      print(json, events, () => events.map((e) => `${String(e.id).padStart(5)} ${String(e.previousEventId).padStart(5)}  ${(e.timestamp as Date).toISOString()}  ${e.type}`).join('\n'));
      return 0;
    }
    throw new UsageError(`unknown executions subcommand '${sub}'`);
  });
}

/** The default deploy plan: the datalake-sync machine with its four activities, tuned from the config. */
function defaultDeployPlan(config: InletConfig): DeployPlan {
  return {
    activities: Object.entries(DEFAULT_ACTIVITY_NAMES).map(([role, name]) => ({ name, variable: `activity_${role}` })),
    stateMachines: [
      {
        name: DEFAULT_SYNC_MACHINE_NAME,
        template: loadSyncTemplate(),
        vars: {
          prepare_concurrency: config.sync.maxConcurrency,
          heartbeat_seconds: config.sync.heartbeatSeconds,
          retry_interval_seconds: config.sync.retryIntervalSeconds,
          retry_max_attempts: config.sync.retryMaxAttempts,
          retry_backoff_rate: config.sync.retryBackoffRate,
        },
      },
    ],
    roleArn: `arn:aws:iam::${config.accountId}:role/inlet`,
  };
}

async function deployCommand(config: InletConfig, dryRun: boolean, json: boolean, endpoint: string | undefined): Promise<number> {
  const changes = await withApi(config, endpoint, (api) => deploy(api as unknown as DeployApi, defaultDeployPlan(config), { dryRun }));
  print(json, changes, () =>
    changes
      .map((c) => `${c.action.padEnd(9)} ${c.kind} ${c.name}${c.arn ? `  ${c.arn}` : ''}${c.diff && c.action !== 'unchanged' ? `\n${c.diff}` : ''}`)
      .join('\n') + (dryRun ? '\n(dry run: nothing changed)' : ''),
  );
  return 0;
}

async function query(config: InletConfig, sql: string, json: boolean): Promise<number> {
  const runtime = await openRuntime(config);
  const lake = await openLakeQuery({ catalog: runtime.catalog, lakeStore: runtime.lakeStore });
  try {
    const rows = await lake.runQuery(sql);
    print(json, rows, () => (rows.length === 0 ? '(no rows)' : table(rows, Object.keys(rows[0] ?? {}))));
    return 0;
  } finally {
    lake.close();
    await runtime.close();
  }
}

async function generate(config: InletConfig, sourceId: string, values: Record<string, string | boolean | undefined>, json: boolean): Promise<number> {
  const runtime = await openRuntime(config);
  try {
    const days = Number(values.days ?? 1);
    const events = Number(values.events ?? 20000);
    const start = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate()) - days * 86_400_000);
    const result = await generateRaw(runtime.rawStore, {
      seed: Number(values.seed ?? 1),
      sourceId,
      events,
      start,
      durationMs: days * 86_400_000,
      badLineRate: Number(values['bad-rate'] ?? 0.01),
      duplicateRate: Number(values['duplicate-rate'] ?? 0.02),
    });
    print(json, result.counts, () => `wrote ${result.files.length} raw objects for source '${sourceId}' to ${runtime.rawStore.url}: ${JSON.stringify(result.counts)}`);
    return 0;
  } finally {
    await runtime.close();
  }
}

function sources(config: InletConfig, args: string[], values: Record<string, string | boolean | undefined>, json: boolean, configPath: string): number {
  const [sub = 'list', id] = args;
  if (sub === 'list') {
    print(json, config.sources, () => (config.sources.length === 0 ? '(no sources)' : table(config.sources as unknown as Record<string, unknown>[], ['id', 'name', 'everyMinutes', 'minBytes', 'writeKeyEnv'])));
    return 0;
  }
  if (sub !== 'add' || !id) throw new UsageError('usage: inlet sources add <id> [--name N] [--every-minutes N] [--min-bytes N] [--write-key-env VAR]');
  const file = resolve(configPath);
  const raw = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  const list = (raw.sources as Record<string, unknown>[] | undefined) ?? [];
  if (list.some((s) => s.id === id)) throw new ConfigError(`source '${id}' already exists in ${file}`);
  const source: Record<string, unknown> = { id };
  if (values.name) source.name = values.name;
  if (values['every-minutes']) source.everyMinutes = Number(values['every-minutes']);
  if (values['min-bytes']) source.minBytes = Number(values['min-bytes']);
  source.writeKeyEnv = values['write-key-env'] ?? `INLET_WRITE_KEY_${id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
  raw.sources = [...list, source];
  writeFileSync(file, `${JSON.stringify(raw, null, 2)}\n`);
  loadConfig(file); // refuse to leave an invalid file behind unnoticed
  print(json, source, () => `added source '${id}' to ${file}; its tracking write key is read from $${String(source.writeKeyEnv)}`);
  return 0;
}

async function syncsList(config: InletConfig, args: string[], json: boolean): Promise<number> {
  const [sub = 'list', sourceId] = args;
  if (sub !== 'list') throw new UsageError('usage: inlet syncs list [source]');
  const runtime = await openRuntime(config);
  try {
    const syncs = await runtime.catalog.listSyncs(sourceId ? { sourceId } : {});
    const rows = syncs.map(({ loadResult: _loadResult, ...rest }) => rest);
    print(json, rows, () => (rows.length === 0 ? '(no syncs)' : table(rows as unknown as Record<string, unknown>[], ['id', 'sourceId', 'status', 'startedAt', 'finishedAt', 'error'])));
    return 0;
  } finally {
    await runtime.close();
  }
}

async function stateMachines(config: InletConfig, args: string[], json: boolean, endpoint: string | undefined): Promise<number> {
  const [sub = 'list', file] = args;
  if (sub === 'validate') {
    if (!file) throw new UsageError('usage: inlet state-machines validate <definition.json>');
    const result = validateFile(file);
    print(json, result, () => describeDiagnostics(file, result));
    return result.valid ? 0 : 1;
  }
  if (sub !== 'list') throw new UsageError('usage: inlet state-machines list | validate <file>');
  return withApi(config, endpoint, async (api) => {
    const rows = ((await api.listStateMachines!({}))['stateMachines'] as Record<string, unknown>[]) ?? [];
    print(json, rows, () => (rows.length === 0 ? '(no state machines)' : table(rows, ['name', 'type', 'creationDate', 'stateMachineArn'])));
    return 0;
  });
}

async function purge(config: InletConfig, values: Record<string, string | boolean | undefined>, json: boolean): Promise<number> {
  const days = Number(values['older-than-days'] ?? config.retentionDays);
  if (!Number.isFinite(days) || days <= 0) throw new UsageError('purge needs --older-than-days N (or retentionDays in the config)');
  const runtime = await openRuntime(config);
  try {
    const deleted = await runtime.store.purgeExecutions(Date.now() - days * 86_400_000);
    print(json, { deleted }, () => `deleted ${deleted} executions that ended more than ${days} days ago`);
    return 0;
  } finally {
    await runtime.close();
  }
}

/** Runs the CLI with `argv` (without node and the script); resolves the exit code. */
export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string' },
      'data-dir': { type: 'string' },
      json: { type: 'boolean' },
      endpoint: { type: 'string' },
      'dry-run': { type: 'boolean' },
      events: { type: 'string' },
      seed: { type: 'string' },
      days: { type: 'string' },
      'bad-rate': { type: 'string' },
      'duplicate-rate': { type: 'string' },
      name: { type: 'string' },
      'every-minutes': { type: 'string' },
      'min-bytes': { type: 'string' },
      'write-key-env': { type: 'string' },
      'older-than-days': { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      port: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command || command === 'help') {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }
  const configPath = values.config ?? process.env.INLET_CONFIG ?? 'inlet.config.json';
  // The demo keeps to its own directory unless told otherwise, so it never touches real data.
  const dataDir = values['data-dir'] ?? (command === 'demo' ? '.inlet-demo' : undefined);
  const config = loadConfig(values.config, dataDir ? { dataDir } : {});
  if (values.port) config.server.port = Number(values.port);
  const json = values.json ?? false;
  switch (command) {
    case 'start':
      return startInlet(config);
    case 'sync':
      if (!rest[0]) throw new UsageError('usage: inlet sync <source>');
      return runSync(config, rest[0], json, values.endpoint);
    case 'replay': {
      const { parseReplayArgs, runReplay } = await import('./replay.ts');
      const args = parseReplayArgs(rest[0], values.from, values.to);
      if ('usage' in args) throw new UsageError(args.usage);
      return runReplay(config, args, json);
    }
    case 'worker':
      return runWorker(config, values.endpoint);
    case 'deploy':
      return deployCommand(config, values['dry-run'] ?? false, json, values.endpoint);
    case 'executions':
      return executions(config, rest, json, values.endpoint);
    case 'query':
      if (!rest[0]) throw new UsageError('usage: inlet query "<SQL>"');
      return query(config, rest.join(' '), json);
    case 'generate':
      if (!rest[0]) throw new UsageError('usage: inlet generate <source> [--events N] [--days N] [--seed N]');
      return generate(config, rest[0], values, json);
    case 'sources':
      return sources(config, rest, values, json, configPath);
    case 'purge':
      return purge(config, values, json);
    case 'syncs':
      return syncsList(config, rest, json);
    case 'server':
      // The engine and the APIs without in-process workers: workers run elsewhere (inlet worker).
      config.workers.inProcess = false;
      return startInlet(config);
    case 'state-machines':
      return stateMachines(config, rest, json, values.endpoint);
    case 'demo': {
      const { runDemo } = await import('./demo.ts');
      return runDemo(config, json);
    }
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

/** Maps errors to exit codes and clear messages (never a stack trace for expected failures). */
export async function run(argv: string[]): Promise<never> {
  let code: number;
  try {
    code = await main(argv);
  } catch (e) {
    if (e instanceof UsageError || (e instanceof TypeError && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`inlet: ${e.message}\n\n${USAGE}`);
      code = 2;
    } else if (e instanceof ConfigError) {
      process.stderr.write(`inlet: configuration: ${e.message}\n`);
      code = 3;
    } else if (e instanceof SfnServiceError || (e instanceof Error && '$metadata' in e)) {
      process.stderr.write(`inlet: ${e.name}: ${e.message}\n`);
      code = 1;
    } else {
      process.stderr.write(`inlet: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      code = 1;
    }
  }
  // Exit only once stdout is flushed: a pipe takes large outputs (a sync report) asynchronously.
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(code);
}

/**
 * The part of the Step Functions API a sync's starter needs — deploy the machine, start an
 * execution, watch it, find the running syncs of a source — as a narrow interface of our own.
 * src/sync may not import the engine (lint zones), and it should run against AWS Step Functions
 * too, so it names only AWS's request shapes and reads every response defensively: Inlet's
 * in-process `StepFunctions` and `@aws-sdk/client-sfn` (through {@link sfnClientSyncApi}) both fit.
 */
import {
  CreateActivityCommand,
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  DescribeStateMachineCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  ListStateMachinesCommand,
  StartExecutionCommand,
  UpdateStateMachineCommand,
} from '@aws-sdk/client-sfn';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { syncDefinition, type SyncActivityArns, type SyncMachineSettings } from './definition.ts';

/** Step Functions actions used to deploy and drive syncs, with AWS's request shapes. */
export interface SyncApi {
  createActivity(req: { name: string }): Promise<unknown>;
  createStateMachine(req: { name: string; definition: string; roleArn: string }): Promise<unknown>;
  updateStateMachine(req: { stateMachineArn: string; definition: string }): Promise<unknown>;
  listStateMachines(req: { nextToken?: string }): Promise<unknown>;
  describeStateMachine(req: { stateMachineArn: string }): Promise<unknown>;
  startExecution(req: { stateMachineArn: string; name: string; input: string }): Promise<unknown>;
  describeExecution(req: { executionArn: string }): Promise<unknown>;
  listExecutions(req: { stateMachineArn: string; statusFilter?: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED'; nextToken?: string }): Promise<unknown>;
  getExecutionHistory(req: { executionArn: string; nextToken?: string; maxResults?: number }): Promise<unknown>;
}

/** Reaches {@link SyncApi} over HTTP through an `SFNClient` (Inlet's server or AWS). */
export function sfnClientSyncApi(client: SFNClient): SyncApi {
  return {
    createActivity: (req) => client.send(new CreateActivityCommand(req)),
    createStateMachine: (req) => client.send(new CreateStateMachineCommand(req)),
    updateStateMachine: (req) => client.send(new UpdateStateMachineCommand(req)),
    listStateMachines: (req) => client.send(new ListStateMachinesCommand(req)),
    describeStateMachine: (req) => client.send(new DescribeStateMachineCommand(req)),
    startExecution: (req) => client.send(new StartExecutionCommand(req)),
    describeExecution: (req) => client.send(new DescribeExecutionCommand(req)),
    listExecutions: (req) => client.send(new ListExecutionsCommand(req)),
    getExecutionHistory: (req) => client.send(new GetExecutionHistoryCommand(req)),
  };
}

/** A field of an API response object, if it is there. */
export function field(value: unknown, name: string): unknown {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[name] : undefined;
}

/** A string field of an API response, or undefined. */
export function stringField(value: unknown, name: string): string | undefined {
  const v = field(value, name);
  return typeof v === 'string' ? v : undefined;
}

/** An array field of an API response, or an empty list. */
export function listField(value: unknown, name: string): unknown[] {
  const v = field(value, name);
  return Array.isArray(v) ? (v as unknown[]) : [];
}

/** A string field that must be present; a response without it is a broken API. */
function requiredString(value: unknown, name: string, action: string): string {
  const v = stringField(value, name);
  if (v === undefined) throw new Error(`${action} returned no ${name}`);
  return v;
}

/** Names of the four activities; `inlet deploy` may prefix them per environment. */
export interface SyncActivityNames {
  prepare: string;
  load: string;
  follow: string;
  cleanup: string;
}

/** Default activity names, after the article's. */
export const DEFAULT_ACTIVITY_NAMES: Readonly<SyncActivityNames> = Object.freeze({
  prepare: 'inlet-datalake-prepare',
  load: 'inlet-datalake-load',
  follow: 'inlet-datalake-follow',
  cleanup: 'inlet-datalake-cleanup',
});

/** The default state machine name. */
export const DEFAULT_SYNC_MACHINE_NAME = 'datalake-sync';

/** Options for {@link ensureSyncMachine}. */
export interface EnsureSyncMachineOptions {
  name?: string;
  activityNames?: Partial<SyncActivityNames>;
  settings?: Partial<SyncMachineSettings>;
  /** Required by AWS; Inlet records it only. */
  roleArn?: string;
}

/** What {@link ensureSyncMachine} deployed. */
export interface SyncMachine {
  stateMachineArn: string;
  activities: SyncActivityArns;
  definition: string;
  /** What changed: `created`, `updated` or `unchanged`. */
  change: 'created' | 'updated' | 'unchanged';
}

/** Finds a state machine's ARN by name, paging through ListStateMachines. */
async function findStateMachine(api: SyncApi, name: string): Promise<string | undefined> {
  let nextToken: string | undefined;
  do {
    const page = await api.listStateMachines(nextToken === undefined ? {} : { nextToken });
    for (const sm of listField(page, 'stateMachines')) {
      if (stringField(sm, 'name') === name) return stringField(sm, 'stateMachineArn');
    }
    nextToken = stringField(page, 'nextToken');
  } while (nextToken !== undefined);
  return undefined;
}

/**
 * Creates the four activities and the datalake-sync machine, or updates the machine when its
 * definition changed. Idempotent, so `inlet start` can call it on every boot.
 */
export async function ensureSyncMachine(api: SyncApi, options: EnsureSyncMachineOptions = {}): Promise<SyncMachine> {
  const names = { ...DEFAULT_ACTIVITY_NAMES, ...options.activityNames };
  const arnOf = async (name: string) => requiredString(await api.createActivity({ name }), 'activityArn', 'CreateActivity');
  const activities: SyncActivityArns = {
    prepare: await arnOf(names.prepare),
    load: await arnOf(names.load),
    follow: await arnOf(names.follow),
    cleanup: await arnOf(names.cleanup),
  };
  const definition = syncDefinition(activities, options.settings);
  const name = options.name ?? DEFAULT_SYNC_MACHINE_NAME;
  const existing = await findStateMachine(api, name);
  if (existing === undefined) {
    const created = await api.createStateMachine({
      name,
      definition,
      roleArn: options.roleArn ?? 'arn:aws:iam::123456789012:role/inlet',
    });
    return { stateMachineArn: requiredString(created, 'stateMachineArn', 'CreateStateMachine'), activities, definition, change: 'created' };
  }
  const current = stringField(await api.describeStateMachine({ stateMachineArn: existing }), 'definition');
  if (current === definition) return { stateMachineArn: existing, activities, definition, change: 'unchanged' };
  await api.updateStateMachine({ stateMachineArn: existing, definition });
  return { stateMachineArn: existing, activities, definition, change: 'updated' };
}

/** One running sync execution. */
export interface RunningSync {
  sourceId: string;
  syncId: string;
  executionArn: string;
}

/**
 * The RUNNING executions of the sync machine with the source each is syncing (read from its
 * input, so nothing depends on how execution names are spelled). This is the truth the "never
 * two syncs of one source" rule checks: an execution ends however its workers die.
 */
export async function runningSyncs(api: SyncApi, stateMachineArn: string): Promise<RunningSync[]> {
  const out: RunningSync[] = [];
  let nextToken: string | undefined;
  do {
    const page = await api.listExecutions({
      stateMachineArn,
      statusFilter: 'RUNNING',
      ...(nextToken === undefined ? {} : { nextToken }),
    });
    for (const item of listField(page, 'executions')) {
      const executionArn = stringField(item, 'executionArn');
      if (executionArn === undefined) continue;
      const described = await api.describeExecution({ executionArn });
      if (stringField(described, 'status') !== 'RUNNING') continue;
      let input: unknown;
      try {
        input = JSON.parse(stringField(described, 'input') ?? 'null');
      } catch {
        continue;
      }
      const sourceId = stringField(input, 'source_id');
      const syncId = stringField(input, 'sync_id');
      if (sourceId !== undefined && syncId !== undefined) out.push({ sourceId, syncId, executionArn });
    }
    nextToken = stringField(page, 'nextToken');
  } while (nextToken !== undefined);
  return out;
}

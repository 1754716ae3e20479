/**
 * The sync module: the datalake-sync state machine (template and deploy), the planner that turns
 * a source's unsynced raw data into chunks, the four stage handlers the activity workers run,
 * and the starter `inlet sync` and the scheduler call. It may import lake, catalog, store, worker
 * and asl; it reaches the engine only through the Step Functions API ({@link SyncApi}).
 */
export {
  DEFAULT_SYNC_SETTINGS,
  TemplateVariableError,
  loadSyncTemplate,
  renderDefinition,
  syncDefinition,
  syncDefinitionVars,
} from './definition.ts';
export type { SyncActivityArns, SyncMachineSettings, TemplateValue } from './definition.ts';
export {
  DEFAULT_ACTIVITY_NAMES,
  DEFAULT_SYNC_MACHINE_NAME,
  ensureSyncMachine,
  runningSyncs,
  sfnClientSyncApi,
} from './api.ts';
export type { EnsureSyncMachineOptions, RunningSync, SyncActivityNames, SyncApi, SyncMachine } from './api.ts';
export {
  DEFAULT_CHUNK_BYTES,
  DEFAULT_CHUNK_OBJECTS,
  DEFAULT_MAX_CHUNKS,
  chunkObjects,
  executionNameFor,
  listUnsyncedRawObjects,
  manifestKey,
  newSyncId,
  planSync,
  syncExecutionInput,
  syncQuarantinePrefix,
  syncStagingPrefix,
  unsyncedBytes,
} from './plan.ts';
export type { ChunkManifest, PlanSyncOptions, SyncPlan, UnsyncedOptions } from './plan.ts';
export { SyncErrorName, SyncStageError, createSyncStages, readSyncSummaries, registerSyncStages } from './stages.ts';
export type { RegisterSyncStagesOptions, SourceStores, StageContext, SyncStageOptions, SyncStages } from './stages.ts';
export { SyncAlreadyRunningError, runSyncNow, startSync, waitForSync } from './run-sync.ts';
export type {
  ExecutionEnd,
  RunSyncNowOptions,
  StartSyncOptions,
  StartedSync,
  SyncOutcome,
  SyncProgress,
  WaitForSyncOptions,
} from './run-sync.ts';
export type * from './payloads.ts';

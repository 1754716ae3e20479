/**
 * The scheduler module: per-source sync triggers (interval and byte threshold), no overlap,
 * one catch-up sync after downtime, and a run log in the store. It may import only src/store;
 * everything it drives is handed in as functions.
 */
export { DEFAULT_INTERVAL_MINUTES, DEFAULT_TICK_MS, Scheduler } from './scheduler.ts';
export type { ScheduledRun, SchedulerOptions, SourceSchedule, SyncTrigger, TickDecision } from './scheduler.ts';
export { SCHEDULER_MIGRATIONS } from './migrations.ts';

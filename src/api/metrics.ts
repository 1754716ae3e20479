/**
 * Prometheus metrics for `/metrics`, named after the Step Functions CloudWatch metrics
 * (ExecutionsStarted → `inlet_executions_started_total`, ExecutionTime →
 * `inlet_execution_time_seconds`, …) so dashboards built for AWS translate one to one.
 * The registry is passed in; the tracking API registers its own metrics on the same one.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { PRICE_PER_TRANSITION_USD } from '../engine/engine.ts';
import type { AdvanceReport } from '../engine/engine.ts';

/** A registry with Node's process metrics and the engine's metrics, and the hooks that feed them. */
export interface InletMetrics {
  registry: Registry;
  /** Pass as `EngineOptions.onAdvance`. */
  onAdvance(report: AdvanceReport): void;
  /** Pass as the Step Functions HTTP handler's `onRequest`. */
  onApiRequest(action: string, status: number, seconds: number): void;
}

/** Creates the metrics; `defaults` adds Node's process metrics (off in tests). */
export function createMetrics(options: { defaults?: boolean } = {}): InletMetrics {
  const registry = new Registry();
  if (options.defaults ?? true) collectDefaultMetrics({ register: registry, prefix: 'inlet_' });
  const machine = ['state_machine'] as const;
  const c = (name: string, help: string) => new Counter({ name, help, labelNames: machine, registers: [registry] });
  const started = c('inlet_executions_started_total', 'Executions started (ExecutionsStarted).');
  const ended = new Counter({
    name: 'inlet_executions_ended_total',
    help: 'Executions that ended, by status (ExecutionsSucceeded, ExecutionsFailed, ExecutionsAborted, ExecutionsTimedOut).',
    labelNames: ['state_machine', 'status'],
    registers: [registry],
  });
  const time = new Histogram({
    name: 'inlet_execution_time_seconds',
    help: 'Time from start to end of executions (ExecutionTime).',
    labelNames: machine,
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400],
    registers: [registry],
  });
  const transitions = c('inlet_state_transitions_total', 'State transitions as AWS bills them, retries included.');
  const cost = c('inlet_estimated_cost_usd_total', 'What AWS Step Functions would have charged: $0.025 per 1,000 state transitions.');
  const byActivity = ['activity'] as const;
  const a = (name: string, help: string) => new Counter({ name, help, labelNames: byActivity, registers: [registry] });
  const scheduled = a('inlet_activities_scheduled_total', 'Activity tasks scheduled (ActivitiesScheduled).');
  const activityStarted = a('inlet_activities_started_total', 'Activity tasks handed to a worker (ActivitiesStarted).');
  const succeeded = a('inlet_activities_succeeded_total', 'Activity tasks that succeeded (ActivitiesSucceeded).');
  const failed = a('inlet_activities_failed_total', 'Activity tasks that failed (ActivitiesFailed).');
  const timedOut = a('inlet_activities_timed_out_total', 'Activity tasks that ran past TimeoutSeconds (ActivitiesTimedOut).');
  const heartbeatTimedOut = a('inlet_activities_heartbeat_timed_out_total', 'Activity tasks whose worker stopped heartbeating (ActivitiesHeartbeatTimedOut).');
  const seconds = [0.001, 0.01, 0.1, 0.5, 1, 5, 30, 60, 300, 900, 3600];
  const scheduleTime = new Histogram({
    name: 'inlet_activity_schedule_time_seconds',
    help: 'Time a task waited for a worker (ActivityScheduleTime).',
    labelNames: byActivity,
    buckets: seconds,
    registers: [registry],
  });
  const runTime = new Histogram({
    name: 'inlet_activity_run_time_seconds',
    help: 'Time from a worker taking a task (its scheduling, if none did) to its end (ActivityRunTime).',
    labelNames: byActivity,
    buckets: seconds,
    registers: [registry],
  });
  const api = new Histogram({
    name: 'inlet_api_request_seconds',
    help: 'Step Functions API requests by action and HTTP status.',
    labelNames: ['action', 'status'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60],
    registers: [registry],
  });
  /** Activities are labelled by name (the ARN's last part), local resources by the whole resource. */
  const activityName = (resource: string) => (resource.includes(':activity:') ? (resource.split(':').pop() ?? resource) : resource);
  return {
    registry,
    onAdvance(r) {
      const name = r.stateMachineArn.split(':')[6] ?? r.stateMachineArn;
      const labels = { state_machine: name };
      if (r.started) started.inc(labels);
      if (r.transitions > 0) {
        transitions.inc(labels, r.transitions);
        cost.inc(labels, r.transitions * PRICE_PER_TRANSITION_USD);
      }
      if (r.ended) {
        ended.inc({ state_machine: name, status: r.ended.status });
        time.observe(labels, r.ended.seconds);
      }
      for (const t of r.taskTimings) {
        const activity = { activity: activityName(t.resource) };
        if (t.phase === 'started') {
          activityStarted.inc(activity);
          scheduleTime.observe(activity, t.ms / 1000);
          continue;
        }
        runTime.observe(activity, t.ms / 1000);
        if (t.outcome === 'succeeded') succeeded.inc(activity);
        else if (t.outcome === 'failed') failed.inc(activity);
        else if (t.outcome === 'timed_out') timedOut.inc(activity);
        else if (t.outcome === 'heartbeat_timed_out') heartbeatTimedOut.inc(activity);
      }
      for (const resource of r.scheduledResources) scheduled.inc({ activity: activityName(resource) });
    },
    onApiRequest(action, status, seconds) {
      api.observe({ action, status: String(status) }, seconds);
    },
  };
}

/** Serves `GET /metrics` in Prometheus text format; false for other requests. */
export async function handleMetrics(registry: Registry, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') return false;
  const body = await registry.metrics();
  res.writeHead(200, { 'content-type': registry.contentType }).end(body);
  return true;
}

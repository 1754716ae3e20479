/**
 * The Step Functions API of the engine, in process: the same action names, request and response
 * shapes as AWS (`startExecution({ stateMachineArn, name, input })` …), dates as `Date` like the
 * AWS SDK returns them, and errors as {@link SfnServiceError}s named after AWS's. Workers and
 * tests use it directly; the HTTP API (AWS JSON 1.0) is a thin layer over it.
 */
import { randomUUID } from 'node:crypto';
import { validateDefinition } from '../asl/validate.ts';
import type { Diagnostic } from '../asl/validate.ts';
import { runLocal } from '../asl/run-local.ts';
import type { Outcome } from '../asl/step.ts';
import type { DbExecution, DbHistoryEvent, DbStateMachine } from '../store/store.ts';
import type { Engine} from './engine.ts';
import { isWellFormedToken, PRICE_PER_TRANSITION_USD } from './engine.ts';
import { SfnServiceError, sfnErrors } from './errors.ts';

const NAME = /^[A-Za-z0-9_-]{1,80}$/;
const DEFAULT_PAGE = 100;
/** AWS's long-poll limit for GetActivityTask. */
export const ACTIVITY_POLL_MS = 60_000;
/**
 * How long a claimed task's start (ActivityStarted, its timers) may wait to be applied. Any
 * earlier advance of its execution — the task's own outcome, most often — takes it along, so a
 * quick task's start and outcome share one advance instead of costing two.
 */
const TASK_STARTED_WAIT_MS = 20;

type Input<T> = T;

function encodeToken(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function decodeToken<T>(token: string | undefined): T | undefined {
  if (!token) return undefined;
  try {
    return JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as T;
  } catch {
    throw new SfnServiceError('InvalidToken', `Invalid Token: '${token}'`);
  }
}

function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string') throw required('name');
  if (!NAME.test(name)) throw sfnErrors.invalidName(name);
}

/** AWS's message for a missing required member. */
function required(field: string): SfnServiceError {
  return sfnErrors.validation(`Value null at '${field}' failed to satisfy constraint: Member must not be null`);
}

/** A required string member, or AWS's validation error. */
function requireString(value: unknown, field: string): string {
  if (typeof value !== 'string') throw required(field);
  return value;
}

/** An execution's input as given (`{}` when absent), checked to be JSON text. */
function executionInput(input: unknown): string {
  const text = input === undefined || input === null ? '{}' : requireString(input, 'input');
  checkJson(text, 'input');
  return text;
}

function pageSize(maxResults: number | undefined): number {
  if (maxResults === undefined || maxResults === 0) return DEFAULT_PAGE;
  if (!Number.isInteger(maxResults) || maxResults < 0 || maxResults > 1000) {
    throw sfnErrors.validation(`maxResults must be between 1 and 1000, got ${maxResults}`);
  }
  return maxResults;
}

function checkJson(text: string, what: 'input' | 'output'): void {
  try {
    JSON.parse(text);
  } catch (e) {
    const message = `Invalid ${what} JSON: ${(e as Error).message}`;
    throw what === 'input' ? sfnErrors.invalidInput(message) : sfnErrors.invalidOutput(message);
  }
}

/** How a definition fails validation, as AWS reports it in InvalidDefinition. */
function assertValid(definition: string): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(definition);
  } catch (e) {
    throw sfnErrors.invalidDefinition(`INVALID_JSON_DESCRIPTION: ${(e as Error).message}`);
  }
  const diagnostics = validateDefinition(parsed);
  if (diagnostics.length > 0) {
    throw sfnErrors.invalidDefinition(diagnostics.map((d) => `${d.code}: ${d.message}`).join('\n'));
  }
}

/** A history event as GetExecutionHistory returns it. */
export interface ApiHistoryEvent {
  timestamp: Date;
  type: string;
  id: number;
  previousEventId: number;
  [details: string]: unknown;
}

function toApiEvent(row: DbHistoryEvent, includeData: boolean): ApiHistoryEvent {
  const details = row.details ? (JSON.parse(row.details) as Record<string, Record<string, unknown>>) : {};
  if (!includeData) {
    for (const body of Object.values(details)) {
      for (const key of ['input', 'output', 'inputDetails', 'outputDetails']) delete body[key];
    }
  }
  return { timestamp: new Date(row.timestamp_ms), type: row.type, id: row.id, previousEventId: row.previous_event_id, ...details };
}

/** See the module comment. */
export class StepFunctions {
  constructor(readonly engine: Engine) {}

  private get store() {
    return this.engine.store;
  }

  private arn(kind: 'stateMachine' | 'activity' | 'execution' | 'express', ...parts: string[]): string {
    return `${this.engine.arnPrefix()}${kind}:${parts.join(':')}`;
  }

  /** Refuses anything but one of this engine's ARNs (also non-strings from loosely typed clients). */
  private checkArn(arn: unknown): asserts arn is string {
    if (typeof arn !== 'string' || !arn.startsWith(this.engine.arnPrefix())) throw sfnErrors.invalidArn(String(arn));
  }

  private async machine(arn: string): Promise<DbStateMachine> {
    this.checkArn(arn);
    const base = arn.split(':').slice(0, 7).join(':');
    const sm = await this.store.getStateMachine(base);
    if (!sm) throw sfnErrors.stateMachineDoesNotExist(arn);
    return sm;
  }

  private async execution(arn: string): Promise<DbExecution> {
    this.checkArn(arn);
    const execution = await this.store.getExecution(arn);
    if (!execution) throw sfnErrors.executionDoesNotExist(arn);
    return execution;
  }

  async createStateMachine(req: Input<{ name: string; definition: string; roleArn: string; type?: 'STANDARD' | 'EXPRESS'; publish?: boolean; versionDescription?: string; description?: string }>) {
    checkName(req.name);
    requireString(req.roleArn, 'roleArn');
    assertValid(requireString(req.definition, 'definition'));
    const arn = this.arn('stateMachine', req.name);
    const existing = await this.store.getStateMachine(arn);
    if (existing) {
      if (existing.definition === req.definition && existing.role_arn === req.roleArn) {
        return { stateMachineArn: arn, creationDate: new Date(existing.created_ms) };
      }
      throw sfnErrors.stateMachineAlreadyExists(arn);
    }
    const now = this.engine.now();
    await this.store.putStateMachine({
      arn,
      name: req.name,
      definition: req.definition,
      role_arn: req.roleArn,
      type: req.type ?? 'STANDARD',
      created_ms: now,
      updated_ms: now,
      revision: 1,
      description: req.description ?? '',
    });
    const out: { stateMachineArn: string; creationDate: Date; stateMachineVersionArn?: string } = { stateMachineArn: arn, creationDate: new Date(now) };
    if (req.publish) out.stateMachineVersionArn = await this.publish(arn, req.versionDescription);
    return out;
  }

  private async publish(stateMachineArn: string, description?: string): Promise<string> {
    const sm = await this.machine(stateMachineArn);
    const versions = await this.store.listStateMachineVersions(stateMachineArn);
    const version = (versions[0]?.version ?? 0) + 1;
    const arn = `${stateMachineArn}:${version}`;
    await this.store.putStateMachineVersion({
      arn,
      state_machine_arn: stateMachineArn,
      version,
      definition: sm.definition,
      role_arn: sm.role_arn,
      created_ms: this.engine.now(),
      description: description ?? '',
    });
    return arn;
  }

  async updateStateMachine(req: Input<{ stateMachineArn: string; definition?: string; roleArn?: string; publish?: boolean; versionDescription?: string }>) {
    const sm = await this.machine(req.stateMachineArn);
    if (req.definition === undefined && req.roleArn === undefined && !req.publish) {
      throw sfnErrors.validation('Either the definition or the roleArn must be specified');
    }
    if (req.definition !== undefined) assertValid(req.definition);
    const now = this.engine.now();
    await this.store.putStateMachine({
      ...sm,
      definition: req.definition ?? sm.definition,
      role_arn: req.roleArn ?? sm.role_arn,
      updated_ms: now,
      revision: sm.revision + 1,
    });
    const out: { updateDate: Date; revisionId: string; stateMachineVersionArn?: string } = {
      updateDate: new Date(now),
      revisionId: String(sm.revision + 1),
    };
    if (req.publish) out.stateMachineVersionArn = await this.publish(sm.arn, req.versionDescription);
    return out;
  }

  async describeStateMachine(req: { stateMachineArn: string }) {
    const sm = await this.machine(req.stateMachineArn);
    const version = req.stateMachineArn !== sm.arn ? await this.store.getStateMachineVersion(req.stateMachineArn) : undefined;
    if (req.stateMachineArn !== sm.arn && !version) throw sfnErrors.stateMachineDoesNotExist(req.stateMachineArn);
    return {
      stateMachineArn: req.stateMachineArn,
      name: sm.name,
      status: 'ACTIVE',
      definition: version?.definition ?? sm.definition,
      roleArn: version?.role_arn ?? sm.role_arn,
      type: sm.type,
      creationDate: new Date(version?.created_ms ?? sm.created_ms),
      revisionId: String(sm.revision),
      description: version?.description ?? sm.description,
    };
  }

  async describeStateMachineForExecution(req: { executionArn: string }) {
    const execution = await this.execution(req.executionArn);
    const sm = await this.store.getStateMachine(execution.state_machine_arn);
    return {
      stateMachineArn: execution.started_with_arn,
      name: execution.state_machine_arn.split(':')[6] ?? '',
      definition: execution.definition,
      roleArn: execution.role_arn,
      updateDate: new Date(sm?.updated_ms ?? execution.start_ms),
    };
  }

  async listStateMachines(req: { maxResults?: number; nextToken?: string } = {}) {
    const limit = pageSize(req.maxResults);
    const after = decodeToken<string>(req.nextToken);
    const rows = await this.store.listStateMachines(limit + 1, after);
    const page = rows.slice(0, limit);
    const out: { stateMachines: { stateMachineArn: string; name: string; type: string; creationDate: Date }[]; nextToken?: string } = {
      stateMachines: page.map((sm) => ({ stateMachineArn: sm.arn, name: sm.name, type: sm.type, creationDate: new Date(sm.created_ms) })),
    };
    if (rows.length > limit) out.nextToken = encodeToken(page[page.length - 1]?.name);
    return out;
  }

  async listStateMachineVersions(req: { stateMachineArn: string }) {
    await this.machine(req.stateMachineArn);
    const versions = await this.store.listStateMachineVersions(req.stateMachineArn);
    return { stateMachineVersions: versions.map((v) => ({ stateMachineVersionArn: v.arn, creationDate: new Date(v.created_ms) })) };
  }

  async deleteStateMachine(req: { stateMachineArn: string }) {
    this.checkArn(req.stateMachineArn);
    await this.store.deleteStateMachine(req.stateMachineArn);
    return {};
  }

  async createActivity(req: { name: string }) {
    checkName(req.name);
    const arn = this.arn('activity', req.name);
    const existing = await this.store.getActivity(arn);
    if (existing) return { activityArn: arn, creationDate: new Date(existing.created_ms) };
    const now = this.engine.now();
    await this.store.putActivity({ arn, name: req.name, created_ms: now });
    return { activityArn: arn, creationDate: new Date(now) };
  }

  async describeActivity(req: { activityArn: string }) {
    this.checkArn(req.activityArn);
    const activity = await this.store.getActivity(req.activityArn);
    if (!activity) throw sfnErrors.activityDoesNotExist(req.activityArn);
    return { activityArn: activity.arn, name: activity.name, creationDate: new Date(activity.created_ms) };
  }

  async listActivities(req: { maxResults?: number; nextToken?: string } = {}) {
    const limit = pageSize(req.maxResults);
    const rows = await this.store.listActivities(limit + 1, decodeToken<string>(req.nextToken));
    const page = rows.slice(0, limit);
    const out: { activities: { activityArn: string; name: string; creationDate: Date }[]; nextToken?: string } = {
      activities: page.map((a) => ({ activityArn: a.arn, name: a.name, creationDate: new Date(a.created_ms) })),
    };
    if (rows.length > limit) out.nextToken = encodeToken(page[page.length - 1]?.name);
    return out;
  }

  async deleteActivity(req: { activityArn: string }) {
    this.checkArn(req.activityArn);
    await this.store.deleteActivity(req.activityArn);
    return {};
  }

  /** Starts an execution; idempotent by name: the same name and input return the same execution. */
  async startExecution(req: { stateMachineArn: string; name?: string; input?: string }) {
    const sm = await this.machine(req.stateMachineArn);
    const version = req.stateMachineArn !== sm.arn ? await this.store.getStateMachineVersion(req.stateMachineArn) : undefined;
    if (req.stateMachineArn !== sm.arn && !version) throw sfnErrors.stateMachineDoesNotExist(req.stateMachineArn);
    const name = req.name ?? randomUUID();
    checkName(name);
    const input = executionInput(req.input);
    this.checkSize(input, 'input');
    const arn = this.arn(sm.type === 'EXPRESS' ? 'express' : 'execution', sm.name, name);
    const definition = version?.definition ?? sm.definition;
    const now = this.engine.now();
    const inserted = await this.engine.insertExecution(
      {
        arn,
        state_machine_arn: sm.arn,
        started_with_arn: req.stateMachineArn,
        name,
        status: 'RUNNING',
        input,
        output: null,
        error: null,
        cause: null,
        start_ms: now,
        stop_ms: null,
        definition,
        role_arn: version?.role_arn ?? sm.role_arn,
        runtime: '',
        transitions: 0,
        redrive_count: 0,
        redrive_ms: null,
        version: 0,
      },
      this.engine.machinesOf(definition).get('root')?.timeoutSeconds,
    );
    if (!inserted) {
      const existing = await this.execution(arn);
      if (existing.status === 'RUNNING' && existing.input === input) {
        return { executionArn: arn, startDate: new Date(existing.start_ms) };
      }
      throw sfnErrors.executionAlreadyExists(arn);
    }
    return { executionArn: arn, startDate: new Date(now) };
  }

  /** Runs an EXPRESS state machine to its end and returns the result (StartSyncExecution). */
  async startSyncExecution(req: { stateMachineArn: string; name?: string; input?: string }) {
    const sm = await this.machine(req.stateMachineArn);
    if (sm.type !== 'EXPRESS') {
      throw new SfnServiceError('StateMachineTypeNotSupported', 'This operation is not supported by this type of state machine');
    }
    const input = executionInput(req.input);
    const name = req.name ?? randomUUID();
    const start = this.engine.now();
    const result = await runLocal(sm.definition, input, {
      stateMachineName: sm.name,
      executionName: name,
      roleArn: sm.role_arn,
      region: this.engine.region,
      accountId: this.engine.accountId,
      stateMachineType: 'EXPRESS',
    });
    const out: Record<string, unknown> = {
      executionArn: result.executionArn,
      stateMachineArn: sm.arn,
      name,
      startDate: new Date(start),
      stopDate: new Date(this.engine.now()),
      status: result.status,
      input,
      inputDetails: { included: true },
      billingDetails: { billedMemoryUsedInMB: 64, billedDurationInMilliseconds: Math.max(100, this.engine.now() - start) },
    };
    if (result.output !== undefined) Object.assign(out, { output: result.output, outputDetails: { included: true } });
    if (result.error !== undefined) out.error = result.error;
    if (result.cause !== undefined) out.cause = result.cause;
    return out;
  }

  async describeExecution(req: { executionArn: string }) {
    const e = await this.execution(req.executionArn);
    const out: Record<string, unknown> = {
      executionArn: e.arn,
      stateMachineArn: e.started_with_arn,
      name: e.name,
      status: e.status,
      startDate: new Date(e.start_ms),
      input: e.input,
      inputDetails: { included: true },
      redriveCount: e.redrive_count,
      redriveStatus: e.status === 'RUNNING' || e.status === 'SUCCEEDED' ? 'NOT_REDRIVABLE' : 'REDRIVABLE',
      stateTransitions: e.transitions,
      costUsd: e.transitions * PRICE_PER_TRANSITION_USD,
    };
    if (e.stop_ms !== null) out.stopDate = new Date(e.stop_ms);
    if (e.output !== null) Object.assign(out, { output: e.output, outputDetails: { included: true } });
    if (e.error !== null) out.error = e.error;
    if (e.cause !== null) out.cause = e.cause;
    if (e.redrive_ms !== null) out.redriveDate = new Date(e.redrive_ms);
    if (e.started_with_arn !== e.state_machine_arn) out.stateMachineVersionArn = e.started_with_arn;
    return out;
  }

  async listExecutions(req: { stateMachineArn?: string; statusFilter?: string; maxResults?: number; nextToken?: string }) {
    if (req.stateMachineArn) await this.machine(req.stateMachineArn);
    const limit = pageSize(req.maxResults);
    const query: Parameters<typeof this.store.listExecutions>[0] = { limit: limit + 1 };
    if (req.stateMachineArn) query.stateMachineArn = req.stateMachineArn;
    if (req.statusFilter) query.status = req.statusFilter;
    const after = decodeToken<{ start_ms: number; arn: string }>(req.nextToken);
    if (after) query.after = after;
    const rows = await this.store.listExecutions(query);
    const page = rows.slice(0, limit);
    const out: { executions: Record<string, unknown>[]; nextToken?: string } = {
      executions: page.map((e) => {
        const item: Record<string, unknown> = {
          executionArn: e.arn,
          stateMachineArn: e.started_with_arn,
          name: e.name,
          status: e.status,
          startDate: new Date(e.start_ms),
          redriveCount: e.redrive_count,
        };
        if (e.stop_ms !== null) item.stopDate = new Date(e.stop_ms);
        return item;
      }),
    };
    const last = page[page.length - 1];
    if (rows.length > limit && last) out.nextToken = encodeToken({ start_ms: last.start_ms, arn: last.arn });
    return out;
  }

  async getExecutionHistory(req: { executionArn: string; maxResults?: number; nextToken?: string; reverseOrder?: boolean; includeExecutionData?: boolean }) {
    await this.execution(req.executionArn);
    const limit = pageSize(req.maxResults);
    const cursor = decodeToken<number>(req.nextToken);
    const reverse = req.reverseOrder ?? false;
    const options: Parameters<typeof this.store.getHistory>[1] = { limit: limit + 1, reverse };
    if (cursor !== undefined) {
      if (reverse) options.beforeId = cursor;
      else options.afterId = cursor;
    }
    const rows = await this.store.getHistory(req.executionArn, options);
    const page = rows.slice(0, limit);
    const out: { events: ApiHistoryEvent[]; nextToken?: string } = {
      events: page.map((row) => toApiEvent(row, req.includeExecutionData ?? true)),
    };
    const last = page[page.length - 1];
    if (rows.length > limit && last) out.nextToken = encodeToken(last.id);
    return out;
  }

  async stopExecution(req: { executionArn: string; error?: string; cause?: string }) {
    const e = await this.execution(req.executionArn);
    if (e.status === 'RUNNING') await this.engine.requestStop(e.arn, req.error, req.cause);
    await this.engine.waitForEnd(e.arn, 10_000);
    const after = await this.execution(req.executionArn);
    return { stopDate: new Date(after.stop_ms ?? this.engine.now()) };
  }

  /** Restarts a failed, timed-out or aborted execution from the state that did not finish. */
  async redriveExecution(req: { executionArn: string; clientToken?: string }) {
    const e = await this.execution(req.executionArn);
    if (e.status === 'RUNNING' || e.status === 'SUCCEEDED') throw sfnErrors.executionNotRedrivable(e.arn, `status is ${e.status}`);
    const now = this.engine.now();
    const reset = await this.store.resetExecution(e.arn, e.version, { status: 'RUNNING', stop_ms: null, error: null, cause: null, redrive_count: e.redrive_count + 1, redrive_ms: now }, [
      { execution_arn: e.arn, due_ms: now, token: null, kind: 'redrive', wake: JSON.stringify({ kind: 'redrive' }) },
    ]);
    if (!reset) throw sfnErrors.executionNotRedrivable(e.arn, 'it changed while redriving');
    this.engine.wake();
    return { redriveDate: new Date(now) };
  }

  async validateStateMachineDefinition(req: { definition: string; type?: string }) {
    let diagnostics: Diagnostic[];
    try {
      diagnostics = validateDefinition(JSON.parse(req.definition));
    } catch (e) {
      diagnostics = [{ severity: 'ERROR', code: 'INVALID_JSON_DESCRIPTION', message: (e as Error).message, location: '' }];
    }
    return { result: diagnostics.length === 0 ? 'OK' : 'FAIL', diagnostics, truncated: false };
  }

  /** Runs one state on an input, as TestState does: its output and the state it would go to. */
  async testState(req: { definition: string; roleArn?: string; input?: string }) {
    let state: Record<string, unknown>;
    try {
      state = JSON.parse(requireString(req.definition, 'definition')) as Record<string, unknown>;
    } catch (e) {
      if (e instanceof SfnServiceError) throw e;
      throw sfnErrors.invalidDefinition(`INVALID_JSON_DESCRIPTION: ${(e as Error).message}`);
    }
    if (state === null || typeof state !== 'object' || Array.isArray(state)) {
      throw sfnErrors.invalidDefinition('SCHEMA_VALIDATION_FAILED: a TestState definition must be one state, a JSON object');
    }
    const nextState = typeof state.Next === 'string' ? state.Next : undefined;
    const single: Record<string, unknown> = { ...state };
    if (single.Type !== 'Choice' && single.Type !== 'Succeed' && single.Type !== 'Fail') {
      delete single.Next;
      single.End = true;
    }
    const definition = { StartAt: 'TestState', States: { TestState: single } as Record<string, unknown> };
    if (single.Type === 'Choice') {
      // Choice targets must exist for validation; each becomes a Succeed that records its name.
      const targets = new Set<string>();
      for (const c of (single.Choices as { Next?: string }[] | undefined) ?? []) if (c.Next) targets.add(c.Next);
      if (typeof single.Default === 'string') targets.add(single.Default);
      for (const t of targets) definition.States[t] = { Type: 'Pass', Result: { __nextState: t }, ResultPath: '$.__inletNextState', End: true };
    }
    assertValid(JSON.stringify(definition));
    const result = await runLocal(definition, executionInput(req.input), { region: this.engine.region, accountId: this.engine.accountId });
    if (result.status !== 'SUCCEEDED') {
      return { status: 'FAILED', error: result.error, cause: result.cause };
    }
    let output = result.output ?? 'null';
    let next = nextState;
    if (single.Type === 'Choice') {
      const parsed = JSON.parse(output) as { __inletNextState?: { __nextState: string } };
      next = parsed.__inletNextState?.__nextState;
      delete parsed.__inletNextState;
      output = JSON.stringify(parsed);
    }
    const out: Record<string, unknown> = { status: 'SUCCEEDED', output };
    if (next !== undefined) out.nextState = next;
    return out;
  }

  /** Long-polls up to 60 s for a task of the activity; `taskToken` is absent when none came. */
  async getActivityTask(req: { activityArn: string; workerName?: string }, options: { pollMs?: number; signal?: AbortSignal } = {}) {
    this.checkArn(req.activityArn);
    if (!(await this.store.getActivity(req.activityArn))) throw sfnErrors.activityDoesNotExist(req.activityArn);
    const deadline = Date.now() + (options.pollMs ?? ACTIVITY_POLL_MS);
    for (;;) {
      // A poller that hung up must not be handed a task it will never see.
      if (options.signal?.aborted) return {};
      const now = this.engine.now();
      const task = await this.store.claimActivityTask(req.activityArn, req.workerName ?? 'worker', now, now + TASK_STARTED_WAIT_MS);
      if (task) {
        this.engine.wakeWithin(TASK_STARTED_WAIT_MS);
        return { taskToken: task.token, input: task.input };
      }
      const left = deadline - Date.now();
      if (left <= 0 || options.signal?.aborted) return {};
      await new Promise<void>((resolve) => {
        const event = `task:${req.activityArn}`;
        const done = () => {
          clearTimeout(timer);
          this.engine.signals.off(event, done);
          options.signal?.removeEventListener('abort', done);
          resolve();
        };
        // Re-check now and then even without a signal: another engine process may have queued it.
        const timer = setTimeout(done, Math.min(left, 1000));
        this.engine.signals.on(event, done);
        options.signal?.addEventListener('abort', done);
      });
    }
  }

  private async openTask(token: string) {
    if (typeof token !== 'string' || !isWellFormedToken(token)) throw sfnErrors.invalidToken(`Invalid Token: '${String(token)}'`);
    const task = await this.store.getActivityTask(token);
    if (!task) throw sfnErrors.taskDoesNotExist();
    if (task.status === 'closed') throw task.closed_reason === 'timed_out' ? sfnErrors.taskTimedOut() : sfnErrors.taskDoesNotExist();
    return task;
  }

  private checkSize(text: string, what: string): void {
    const limit = this.engine.payloadLimitBytes;
    if (limit !== undefined && Buffer.byteLength(text) > limit) {
      throw sfnErrors.validation(`The ${what} exceeds the maximum size of ${limit} bytes (States.DataLimitExceeded)`);
    }
  }

  async sendTaskSuccess(req: { taskToken: string; output: string }) {
    const task = await this.openTask(req.taskToken);
    checkJson(requireString(req.output, 'output'), 'output');
    const limit = this.engine.payloadLimitBytes;
    const outcome: Outcome =
      limit !== undefined && Buffer.byteLength(req.output) > limit
        ? { ok: false, error: 'States.DataLimitExceeded', cause: `The task output exceeds ${limit} bytes` }
        : { ok: true, result: JSON.parse(req.output) as unknown };
    if (!(await this.engine.completeTask(task.token, outcome, task.execution_arn))) throw sfnErrors.taskDoesNotExist();
    return {};
  }

  async sendTaskFailure(req: { taskToken: string; error?: string; cause?: string }) {
    const task = await this.openTask(req.taskToken);
    const outcome: Outcome = { ok: false, error: req.error ?? '' };
    if (req.cause !== undefined) outcome.cause = req.cause;
    if (!(await this.engine.completeTask(task.token, outcome, task.execution_arn))) throw sfnErrors.taskDoesNotExist();
    return {};
  }

  private async taggable(arn: string): Promise<void> {
    this.checkArn(arn);
    const exists = arn.includes(':activity:') ? await this.store.getActivity(arn) : await this.store.getStateMachine(arn);
    if (!exists) throw new SfnServiceError('ResourceNotFound', `Resource not found: '${arn}'`);
  }

  async tagResource(req: { resourceArn: string; tags: { key: string; value: string }[] }) {
    await this.taggable(req.resourceArn);
    if (!Array.isArray(req.tags)) throw required('tags');
    await this.store.tagResource(req.resourceArn, Object.fromEntries(req.tags.map((t) => [requireString(t?.key, 'tags.key'), String(t?.value ?? '')])));
    return {};
  }

  async untagResource(req: { resourceArn: string; tagKeys: string[] }) {
    await this.taggable(req.resourceArn);
    if (!Array.isArray(req.tagKeys)) throw required('tagKeys');
    await this.store.untagResource(req.resourceArn, req.tagKeys.map((k) => requireString(k, 'tagKeys')));
    return {};
  }

  async listTagsForResource(req: { resourceArn: string }) {
    await this.taggable(req.resourceArn);
    const tags = await this.store.listTags(req.resourceArn);
    return { tags: Object.entries(tags).map(([key, value]) => ({ key, value })) };
  }

  async sendTaskHeartbeat(req: { taskToken: string }) {
    const task = await this.openTask(req.taskToken);
    if (task.heartbeat_seconds !== null) {
      await this.store.postponeTimer(task.token, 'heartbeat', this.engine.now() + task.heartbeat_seconds * 1000);
    }
    return {};
  }
}

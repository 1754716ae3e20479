/**
 * The Store contract, one suite run against every backend (test/store/backends.ts): what the
 * engine relies on from its persistence, checked at the Store interface with rows built by hand,
 * then an Engine with the Step Functions API running on the same store. Each test gets its own
 * database (a SQLite file, a PostgreSQL schema), so the tests of a backend run concurrently.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../../src/engine/engine.ts';
import { StepFunctions } from '../../src/engine/step-functions.ts';
import { OUT_OF_LINE_BYTES } from '../../src/store/payloads.ts';
import type {
  AdvanceCommit,
  DbActivity,
  DbActivityTask,
  DbExecution,
  DbHistoryEvent,
  DbInboxRow,
  DbStateMachine,
  DbStateMachineVersion,
  NewInboxRow,
  Store,
} from '../../src/store/store.ts';
import {
  ROLE_ARN,
  createActivity,
  createMachine,
  eventually,
  finished,
  fullHistory,
  sleep,
  typesOf,
} from '../engine/fixtures/harness.ts';
import { BACKENDS, withDatabase } from './backends.ts';
import type { StoreBackend } from './backends.ts';

const PREFIX = 'arn:aws:states:us-east-1:123456789012:';
/** Engine resources under this prefix are activities; anything else is an in-process handler. */
const ACTIVITY_PREFIX = `${PREFIX}activity:`;
const LAMBDA = 'arn:aws:states:::lambda:invoke';
/** Epoch milliseconds past 2^32, so a backend that narrows them to 32 bits shows. */
const T0 = 1_700_000_000_000;
/** Later than every due time in these tests. */
const FAR = T0 + 86_400_000;
const PARALLEL = { concurrency: true };

type NewTask = AdvanceCommit['newTasks'][number];

function machine(name: string, fields: Partial<DbStateMachine> = {}): DbStateMachine {
  return {
    arn: `${PREFIX}stateMachine:${name}`,
    name,
    definition: JSON.stringify({ StartAt: 'A', States: { A: { Type: 'Pass', End: true } } }),
    role_arn: ROLE_ARN,
    type: 'STANDARD',
    created_ms: T0,
    updated_ms: T0,
    revision: 1,
    description: '',
    ...fields,
  };
}

function version(sm: DbStateMachine, n: number): DbStateMachineVersion {
  return {
    arn: `${sm.arn}:${n}`,
    state_machine_arn: sm.arn,
    version: n,
    definition: `{"StartAt":"V${n}","States":{"V${n}":{"Type":"Succeed"}}}`,
    role_arn: sm.role_arn,
    created_ms: T0 + n,
    description: `version ${n}`,
  };
}

function activity(name: string, created_ms = T0): DbActivity {
  return { arn: `${ACTIVITY_PREFIX}${name}`, name, created_ms };
}

/** A running execution of `flow` named `name`, as insertExecution receives it. */
function execution(name: string, fields: Partial<DbExecution> = {}): DbExecution {
  const sm = fields.state_machine_arn ?? `${PREFIX}stateMachine:flow`;
  return {
    arn: `${PREFIX}execution:${sm.split(':')[6] ?? 'flow'}:${name}`,
    state_machine_arn: sm,
    started_with_arn: sm,
    name,
    status: 'RUNNING',
    input: '{"n": 1, "text": "kept as sent"}',
    output: null,
    error: null,
    cause: null,
    start_ms: T0,
    stop_ms: null,
    definition: '{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}',
    role_arn: ROLE_ARN,
    runtime: '{"status":"RUNNING","transitions":0}',
    transitions: 0,
    redrive_count: 0,
    redrive_ms: null,
    version: 0,
    ...fields,
  };
}

function wake(executionArn: string, dueMs: number, kind = 'timer', token: string | null = null): NewInboxRow {
  return {
    execution_arn: executionArn,
    due_ms: dueMs,
    token,
    kind,
    wake: JSON.stringify({ kind, dueMs, token }),
  };
}

function task(token: string, resource: string, executionArn: string, createdMs: number): NewTask {
  return {
    token,
    activity_arn: resource,
    execution_arn: executionArn,
    input: JSON.stringify({ token }),
    status: 'scheduled',
    created_ms: createdMs,
    heartbeat_seconds: null,
  };
}

function historyEvent(
  executionArn: string,
  id: number,
  details: unknown = { input: `{"event":${id}}` },
): DbHistoryEvent {
  return {
    execution_arn: executionArn,
    id,
    type: id === 1 ? 'ExecutionStarted' : 'PassStateEntered',
    timestamp_ms: T0 + id,
    previous_event_id: id - 1,
    details: details === null ? null : JSON.stringify(details),
  };
}

/** A commit of `exec` at its current version that changes nothing, to be filled in. */
function commitOf(
  exec: Pick<DbExecution, 'arn' | 'version' | 'transitions'>,
  fields: Partial<AdvanceCommit> = {},
): AdvanceCommit {
  return {
    executionArn: exec.arn,
    expectedVersion: exec.version,
    execution: {
      status: 'RUNNING',
      runtime: `{"status":"RUNNING","transitions":${exec.transitions + 1}}`,
      transitions: exec.transitions + 1,
      output: null,
      error: null,
      cause: null,
      stop_ms: null,
    },
    events: [],
    consumedInbox: [],
    newInbox: [],
    newTasks: [],
    closedTasks: [],
    ...fields,
  };
}

/** Inserts a running execution with no inbox rows and returns it. */
async function running(store: Store, name: string, fields: Partial<DbExecution> = {}): Promise<DbExecution> {
  const exec = execution(name, fields);
  assert.equal(await store.insertExecution(exec, []), true);
  return exec;
}

/** Commits `fields` onto `exec` at its current version and returns the execution as stored after. */
async function commit(store: Store, exec: DbExecution, fields: Partial<AdvanceCommit>): Promise<DbExecution> {
  assert.equal(await store.commitAdvance(commitOf(exec, fields)), true, `the commit of ${exec.name} applies`);
  const after = await store.getExecution(exec.arn);
  assert.ok(after);
  return after;
}

/** Ends a running execution with `status`, stopping at `stopMs`, in a commit with `fields`. */
async function finish(
  store: Store,
  exec: DbExecution,
  status: string,
  stopMs: number,
  fields: Partial<AdvanceCommit> = {},
): Promise<DbExecution> {
  return commit(store, exec, {
    ...fields,
    execution: {
      status,
      runtime: '{"status":"DONE"}',
      transitions: exec.transitions + 1,
      output: '{"done":true}',
      error: null,
      cause: null,
      stop_ms: stopMs,
    },
  });
}

/** The inbox rows of one execution, due or not, in the order the engine takes them. */
async function inboxOf(store: Store, executionArn: string): Promise<DbInboxRow[]> {
  return (await store.dueInbox(FAR, 10_000)).filter((row) => row.execution_arn === executionArn);
}

/** History with details parsed: a backend may store JSON in its own form, the engine only parses it. */
function parsed(events: readonly DbHistoryEvent[]): unknown[] {
  return events.map((e) => ({
    ...e,
    details: e.details === null ? null : (JSON.parse(e.details) as unknown),
  }));
}

async function allHistory(store: Store, arn: string): Promise<DbHistoryEvent[]> {
  return store.getHistory(arn, { limit: 10_000, reverse: false });
}

function ids(events: readonly { id: number }[]): number[] {
  return events.map((e) => e.id);
}

/** A string past the out-of-line limit, with characters JSON must escape and some outside ASCII. */
function bigString(seed: string): string {
  const unit = `${seed} "quoted" \\ back\\slash\nnew line\tüñï€𝄞 `;
  return unit.repeat(Math.ceil((OUT_OF_LINE_BYTES + 1000) / unit.length));
}

for (const backend of BACKENDS) {
  void describe(`the store on ${backend.name}`, PARALLEL, () => {
    storeContract(backend);
    engineOnStore(backend);
  });
}

function storeContract(backend: StoreBackend): void {
  void describe('state machines and activities', PARALLEL, () => {
    void test('a state machine reads back by ARN and by name, and putting it again updates it but keeps its creation time', async () => {
      await withDatabase(backend, async (store) => {
        const sm = machine('orders', { description: 'takes orders' });
        await store.putStateMachine(sm);
        assert.deepEqual(await store.getStateMachine(sm.arn), sm);
        assert.deepEqual(await store.getStateMachineByName('orders'), sm);

        const updated = {
          ...sm,
          definition: '{"StartAt":"B","States":{"B":{"Type":"Succeed"}}}',
          updated_ms: T0 + 5000,
          revision: 2,
          description: 'v2',
        };
        await store.putStateMachine({ ...updated, created_ms: T0 + 5000 });
        assert.deepEqual(await store.getStateMachine(sm.arn), updated);
        assert.equal(await store.getStateMachine(`${sm.arn}-missing`), undefined);
        assert.equal(await store.getStateMachineByName('missing'), undefined);
      });
    });

    void test('state machines list a page at a time by name, in code-point order, each exactly once', async () => {
      await withDatabase(backend, async (store) => {
        for (const name of ['beta_1', 'Zeta', 'alpha', 'beta-2', 'Alpha'])
          await store.putStateMachine(machine(name));
        const pages: string[][] = [];
        let after: string | undefined;
        for (;;) {
          const page = await store.listStateMachines(2, after);
          if (page.length === 0) break;
          pages.push(page.map((sm) => sm.name));
          after = page[page.length - 1]?.name;
        }
        // Binary order (SQLite's default collation): upper case before lower, '-' before '_'.
        assert.deepEqual(pages, [['Alpha', 'Zeta'], ['alpha', 'beta-2'], ['beta_1']]);
        assert.deepEqual(
          (await store.listStateMachines(10)).map((sm) => sm.name),
          ['Alpha', 'Zeta', 'alpha', 'beta-2', 'beta_1'],
        );
      });
    });

    void test('versions list newest first, and deleting a machine deletes its versions and tags but no other machine’s', async () => {
      await withDatabase(backend, async (store) => {
        const sm = machine('versioned');
        const other = machine('other');
        await store.putStateMachine(sm);
        await store.putStateMachine(other);
        for (const n of [2, 1, 3]) await store.putStateMachineVersion(version(sm, n));
        await store.putStateMachineVersion(version(other, 1));
        await store.tagResource(sm.arn, { team: 'data' });
        await store.tagResource(other.arn, { team: 'web' });

        assert.deepEqual(
          (await store.listStateMachineVersions(sm.arn)).map((v) => v.version),
          [3, 2, 1],
        );
        assert.deepEqual(await store.getStateMachineVersion(`${sm.arn}:2`), version(sm, 2));

        await store.deleteStateMachine(sm.arn);
        assert.equal(await store.getStateMachine(sm.arn), undefined);
        assert.equal(await store.getStateMachineByName('versioned'), undefined);
        assert.deepEqual(await store.listStateMachineVersions(sm.arn), []);
        assert.equal(await store.getStateMachineVersion(`${sm.arn}:2`), undefined);
        assert.deepEqual(await store.listTags(sm.arn), {});
        // The name is free again.
        await store.putStateMachine(machine('versioned', { created_ms: T0 + 1 }));
        assert.equal((await store.getStateMachineByName('versioned'))?.created_ms, T0 + 1);

        assert.deepEqual(await store.getStateMachine(other.arn), other);
        assert.deepEqual(await store.listStateMachineVersions(other.arn), [version(other, 1)]);
        assert.deepEqual(await store.listTags(other.arn), { team: 'web' });
      });
    });

    void test('putting an activity twice keeps one with its first creation time; activities page by name; delete removes one', async () => {
      await withDatabase(backend, async (store) => {
        const first = activity('resize', T0);
        await store.putActivity(first);
        await store.putActivity({ ...first, created_ms: T0 + 999 });
        assert.deepEqual(await store.getActivity(first.arn), first);
        for (const name of ['encode', 'upload', 'crop']) await store.putActivity(activity(name));

        assert.deepEqual(
          (await store.listActivities(2)).map((a) => a.name),
          ['crop', 'encode'],
        );
        assert.deepEqual(
          (await store.listActivities(2, 'encode')).map((a) => a.name),
          ['resize', 'upload'],
        );
        assert.deepEqual(await store.listActivities(2, 'upload'), []);

        await store.deleteActivity(first.arn);
        assert.equal(await store.getActivity(first.arn), undefined);
        assert.deepEqual(
          (await store.listActivities(10)).map((a) => a.name),
          ['crop', 'encode', 'upload'],
        );
      });
    });

    void test('tags are added, replaced and removed per resource, and list sorted by key', async () => {
      await withDatabase(backend, async (store) => {
        const arn = `${PREFIX}stateMachine:tagged`;
        const other = `${PREFIX}activity:tagged`;
        await store.tagResource(arn, { team: 'data', env: 'prod', cost: 'c1' });
        await store.tagResource(other, { team: 'web' });
        assert.deepEqual(Object.entries(await store.listTags(arn)), [
          ['cost', 'c1'],
          ['env', 'prod'],
          ['team', 'data'],
        ]);

        await store.tagResource(arn, { env: 'staging', owner: 'ana' });
        assert.deepEqual(Object.entries(await store.listTags(arn)), [
          ['cost', 'c1'],
          ['env', 'staging'],
          ['owner', 'ana'],
          ['team', 'data'],
        ]);

        await store.untagResource(arn, ['cost', 'team', 'not-there']);
        assert.deepEqual(Object.entries(await store.listTags(arn)), [
          ['env', 'staging'],
          ['owner', 'ana'],
        ]);
        assert.deepEqual(await store.listTags(other), { team: 'web' });
        assert.deepEqual(await store.listTags(`${PREFIX}stateMachine:untagged`), {});
      });
    });
  });

  void describe('executions', PARALLEL, () => {
    void test('every column of an execution reads back as written; the head is the row without definition and runtime', async () => {
      await withDatabase(backend, async (store) => {
        // Every nullable column set, so a backend that drops or retypes one shows.
        const exec = execution('full', {
          status: 'FAILED',
          output: '{"partial": [1, 2]}',
          error: 'States.TaskFailed',
          cause: 'it broke: "quotes" and ünïcode',
          stop_ms: T0 + 12_345,
          transitions: 7,
          redrive_count: 2,
          redrive_ms: T0 + 6000,
          version: 3,
        });
        assert.equal(await store.insertExecution(exec, []), true);
        assert.deepEqual(await store.getExecution(exec.arn), exec);
        const { definition: _definition, runtime: _runtime, ...head } = exec;
        assert.deepEqual(await store.getExecutionHead(exec.arn), head);
        assert.equal(await store.getExecution(`${exec.arn}-missing`), undefined);
        assert.equal(await store.getExecutionHead(`${exec.arn}-missing`), undefined);
      });
    });

    void test('insertExecution refuses an ARN that exists, and then adds none of its inbox rows', async () => {
      await withDatabase(backend, async (store) => {
        const exec = execution('once');
        assert.equal(await store.insertExecution(exec, [wake(exec.arn, T0, 'start')]), true);
        const again = execution('once', { input: '{"n":2}', start_ms: T0 - 50 });
        assert.equal(
          await store.insertExecution(again, [
            wake(exec.arn, T0 - 50, 'start'),
            wake(exec.arn, T0 + 60_000, 'timeout'),
          ]),
          false,
        );

        assert.deepEqual(await store.getExecution(exec.arn), exec);
        const inbox = await inboxOf(store, exec.arn);
        assert.deepEqual(
          inbox.map(({ id: _id, ...row }) => row),
          [wake(exec.arn, T0, 'start')],
        );
        assert.equal(await store.nextDue(), T0);
      });
    });

    void test('listExecutions orders by start time then ARN, newest first, filters by machine (or the version started), by status, and pages with after', async () => {
      await withDatabase(backend, async (store) => {
        const a = `${PREFIX}stateMachine:a`;
        const b = `${PREFIX}stateMachine:b`;
        const rows = [
          execution('a1', { state_machine_arn: a, started_with_arn: a, start_ms: T0, status: 'SUCCEEDED' }),
          execution('a2', { state_machine_arn: a, started_with_arn: a, start_ms: T0 + 10, status: 'FAILED' }),
          execution('a3', {
            state_machine_arn: a,
            started_with_arn: `${a}:1`,
            start_ms: T0 + 10,
            status: 'SUCCEEDED',
          }),
          execution('a4', { state_machine_arn: a, started_with_arn: a, start_ms: T0 + 10 }),
          execution('a5', {
            state_machine_arn: a,
            started_with_arn: a,
            start_ms: T0 + 20,
            status: 'SUCCEEDED',
          }),
          execution('b1', { state_machine_arn: b, started_with_arn: b, start_ms: T0 + 15 }),
        ];
        // Inserted in no particular order: the order comes from the query.
        for (const i of [3, 0, 5, 1, 4, 2]) {
          const row = rows[i];
          assert.ok(row);
          assert.equal(await store.insertExecution(row, []), true);
        }
        const names = (list: DbExecution[]) => list.map((e) => e.name);

        assert.deepEqual(names(await store.listExecutions({ limit: 100 })), [
          'a5',
          'b1',
          'a4',
          'a3',
          'a2',
          'a1',
        ]);
        assert.deepEqual(names(await store.listExecutions({ limit: 100, stateMachineArn: a })), [
          'a5',
          'a4',
          'a3',
          'a2',
          'a1',
        ]);
        assert.deepEqual(names(await store.listExecutions({ limit: 100, stateMachineArn: `${a}:1` })), [
          'a3',
        ]);
        assert.deepEqual(names(await store.listExecutions({ limit: 100, status: 'SUCCEEDED' })), [
          'a5',
          'a3',
          'a1',
        ]);
        assert.deepEqual(
          names(await store.listExecutions({ limit: 100, status: 'RUNNING', stateMachineArn: a })),
          ['a4'],
        );
        assert.deepEqual(
          await store.listExecutions({ limit: 100, stateMachineArn: `${PREFIX}stateMachine:none` }),
          [],
        );
        // Whole rows, not just ARNs.
        assert.deepEqual((await store.listExecutions({ limit: 1, stateMachineArn: b }))[0], rows[5]);

        // Pages of 2 through ties in start_ms: every execution exactly once, in order.
        for (const filter of [{}, { stateMachineArn: a }]) {
          const seen: string[] = [];
          let after: { start_ms: number; arn: string } | undefined;
          for (;;) {
            const page = await store.listExecutions({ limit: 2, ...filter, ...(after ? { after } : {}) });
            if (page.length === 0) break;
            seen.push(...names(page));
            const last = page[page.length - 1];
            assert.ok(last);
            after = { start_ms: last.start_ms, arn: last.arn };
          }
          assert.deepEqual(seen, names(await store.listExecutions({ limit: 100, ...filter })));
        }
      });
    });

    void test('resetExecution updates the row and queues its inbox rows only while the version matches', async () => {
      await withDatabase(backend, async (store) => {
        const exec = await running(store, 'redriven');
        const failed = await finish(store, exec, 'FAILED', T0 + 100);
        const changes = {
          status: 'RUNNING',
          stop_ms: null,
          error: null,
          cause: null,
          redrive_count: 1,
          redrive_ms: T0 + 500,
        };
        assert.equal(
          await store.resetExecution(exec.arn, failed.version - 1, changes, [
            wake(exec.arn, T0 + 500, 'redrive'),
          ]),
          false,
        );
        assert.deepEqual(await store.getExecution(exec.arn), failed);
        assert.deepEqual(await inboxOf(store, exec.arn), []);

        assert.equal(
          await store.resetExecution(exec.arn, failed.version, changes, [
            wake(exec.arn, T0 + 500, 'redrive'),
          ]),
          true,
        );
        assert.deepEqual(await store.getExecution(exec.arn), {
          ...failed,
          ...changes,
          version: failed.version + 1,
        });
        assert.deepEqual(
          (await inboxOf(store, exec.arn)).map((row) => row.kind),
          ['redrive'],
        );
      });
    });
  });

  void describe('commitAdvance', PARALLEL, () => {
    void test('writes the runtime, status, transitions, events, new inbox rows and tasks, consumes inbox rows, and bumps the version', async () => {
      await withDatabase(backend, async (store) => {
        const exec = execution('advancing');
        assert.equal(
          await store.insertExecution(exec, [
            wake(exec.arn, T0, 'start'),
            wake(exec.arn, T0 + 60_000, 'timeout'),
          ]),
          true,
        );
        const [start, timeout] = await inboxOf(store, exec.arn);
        assert.ok(start && timeout);

        const t1 = { ...task('token-1', `${ACTIVITY_PREFIX}work`, exec.arn, T0 + 1), heartbeat_seconds: 30 };
        const after = await commit(store, exec, {
          events: [historyEvent(exec.arn, 1), historyEvent(exec.arn, 2, null)],
          consumedInbox: [start.id],
          newInbox: [
            wake(exec.arn, T0 + 1000, 'timer'),
            wake(exec.arn, T0 + 30_000, 'heartbeat', 'token-1'),
            wake(exec.arn, T0 + 50_000, 'taskTimeout', 'token-1'),
          ],
          newTasks: [t1],
        });
        assert.deepEqual(after, {
          ...exec,
          runtime: '{"status":"RUNNING","transitions":1}',
          transitions: 1,
          version: 1,
        });
        assert.deepEqual(
          parsed(await allHistory(store, exec.arn)),
          parsed([historyEvent(exec.arn, 1), historyEvent(exec.arn, 2, null)]),
        );
        assert.deepEqual(
          (await inboxOf(store, exec.arn)).map(({ id: _id, ...row }) => row),
          [
            wake(exec.arn, T0 + 1000, 'timer'),
            wake(exec.arn, T0 + 30_000, 'heartbeat', 'token-1'),
            wake(exec.arn, T0 + 50_000, 'taskTimeout', 'token-1'),
            wake(exec.arn, T0 + 60_000, 'timeout'),
          ],
        );
        assert.deepEqual(await store.getActivityTask('token-1'), {
          ...t1,
          closed_reason: null,
          started_ms: null,
          worker_name: null,
        });

        // Closing the task drops its own timers (heartbeat, taskTimeout), not the execution's.
        const [timer] = await inboxOf(store, exec.arn);
        assert.ok(timer);
        await commit(store, after, {
          events: [historyEvent(exec.arn, 3)],
          consumedInbox: [timer.id],
          closedTasks: [{ token: 'token-1', reason: 'succeeded' }],
        });
        assert.equal((await store.getActivityTask('token-1'))?.status, 'closed');
        assert.equal((await store.getActivityTask('token-1'))?.closed_reason, 'succeeded');
        assert.deepEqual(
          (await inboxOf(store, exec.arn)).map((row) => row.kind),
          ['timeout'],
        );
        assert.deepEqual(ids(await allHistory(store, exec.arn)), [1, 2, 3]);
        assert.equal((await store.getExecutionHead(exec.arn))?.version, 2);
      });
    });

    void test('a commit from a stale version is refused and writes nothing', async () => {
      await withDatabase(backend, async (store) => {
        const exec = execution('contended');
        assert.equal(await store.insertExecution(exec, [wake(exec.arn, T0, 'start')]), true);
        const open = task('open-task', `${ACTIVITY_PREFIX}work`, exec.arn, T0);
        const current = await commit(store, exec, { events: [historyEvent(exec.arn, 1)], newTasks: [open] });
        const before = {
          execution: current,
          history: await allHistory(store, exec.arn),
          inbox: await inboxOf(store, exec.arn),
        };
        const [start] = before.inbox;
        assert.ok(start);

        // Another engine advanced it meanwhile: this one started from version 0.
        const stale = commitOf(exec, {
          events: [historyEvent(exec.arn, 2)],
          consumedInbox: [start.id],
          newInbox: [wake(exec.arn, T0 + 5, 'timer')],
          newTasks: [task('stale-task', `${ACTIVITY_PREFIX}work`, exec.arn, T0 + 5)],
          closedTasks: [{ token: 'open-task', reason: 'aborted' }],
        });
        assert.equal(await store.commitAdvance(stale), false);
        assert.equal(
          await store.commitAdvance({
            ...stale,
            execution: { ...stale.execution, status: 'SUCCEEDED', stop_ms: T0 + 5 },
          }),
          false,
        );

        assert.deepEqual(await store.getExecution(exec.arn), before.execution);
        assert.deepEqual(await allHistory(store, exec.arn), before.history);
        assert.deepEqual(await inboxOf(store, exec.arn), before.inbox);
        assert.equal(await store.getActivityTask('stale-task'), undefined);
        assert.equal((await store.getActivityTask('open-task'))?.status, 'scheduled');
      });
    });

    void test('a commit whose consumed wake-up another engine already applied is refused, even at the current version', async () => {
      await withDatabase(backend, async (store) => {
        const exec = execution('raced');
        assert.equal(await store.insertExecution(exec, [wake(exec.arn, T0, 'start')]), true);
        const [start] = await inboxOf(store, exec.arn);
        assert.ok(start);
        // Engine A applies the start; engine B read the same row before A's commit but the
        // execution only after it, so B's commit carries the new version and the stale row.
        const after = await commit(store, exec, { events: [historyEvent(exec.arn, 1)], consumedInbox: [start.id] });
        const late = commitOf(after, { events: [historyEvent(exec.arn, 2)], consumedInbox: [start.id] });
        assert.equal(await store.commitAdvance(late), false);
        assert.deepEqual(await store.getExecution(exec.arn), after);
        assert.deepEqual(ids(await allHistory(store, exec.arn)), [1]);
      });
    });

    void test('a task started and closed in the same commit leaves no timers behind', async () => {
      await withDatabase(backend, async (store) => {
        const exec = await running(store, 'quick-task');
        const work = `${ACTIVITY_PREFIX}work`;
        await commit(store, exec, {
          newTasks: [task('quick', work, exec.arn, T0)],
          newInbox: [
            wake(exec.arn, T0 + 60_000, 'taskTimeout', 'quick'),
            wake(exec.arn, T0 + 10_000, 'heartbeat', 'quick'),
            wake(exec.arn, T0 + 5_000, 'wait'),
          ],
          closedTasks: [{ token: 'quick', reason: 'aborted' }],
        });
        assert.deepEqual((await inboxOf(store, exec.arn)).map((r) => r.kind), ['wait']);
        assert.equal((await store.getActivityTask('quick'))?.status, 'closed');
      });
    });

    void test('an advance that ends the execution deletes its inbox and aborts its open tasks, and touches no other execution', async () => {
      await withDatabase(backend, async (store) => {
        const exec = await running(store, 'ending');
        const other = await running(store, 'bystander');
        const work = `${ACTIVITY_PREFIX}work`;
        const current = await commit(store, exec, {
          newTasks: [task('queued', work, exec.arn, T0 + 2), task('claimed', work, exec.arn, T0 + 1)],
          newInbox: [wake(exec.arn, T0 + 1000), wake(exec.arn, T0 + 9000, 'taskTimeout', 'queued')],
        });
        await commit(store, other, {
          newTasks: [task('elsewhere', work, other.arn, T0 + 3)],
          newInbox: [wake(other.arn, T0 + 1500)],
        });
        assert.equal((await store.claimActivityTask(work, 'w', T0 + 10, T0 + 5000))?.token, 'claimed');
        assert.equal((await store.taskStartsOf(exec.arn)).length, 1);

        await finish(store, current, 'SUCCEEDED', T0 + 2000);
        assert.deepEqual(await inboxOf(store, exec.arn), []);
        assert.deepEqual(await store.taskStartsOf(exec.arn), []);
        assert.equal(await store.nextDue(), T0 + 1500); // only the bystander's timer is left
        const state = async (token: string) => {
          const t = await store.getActivityTask(token);
          return [t?.status, t?.closed_reason];
        };
        assert.deepEqual(await state('queued'), ['closed', 'aborted']);
        assert.deepEqual(await state('claimed'), ['closed', 'aborted']);
        assert.deepEqual(await state('elsewhere'), ['scheduled', null]);
        // An aborted task is no longer handed out; the bystander's still is.
        assert.equal((await store.claimActivityTask(work, 'w', T0 + 3000))?.token, 'elsewhere');
      });
    });

    void test('a task closed in the commit that ends the execution keeps its own outcome', async () => {
      await withDatabase(backend, async (store) => {
        const exec = await running(store, 'answered');
        const work = `${ACTIVITY_PREFIX}work`;
        const current = await commit(store, exec, {
          newTasks: [task('done', work, exec.arn, T0), task('pending', work, exec.arn, T0 + 1)],
        });
        await finish(store, current, 'SUCCEEDED', T0 + 100, {
          closedTasks: [{ token: 'done', reason: 'succeeded' }],
        });
        assert.equal((await store.getActivityTask('done'))?.closed_reason, 'succeeded');
        assert.equal((await store.getActivityTask('pending'))?.closed_reason, 'aborted');
      });
    });

    void test('closing a task as timed_out is refused, with nothing written, when its worker’s answer already closed it', async () => {
      await withDatabase(backend, async (store) => {
        const exec = await running(store, 'raced');
        const work = `${ACTIVITY_PREFIX}work`;
        const current = await commit(store, exec, {
          newTasks: [task('answered', work, exec.arn, T0), task('silent', work, exec.arn, T0 + 1)],
          newInbox: [
            wake(exec.arn, T0 + 5000, 'taskTimeout', 'answered'),
            wake(exec.arn, T0 + 5000, 'taskTimeout', 'silent'),
          ],
        });
        await store.claimActivityTask(work, 'w', T0 + 10);
        await store.claimActivityTask(work, 'w', T0 + 11);
        // The worker's answer is acknowledged while the engine is timing the task out.
        assert.equal(
          await store.closeActivityTask('answered', 'succeeded', wake(exec.arn, T0 + 4999, 'taskDone')),
          true,
        );
        const before = { history: await allHistory(store, exec.arn), inbox: await inboxOf(store, exec.arn) };

        const timeout = commitOf(current, {
          events: [historyEvent(exec.arn, 1)],
          newInbox: [wake(exec.arn, T0 + 6000)],
          closedTasks: [{ token: 'answered', reason: 'timed_out' }],
        });
        assert.equal(await store.commitAdvance(timeout), false);
        assert.deepEqual(await store.getExecution(exec.arn), current);
        assert.deepEqual(await allHistory(store, exec.arn), before.history);
        assert.deepEqual(await inboxOf(store, exec.arn), before.inbox);
        assert.equal((await store.getActivityTask('answered'))?.closed_reason, 'succeeded');

        // A task nobody answered times out normally.
        await commit(store, current, { closedTasks: [{ token: 'silent', reason: 'timed_out' }] });
        assert.equal((await store.getActivityTask('silent'))?.closed_reason, 'timed_out');
      });
    });
  });

  void describe('history', PARALLEL, () => {
    void test('getHistory pages forward after an id and backward before an id, at most limit events each', async () => {
      await withDatabase(backend, async (store) => {
        const exec = await running(store, 'long');
        const events = Array.from({ length: 10 }, (_, i) =>
          historyEvent(
            exec.arn,
            i + 1,
            i === 4 ? null : { input: `{"i":${i}}`, inputDetails: { truncated: false } },
          ),
        );
        const current = await commit(store, exec, { events: events.slice(0, 6) });
        await commit(store, current, { events: events.slice(6) });
        const other = await running(store, 'other');
        await commit(store, other, { events: [historyEvent(other.arn, 1)] });

        const forward = (afterId?: number) =>
          store.getHistory(exec.arn, {
            limit: 4,
            reverse: false,
            ...(afterId === undefined ? {} : { afterId }),
          });
        const backward = (beforeId?: number) =>
          store.getHistory(exec.arn, {
            limit: 3,
            reverse: true,
            ...(beforeId === undefined ? {} : { beforeId }),
          });
        assert.deepEqual(ids(await forward()), [1, 2, 3, 4]);
        assert.deepEqual(ids(await forward(4)), [5, 6, 7, 8]);
        assert.deepEqual(ids(await forward(8)), [9, 10]);
        assert.deepEqual(ids(await forward(10)), []);
        assert.deepEqual(ids(await backward()), [10, 9, 8]);
        assert.deepEqual(ids(await backward(8)), [7, 6, 5]);
        assert.deepEqual(ids(await backward(2)), [1]);
        assert.deepEqual(ids(await backward(1)), []);

        assert.deepEqual(parsed(await allHistory(store, exec.arn)), parsed(events));
        assert.deepEqual(ids(await allHistory(store, other.arn)), [1]);
        assert.deepEqual(await store.getHistory(`${exec.arn}-missing`, { limit: 10, reverse: false }), []);
      });
    });

    void test('a string past 64 KiB in event details reads back exactly, also when several events and executions carry it', async () => {
      await withDatabase(backend, async (store) => {
        const big = bigString('shared');
        const own = bigString('own');
        const first = await running(store, 'big-1');
        const second = await running(store, 'big-2');
        const firstEvents = [
          historyEvent(first.arn, 1, { input: big, inputDetails: { truncated: false }, roleArn: ROLE_ARN }),
          historyEvent(first.arn, 2, { name: 'A', input: big, nested: [own, { deeper: big }] }),
          // Past the limit in total, though no one string is.
          historyEvent(first.arn, 3, { parts: Array.from({ length: 40 }, (_, i) => `${i}`.repeat(2000)) }),
        ];
        const secondEvents = [
          historyEvent(second.arn, 1, { input: big, inputDetails: { truncated: false } }),
        ];
        await commit(store, first, { events: firstEvents });
        await commit(store, second, { events: secondEvents });

        const firstBack = await allHistory(store, first.arn);
        assert.deepEqual(parsed(firstBack), parsed(firstEvents));
        assert.deepEqual(parsed(await allHistory(store, second.arn)), parsed(secondEvents));
        const details = JSON.parse(firstBack[1]?.details ?? 'null') as {
          input: string;
          nested: [string, { deeper: string }];
        };
        assert.equal(details.input, big);
        assert.equal(details.nested[0], own);
        assert.equal(details.nested[1].deeper, big);
        // Paged reads restore it too.
        assert.deepEqual(
          parsed(await store.getHistory(first.arn, { beforeId: 3, limit: 1, reverse: true })),
          parsed([firstEvents[1] as DbHistoryEvent]),
        );
      });
    });

    void test('purgeExecutions removes finished executions stopped before the cutoff with their history and tasks, and keeps the rest', async () => {
      await withDatabase(backend, async (store) => {
        const big = bigString('purged-and-kept');
        const work = `${ACTIVITY_PREFIX}work`;
        const old = await running(store, 'old');
        const oldFailed = await running(store, 'old-failed');
        const recent = await running(store, 'recent');
        const longRunning = await running(store, 'long-running');

        const oldNow = await commit(store, old, {
          events: [historyEvent(old.arn, 1, { input: big })],
          newTasks: [task('old-task', work, old.arn, T0)],
        });
        await finish(store, oldNow, 'SUCCEEDED', T0 + 100, { events: [historyEvent(old.arn, 2)] });
        await finish(store, oldFailed, 'FAILED', T0 + 200, { events: [historyEvent(oldFailed.arn, 1)] });
        await finish(store, recent, 'SUCCEEDED', T0 + 5000, {
          events: [historyEvent(recent.arn, 1, { input: big })],
        });
        await commit(store, longRunning, {
          events: [historyEvent(longRunning.arn, 1, { input: big })],
          newInbox: [wake(longRunning.arn, T0 + 9000)],
        });

        assert.equal(await store.purgeExecutions(T0 + 1000), 2);
        assert.equal(await store.getExecution(old.arn), undefined);
        assert.equal(await store.getExecution(oldFailed.arn), undefined);
        assert.deepEqual(await allHistory(store, old.arn), []);
        assert.equal(await store.getActivityTask('old-task'), undefined);
        assert.deepEqual((await store.listExecutions({ limit: 10 })).map((e) => e.name).sort(), [
          'long-running',
          'recent',
        ]);
        // The survivors still read their copy of the payload the purged execution shared.
        for (const kept of [recent, longRunning]) {
          const [first] = await allHistory(store, kept.arn);
          assert.equal((JSON.parse(first?.details ?? 'null') as { input: string }).input, big, kept.name);
        }
        assert.equal((await inboxOf(store, longRunning.arn)).length, 1);
        assert.equal(await store.purgeExecutions(T0 + 1000), 0);
        // Executions started after a purge get their own history, not a purged one's.
        const next = await running(store, 'next');
        assert.deepEqual(await allHistory(store, next.arn), []);
        await commit(store, next, { events: [historyEvent(next.arn, 1)] });
        assert.deepEqual(ids(await allHistory(store, next.arn)), [1]);
      });
    });
  });

  void describe('inbox', PARALLEL, () => {
    void test('dueInbox returns the rows due by now, oldest due first, at most limit; nextDue is the earliest due time', async () => {
      await withDatabase(backend, async (store) => {
        assert.equal(await store.nextDue(), undefined);
        assert.deepEqual(await store.dueInbox(FAR, 10), []);
        const exec = await running(store, 'waiting');
        const other = await running(store, 'other');
        await store.addInbox([
          wake(exec.arn, T0 + 300, 'a'),
          wake(exec.arn, T0 + 100, 'b'),
          wake(other.arn, T0 + 200, 'c'),
        ]);
        await store.addInbox([wake(exec.arn, T0 + 100, 'd'), wake(exec.arn, T0 + 5000, 'e')]);

        const due = await store.dueInbox(T0 + 300, 10);
        // Same due time: the row added first comes first.
        assert.deepEqual(
          due.map((row) => row.kind),
          ['b', 'd', 'c', 'a'],
        );
        assert.deepEqual(
          due.map(({ id: _id, ...row }) => row),
          [
            wake(exec.arn, T0 + 100, 'b'),
            wake(exec.arn, T0 + 100, 'd'),
            wake(other.arn, T0 + 200, 'c'),
            wake(exec.arn, T0 + 300, 'a'),
          ],
        );
        assert.ok(due.every((row) => Number.isInteger(row.id)));
        assert.equal(new Set(due.map((row) => row.id)).size, 4);
        assert.deepEqual(
          (await store.dueInbox(T0 + 300, 2)).map((row) => row.kind),
          ['b', 'd'],
        );
        assert.deepEqual(await store.dueInbox(T0 + 99, 10), []);
        assert.equal(await store.nextDue(), T0 + 100);
      });
    });

    void test('postponeTimer moves only the timer of that token and kind', async () => {
      await withDatabase(backend, async (store) => {
        const exec = await running(store, 'beating');
        await store.addInbox([
          wake(exec.arn, T0 + 1000, 'heartbeat', 'token-a'),
          wake(exec.arn, T0 + 5000, 'taskTimeout', 'token-a'),
          wake(exec.arn, T0 + 1000, 'heartbeat', 'token-b'),
        ]);
        await store.postponeTimer('token-a', 'heartbeat', T0 + 3000);
        const timers = (await inboxOf(store, exec.arn)).map((row) => [row.token, row.kind, row.due_ms]);
        assert.deepEqual(timers, [
          ['token-b', 'heartbeat', T0 + 1000],
          ['token-a', 'heartbeat', T0 + 3000],
          ['token-a', 'taskTimeout', T0 + 5000],
        ]);
      });
    });

    void test('taskStartsOf lists an execution’s taskStarted rows, due or not, and nothing else', async () => {
      await withDatabase(backend, async (store) => {
        const work = `${ACTIVITY_PREFIX}work`;
        const exec = await running(store, 'started');
        const other = await running(store, 'other');
        await commit(store, exec, {
          newTasks: [task('t1', work, exec.arn, T0), task('t2', work, exec.arn, T0 + 1)],
          newInbox: [wake(exec.arn, T0)],
        });
        await commit(store, other, { newTasks: [task('t3', work, other.arn, T0 + 2)] });
        await store.claimActivityTask(work, 'w1', T0 + 10, T0 + 1_000_000);
        await store.claimActivityTask(work, 'w2', T0 + 11);
        await store.claimActivityTask(work, 'w3', T0 + 12);

        const starts = await store.taskStartsOf(exec.arn);
        assert.deepEqual(
          starts.map((row) => [row.kind, row.due_ms, (JSON.parse(row.wake) as { token: string }).token]),
          [
            ['taskStarted', T0 + 1_000_000, 't1'],
            ['taskStarted', T0 + 11, 't2'],
          ],
        );
        assert.equal((await store.taskStartsOf(other.arn)).length, 1);
        assert.deepEqual(await store.taskStartsOf(`${exec.arn}-missing`), []);
      });
    });
  });

  void describe('activity tasks', PARALLEL, () => {
    void test('claimActivityTask takes the oldest scheduled task of that activity, marks it started by the worker, and queues its start', async () => {
      await withDatabase(backend, async (store) => {
        const work = `${ACTIVITY_PREFIX}work`;
        const idle = `${ACTIVITY_PREFIX}idle`;
        const exec = await running(store, 'queued');
        await commit(store, exec, {
          newTasks: [
            task('newer', work, exec.arn, T0 + 20),
            task('older', work, exec.arn, T0 + 10),
            task('other-activity', `${ACTIVITY_PREFIX}other`, exec.arn, T0),
          ],
        });

        const claimed = await store.claimActivityTask(work, 'worker-1', T0 + 100, T0 + 120);
        const expected: DbActivityTask = {
          ...task('older', work, exec.arn, T0 + 10),
          status: 'started',
          closed_reason: null,
          started_ms: T0 + 100,
          worker_name: 'worker-1',
        };
        assert.deepEqual(claimed, expected);
        assert.deepEqual(await store.getActivityTask('older'), expected);
        const [start] = await store.taskStartsOf(exec.arn);
        assert.ok(start);
        assert.equal(start.due_ms, T0 + 120);
        assert.equal(start.kind, 'taskStarted');
        // The start time rides in the wake, apart from when it is due.
        assert.deepEqual(JSON.parse(start.wake), {
          kind: 'taskStarted',
          token: 'older',
          workerName: 'worker-1',
          startedMs: T0 + 100,
        });

        // Without startDueMs the start is due at once.
        assert.equal((await store.claimActivityTask(work, 'worker-2', T0 + 200))?.token, 'newer');
        assert.deepEqual(
          (await store.taskStartsOf(exec.arn)).map((row) => row.due_ms),
          [T0 + 120, T0 + 200],
        );
        assert.equal(await store.claimActivityTask(work, 'worker-3', T0 + 300), undefined);
        assert.equal(await store.claimActivityTask(idle, 'worker-3', T0 + 300), undefined);
        assert.equal((await store.getActivityTask('other-activity'))?.status, 'scheduled');
      });
    });

    void test('concurrent claims never hand out the same task: 20 tasks, 8 claimers on two connections, 20 distinct tokens', async () => {
      await withDatabase(backend, async (store, db) => {
        const work = `${ACTIVITY_PREFIX}contended`;
        const exec = await running(store, 'fan-out');
        const tokens = Array.from({ length: 20 }, (_, i) => `task-${String(i).padStart(2, '0')}`);
        await commit(store, exec, {
          newTasks: tokens.map((token, i) => task(token, work, exec.arn, T0 + i)),
        });
        // Two connections, as two engine processes sharing the database would have.
        const second = await db.open();
        const claimed: string[] = [];
        await Promise.all(
          Array.from({ length: 8 }, async (_, i) => {
            const connection = i % 2 === 0 ? store : second;
            for (;;) {
              const t = await connection.claimActivityTask(work, `claimer-${i}`, T0 + 100);
              if (!t) return;
              claimed.push(t.token);
            }
          }),
        );
        assert.equal(claimed.length, 20, `claimed ${claimed.length}: ${claimed.join(' ')}`);
        assert.deepEqual([...claimed].sort(), tokens);
        assert.equal(await store.claimActivityTask(work, 'late', T0 + 200), undefined);
        // One start per task: a claim that lost its race left nothing behind.
        assert.equal((await store.taskStartsOf(exec.arn)).length, 20);
        for (const token of tokens)
          assert.equal((await store.getActivityTask(token))?.status, 'started', token);
      });
    });

    void test('closeActivityTask closes an open task once, queues its outcome and drops its timers; a second close changes nothing', async () => {
      await withDatabase(backend, async (store) => {
        const work = `${ACTIVITY_PREFIX}work`;
        const exec = await running(store, 'closing');
        await commit(store, exec, {
          newTasks: [task('claimed', work, exec.arn, T0), task('never-claimed', work, exec.arn, T0 + 1)],
          newInbox: [
            wake(exec.arn, T0 + 500),
            wake(exec.arn, T0 + 1000, 'heartbeat', 'claimed'),
            wake(exec.arn, T0 + 5000, 'taskTimeout', 'claimed'),
          ],
        });
        await store.claimActivityTask(work, 'w', T0 + 10);
        const outcome = wake(exec.arn, T0 + 20, 'taskDone');

        assert.equal(await store.closeActivityTask('claimed', 'succeeded', outcome), true);
        assert.equal((await store.getActivityTask('claimed'))?.status, 'closed');
        assert.equal((await store.getActivityTask('claimed'))?.closed_reason, 'succeeded');
        const kinds = async () => (await inboxOf(store, exec.arn)).map((row) => row.kind).sort();
        assert.deepEqual(await kinds(), ['taskDone', 'taskStarted', 'timer']);

        assert.equal(
          await store.closeActivityTask('claimed', 'failed', wake(exec.arn, T0 + 30, 'taskDone')),
          false,
        );
        assert.equal((await store.getActivityTask('claimed'))?.closed_reason, 'succeeded');
        assert.deepEqual(await kinds(), ['taskDone', 'taskStarted', 'timer']);

        // A task no worker took yet can be closed too (a callback answered early).
        assert.equal(
          await store.closeActivityTask('never-claimed', 'failed', wake(exec.arn, T0 + 40, 'taskDone')),
          true,
        );
        assert.equal(
          await store.closeActivityTask('no-such-token', 'failed', wake(exec.arn, T0 + 40, 'taskDone')),
          false,
        );
        assert.equal((await inboxOf(store, exec.arn)).filter((row) => row.kind === 'taskDone').length, 2);
      });
    });

    void test('openTasksOfResources lists the open tasks whose resource is not under the prefix, oldest first', async () => {
      await withDatabase(backend, async (store) => {
        const exec = await running(store, 'mixed');
        await commit(store, exec, {
          newTasks: [
            task('activity-task', `${ACTIVITY_PREFIX}work`, exec.arn, T0),
            task('local-started', LAMBDA, exec.arn, T0 + 2),
            task('local-scheduled', LAMBDA, exec.arn, T0 + 1),
            task('local-closed', `${LAMBDA}.waitForTaskToken`, exec.arn, T0 + 3),
          ],
        });
        await store.claimActivityTask(LAMBDA, 'inlet-local', T0 + 10);
        await store.closeActivityTask('local-closed', 'succeeded', wake(exec.arn, T0 + 11, 'taskDone'));
        // Claims take the oldest first, so the claimed one is 'local-scheduled' (created at T0 + 1).
        const open = await store.openTasksOfResources(ACTIVITY_PREFIX);
        assert.deepEqual(
          open.map((t) => [t.token, t.status]),
          [
            ['local-scheduled', 'started'],
            ['local-started', 'scheduled'],
          ],
        );
      });
    });
  });

  void describe('durability', () => {
    void test('after a restart everything written is still there: machines, activities, tags, an execution with its history, inbox and tasks', async () => {
      await withDatabase(backend, async (first, db) => {
        const sm = machine('durable');
        await first.putStateMachine(sm);
        await first.putStateMachineVersion(version(sm, 1));
        await first.putActivity(activity('durable'));
        await first.tagResource(sm.arn, { keep: 'me' });
        const exec = execution('durable', { state_machine_arn: sm.arn, started_with_arn: `${sm.arn}:1` });
        assert.equal(await first.insertExecution(exec, [wake(exec.arn, T0, 'start')]), true);
        const work = `${ACTIVITY_PREFIX}durable`;
        await commit(first, exec, {
          events: [historyEvent(exec.arn, 1, { input: bigString('durable') }), historyEvent(exec.arn, 2)],
          newInbox: [wake(exec.arn, T0 + 2000, 'timer')],
          newTasks: [task('claimed', work, exec.arn, T0), task('waiting', work, exec.arn, T0 + 1)],
        });
        await first.claimActivityTask(work, 'w', T0 + 5, T0 + 50);

        const snapshot = async (store: Store) => ({
          machine: await store.getStateMachine(sm.arn),
          versions: await store.listStateMachineVersions(sm.arn),
          activity: await store.getActivity(`${ACTIVITY_PREFIX}durable`),
          tags: await store.listTags(sm.arn),
          execution: await store.getExecution(exec.arn),
          history: parsed(await allHistory(store, exec.arn)),
          inbox: await inboxOf(store, exec.arn),
          nextDue: await store.nextDue(),
          tasks: [await store.getActivityTask('claimed'), await store.getActivityTask('waiting')],
        });
        const before = await snapshot(first);
        assert.equal(before.history.length, 2);
        assert.equal(before.inbox.length, 3);

        const second = await db.reopen();
        assert.deepEqual(await snapshot(second), before);
        // And it goes on from there: the next commit follows the stored version, the queue its state.
        assert.equal((await second.claimActivityTask(work, 'w2', T0 + 60))?.token, 'waiting');
        const stored = await second.getExecution(exec.arn);
        assert.ok(stored);
        await commit(second, stored, { events: [historyEvent(exec.arn, 3)] });
        assert.deepEqual(ids(await allHistory(second, exec.arn)), [1, 2, 3]);
      });
    });
  });
}

/** An engine and its Step Functions API on `store`; stop() stops the engine (not the store). */
async function startEngine(store: Store): Promise<{ engine: Engine; sfn: StepFunctions }> {
  const engine = new Engine({ store });
  await engine.start();
  return { engine, sfn: new StepFunctions(engine) };
}

function engineOnStore(backend: StoreBackend): void {
  void describe('an engine on it', PARALLEL, () => {
    void test('Pass, Wait 1 s, Pass succeeds with the right output and a history whose ids run 1..n', async () => {
      await withDatabase(backend, async (store) => {
        const { engine, sfn } = await startEngine(store);
        try {
          const machineArn = await createMachine(sfn, 'pause', {
            StartAt: 'Note',
            States: {
              Note: { Type: 'Pass', Result: 'noted', ResultPath: '$.note', Next: 'Pause' },
              Pause: { Type: 'Wait', Seconds: 1, Next: 'Done' },
              Done: { Type: 'Pass', Parameters: { 'n.$': '$.n', 'note.$': '$.note', done: true }, End: true },
            },
          });
          const { executionArn } = await sfn.startExecution({
            stateMachineArn: machineArn,
            input: '{"n":7}',
          });
          const { end, types } = await finished({ engine, sfn }, executionArn, 5000);
          assert.equal(end.status, 'SUCCEEDED');
          assert.deepEqual(JSON.parse(end.output ?? 'null'), { n: 7, note: 'noted', done: true });
          assert.ok((end.stop_ms ?? 0) - end.start_ms >= 1000, 'the Wait waited its second');
          assert.deepEqual(types, [
            'ExecutionStarted',
            'PassStateEntered',
            'PassStateExited',
            'WaitStateEntered',
            'WaitStateExited',
            'PassStateEntered',
            'PassStateExited',
            'ExecutionSucceeded',
          ]);
        } finally {
          await engine.stop();
        }
      });
    });

    void test('a Map of 12 activity tasks with MaxConcurrency 4, drained by 4 concurrent pollers, succeeds with every result in order', async () => {
      await withDatabase(backend, async (store) => {
        const { engine, sfn } = await startEngine(store);
        const stopPolling = new AbortController();
        try {
          const activityArn = await createActivity(sfn, 'square');
          const machineArn = await createMachine(sfn, 'squares', {
            StartAt: 'Each',
            States: {
              Each: {
                Type: 'Map',
                MaxConcurrency: 4,
                ItemProcessor: {
                  StartAt: 'Square',
                  States: { Square: { Type: 'Task', Resource: activityArn, End: true } },
                },
                End: true,
              },
            },
          });
          const items = Array.from({ length: 12 }, (_, n) => ({ n }));
          const { executionArn } = await sfn.startExecution({
            stateMachineArn: machineArn,
            input: JSON.stringify(items),
          });

          const handled: number[] = [];
          let held = 0;
          let mostHeld = 0;
          const poller = async (workerName: string) => {
            while (!stopPolling.signal.aborted) {
              const t = await sfn.getActivityTask(
                { activityArn, workerName },
                { pollMs: 2000, signal: stopPolling.signal },
              );
              if (!t.taskToken) continue;
              held++;
              mostHeld = Math.max(mostHeld, held);
              const { n } = JSON.parse(t.input ?? 'null') as { n: number };
              handled.push(n);
              // Uneven work, so items finish out of order.
              await sleep(((n * 7) % 5) * 10);
              held--;
              await sfn.sendTaskSuccess({
                taskToken: t.taskToken,
                output: JSON.stringify({ n, square: n * n }),
              });
            }
          };
          const pollers = Promise.all(['p1', 'p2', 'p3', 'p4'].map(poller));
          const { end, types } = await finished({ engine, sfn }, executionArn, 10_000);
          stopPolling.abort();
          await pollers;

          assert.equal(end.status, 'SUCCEEDED');
          assert.deepEqual(
            JSON.parse(end.output ?? 'null'),
            items.map(({ n }) => ({ n, square: n * n })),
          );
          assert.deepEqual(
            [...handled].sort((x, y) => x - y),
            items.map(({ n }) => n),
            'each item handed out once',
          );
          assert.ok(mostHeld <= 4, `at most 4 tasks out at once, saw ${mostHeld}`);
          assert.equal(types.filter((type) => type === 'ActivitySucceeded').length, 12);
        } finally {
          stopPolling.abort();
          await engine.stop();
        }
      });
    });

    void test('an execution waiting on a 2 s Wait survives closing the engine and its store, and succeeds on the reopened store', async () => {
      await withDatabase(backend, async (store, db) => {
        const first = await startEngine(store);
        let executionArn: string;
        try {
          const machineArn = await createMachine(first.sfn, 'patient', {
            StartAt: 'Pause',
            States: {
              Pause: { Type: 'Wait', Seconds: 2, Next: 'Done' },
              Done: { Type: 'Pass', Result: { woke: true }, End: true },
            },
          });
          ({ executionArn } = await first.sfn.startExecution({ stateMachineArn: machineArn, input: '{}' }));
          await eventually(
            async () => typesOf(await fullHistory(first.sfn, executionArn)).includes('WaitStateEntered'),
            'the Wait to begin',
          );
        } finally {
          await first.engine.stop();
        }

        const second = await startEngine(await db.reopen());
        try {
          const { end, history, types } = await finished(second, executionArn, 5000);
          assert.equal(end.status, 'SUCCEEDED');
          assert.equal(end.output, '{"woke":true}');
          assert.ok(
            (end.stop_ms ?? 0) - end.start_ms >= 2000,
            'the Wait ran its full 2 s across the restart',
          );
          assert.deepEqual(types, [
            'ExecutionStarted',
            'WaitStateEntered',
            'WaitStateExited',
            'PassStateEntered',
            'PassStateExited',
            'ExecutionSucceeded',
          ]);
          assert.equal(history.length, 6);
        } finally {
          await second.engine.stop();
        }
      });
    });
  });
}

/**
 * A worker process for the SIGTERM test (test/worker/worker.test.ts runs it with
 * `node --import tsx`): it serves the activity in INLET_TEST_ACTIVITY_ARN, reaching the engine
 * over HTTP when INLET_TEST_ENDPOINT is set, otherwise through its own in-process API on the
 * SQLite file INLET_TEST_DB shared with the test. It prints `started` when a task begins and
 * `finished` when its handler returns, so the test can signal it mid-task.
 */
import { SFNClient } from '@aws-sdk/client-sfn';
import { Engine } from '../../src/engine/engine.ts';
import { StepFunctions } from '../../src/engine/step-functions.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { inProcessApi, sfnClientApi, Worker } from '../../src/worker/index.ts';
import type { ActivityApi } from '../../src/worker/index.ts';

const activityArn = process.env.INLET_TEST_ACTIVITY_ARN ?? '';
const endpoint = process.env.INLET_TEST_ENDPOINT;
const taskMs = Number(process.env.INLET_TEST_TASK_MS ?? '1500');

let api: ActivityApi;
let close: () => Promise<void>;
if (endpoint) {
  const client = new SFNClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: process.env.INLET_TEST_KEY_ID ?? '', secretAccessKey: process.env.INLET_TEST_SECRET ?? '' },
  });
  api = sfnClientApi(client);
  close = async () => client.destroy();
} else {
  const store = openSqliteStore(process.env.INLET_TEST_DB ?? '');
  api = inProcessApi(new StepFunctions(new Engine({ store })));
  close = () => store.close();
}

const worker = new Worker({ api, workerName: 'sigterm-fixture', heartbeatIntervalSeconds: 0.5 });
worker.register(activityArn, async (input: { n: number }) => {
  process.stdout.write('started\n');
  await new Promise((resolve) => setTimeout(resolve, taskMs));
  process.stdout.write('finished\n');
  return { doubled: input.n * 2, by: process.pid };
});
worker.stopOnSignals();
await worker.run();
await close();
process.stdout.write('stopped\n');

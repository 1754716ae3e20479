// Entry of a Prepare pool thread (see prepare-pool.ts). Plain JavaScript because a worker thread
// does not get its parent's tsx hooks: on Node 20 not even under `node --import tsx`, and never
// when `bin/inlet.js` registered tsx in code. So the thread registers tsx itself before loading
// the TypeScript module.
import { register } from 'tsx/esm/api';

register();
const { servePrepareThread } = await import('./prepare-pool.ts');
servePrepareThread();

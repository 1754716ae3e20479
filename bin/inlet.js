#!/usr/bin/env node
// The `inlet` command. Runs the TypeScript sources through tsx (a runtime dependency), so a
// fresh clone works without a build step.
import { register } from 'tsx/esm/api';

register();
const { run } = await import('../src/cli/main.ts');
await run(process.argv.slice(2));

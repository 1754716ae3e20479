/**
 * Entry point of `npm run bench`: runs the bench modules (all, or those named by `--only`) one
 * after another and prints one JSON document on stdout, so results can be piped, stored and
 * diffed; progress goes to stderr. Each module measures against its own baseline in the same
 * run, which is what makes its numbers comparable across machines. A bench that throws is
 * reported under its name and makes the exit code 1, so a broken bench never passes quietly.
 *
 *   node --import tsx bench/index.ts [--only <name>[,<name>…]]…
 */
import os from 'node:os';
import { progress } from './util.ts';

/** What every bench module exports. */
export interface BenchModule {
  bench(): Promise<Record<string, unknown>>;
}

/**
 * The bench modules by name, loaded only when run. To add one, add a line here; the module
 * exports `async function bench(): Promise<Record<string, unknown>>`.
 */
export const BENCHES: Record<string, () => Promise<BenchModule>> = {
  api: () => import('./api.ts'),
  asl: () => import('./asl.ts'),
  engine: () => import('./engine.ts'),
  ingest: () => import('./ingest.ts'),
  lake: () => import('./lake.ts'),
};

/** The names `--only` selected (repeatable, comma-separated), or every bench when none. */
export function selectBenches(argv: readonly string[], known: readonly string[]): string[] {
  const chosen: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    let value: string | undefined;
    if (arg === '--only') value = argv[++i];
    else if (arg.startsWith('--only=')) value = arg.slice('--only='.length);
    else throw new Error(`unknown argument '${arg}' (usage: bench/index.ts [--only <name>[,<name>…]])`);
    if (value === undefined || value === '') throw new Error('--only needs a bench name');
    chosen.push(...value.split(',').filter((name) => name !== ''));
  }
  const unknown = chosen.filter((name) => !known.includes(name));
  if (unknown.length > 0) throw new Error(`unknown bench ${unknown.join(', ')} (known: ${known.join(', ')})`);
  return chosen.length > 0 ? [...new Set(chosen)] : [...known];
}

async function main(): Promise<number> {
  let names: string[];
  try {
    names = selectBenches(process.argv.slice(2), Object.keys(BENCHES));
  } catch (e) {
    progress(e instanceof Error ? e.message : String(e));
    return 2;
  }
  const results: Record<string, Record<string, unknown>> = {};
  let failed = false;
  for (const name of names) {
    const load = BENCHES[name];
    if (!load) continue;
    progress(`${name}: start`);
    const started = Date.now();
    try {
      const module = await load();
      results[name] = await module.bench();
      progress(`${name}: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } catch (e) {
      failed = true;
      const message = e instanceof Error ? e.message : String(e);
      results[name] = { error: message };
      progress(`${name}: FAILED: ${e instanceof Error && e.stack ? e.stack : message}`);
    }
  }
  const report = { machine: { cpus: os.cpus().length, node: process.version }, results };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  return failed ? 1 : 0;
}

process.exitCode = await main();

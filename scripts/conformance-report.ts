/**
 * Prints how Inlet's ASL runner fares against the executions recorded on real AWS: a Markdown
 * pass table per category (for docs/asl-support.md) and every failing case with a one-line diff,
 * or the same as JSON with `--json` for tooling. It reuses the conformance test's harness, so
 * the numbers here are the numbers the build checks.
 *
 *   node --import tsx scripts/conformance-report.ts [--json] [substring-of-case-id …]
 *
 * Exit codes: 0 report printed; 2 the runner or the recorded cases are missing.
 */
import { availableRunner, loadCases, loadKnownFailures, runCases } from '../test/conformance/cases.ts';
import type { CaseOutcome } from '../test/conformance/cases.ts';

/** Pass counts for one category (or for all of them). */
interface CategoryRow {
  category: string;
  cases: number;
  passed: number;
  knownFailures: number;
  unexpectedFailures: number;
}

function tally(
  category: string,
  outcomes: readonly CaseOutcome[],
  known: Record<string, string>,
): CategoryRow {
  const failed = outcomes.filter((o) => !o.passed);
  const listed = failed.filter((o) => Object.hasOwn(known, o.id)).length;
  return {
    category,
    cases: outcomes.length,
    passed: outcomes.length - failed.length,
    knownFailures: listed,
    unexpectedFailures: failed.length - listed,
  };
}

function percent(row: CategoryRow): string {
  return row.cases === 0 ? '–' : `${((row.passed / row.cases) * 100).toFixed(1)}%`;
}

function markdown(
  rows: readonly CategoryRow[],
  total: CategoryRow,
  failures: readonly CaseOutcome[],
  known: Record<string, string>,
): string {
  const lines = [
    '| Category | Cases | Pass | Known failures | Unexpected failures | Pass rate |',
    '|---|---:|---:|---:|---:|---:|',
    ...[...rows, total].map((r) => {
      const name = r === total ? `**${r.category}**` : r.category;
      return `| ${name} | ${r.cases} | ${r.passed} | ${r.knownFailures} | ${r.unexpectedFailures} | ${percent(r)} |`;
    }),
  ];
  if (failures.length > 0) {
    lines.push('', `### Failing cases (${failures.length})`, '');
    for (const f of failures) {
      const reason = known[f.id];
      const tag = reason === undefined ? '**unexpected**' : `known: ${reason}`;
      lines.push(`- \`${f.id}\` (${tag}) — ${(f.summary ?? '').replace(/\s+/g, ' ')}`);
    }
  }
  return lines.join('\n');
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const filters = args.filter((a) => a !== '--json');
  const runner = availableRunner();
  if (!runner) {
    console.error('runLocal in src/asl/run-local.ts is not implemented yet: nothing to report');
    return 2;
  }
  let cases;
  try {
    cases = loadCases().filter((c) => filters.length === 0 || filters.some((f) => c.id.includes(f)));
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    return 2;
  }
  const known = loadKnownFailures();
  const started = performance.now();
  const outcomes = await runCases(cases, runner);
  const elapsedMs = Math.round(performance.now() - started);
  const categories = [...new Set(outcomes.map((o) => o.category))].sort();
  const rows = categories.map((c) =>
    tally(
      c,
      outcomes.filter((o) => o.category === c),
      known,
    ),
  );
  const total = tally('all', outcomes, known);
  const failures = outcomes.filter((o) => !o.passed);
  if (json) {
    const report = {
      total,
      passRate: total.cases === 0 ? 0 : total.passed / total.cases,
      elapsedMs,
      categories: rows,
      failures: failures.map((f) => ({
        id: f.id,
        category: f.category,
        file: f.file,
        summary: f.summary ?? '',
        known: Object.hasOwn(known, f.id),
        reason: known[f.id] ?? null,
      })),
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    process.stdout.write(
      `${markdown(rows, total, failures, known)}\n\n_${total.cases} cases in ${elapsedMs} ms_\n`,
    );
  }
  return 0;
}

process.exitCode = await main();

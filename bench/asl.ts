/**
 * The language-core bench: state transitions per second of Inlet's in-memory runner
 * (`runLocal`) against aws-local-stepfunctions, on the same definitions, in the same process
 * and run. The goal is at least 3x the baseline on each definition. Both engines must produce
 * the same output, and the transition count comes from the definition and input rather than
 * from either engine, so a broken engine or bench fails loudly instead of looking fast.
 */
import assert from 'node:assert/strict';
import { StateMachine } from 'aws-local-stepfunctions';
import { runLocal } from '../src/asl/run-local.ts';
import { compare, pairedSpeedup, perSecond, progress } from './util.ts';
import type { Timing, TimingOptions } from './util.ts';

/** The parts of an ASL definition the transition counter reads. */
interface Machine {
  StartAt: string;
  States: Record<string, StateDef>;
}

interface StateDef {
  Type: string;
  Next?: string;
  End?: boolean;
  Default?: string;
  Choices?: { Next: string; [field: string]: unknown }[];
  Branches?: Machine[];
  ItemProcessor?: Machine;
  ItemsPath?: string;
  [field: string]: unknown;
}

/** One bench case: a definition and the input text both engines run it on. */
interface Case {
  name: string;
  description: string;
  definition: Machine;
  input: string;
}

/** What the bench reports per case. */
interface CaseResult {
  description: string;
  transitions: number;
  runs: number;
  inlet: EngineResult;
  baseline: EngineResult;
  /** How many times faster Inlet ran, wall clock (median of per-round speed-ups): the goal is >= 3. */
  ratio: number;
  /** The same on process CPU time, which moves less when other processes share the cores. */
  cpuRatio: number;
}

/** One engine's medians on one case. */
interface EngineResult {
  medianMs: number;
  medianCpuMs: number;
  transitionsPerSecond: number;
}

/** The ratio the issue asks for on every case. */
const GOAL_RATIO = 3;

/** A chain of `length` Pass states, each reshaping its input with Parameters and ResultPath. */
export function passChain(length: number): Case {
  const States: Record<string, StateDef> = {};
  for (let i = 0; i < length; i++) {
    const state: StateDef = {
      Type: 'Pass',
      Parameters: { step: i, 'value.$': '$.value', 'tag.$': '$.tags[0]' },
      ResultPath: '$.last',
    };
    if (i === length - 1) state.End = true;
    else state.Next = `Pass${i + 1}`;
    States[`Pass${i}`] = state;
  }
  return {
    name: 'passChain',
    description: `a chain of ${length} Pass states with Parameters and ResultPath`,
    definition: { StartAt: 'Pass0', States },
    input: JSON.stringify({ value: 42, tags: ['a', 'b'], payload: { nested: { list: [1, 2, 3] } } }),
  };
}

/** A Map over `items` items, each iteration a Choice then one of two Pass states. */
export function mapChoice(items: number): Case {
  const processor: Machine = {
    StartAt: 'Classify',
    States: {
      Classify: {
        Type: 'Choice',
        Choices: [{ Variable: '$.n', NumericGreaterThanEquals: items / 2, Next: 'Large' }],
        Default: 'Small',
      },
      Large: { Type: 'Pass', Parameters: { 'id.$': '$.id', size: 'large' }, End: true },
      Small: { Type: 'Pass', Parameters: { 'id.$': '$.id', size: 'small' }, End: true },
    },
  };
  const list = Array.from({ length: items }, (_, n) => ({ id: `item-${n}`, n }));
  return {
    name: 'mapChoice',
    description: `a Map over ${items} items, each running Choice then Pass`,
    definition: {
      StartAt: 'Each',
      States: {
        Each: {
          Type: 'Map',
          ItemsPath: '$.items',
          ItemProcessor: processor,
          ResultPath: '$.results',
          End: true,
        },
      },
    },
    input: JSON.stringify({ items: list }),
  };
}

/** A Parallel of `branches` branches, each a chain of `length` Pass states. */
export function parallelPasses(branches: number, length: number): Case {
  const Branches: Machine[] = [];
  for (let b = 0; b < branches; b++) {
    const States: Record<string, StateDef> = {};
    for (let i = 0; i < length; i++) {
      const state: StateDef = { Type: 'Pass', Parameters: { branch: b, step: i, 'value.$': '$.value' } };
      if (i === length - 1) state.End = true;
      else state.Next = `B${b}P${i + 1}`;
      States[`B${b}P${i}`] = state;
    }
    Branches.push({ StartAt: `B${b}P0`, States });
  }
  return {
    name: 'parallelPasses',
    description: `a Parallel of ${branches} branches of ${length} Pass states`,
    definition: { StartAt: 'Fan', States: { Fan: { Type: 'Parallel', Branches, End: true } } },
    input: JSON.stringify({ value: 7 }),
  };
}

/**
 * States entered by one execution of `machine` on `input`, worked out from the definition so
 * both engines are credited with the same number. It follows Next to the end; a Choice must
 * lead to paths of equal length (so the answer does not depend on the input's data); a Map
 * counts its iterations from ItemsPath read on the execution input, so it must be the first
 * state; loops are refused. Those limits fit the bench's definitions and fail loudly otherwise.
 */
export function transitionsOf(machine: Machine, input: unknown, isRoot = true): number {
  const counted = new Map<string, number>();
  const fromState = (name: string, visiting: Set<string>): number => {
    const known = counted.get(name);
    if (known !== undefined) return known;
    if (visiting.has(name)) throw new Error(`transition counter: loop through state '${name}'`);
    const state = machine.States[name];
    if (!state) throw new Error(`transition counter: no state '${name}'`);
    const onward = new Set(visiting).add(name);
    let own = 1;
    if (state.Type === 'Parallel') {
      for (const branch of state.Branches ?? []) own += transitionsOf(branch, input, false);
    } else if (state.Type === 'Map') {
      if (!isRoot || name !== machine.StartAt)
        throw new Error(`transition counter: Map '${name}' must be the first state`);
      const items = readItems(input, state.ItemsPath ?? '$');
      const processor = state.ItemProcessor;
      if (!processor) throw new Error(`transition counter: Map '${name}' has no ItemProcessor`);
      for (const item of items) own += transitionsOf(processor, item, false);
    }
    let rest = 0;
    if (state.Type === 'Choice') {
      const targets = [
        ...(state.Choices ?? []).map((c) => c.Next),
        ...(state.Default === undefined ? [] : [state.Default]),
      ];
      const lengths = new Set(targets.map((target) => fromState(target, onward)));
      if (lengths.size !== 1)
        throw new Error(`transition counter: Choice '${name}' leads to paths of different lengths`);
      rest = [...lengths][0] as number;
    } else if (state.Next !== undefined) {
      rest = fromState(state.Next, onward);
    }
    counted.set(name, own + rest);
    return own + rest;
  };
  return fromState(machine.StartAt, new Set());
}

/** Reads a `$` or `$.a.b` ItemsPath — all the counter needs. */
function readItems(input: unknown, path: string): unknown[] {
  if (!/^\$(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(path))
    throw new Error(`transition counter: unsupported ItemsPath '${path}'`);
  let value = input;
  for (const key of path.split('.').slice(1)) {
    value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  }
  if (!Array.isArray(value)) throw new Error(`transition counter: ItemsPath '${path}' is not an array`);
  return value;
}

/** One Inlet execution: definition and input as text, the default (real) clock. */
async function runInlet(
  definitionText: string,
  input: string,
): Promise<{ output: unknown; stateTransitions: number }> {
  const result = await runLocal(definitionText, input);
  if (result.status !== 'SUCCEEDED' || result.output === undefined) {
    throw new Error(`Inlet execution ended ${result.status}: ${result.error ?? ''} ${result.cause ?? ''}`);
  }
  return { output: JSON.parse(result.output), stateTransitions: result.stateTransitions };
}

/**
 * One baseline execution. The StateMachine is built once per case, outside the timing, so its
 * up-front definition validation is not charged to it, while Inlet's parse, validation and
 * compilation are inside every `runLocal` call — the comparison leans towards the baseline.
 */
async function runBaseline(machine: StateMachine, input: string): Promise<unknown> {
  return machine.run(JSON.parse(input)).result;
}

/**
 * Runs one case: checks both engines agree, then times them side by side. The baseline's own
 * count is not checked: its event log closes when the execution ends and drops nested events
 * still being forwarded (it shows 91 of the Parallel case's 101 StateEntered), so the output
 * comparison is what vouches for it.
 */
async function runCase(benchCase: Case, timing: TimingOptions): Promise<CaseResult> {
  const definitionText = JSON.stringify(benchCase.definition);
  const baselineMachine = new StateMachine(
    benchCase.definition as ConstructorParameters<typeof StateMachine>[0],
  );
  const transitions = transitionsOf(benchCase.definition, JSON.parse(benchCase.input));

  const inlet = await runInlet(definitionText, benchCase.input);
  const baselineOutput = await runBaseline(baselineMachine, benchCase.input);
  assert.deepStrictEqual(
    inlet.output,
    baselineOutput,
    `${benchCase.name}: Inlet and aws-local-stepfunctions disagree on the output`,
  );
  assert.equal(
    inlet.stateTransitions,
    transitions,
    `${benchCase.name}: Inlet counted ${inlet.stateTransitions} transitions`,
  );

  progress(`asl: ${benchCase.name} (${transitions} transitions per execution)`);
  const timings = await compare(
    {
      inlet: () => runInlet(definitionText, benchCase.input),
      baseline: () => runBaseline(baselineMachine, benchCase.input),
    },
    timing,
  );
  const engine = (timing: Timing): EngineResult => ({
    medianMs: timing.medianMs,
    medianCpuMs: timing.medianCpuMs,
    transitionsPerSecond: perSecond(transitions, timing.medianMs),
  });
  const result: CaseResult = {
    description: benchCase.description,
    transitions,
    runs: timings.inlet.samplesMs.length,
    inlet: engine(timings.inlet),
    baseline: engine(timings.baseline),
    ratio: pairedSpeedup(timings.inlet, timings.baseline),
    cpuRatio: pairedSpeedup(timings.inlet, timings.baseline, 'cpu'),
  };
  const rates = `inlet ${result.inlet.transitionsPerSecond}/s, baseline ${result.baseline.transitionsPerSecond}/s`;
  progress(`asl: ${benchCase.name}: ${rates}, ratio ${result.ratio} (CPU time ${result.cpuRatio})`);
  return result;
}

/** Runs every case of the language-core bench; `goalMet` says whether each reached 3x. */
export async function bench(): Promise<Record<string, unknown>> {
  const cases = [passChain(100), mapChoice(1000), parallelPasses(10, 10)];
  const timing: TimingOptions = {
    warmupRuns: 3,
    warmupCpuMs: 1000,
    minRuns: 5,
    maxRuns: 100,
    budgetMs: 5000,
  };
  const results: Record<string, CaseResult> = {};
  for (const benchCase of cases) results[benchCase.name] = await runCase(benchCase, timing);
  return {
    baseline: 'aws-local-stepfunctions',
    unit: 'state transitions per second (median run)',
    goalRatio: GOAL_RATIO,
    goalMet: Object.values(results).every((r) => r.ratio >= GOAL_RATIO),
    cases: results,
  };
}

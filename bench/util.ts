/**
 * Timing helpers shared by every bench module. Numbers from one machine are only comparable
 * with numbers from the same run, so the helpers measure a contender and its baseline side by
 * side — interleaved, after a warm-up, under a time budget — and report medians and a ratio
 * rather than single timings that a GC pause or a JIT tier-up can skew.
 */
import { performance } from 'node:perf_hooks';

/** How long and how often {@link measure} and {@link compare} run a function. */
export interface TimingOptions {
  /** Untimed rounds first, so the JIT has compiled the hot paths (default 2). */
  warmupRuns?: number;
  /**
   * Keep warming up until the process has spent this much CPU time on it too (default 0): quick
   * functions need many runs before V8's optimising tiers kick in, and CPU time, unlike wall
   * time, does not shrink the warm-up when other processes compete for the cores.
   */
  warmupCpuMs?: number;
  /** Timed runs at least, even past the budget (default 3). */
  minRuns?: number;
  /** Timed runs at most (default 15). */
  maxRuns?: number;
  /** Stop adding timed runs once this much time has been spent timing, warm-up excluded (default 3000). */
  budgetMs?: number;
}

/**
 * The timed samples of one function. Wall-clock time is what a user waits; process CPU time
 * is reported beside it because it barely moves when other processes compete for the cores.
 */
export interface Timing {
  /** Wall-clock milliseconds per timed run, in run order (round order, for {@link compare}). */
  samplesMs: number[];
  /** Process CPU milliseconds per timed run, in the same order. */
  cpuSamplesMs: number[];
  medianMs: number;
  medianCpuMs: number;
}

/** Wall-clock and process CPU milliseconds of one call. */
export interface Sample {
  wallMs: number;
  cpuMs: number;
}

/** The middle value (mean of the two middle ones for an even count); NaN for no values. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] as number;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] as number) + upper) / 2;
}

/** `value / baseline` rounded to two decimals (a speed-up is `baselineMs / contenderMs`). */
export function ratio(value: number, baseline: number): number {
  return round(value / baseline, 2);
}

/**
 * How many times faster `contender` ran than `baseline`, as the median over the rounds of
 * {@link compare} of each round's own speed-up. Pairing runs from the same moment cancels
 * load that comes and goes on a shared machine better than dividing two medians does.
 */
export function pairedSpeedup(contender: Timing, baseline: Timing, clock: 'wall' | 'cpu' = 'wall'): number {
  const ours = clock === 'wall' ? contender.samplesMs : contender.cpuSamplesMs;
  const theirs = clock === 'wall' ? baseline.samplesMs : baseline.cpuSamplesMs;
  const rounds = Math.min(ours.length, theirs.length);
  const speedups: number[] = [];
  for (let i = 0; i < rounds; i++) speedups.push((theirs[i] as number) / (ours[i] as number));
  return round(median(speedups), 2);
}

/** Rounds to `digits` decimals, for JSON that people read. */
export function round(value: number, digits = 0): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** Operations per second for `operations` done in `ms` milliseconds, rounded. */
export function perSecond(operations: number, ms: number): number {
  return round((operations * 1000) / ms);
}

/** Times one awaited call. */
export async function timeOnce(fn: () => Promise<unknown>): Promise<Sample> {
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  await fn();
  const wallMs = performance.now() - start;
  const cpu = process.cpuUsage(cpuStart);
  return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000 };
}

/** Times `fn` alone: warm-up, then timed runs until the run count or the budget says stop. */
export async function measure(fn: () => Promise<unknown>, options: TimingOptions = {}): Promise<Timing> {
  const result = await compare({ only: fn }, options);
  return result.only as Timing;
}

/**
 * Times several functions doing the same work, one round at a time (each function once per
 * round, in turn), so drift in the machine — other processes, heap growth, CPU frequency — hits
 * all of them alike instead of whichever happened to run last.
 */
export async function compare<K extends string>(
  contenders: Record<K, () => Promise<unknown>>,
  options: TimingOptions = {},
): Promise<Record<K, Timing>> {
  const { warmupRuns = 2, warmupCpuMs = 0, minRuns = 3, maxRuns = 15, budgetMs = 3000 } = options;
  const names = Object.keys(contenders) as K[];
  const warmupStart = process.cpuUsage();
  const warmupCpu = (): number => {
    const used = process.cpuUsage(warmupStart);
    return (used.user + used.system) / 1000;
  };
  for (let i = 0; i < warmupRuns || warmupCpu() < warmupCpuMs; i++) {
    for (const name of names) await contenders[name]();
  }
  const samples = new Map<K, Sample[]>(names.map((name) => [name, []]));
  let spent = 0;
  for (let run = 0; run < maxRuns && (run < minRuns || spent < budgetMs); run++) {
    for (const name of names) {
      const sample = await timeOnce(contenders[name]);
      samples.get(name)?.push(sample);
      spent += sample.wallMs;
    }
  }
  const result = {} as Record<K, Timing>;
  for (const name of names) {
    const taken = samples.get(name) ?? [];
    result[name] = {
      samplesMs: taken.map((s) => round(s.wallMs, 3)),
      cpuSamplesMs: taken.map((s) => round(s.cpuMs, 3)),
      medianMs: round(median(taken.map((s) => s.wallMs)), 3),
      medianCpuMs: round(median(taken.map((s) => s.cpuMs)), 3),
    };
  }
  return result;
}

/** Writes a progress line to stderr, leaving stdout to the JSON report. */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

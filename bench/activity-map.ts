/**
 * The activity Map both the engine bench and the HTTP API bench drain with pollers, and how they
 * measure it: a Map of one activity Task per item, the items' success order read back from the
 * history, and the latency from a SendTaskSuccess to the task it made room for, matched by cause.
 */
import { round } from './util.ts';

/** A Map over `$.items` whose iterations are each one activity Task, `maxConcurrency` at a time. */
export function activityMapDefinition(activityArn: string, maxConcurrency: number): string {
  return JSON.stringify({
    StartAt: 'Each',
    States: {
      Each: {
        Type: 'Map',
        ItemsPath: '$.items',
        MaxConcurrency: maxConcurrency,
        ItemProcessor: {
          StartAt: 'Work',
          States: { Work: { Type: 'Task', Resource: activityArn, End: true } },
        },
        ResultPath: '$.results',
        End: true,
      },
    },
  });
}

/** One history event, as much of it as {@link successOrder} reads. */
export interface HistoryItem {
  type: string;
  /** `activitySucceededEventDetails.output`, on ActivitySucceeded events. */
  output?: string;
}

/** One page of an execution's history, whatever API read it. */
export type HistoryPages = (nextToken?: string) => Promise<{ events: HistoryItem[]; nextToken?: string }>;

/** The items (task inputs are numbers) in the order the engine recorded their ActivitySucceeded. */
export async function successOrder(page: HistoryPages): Promise<number[]> {
  const order: number[] = [];
  let nextToken: string | undefined;
  do {
    const read = await page(nextToken);
    for (const event of read.events) {
      if (event.type === 'ActivitySucceeded') order.push(JSON.parse(event.output ?? 'null') as number);
    }
    nextToken = read.nextToken;
  } while (nextToken !== undefined);
  return order;
}

/**
 * Latency matched by cause, not guessed from timing: with MaxConcurrency c the Map starts item
 * k (k ≥ c) when it processes the (k−c)th completion, and `order` (from {@link successOrder})
 * says in which order it processed them, so each claim is paired with the SendTaskSuccess that
 * made room for it. `sentAt` and `claimedAt` are by item.
 */
export function sendToNextTaskMs(
  order: readonly number[],
  sentAt: ReadonlyMap<number, number>,
  claimedAt: ReadonlyMap<number, number>,
  maxConcurrency: number,
): number[] {
  const out: number[] = [];
  for (let k = maxConcurrency; k < order.length; k++) {
    out.push((claimedAt.get(k) as number) - (sentAt.get(order[k - maxConcurrency] as number) as number));
  }
  return out;
}

/** Nearest-rank p50 and p99 and the maximum of latency samples, in milliseconds; NaN for none. */
export function latencySummary(samplesMs: readonly number[]): {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
} {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const rank = (p: number): number =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? Number.NaN;
  return {
    samples: sorted.length,
    p50Ms: round(rank(0.5), 3),
    p99Ms: round(rank(0.99), 3),
    maxMs: round(rank(1), 3),
  };
}

/**
 * How history events link to each other. AWS's `previousEventId` is not simply the event
 * before: each thread of control (the execution, a Map worker, a Parallel branch) keeps a
 * "source" event that its next event follows, some events (e.g. `MapIterationSucceeded`,
 * `MapStateSucceeded`) do not move that source, and a finished child thread hands its
 * position back to its parent. {@link EventCursor} is that bookkeeping, shared by the
 * in-memory runner and the durable engine so both number histories identically.
 */
import type { HistoryEventDraft } from './history.ts';

/**
 * A draft plus how it links: `source` (default) follows the thread's source and becomes it;
 * `keepSource` follows it without moving it; `beforeEntered` follows what the state's entered
 * event followed (AWS does this for a JSONata failure in Pass and Map states).
 */
export interface HistoryEventDraftWithLink extends HistoryEventDraft {
  link?: 'source' | 'keepSource' | 'beforeEntered';
}

/** One thread's position in the history. Plain JSON so the engine can persist it. */
export interface EventCursor {
  /** The event the thread's next event follows. */
  source: number;
  /** The last event this thread published. */
  last: number;
  /** What the current state's entered event followed. */
  enteredPrevious: number;
}

/** A new cursor that starts after `previous`. */
export function cursorAfter(previous: number): EventCursor {
  return { source: previous, last: previous, enteredPrevious: previous };
}

/** Folds a finished child thread's cursor back into its parent's. */
export function integrateCursor(parent: EventCursor, child: EventCursor): void {
  parent.source = Math.max(parent.source, child.source);
  parent.last = Math.max(parent.last, child.last);
}

/** Computes `previousEventId` for a draft about to get `id`, and advances the cursor. */
export function linkEvent(cursor: EventCursor, draft: HistoryEventDraftWithLink, id: number): number {
  const previous = draft.link === 'beforeEntered' ? cursor.enteredPrevious : cursor.source;
  cursor.last = id;
  if (draft.link !== 'keepSource') cursor.source = id;
  if (draft.type.endsWith('StateEntered')) cursor.enteredPrevious = previous;
  return previous;
}

/**
 * How a store can be opened again elsewhere (a Prepare thread): the location it was opened
 * from. Kept apart from `open-store.ts` so a thread that only needs a local directory never
 * loads the S3 SDK (about 130 ms of a thread's start).
 */
import { fileURLToPath } from 'node:url';
import { LocalObjectStore } from './local-store.ts';
import type { ObjectStore } from './object-store.ts';

/**
 * How to open a store again somewhere else (a worker thread): the location it was opened from
 * and the environment its credentials came from, if not `process.env`. It stays in memory.
 */
export interface StoreLocator {
  location: string;
  env?: Record<string, string | undefined>;
}

const locators = new WeakMap<ObjectStore, StoreLocator>();

/** Records where a store was opened from (see `openObjectStore`). */
export function rememberLocator(store: ObjectStore, locator: StoreLocator): void {
  locators.set(store, locator);
}

/**
 * The locator of a store opened by `openObjectStore`, or of a plain local store; undefined
 * for anything else (a wrapper or subclass, whose behaviour a reopened store would not have).
 */
export function storeLocator(store: ObjectStore): StoreLocator | undefined {
  const known = locators.get(store);
  if (known !== undefined) return known;
  return store instanceof LocalObjectStore && store.constructor === LocalObjectStore ? { location: store.root } : undefined;
}

/** The directory a location names when it is a local one (`file://` URL or plain path); else undefined. */
export function localDirectory(location: string): string | undefined {
  if (location.startsWith('file:')) return fileURLToPath(location);
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(location) ? undefined : location;
}

/**
 * The object-store interface the lake and the tracking API write through. Two implementations
 * sit beside this file with the same contract: a local directory (the embedded default) and S3
 * (AWS S3, MinIO, R2, s3rver). Keys are '/'-separated, relative, and validated by
 * {@link assertSafeKey} so no key can escape the store's root.
 */
import type { Readable } from 'node:stream';

/** One listed object. */
export interface ObjectInfo {
  key: string;
  size: number;
  lastModified: Date;
}

/** One page of a listing; pass `nextToken` back to continue. */
export interface ObjectPage {
  objects: ObjectInfo[];
  nextToken?: string;
}

/** Options for {@link ObjectStore.list}. */
export interface ListOptions {
  maxKeys?: number;
  nextToken?: string;
}

/** Options for {@link ObjectStore.put}. */
export interface PutOptions {
  /** Create only if no object exists under the key; resolves false when one does. */
  ifNoneMatch?: boolean;
  contentType?: string;
}

/** What {@link ObjectStore.put} accepts: bytes, text, a stream, or a local file to copy. */
export type ObjectBody = Buffer | string | Readable | { file: string };

/** A chunk read from an object body stream as bytes; streams of other things are a caller bug. */
export function chunkBytes(chunk: unknown): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk);
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError('object body stream must yield strings or bytes');
}

/** A bucket-like store of immutable objects. */
export interface ObjectStore {
  /** Human-readable location, e.g. `file:///var/lib/inlet` or `s3://bucket/prefix`. */
  readonly url: string;
  /** Lists objects whose key starts with `prefix`, in key order, one page at a time. */
  list(prefix: string, options?: ListOptions): Promise<ObjectPage>;
  /** Streams an object's bytes; rejects with {@link ObjectNotFoundError} when absent. */
  get(key: string): Promise<Readable>;
  /** Stores bytes, a stream or a local file (`{ file: path }`); large bodies go up in parts. */
  put(key: string, body: ObjectBody, options?: PutOptions): Promise<boolean>;
  /** Metadata of one object, or undefined. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Deletes objects; absent keys are not an error. */
  delete(keys: readonly string[]): Promise<void>;
  /** Whether `put` with `ifNoneMatch` is atomic on this backend. */
  readonly supportsConditionalCreate: boolean;
  /**
   * The object's path on the local filesystem, when the backend is a local directory, so DuckDB
   * can read and write it in place; undefined for remote backends (copy through a temp file).
   */
  localPath?(key: string): string;
}

/** Raised by {@link ObjectStore.get} for a key with no object. */
export class ObjectNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`no object at key '${key}'`);
    this.name = 'ObjectNotFoundError';
  }
}

/** Raised for a key that is empty, absolute, or walks out of the store with `..`. */
export class UnsafeKeyError extends Error {
  constructor(readonly key: string) {
    super(`unsafe object key '${key}'`);
    this.name = 'UnsafeKeyError';
  }
}

/** Rejects keys that could escape the store's root or that no backend can hold. */
export function assertSafeKey(key: string): void {
  const parts = key.split('/');
  if (
    key.length === 0 ||
    key.length > 1024 ||
    key.startsWith('/') ||
    key.includes('\\') ||
    key.includes('\0') ||
    parts.some((p) => p === '..' || p === '.' || p === '')
  ) {
    throw new UnsafeKeyError(key);
  }
}

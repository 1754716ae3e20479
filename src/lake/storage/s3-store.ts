/**
 * The object store over S3 and S3-compatible services (AWS S3, MinIO, R2, s3rver), through
 * `@aws-sdk/client-s3`, optionally under a key prefix inside the bucket. Large bodies go up as a
 * multipart upload of 8 MiB parts (a few in flight), aborted on failure so no orphan parts are
 * billed. Conditional create uses `If-None-Match: *`, which AWS S3, MinIO and R2 honour but some
 * peers (s3rver) silently ignore; `probeConditionalCreate()` finds out, and when a peer does not
 * honour it the store falls back to a HEAD check and says so through `supportsConditionalCreate`.
 * Checksums are only sent where S3 requires them, because many S3-compatible peers reject the
 * SDK's newer default trailing checksums.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import {
  assertSafeKey,
  chunkBytes,
  ObjectNotFoundError,
  type ListOptions,
  type ObjectBody,
  type ObjectInfo,
  type ObjectPage,
  type ObjectStore,
  type PutOptions,
} from './object-store.ts';

/** Size of each multipart part; S3 allows 5 MiB to 5 GiB, and 10,000 parts (so 80 GB here). */
export const S3_PART_SIZE = 8 * 1024 * 1024;
/** Parts uploaded at once: enough to fill a link, little enough memory (4 × 8 MiB). */
const PARTS_IN_FLIGHT = 4;
const DELETE_BATCH = 1000;

/** AWS credentials; never logged. */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Options for {@link S3ObjectStore}. */
export interface S3ObjectStoreOptions {
  bucket: string;
  /** Key prefix inside the bucket ('' or e.g. `inlet/prod`); keys are stored under `<prefix>/`. */
  prefix?: string;
  /** Endpoint of an S3-compatible service, e.g. `http://127.0.0.1:9000`; AWS when absent. */
  endpoint?: string;
  region?: string;
  /** Path-style addressing (`endpoint/bucket/key`), which MinIO and s3rver need. */
  forcePathStyle?: boolean;
  /** Explicit credentials; the SDK's default provider chain when absent. */
  credentials?: S3Credentials;
  /**
   * Whether the peer honours `If-None-Match: *` on writes. Defaults to true (AWS S3, MinIO, R2);
   * call {@link S3ObjectStore.probeConditionalCreate} to find out for an unknown peer.
   */
  conditionalCreate?: boolean;
  /** Multipart part size in bytes (at least 5 MiB); {@link S3_PART_SIZE} by default. */
  partSize?: number;
  /** A ready client, for callers that share one; the connection options above are then ignored. */
  client?: S3Client;
}

function errorName(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'name' in err && typeof err.name === 'string')
    return err.name;
  return undefined;
}

function httpStatus(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null && '$metadata' in err) {
    const meta: unknown = err.$metadata;
    if (
      typeof meta === 'object' &&
      meta !== null &&
      'httpStatusCode' in meta &&
      typeof meta.httpStatusCode === 'number'
    ) {
      return meta.httpStatusCode;
    }
  }
  return undefined;
}

/** S3 answers 412 when an `If-None-Match: *` write finds the key taken. */
function isPreconditionFailed(err: unknown): boolean {
  return errorName(err) === 'PreconditionFailed' || httpStatus(err) === 412;
}

/** 409: another conditional write to the key is in flight; S3 says to retry. */
function isConditionalConflict(err: unknown): boolean {
  return errorName(err) === 'ConditionalRequestConflict' || httpStatus(err) === 409;
}

function isNotFound(err: unknown): boolean {
  const name = errorName(err);
  return name === 'NoSuchKey' || name === 'NotFound' || httpStatus(err) === 404;
}

/** Cuts a body into parts of exactly `size` bytes (the last one shorter). */
async function* cutParts(body: Buffer | Readable, size: number): AsyncGenerator<Buffer> {
  if (Buffer.isBuffer(body)) {
    for (let at = 0; at < body.length; at += size) yield body.subarray(at, at + size);
    return;
  }
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const chunk of body) {
    let buf = chunkBytes(chunk);
    while (buf.length > 0) {
      const take = Math.min(size - pendingBytes, buf.length);
      pending.push(buf.subarray(0, take));
      pendingBytes += take;
      buf = buf.subarray(take);
      if (pendingBytes === size) {
        yield Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
      }
    }
  }
  if (pendingBytes > 0 || pending.length > 0) yield Buffer.concat(pending, pendingBytes);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A bucket (or a prefix inside one) as an {@link ObjectStore}. */
export class S3ObjectStore implements ObjectStore {
  readonly url: string;
  readonly bucket: string;
  /** The key prefix inside the bucket, without a trailing '/'; '' for the whole bucket. */
  readonly prefix: string;
  private readonly client: S3Client;
  private readonly ownsClient: boolean;
  private readonly partSize: number;
  private conditionalCreate: boolean;

  constructor(options: S3ObjectStoreOptions) {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(options.bucket)) {
      throw new Error(`invalid S3 bucket name '${options.bucket}'`);
    }
    this.bucket = options.bucket;
    this.prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
    if (this.prefix !== '') assertSafeKey(this.prefix);
    this.url = `s3://${this.bucket}${this.prefix === '' ? '' : `/${this.prefix}`}`;
    this.partSize = options.partSize ?? S3_PART_SIZE;
    if (this.partSize < 5 * 1024 * 1024) throw new RangeError('S3 multipart parts must be at least 5 MiB');
    this.conditionalCreate = options.conditionalCreate ?? true;
    this.ownsClient = options.client === undefined;
    this.client =
      options.client ??
      new S3Client({
        region: options.region ?? 'us-east-1',
        ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
        ...(options.forcePathStyle !== undefined ? { forcePathStyle: options.forcePathStyle } : {}),
        ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
  }

  /** True when `put(..., { ifNoneMatch })` is atomic; false when it is a HEAD check then a write. */
  get supportsConditionalCreate(): boolean {
    return this.conditionalCreate;
  }

  /**
   * Finds out whether the peer honours `If-None-Match: *` by creating a scratch object twice,
   * and sets {@link supportsConditionalCreate} accordingly.
   */
  async probeConditionalCreate(): Promise<boolean> {
    const key = `.inlet-probe/${randomBytes(12).toString('hex')}`;
    const full = this.fullKey(key);
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: full, Body: Buffer.from('1'), IfNoneMatch: '*' }),
      );
      try {
        await this.client.send(
          new PutObjectCommand({ Bucket: this.bucket, Key: full, Body: Buffer.from('2'), IfNoneMatch: '*' }),
        );
        this.conditionalCreate = false;
      } catch (err) {
        if (!isPreconditionFailed(err)) throw err;
        this.conditionalCreate = true;
      }
    } finally {
      await this.delete([key]);
    }
    return this.conditionalCreate;
  }

  /** Closes the client's sockets, when this store made the client. */
  destroy(): void {
    if (this.ownsClient) this.client.destroy();
  }

  private fullKey(key: string): string {
    assertSafeKey(key);
    return this.prefix === '' ? key : `${this.prefix}/${key}`;
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ObjectPage> {
    const root = this.prefix === '' ? '' : `${this.prefix}/`;
    const out = await this.client.send(
      new ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: root + prefix,
        ...(options.maxKeys !== undefined ? { MaxKeys: options.maxKeys } : {}),
        // The token is the last key returned, as for the local store, so tokens are portable.
        ...(options.nextToken !== undefined ? { StartAfter: root + options.nextToken } : {}),
      }),
    );
    const objects: ObjectInfo[] = (out.Contents ?? []).flatMap((o) =>
      o.Key === undefined
        ? []
        : [{ key: o.Key.slice(root.length), size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) }],
    );
    const last = objects.at(-1);
    return out.IsTruncated === true && last ? { objects, nextToken: last.key } : { objects };
  }

  async get(key: string): Promise<Readable> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }),
      );
      if (!(out.Body instanceof Readable)) throw new Error(`S3 returned no stream for '${key}'`);
      return out.Body;
    } catch (err) {
      if (isNotFound(err)) throw new ObjectNotFoundError(key);
      throw err;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const out = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }),
      );
      return { key, size: out.ContentLength ?? 0, lastModified: out.LastModified ?? new Date(0) };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async put(key: string, body: ObjectBody, options: PutOptions = {}): Promise<boolean> {
    const full = this.fullKey(key);
    const ifNoneMatch = options.ifNoneMatch === true;
    if (ifNoneMatch && !this.conditionalCreate && (await this.head(key)) !== undefined) return false;
    const source: Buffer | Readable =
      typeof body === 'string'
        ? Buffer.from(body)
        : Buffer.isBuffer(body) || body instanceof Readable
          ? body
          : createReadStream(body.file);
    const parts = cutParts(source, this.partSize);
    const first = await parts.next();
    const second = first.done === true ? first : await parts.next();
    const conditional = ifNoneMatch && this.conditionalCreate ? { IfNoneMatch: '*' } : {};
    const contentType = options.contentType !== undefined ? { ContentType: options.contentType } : {};
    if (second.done === true) {
      const bytes = first.done === true ? Buffer.alloc(0) : first.value;
      return this.withConflictRetry(async () => {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: full,
            Body: bytes,
            ...conditional,
            ...contentType,
          }),
        );
      });
    }
    async function* all(): AsyncGenerator<Buffer> {
      if (first.done !== true) yield first.value;
      if (second.done !== true) yield second.value;
      yield* parts;
    }
    return this.multipart(full, all(), conditional, contentType);
  }

  /** Runs a conditional write; false when the key is taken, retrying S3's 409 conflicts. */
  private async withConflictRetry(write: () => Promise<void>): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        await write();
        return true;
      } catch (err) {
        if (isPreconditionFailed(err)) return false;
        if (isConditionalConflict(err) && attempt < 3) {
          await sleep(100 * 2 ** attempt);
          continue;
        }
        throw err;
      }
    }
  }

  private async multipart(
    full: string,
    parts: AsyncGenerator<Buffer>,
    conditional: { IfNoneMatch?: string },
    contentType: { ContentType?: string },
  ): Promise<boolean> {
    const created = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: full, ...contentType }),
    );
    const uploadId = created.UploadId;
    if (uploadId === undefined) throw new Error('S3 CreateMultipartUpload returned no UploadId');
    const abort = async (): Promise<void> => {
      // Best effort: the original error is what the caller needs to see.
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: full, UploadId: uploadId }))
        .catch(() => undefined);
    };
    try {
      const completed: CompletedPart[] = [];
      const inFlight = new Set<Promise<void>>();
      let failure: { error: unknown } | undefined;
      let partNumber = 0;
      for await (const part of parts) {
        const number = ++partNumber;
        const upload = this.client
          .send(
            new UploadPartCommand({
              Bucket: this.bucket,
              Key: full,
              UploadId: uploadId,
              PartNumber: number,
              Body: part,
            }),
          )
          .then((out) => {
            completed.push({ PartNumber: number, ...(out.ETag !== undefined ? { ETag: out.ETag } : {}) });
          })
          .catch((error: unknown) => {
            failure ??= { error };
          })
          .finally(() => inFlight.delete(upload));
        inFlight.add(upload);
        if (inFlight.size >= PARTS_IN_FLIGHT) await Promise.race(inFlight);
        if (failure) throw failure.error;
      }
      await Promise.all(inFlight);
      if (failure) throw failure.error;
      completed.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
      const done = await this.withConflictRetry(async () => {
        await this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: full,
            UploadId: uploadId,
            MultipartUpload: { Parts: completed },
            ...conditional,
          }),
        );
      });
      if (!done) await abort();
      return done;
    } catch (err) {
      await abort();
      throw err;
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    const full = keys.map((k) => this.fullKey(k));
    for (let at = 0; at < full.length; at += DELETE_BATCH) {
      const batch = full.slice(at, at + DELETE_BATCH);
      const out = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      const failed = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) {
        const first = failed[0];
        throw new Error(
          `S3 could not delete ${failed.length} object(s), first '${first?.Key ?? '?'}': ${first?.Code ?? ''} ${first?.Message ?? ''}`,
        );
      }
    }
  }
}

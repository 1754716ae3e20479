/**
 * The object store over a local directory: the embedded default, and the backend DuckDB can read
 * and write in place (see `localPath`). A crash must never leave a partial object visible, so
 * every write goes to a temp file under the root's reserved `.inlet-tmp/` folder (same
 * filesystem), is fsynced, and is then renamed (or, for a conditional create, hard-linked, which
 * fails atomically when the key exists) into place, and the parent directory is fsynced.
 * Listings walk the tree in key order, pruning folders outside the prefix or before the token.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { isAbsolute, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import {
  assertSafeKey,
  chunkBytes,
  ObjectNotFoundError,
  UnsafeKeyError,
  type ListOptions,
  type ObjectBody,
  type ObjectInfo,
  type ObjectPage,
  type ObjectStore,
  type PutOptions,
} from './object-store.ts';

/** The root-level folder that holds in-flight writes; keys may not start with it. */
export const LOCAL_TEMP_DIR = '.inlet-tmp';
const DEFAULT_MAX_KEYS = 1000;
/** Temp files older than this are leftovers of a crash, not writes in flight. */
const STALE_TEMP_MS = 24 * 60 * 60 * 1000;

function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string')
    return err.code;
  return undefined;
}

/** Key order as S3 defines it: UTF-8 bytes, which is code-point order. */
function compareKeys(a: string, b: string): number {
  return a === b ? 0 : Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** fsyncs a directory so a rename or link into it survives a crash. */
async function syncDir(path: string): Promise<void> {
  const handle = await fsp.open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeBody(handle: FileHandle, body: Buffer | string | Readable): Promise<void> {
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    await handle.writeFile(body);
    return;
  }
  for await (const chunk of body) await handle.write(chunkBytes(chunk));
}

/** A bucket-like store in a directory; each key is a file below the root. */
export class LocalObjectStore implements ObjectStore {
  /** Absolute root directory. */
  readonly root: string;
  readonly url: string;
  /** `link()` fails with EEXIST atomically, so conditional create is race-free here. */
  readonly supportsConditionalCreate = true;
  private readonly tempDir: string;
  private tempReady: Promise<void> | undefined;

  /** @param root the directory holding the objects; created on the first write. */
  constructor(root: string) {
    if (root.length === 0) throw new Error('local object store needs a directory');
    this.root = resolve(root);
    this.url = pathToFileURL(this.root).href;
    this.tempDir = join(this.root, LOCAL_TEMP_DIR);
  }

  /** The file that holds `key`; throws {@link UnsafeKeyError} for keys that could escape the root. */
  localPath(key: string): string {
    assertSafeKey(key);
    const first = key.split('/', 1)[0];
    if (first === LOCAL_TEMP_DIR) throw new UnsafeKeyError(key);
    const path = join(this.root, ...key.split('/'));
    if (isAbsolute(key) || !path.startsWith(this.root + sep)) throw new UnsafeKeyError(key);
    return path;
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ObjectPage> {
    const maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
    if (!Number.isInteger(maxKeys) || maxKeys < 1)
      throw new RangeError(`maxKeys must be a positive integer, got ${maxKeys}`);
    const after = options.nextToken ?? '';
    const objects: ObjectInfo[] = [];
    let more = false;
    for await (const info of this.walk(this.root, '', prefix, after)) {
      if (objects.length === maxKeys) {
        more = true;
        break;
      }
      objects.push(info);
    }
    const last = objects.at(-1);
    return more && last ? { objects, nextToken: last.key } : { objects };
  }

  /**
   * Yields the objects below `dir` (whose keys start with `keyPrefix`) in key order. A folder is
   * sorted as its name plus '/', which is where all its keys fall among its siblings.
   */
  private async *walk(
    dir: string,
    keyPrefix: string,
    prefix: string,
    after: string,
  ): AsyncGenerator<ObjectInfo> {
    let entries;
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return;
      throw err;
    }
    const sorted = entries
      .filter((e) => !(keyPrefix === '' && e.name === LOCAL_TEMP_DIR))
      .map((e) => ({ entry: e, sortKey: keyPrefix + e.name + (e.isDirectory() ? '/' : '') }))
      .sort((a, b) => compareKeys(a.sortKey, b.sortKey));
    for (const { entry, sortKey } of sorted) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        // Prune folders that hold no key under the prefix, or only keys at or before the token.
        if (!sortKey.startsWith(prefix) && !prefix.startsWith(sortKey)) continue;
        if (compareKeys(sortKey, after) <= 0 && !after.startsWith(sortKey)) continue;
        yield* this.walk(path, sortKey, prefix, after);
      } else if (entry.isFile()) {
        if (!sortKey.startsWith(prefix) || compareKeys(sortKey, after) <= 0) continue;
        let stat;
        try {
          stat = await fsp.stat(path);
        } catch (err) {
          if (errorCode(err) === 'ENOENT') continue; // deleted while we listed
          throw err;
        }
        yield { key: sortKey, size: stat.size, lastModified: stat.mtime };
      }
    }
  }

  async get(key: string): Promise<Readable> {
    const path = this.localPath(key);
    let handle: FileHandle;
    try {
      // Opening first pins the inode, so a concurrent replace cannot tear the read.
      handle = await fsp.open(path, 'r');
    } catch (err) {
      if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR' || errorCode(err) === 'EISDIR')
        throw new ObjectNotFoundError(key);
      throw err;
    }
    const stat = await handle.stat();
    if (!stat.isFile()) {
      await handle.close();
      throw new ObjectNotFoundError(key);
    }
    return createReadStream('', { fd: handle, autoClose: true });
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const path = this.localPath(key);
    try {
      const stat = await fsp.stat(path);
      return stat.isFile() ? { key, size: stat.size, lastModified: stat.mtime } : undefined;
    } catch (err) {
      if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return undefined;
      throw err;
    }
  }

  async put(key: string, body: ObjectBody, options: PutOptions = {}): Promise<boolean> {
    const path = this.localPath(key);
    const temp = await this.writeTemp(body);
    try {
      return await this.publish(temp, path, options.ifNoneMatch === true);
    } finally {
      await fsp.rm(temp, { force: true });
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    const paths = keys.map((k) => this.localPath(k));
    for (const path of paths) {
      try {
        await fsp.unlink(path);
      } catch (err) {
        if (errorCode(err) !== 'ENOENT' && errorCode(err) !== 'ENOTDIR') throw err;
        continue;
      }
      await this.pruneEmptyParents(path);
    }
  }

  /** Removes folders a delete left empty, so listings do not walk a graveyard of old days. */
  private async pruneEmptyParents(path: string): Promise<void> {
    let dir = resolve(path, '..');
    while (dir.startsWith(this.root + sep)) {
      try {
        await fsp.rmdir(dir);
      } catch {
        return; // not empty, or already gone: either way stop climbing
      }
      dir = resolve(dir, '..');
    }
  }

  /** Creates the temp folder once, clearing temp files a crash left behind. */
  private prepareTemp(): Promise<void> {
    this.tempReady ??= (async () => {
      await fsp.mkdir(this.tempDir, { recursive: true });
      const now = Date.now();
      for (const name of await fsp.readdir(this.tempDir)) {
        const path = join(this.tempDir, name);
        const stat = await fsp.stat(path).catch(() => undefined);
        if (stat && now - stat.mtimeMs > STALE_TEMP_MS) await fsp.rm(path, { force: true });
      }
    })();
    return this.tempReady;
  }

  /** Writes the body to a fresh temp file and fsyncs it; returns its path. */
  private async writeTemp(body: ObjectBody): Promise<string> {
    await this.prepareTemp();
    const temp = join(this.tempDir, `${randomBytes(12).toString('hex')}.tmp`);
    try {
      if (typeof body === 'object' && !Buffer.isBuffer(body) && !(body instanceof Readable)) {
        await fsp.copyFile(body.file, temp);
        const handle = await fsp.open(temp, 'r+');
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
      } else {
        const handle = await fsp.open(temp, 'wx');
        try {
          await writeBody(handle, body);
          await handle.sync();
        } finally {
          await handle.close();
        }
      }
    } catch (err) {
      await fsp.rm(temp, { force: true });
      throw err;
    }
    return temp;
  }

  /**
   * Moves a synced temp file to its key. A concurrent delete may remove the freshly made parent
   * folder between mkdir and rename, so ENOENT is retried a few times.
   */
  private async publish(temp: string, path: string, ifNoneMatch: boolean): Promise<boolean> {
    const parent = resolve(path, '..');
    for (let attempt = 0; ; attempt++) {
      await fsp.mkdir(parent, { recursive: true });
      try {
        if (ifNoneMatch) await fsp.link(temp, path);
        else await fsp.rename(temp, path);
      } catch (err) {
        if (ifNoneMatch && errorCode(err) === 'EEXIST') return false;
        if (errorCode(err) === 'ENOENT' && attempt < 5) continue;
        throw err;
      }
      await syncDir(parent);
      return true;
    }
  }
}

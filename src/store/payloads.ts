/**
 * Large values inside history event details (an input or output past {@link OUT_OF_LINE_BYTES})
 * are stored once per distinct content, by hash, and replaced in the event by
 * `{"$inletPayload": hash}`: a big input appears in several events (ExecutionStarted,
 * StateEntered, StateExited …) but is kept once. Pure functions, so every store backend shares
 * the encoding and only writes and reads the bodies its own way.
 */
import { createHash } from 'node:crypto';

/** Event details larger than this have their large strings stored out of line. */
export const OUT_OF_LINE_BYTES = 64 * 1024;
const PAYLOAD_KEY = '$inletPayload';
const PAYLOAD_MARK = `{"${PAYLOAD_KEY}":"`;

/** A body stored out of line, under the hex SHA-256 of its text. */
export interface Payload {
  hash: string;
  body: string;
}

/** The details to store, with every string past the limit swapped for its hash, and those bodies. */
export function moveOutOfLine(details: string | null): { details: string | null; payloads: Payload[] } {
  if (details === null || details.length <= OUT_OF_LINE_BYTES) return { details, payloads: [] };
  const payloads: Payload[] = [];
  const swap = (value: unknown): unknown => {
    if (typeof value === 'string' && value.length > OUT_OF_LINE_BYTES) {
      const hash = createHash('sha256').update(value).digest('hex');
      payloads.push({ hash, body: value });
      return { [PAYLOAD_KEY]: hash };
    }
    if (Array.isArray(value)) return value.map(swap);
    if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, swap(v)]));
    return value;
  };
  return { details: JSON.stringify(swap(JSON.parse(details))), payloads };
}

/** Whether stored details refer to a body stored out of line. */
export function hasPayloads(details: string | null): details is string {
  return details?.includes(PAYLOAD_MARK) === true;
}

/** The hashes stored details refer to. */
export function payloadHashes(details: string): string[] {
  const hashes: string[] = [];
  visit(JSON.parse(details), (hash) => {
    hashes.push(hash);
    return hash;
  });
  return hashes;
}

/** The details as they were before {@link moveOutOfLine}, given each body by its hash. */
export function restorePayloads(details: string, bodyOf: (hash: string) => string | undefined): string {
  return JSON.stringify(
    visit(JSON.parse(details), (hash) => {
      const body = bodyOf(hash);
      if (body === undefined) throw new Error(`history payload ${hash} is missing from the store`);
      return body;
    }),
  );
}

/** Rebuilds a parsed value with every payload reference replaced by `replace(hash)`. */
function visit(value: unknown, replace: (hash: string) => string): unknown {
  if (Array.isArray(value)) return value.map((v) => visit(v, replace));
  if (value !== null && typeof value === 'object') {
    const hash = (value as Record<string, unknown>)[PAYLOAD_KEY];
    if (typeof hash === 'string' && Object.keys(value).length === 1) return replace(hash);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, visit(v, replace)]));
  }
  return value;
}

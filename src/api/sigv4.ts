/**
 * AWS Signature Version 4 verification for the Step Functions API, so the AWS SDK and CLI can
 * authenticate with ordinary access keys. The expected signature is computed with
 * `@smithy/signature-v4` (the SDK's own signer) over exactly the headers the client signed, and
 * compared in constant time. Secrets never leave this module and are never logged.
 */
import { createHash, createHmac, timingSafeEqual, type Hash, type Hmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';

/**
 * SHA-256 (or HMAC-SHA-256 with a secret) on node:crypto in the shape `@smithy/signature-v4`
 * expects. Its default, the pure-JavaScript `@aws-crypto/sha256-js`, cost 6–8x more CPU per
 * verified request (docs/benchmarks.md).
 */
class NodeSha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(toBuffer(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.hash.digest());
  }
  reset(): void {
    throw new Error('NodeSha256 is single-use');
  }
}

function toBuffer(data: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/** Access key id → secret access key. */
export type AccessKeys = Readonly<Record<string, string>>;

/** Why a request was refused, with AWS's error name. */
export class AuthError extends Error {
  constructor(
    readonly code: 'UnrecognizedClientException' | 'InvalidSignatureException' | 'MissingAuthenticationTokenException',
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/;
/** AWS refuses requests whose signing time is more than 15 minutes off. */
const MAX_SKEW_MS = 15 * 60 * 1000;

function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}

/** Verifies a request's SigV4 signature; throws {@link AuthError} when it does not hold. */
export async function verifySigV4(
  request: { method: string; path: string; headers: IncomingHttpHeaders; body: Buffer },
  keys: AccessKeys,
  now: number = Date.now(),
): Promise<{ accessKeyId: string }> {
  const header = request.headers.authorization;
  if (typeof header !== 'string') throw new AuthError('MissingAuthenticationTokenException', 'Missing Authentication Token');
  const m = AUTH.exec(header);
  if (!m) throw new AuthError('InvalidSignatureException', 'The Authorization header is not a valid AWS Signature Version 4 header.');
  const [, accessKeyId, , region, service, signedHeaderList, signature] = m as unknown as string[];
  const secret = Object.prototype.hasOwnProperty.call(keys, accessKeyId as string) ? keys[accessKeyId as string] : undefined;
  if (secret === undefined) throw new AuthError('UnrecognizedClientException', 'The security token included in the request is invalid.');
  const amzDate = request.headers['x-amz-date'];
  const signingDate = typeof amzDate === 'string' ? parseAmzDate(amzDate) : undefined;
  if (!signingDate) throw new AuthError('InvalidSignatureException', 'The request must carry a valid X-Amz-Date header.');
  if (Math.abs(now - signingDate.getTime()) > MAX_SKEW_MS) {
    throw new AuthError('InvalidSignatureException', 'Signature expired: the request time is more than 15 minutes from the server time.');
  }
  const signedHeaders = (signedHeaderList as string).split(';');
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = request.headers[name];
    if (value === undefined) throw new AuthError('InvalidSignatureException', `Signed header '${name}' is missing.`);
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  // The body is bound to the signature through its hash: compute it ourselves, and refuse a
  // client's x-amz-content-sha256 that does not match (a replayed signature with another body).
  const bodyHash = createHash('sha256').update(request.body).digest('hex');
  const claimed = headers['x-amz-content-sha256'];
  if (claimed !== undefined && claimed !== bodyHash) {
    throw new AuthError('InvalidSignatureException', 'The provided x-amz-content-sha256 header does not match what was computed.');
  }
  const [path, query = ''] = request.path.split('?', 2);
  const signer = new SignatureV4({
    applyChecksum: false,
    credentials: { accessKeyId: accessKeyId as string, secretAccessKey: secret },
    region: region as string,
    service: service as string,
    sha256: NodeSha256,
    uriEscapePath: true,
  });
  const queryParams: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(query)) queryParams[k] = v;
  const signed = await signer.sign(
    { method: request.method, protocol: 'http:', hostname: headers.host ?? '', path: path ?? '/', query: queryParams, headers, body: request.body },
    { signingDate, unsignableHeaders: new Set(Object.keys(request.headers).filter((h) => !signedHeaders.includes(h))) },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization ?? signed.headers.Authorization))?.[1] ?? '';
  const a = Buffer.from(expected);
  const b = Buffer.from(signature as string);
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new AuthError(
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  }
  return { accessKeyId: accessKeyId as string };
}

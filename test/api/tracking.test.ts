/**
 * The tracking API as clients see it: the real `@segment/analytics-node` and
 * `@rudderstack/rudder-sdk-node` libraries and raw HTTP requests against a real server, with
 * events read back from the raw store through the lake's own raw-layout reader.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Analytics } from '@segment/analytics-node';
import RudderAnalytics from '@rudderstack/rudder-sdk-node';
import { Registry } from 'prom-client';
import { createTrackingHandler, startTrackingServer } from '../../src/api/tracking.ts';
import type { TrackingServer } from '../../src/api/tracking.ts';
import { listRawObjects, readRawLines } from '../../src/lake/raw-layout.ts';
import { LocalObjectStore } from '../../src/lake/storage/local-store.ts';

type Event = Record<string, unknown>;

const SOURCES = [
  { id: 'node-app', writeKey: 'wk-node-5f1c' },
  { id: 'rudder-app', writeKey: 'wk-rudder-77aa' },
  { id: 'web', writeKey: 'wk-web-0b3d' },
  { id: 'http', writeKey: 'wk-http-9e2e' },
  { id: 'refused', writeKey: 'wk-refused-c4d1' },
];
const TYPES = ['alias', 'group', 'identify', 'page', 'screen', 'track'];

let dir: string;
let store: LocalObjectStore;
let server: TrackingServer;
const registry = new Registry();
const serverErrors: unknown[] = [];

before(async () => {
  dir = await fsp.mkdtemp(join(tmpdir(), 'inlet-tracking-'));
  store = new LocalObjectStore(join(dir, 'raw'));
  server = await startTrackingServer({
    logDir: join(dir, 'log'),
    store,
    sources: SOURCES,
    registry,
    onError: (err) => serverErrors.push(err),
  });
});

after(async () => {
  await server.close();
  await fsp.rm(dir, { recursive: true, force: true });
});

/** Rolls the log, then reads every event of a source back from the raw store. */
async function stored(sourceId: string): Promise<Event[]> {
  await server.ingest.rollNow();
  const events: Event[] = [];
  for await (const object of listRawObjects(store, sourceId)) {
    assert.match(object.key, /\.gz$/);
    for await (const line of readRawLines(store, object.key)) events.push(JSON.parse(line.text) as Event);
  }
  return events;
}

function basic(writeKey: string): string {
  return `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
}

async function post(path: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Non-JSON answers are checked by status alone.
  }
  return { status: response.status, body: parsed, text };
}

function byType(events: Event[]): Map<unknown, Event> {
  return new Map(events.map((e) => [e['type'], e]));
}

void describe('tracking API with real client libraries', () => {
  void test('events of every type sent by @segment/analytics-node arrive in the raw layout intact', async () => {
    const analytics = new Analytics({ writeKey: 'wk-node-5f1c', host: server.url, flushAt: 20, flushInterval: 50, maxRetries: 0 });
    const failures: unknown[] = [];
    analytics.on('error', (err) => failures.push(err));
    analytics.identify({ userId: 'u-1', traits: { email: 'ada@example.com', plan: 'pro', address: { city: 'Oslo' } } });
    analytics.track({
      userId: 'u-1',
      event: 'Order Completed',
      properties: { revenue: 12.5, items: [{ sku: 'A-1', qty: 2 }], coupon: null, gift: false },
    });
    analytics.page({ userId: 'u-1', category: 'Docs', name: 'Home', properties: { path: '/home' } });
    analytics.screen({ anonymousId: 'anon-9', name: 'Settings', properties: { tab: 'privacy' } });
    analytics.group({ userId: 'u-1', groupId: 'g-1', traits: { name: 'Initech', employees: 42 } });
    analytics.alias({ userId: 'u-1', previousId: 'anon-9' });
    await analytics.closeAndFlush();
    assert.deepEqual(failures, []);

    const events = await stored('node-app');
    assert.deepEqual(events.map((e) => e['type']).sort(), TYPES);
    const types = byType(events);
    assert.deepEqual(types.get('track')?.['properties'], { revenue: 12.5, items: [{ sku: 'A-1', qty: 2 }], coupon: null, gift: false });
    assert.equal(types.get('track')?.['event'], 'Order Completed');
    assert.deepEqual(types.get('identify')?.['traits'], { email: 'ada@example.com', plan: 'pro', address: { city: 'Oslo' } });
    // analytics-node itself copies the page category into properties.
    assert.deepEqual(types.get('page')?.['properties'], { path: '/home', category: 'Docs' });
    assert.equal(types.get('page')?.['name'], 'Home');
    assert.equal(types.get('screen')?.['anonymousId'], 'anon-9');
    assert.deepEqual(types.get('group')?.['traits'], { name: 'Initech', employees: 42 });
    assert.equal(types.get('alias')?.['previousId'], 'anon-9');
    for (const event of events) {
      assert.match(String(event['messageId']), /.+/);
      assert.ok(!Number.isNaN(Date.parse(String(event['receivedAt']))), 'receivedAt is stamped');
      assert.ok(!Number.isNaN(Date.parse(String(event['sentAt']))), "the batch's sentAt reaches every event");
      assert.equal(event['writeKey'], undefined, 'write keys are not stored');
    }
    assert.equal(new Set(events.map((e) => e['messageId'])).size, events.length);
  });

  void test('events of every type sent by @rudderstack/rudder-sdk-node (gzip bodies) arrive intact', async () => {
    const rudder = new RudderAnalytics('wk-rudder-77aa', { dataPlaneUrl: server.url, flushAt: 100, flushInterval: 60_000, retryCount: 0, logLevel: 'error' });
    rudder.identify({ userId: 'r-1', traits: { name: 'Grace', logins: 3 } });
    rudder.track({ userId: 'r-1', event: 'Song Played', properties: { title: 'Blue', seconds: 187.5, tags: ['jazz', 'live'] } });
    rudder.page({ userId: 'r-1', name: 'Pricing', properties: { url: 'https://example.com/pricing' } });
    rudder.screen({ userId: 'r-1', name: 'Player', properties: { orientation: 'landscape' } });
    rudder.group({ userId: 'r-1', groupId: 'band-7', traits: { members: 4 } });
    rudder.alias({ userId: 'r-1', previousId: 'anon-r' });
    await rudder.flush();

    const events = await stored('rudder-app');
    assert.deepEqual(events.map((e) => e['type']).sort(), TYPES);
    const types = byType(events);
    assert.deepEqual(types.get('track')?.['properties'], { title: 'Blue', seconds: 187.5, tags: ['jazz', 'live'] });
    assert.deepEqual(types.get('identify')?.['traits'], { name: 'Grace', logins: 3 });
    assert.equal(types.get('page')?.['name'], 'Pricing');
    assert.deepEqual(types.get('screen')?.['properties'], { orientation: 'landscape' });
    assert.equal(types.get('group')?.['groupId'], 'band-7');
    assert.equal(types.get('alias')?.['previousId'], 'anon-r');
    assert.ok(events.every((e) => typeof e['messageId'] === 'string' && typeof e['receivedAt'] === 'string'));
  });
});

void describe('tracking API over raw HTTP', () => {
  void test('analytics.js style: text/plain body with the write key inside, one-letter path', async () => {
    const response = await post('/v1/t', JSON.stringify({ writeKey: 'wk-web-0b3d', event: 'Clicked', anonymousId: 'a-1', properties: { x: 1 } }), {
      'content-type': 'text/plain',
    });
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, { success: true });
    const [event] = await stored('web');
    assert.ok(event);
    assert.equal(event['type'], 'track', 'the endpoint sets the type');
    assert.match(String(event['messageId']), /^[0-9a-f-]{36}$/, 'a messageId is stamped when missing');
    assert.equal(event['writeKey'], undefined, 'the write key is removed from the stored event');
    assert.deepEqual(event['properties'], { x: 1 });
  });

  void test('a gzip batch with envelope context and sentAt is merged into each event', async () => {
    const body = gzipSync(
      JSON.stringify({
        context: { library: { name: 'curl' }, ip: '10.0.0.1' },
        sentAt: '2024-05-01T12:00:00.000Z',
        batch: [
          { type: 'identify', userId: 'h-1', messageId: 'keep-me', traits: { a: 1 } },
          { type: 'track', userId: 'h-1', event: 'E', context: { ip: '10.0.0.2' }, sentAt: '2024-05-01T11:00:00.000Z', receivedAt: '2020-01-01T00:00:00.000Z' },
        ],
      }),
    );
    const response = await post('/v1/import', body, { authorization: basic('wk-http-9e2e'), 'content-encoding': 'gzip' });
    assert.equal(response.status, 200);
    const events = await stored('http');
    const identify = events.find((e) => e['type'] === 'identify');
    const track = events.find((e) => e['type'] === 'track');
    assert.equal(identify?.['messageId'], 'keep-me', "a client's messageId is kept");
    assert.deepEqual(identify?.['context'], { library: { name: 'curl' }, ip: '10.0.0.1' });
    assert.equal(identify?.['sentAt'], '2024-05-01T12:00:00.000Z');
    assert.deepEqual(track?.['context'], { library: { name: 'curl' }, ip: '10.0.0.2' }, "the event's own context wins");
    assert.equal(track?.['sentAt'], '2024-05-01T11:00:00.000Z');
    assert.equal(track?.['receivedAt'], '2020-01-01T00:00:00.000Z', 'a receivedAt already present is kept');
  });

  void test('bad requests get the right status, code and message, and store nothing', async () => {
    const auth = { authorization: basic('wk-refused-c4d1') };
    const big = 'x'.repeat(33 * 1024);
    const tinyEvent = { type: 'track', event: 'e', userId: 'u' };
    const cases: { name: string; path: string; body: string | Buffer; headers?: Record<string, string>; status: number; code: string; message: RegExp }[] = [
      { name: 'malformed JSON', path: '/v1/track', body: '{"userId": "u", ', status: 400, code: 'invalid_json', message: /not valid JSON/ },
      { name: 'HTML content type', path: '/v1/track', body: '{}', headers: { 'content-type': 'text/html' }, status: 415, code: 'unsupported_content_type', message: /text\/html/ },
      { name: 'multipart form', path: '/v1/batch', body: 'x', headers: { 'content-type': 'multipart/form-data; boundary=z' }, status: 415, code: 'unsupported_content_type', message: /application\/json/ },
      { name: 'brotli body', path: '/v1/track', body: '{}', headers: { 'content-encoding': 'br' }, status: 415, code: 'unsupported_content_encoding', message: /gzip/ },
      { name: 'corrupt gzip', path: '/v1/track', body: Buffer.from('not gzip at all'), headers: { 'content-encoding': 'gzip' }, status: 400, code: 'invalid_gzip', message: /gzip/ },
      { name: 'oversized event', path: '/v1/track', body: JSON.stringify({ userId: 'u', event: 'e', properties: { big } }), status: 400, code: 'event_too_large', message: /limit is 32768 bytes \(32 KB\) per event/ },
      {
        name: 'oversized event in a batch',
        path: '/v1/batch',
        body: JSON.stringify({ batch: [tinyEvent, { ...tinyEvent, properties: { big } }] }),
        status: 400,
        code: 'event_too_large',
        message: /^batch\[1\] is \d+ bytes/,
      },
      {
        name: 'oversized batch',
        path: '/v1/batch',
        body: JSON.stringify({ batch: Array.from({ length: 20 }, () => ({ ...tinyEvent, properties: { blob: 'y'.repeat(30 * 1024) } })) }),
        status: 400,
        code: 'request_too_large',
        message: /exceeds 512000 bytes \(500 KB\)/,
      },
      {
        name: 'gzip that inflates past the limit',
        path: '/v1/batch',
        body: gzipSync(JSON.stringify({ batch: [{ ...tinyEvent, properties: { pad: ' '.repeat(4 * 1024 * 1024) } }] })),
        headers: { 'content-encoding': 'gzip' },
        status: 400,
        code: 'request_too_large',
        message: /500 KB/,
      },
      { name: 'too many events', path: '/v1/batch', body: JSON.stringify({ batch: Array.from({ length: 2501 }, () => tinyEvent) }), status: 400, code: 'too_many_events', message: /2501 events; the limit is 2500/ },
      { name: 'missing type', path: '/v1/batch', body: JSON.stringify({ batch: [tinyEvent, { event: 'e', userId: 'u' }] }), status: 400, code: 'missing_type', message: /^batch\[1\] has no "type"/ },
      { name: 'unknown type', path: '/v1/batch', body: JSON.stringify({ batch: [{ ...tinyEvent, type: 'purchase' }] }), status: 400, code: 'invalid_type', message: /"purchase"/ },
      { name: 'batch not an array', path: '/v1/batch', body: JSON.stringify({ batch: { type: 'track' } }), status: 400, code: 'invalid_batch', message: /"batch" array/ },
      { name: 'body not an object', path: '/v1/identify', body: '[1,2]', status: 400, code: 'not_an_object', message: /JSON object/ },
      { name: 'batch item not an object', path: '/v1/batch', body: JSON.stringify({ batch: [tinyEvent, 'track'] }), status: 400, code: 'not_an_object', message: /^batch\[1\]/ },
    ];
    for (const c of cases) {
      const response = await post(c.path, c.body, { ...auth, ...c.headers });
      assert.equal(response.status, c.status, `${c.name}: status (${response.text})`);
      assert.equal(response.body['success'], false, `${c.name}: success flag`);
      assert.equal(response.body['code'], c.code, `${c.name}: code`);
      assert.match(String(response.body['message']), c.message, `${c.name}: message`);
    }
    // The same connection pool and source still work, and only this good event is stored.
    const good = await post('/v1/track', JSON.stringify({ userId: 'u', event: 'Still Fine' }), auth);
    assert.equal(good.status, 200);
    const events = await stored('refused');
    assert.deepEqual(events.map((e) => e['event']), ['Still Fine']);
    assert.deepEqual(serverErrors, [], 'bad input is not a server error');
  });

  void test('unknown or missing write keys get 401 and never appear in the answer', async () => {
    const unknown = await post('/v1/track', JSON.stringify({ userId: 'u', event: 'e' }), { authorization: basic('wk-guess-123') });
    assert.equal(unknown.status, 401);
    assert.equal(unknown.body['code'], 'invalid_write_key');
    assert.ok(!unknown.text.includes('wk-guess-123'));
    const missing = await post('/v1/track', JSON.stringify({ userId: 'u', event: 'e' }));
    assert.equal(missing.status, 401);
    const inBody = await post('/v1/track', '{"writeKey":"wk-secret-77", "userId": ', {});
    assert.equal(inBody.status, 400);
    assert.ok(!inBody.text.includes('wk-secret-77'), 'the JSON error does not quote the body');
  });

  void test('other methods and paths: 405 on tracking paths, CORS preflight, everything else falls through', async () => {
    const get = await fetch(`${server.url}/v1/track`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST, OPTIONS');
    const preflight = await fetch(`${server.url}/v1/batch`, { method: 'OPTIONS' });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), '*');

    const handler = createTrackingHandler({ sink: server.ingest, sources: SOURCES });
    const shared = createServer((req, res) => {
      void handler(req, res).then((handled) => {
        if (!handled) res.writeHead(200, { 'content-type': 'text/plain' }).end('console');
      });
    });
    await new Promise<void>((resolve) => shared.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(shared.address() as AddressInfo).port}`;
      assert.equal(await (await fetch(`${base}/console/sources`)).text(), 'console');
      assert.equal(await (await fetch(`${base}/v2/track`, { method: 'POST', body: '{}' })).text(), 'console');
      const tracked = await fetch(`${base}/v1/track?x=1`, {
        method: 'POST',
        headers: { authorization: basic('wk-http-9e2e'), 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 'u', event: 'Shared Server' }),
      });
      assert.deepEqual(await tracked.json(), { success: true });
    } finally {
      await new Promise((resolve) => shared.close(resolve));
    }
  });

  void test('metrics count accepted events per source, refusals per reason, and group commits', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(text, /inlet_ingest_events_received_total\{source="node-app"\} 6/);
    assert.match(text, /inlet_ingest_requests_rejected_total\{reason="invalid_json"\} [1-9]/);
    assert.match(text, /inlet_ingest_requests_rejected_total\{reason="invalid_write_key"\} [1-9]/);
    assert.match(text, /inlet_ingest_log_flushes_total [1-9]/);
    assert.match(text, /inlet_ingest_log_flush_seconds_count [1-9]/);
    assert.match(text, /inlet_ingest_objects_rolled_total [1-9]/);
  });
});

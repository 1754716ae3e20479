/**
 * One Segment event: parsing (exact for big integers), validation reasons, the clock-skew
 * correction of `timestamp`, the table it goes to, and the standard columns of its row.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RowBuilder } from '../../src/lake/flatten.ts';
import type { Rejection } from '../../src/lake/flatten.ts';
import { buildEventRow, correctTimestamp, normaliseEvent, parseEventJson, TooDeepError } from '../../src/lake/segment-event.ts';
import type { NormalisedEvent } from '../../src/lake/segment-event.ts';
import { formatTimestamp, normaliseTimestamp, parseTimestamp } from '../../src/lake/types.ts';

const RECEIVED = '2024-05-01T10:00:00.500Z';

function track(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'track', event: 'Order Completed', messageId: 'm1', receivedAt: RECEIVED, ...extra };
}

function accepted(result: NormalisedEvent | Rejection): NormalisedEvent {
  if ('reason' in result) assert.fail(`rejected: ${result.reason} ${result.detail}`);
  return result;
}

function rejected(result: NormalisedEvent | Rejection): Rejection {
  if (!('reason' in result)) assert.fail('accepted');
  return result;
}

/** The row of an event, as written to staging. */
function rowOf(event: Record<string, unknown>): Record<string, unknown> {
  const builder = new RowBuilder();
  const ok = buildEventRow({ builder, type: 'track', maxDepth: 16 }, event, accepted(normaliseEvent(event, undefined)));
  assert.ok(ok, builder.rejection?.detail);
  return JSON.parse(builder.toJson()) as Record<string, unknown>;
}

void describe('timestamps', () => {
  void test('parses strict ISO-8601 with offsets, fractions and no zone (UTC)', () => {
    assert.equal(normaliseTimestamp('2024-05-01T10:00:00Z', true), '2024-05-01T10:00:00.000Z');
    assert.equal(normaliseTimestamp('2024-05-01T10:00:00.1+02:00', true), '2024-05-01T08:00:00.100Z');
    assert.equal(normaliseTimestamp('2024-05-01T10:00-0130', true), '2024-05-01T11:30:00.000Z');
    assert.equal(normaliseTimestamp('2024-05-01T10:00:00', true), '2024-05-01T10:00:00.000Z');
    assert.equal(normaliseTimestamp('2024-05-01T10:00:00.123456789Z', true), undefined, 'nanoseconds cannot be held');
    assert.equal(normaliseTimestamp('2024-05-01T10:00:00.123456000Z', true), '2024-05-01T10:00:00.123456Z');
    assert.equal(normaliseTimestamp('0001-01-01T00:00:00Z', true), '0001-01-01T00:00:00.000Z');
  });

  void test('refuses what is not a real date-time', () => {
    for (const text of ['2024', '2024-05', 'May 1 2024', '2024-02-30T00:00:00Z', '2023-02-29T00:00:00Z', '2024-05-01T24:00:00Z', '2024-05-01T10:00:00+25:00', '2024-13-01T00:00:00.000Z', '1714557600000']) {
      assert.equal(parseTimestamp(text, true), undefined, text);
    }
    assert.ok(parseTimestamp('2024-02-29T00:00:00.000Z', true), 'leap day');
    assert.equal(parseTimestamp('2024-05-01', true), undefined, 'a bare date is no timestamp for inference');
    assert.equal(formatTimestamp(parseTimestamp('2024-05-01', false) ?? { ms: 0, us: 0 }), '2024-05-01T00:00:00.000Z');
  });

  void test('formats every instant of years 0000–9999 exactly as Date#toISOString does', () => {
    const first = new Date('0000-01-01T00:00:00.000Z').getTime();
    const last = new Date('9999-12-31T23:59:59.999Z').getTime();
    const samples = [first, last, 0, -1, Date.UTC(2000, 1, 29, 23, 59, 59, 999), Date.UTC(1900, 2, 1), Date.UTC(2100, 1, 28, 12)];
    // Every day's first and last millisecond across four centuries (leap rules included), and random instants.
    for (let day = Date.UTC(1899, 0, 1); day < Date.UTC(2301, 0, 1); day += 86_400_000) samples.push(day, day + 86_399_999);
    let seed = 42;
    for (let i = 0; i < 20_000; i++) {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      samples.push(first + Math.floor((seed / 2 ** 31) * (last - first)));
    }
    for (const ms of samples) assert.equal(formatTimestamp({ ms, us: 0 }), new Date(ms).toISOString(), String(ms));
  });

  void test('corrects clock skew: timestamp = receivedAt − (sentAt − originalTimestamp), to the microsecond', () => {
    const at = (s: string) => parseTimestamp(s, true) ?? assert.fail(s);
    const t = correctTimestamp(at('2024-05-01T10:00:00.000Z'), at('2024-05-01T10:05:00.000100Z'), at('2024-05-01T10:04:00.000Z'));
    assert.equal(formatTimestamp(t), '2024-05-01T09:58:59.999900Z');
  });
});

void describe('normaliseEvent', () => {
  void test('applies the correction when sentAt and originalTimestamp are present', () => {
    const e = accepted(normaliseEvent(track({ sentAt: '2024-05-01T10:00:05.000Z', originalTimestamp: '2024-05-01T09:59:00.000Z', timestamp: '2030-01-01T00:00:00Z' }), undefined));
    assert.equal(e.timestamp, '2024-05-01T09:58:55.500Z');
    assert.equal(e.originalTimestamp, '2024-05-01T09:59:00.000Z');
    assert.equal(e.sentAt, '2024-05-01T10:00:05.000Z');
    assert.equal(e.receivedAt, RECEIVED);
  });

  void test('takes a client-set timestamp as the original when originalTimestamp is absent', () => {
    const e = accepted(normaliseEvent(track({ sentAt: '2024-05-01T10:00:10.000Z', timestamp: '2024-05-01T10:00:00.000Z' }), undefined));
    assert.equal(e.originalTimestamp, '2024-05-01T10:00:00.000Z');
    assert.equal(e.timestamp, '2024-05-01T09:59:50.500Z');
  });

  void test('keeps the original timestamp without sentAt, and falls back to receivedAt without either', () => {
    assert.equal(accepted(normaliseEvent(track({ originalTimestamp: '2024-04-30T00:00:00Z' }), undefined)).timestamp, '2024-04-30T00:00:00.000Z');
    const bare = accepted(normaliseEvent(track({ sentAt: '2024-05-01T10:00:00Z' }), undefined));
    assert.equal(bare.timestamp, RECEIVED);
    assert.equal(bare.originalTimestamp, undefined);
  });

  void test('uses the raw key day for an event without receivedAt, and rejects one without either', () => {
    const day = Date.UTC(2024, 4, 1);
    const e = accepted(normaliseEvent(track({ receivedAt: undefined }), day));
    assert.equal(e.receivedAt, '2024-05-01T00:00:00.000Z');
    assert.equal(rejected(normaliseEvent(track({ receivedAt: null }), undefined)).reason, 'bad_timestamp');
  });

  void test('rejects each kind of invalid event with its reason', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ messageId: 'm', receivedAt: RECEIVED }, 'missing_type'],
      [{ type: 7, messageId: 'm', receivedAt: RECEIVED }, 'missing_type'],
      [{ type: 'purchase', messageId: 'm', receivedAt: RECEIVED }, 'unknown_type'],
      [{ type: 'Track', messageId: 'm', receivedAt: RECEIVED }, 'unknown_type'],
      [track({ messageId: undefined }), 'missing_message_id'],
      [track({ messageId: '' }), 'missing_message_id'],
      [track({ messageId: 12 }), 'missing_message_id'],
      [track({ receivedAt: 'yesterday' }), 'bad_timestamp'],
      [track({ sentAt: 1714557600000 }), 'bad_timestamp'],
      [track({ originalTimestamp: '2024-02-30T00:00:00Z' }), 'bad_timestamp'],
      [track({ timestamp: 'soon' }), 'bad_timestamp'],
      [track({ event: undefined }), 'unsafe_name'],
      [track({ event: '!!!' }), 'unsafe_name'],
    ];
    for (const [event, reason] of cases) assert.equal(rejected(normaliseEvent(event, undefined)).reason, reason, JSON.stringify(event));
  });

  void test('routes each type to its table, and track events to one table per name', () => {
    const table = (e: Record<string, unknown>) => accepted(normaliseEvent({ messageId: 'm', receivedAt: RECEIVED, ...e }, undefined)).table;
    assert.equal(table({ type: 'identify' }), 'identifies');
    assert.equal(table({ type: 'page' }), 'pages');
    assert.equal(table({ type: 'screen' }), 'screens');
    assert.equal(table({ type: 'group' }), 'groups');
    assert.equal(table({ type: 'alias' }), 'aliases');
    assert.equal(table({ type: 'track', event: 'Signed Up' }), 'signed_up');
    assert.equal(table({ type: 'track', event: 'Pages' }), '_pages');
  });
});

void describe('buildEventRow', () => {
  void test('writes the standard columns, the envelope flattened, and properties at the top level', () => {
    const row = rowOf(
      track({
        userId: 42,
        anonymousId: 'anon',
        sentAt: '2024-05-01T10:00:00.500Z',
        originalTimestamp: '2024-05-01T10:00:00.500Z',
        context: { ip: '1.2.3.4', library: { name: 'analytics.js' } },
        integrations: { All: true },
        _metadata: { bundled: ['x'] },
        channel: 'client',
        writeKey: 'secret-write-key',
        properties: { total: 9.99, planName: 'pro' },
      }),
    );
    assert.deepEqual(row, {
      id: 'm1',
      received_at: RECEIVED,
      timestamp: RECEIVED,
      original_timestamp: RECEIVED,
      sent_at: RECEIVED,
      anonymous_id: 'anon',
      user_id: '42',
      event: 'order_completed',
      event_text: 'Order Completed',
      type: 'track',
      context_ip: '1.2.3.4',
      context_library_name: 'analytics.js',
      integrations_all: true,
      metadata_bundled: '["x"]',
      channel: 'client',
      total: 9.99,
      plan_name: 'pro',
    });
  });

  void test('hoists traits for identify and group, keeping group_id and user ids standard', () => {
    const builder = new RowBuilder();
    const event = { type: 'group', messageId: 'g1', receivedAt: RECEIVED, groupId: 'acme', userId: 'u1', traits: { employees: 40, groupId: 'other', name: 'Acme' } };
    assert.ok(buildEventRow({ builder, type: 'group', maxDepth: 16 }, event, accepted(normaliseEvent(event, undefined))));
    const row = JSON.parse(builder.toJson()) as Record<string, unknown>;
    assert.equal(row.group_id, 'acme');
    assert.equal(row.traits_group_id, 'other');
    assert.equal(row.employees, 40);
    assert.equal(row.name, 'Acme');
  });

  void test('keeps a page name standard and moves a clashing property to properties_name', () => {
    const builder = new RowBuilder();
    const event = { type: 'page', messageId: 'p1', receivedAt: RECEIVED, name: 'Home', properties: { name: 'Home page', path: '/' } };
    assert.ok(buildEventRow({ builder, type: 'page', maxDepth: 16 }, event, accepted(normaliseEvent(event, undefined))));
    const row = JSON.parse(builder.toJson()) as Record<string, unknown>;
    assert.equal(row.name, 'Home');
    assert.equal(row.properties_name, 'Home page');
    assert.equal(row.path, '/');
  });

  void test('keeps a payload that is not an object as an ordinary column', () => {
    assert.equal(rowOf(track({ properties: ['a'] })).properties, '["a"]');
  });
});

void describe('parseEventJson', () => {
  void test('keeps integers past 2^53 exact when asked', () => {
    const text = '{"a":12345678901234567891,"b":[9007199254740993],"c":1.5,"__proto__":{"x":1}}';
    const value = parseEventJson(text, 16, true) as Record<string, unknown>;
    assert.equal(value.a, 12345678901234567891n);
    assert.deepEqual(value.b, [9007199254740993n]);
    assert.equal(value.c, 1.5);
    assert.deepEqual(Object.keys(value), ['a', 'b', 'c', '__proto__']);
  });

  void test('rejects malformed JSON exactly as JSON.parse does', () => {
    for (const text of ['{', '{"a":}', '{"a":1,}', '{"a":"\u0001"}', '[1] x', 'nul', '{"a":01}']) {
      assert.throws(() => parseEventJson(text, 16, true), SyntaxError, text);
      assert.throws(() => JSON.parse(text), SyntaxError, text);
    }
  });

  void test('stops at the depth limit instead of recursing on', () => {
    const text = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    assert.throws(() => parseEventJson(text, 16, true), TooDeepError);
  });
});

/**
 * The sample-data generator as tests and benchmarks rely on it: a seed names a data set, what it
 * says it wrote is what a reader finds, every bad line has exactly the defect it is counted
 * under, and the valid events look like real Segment traffic (every call type, nesting, unicode,
 * nulls, arrays, type drift, corrected timestamps).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BAD_LINE_REASONS,
  generateEvents,
  generateLines,
  generateRaw,
  type BadLineReason,
  type GenerateOptions,
  type GenerateResult,
  type GeneratedLine,
} from '../../src/lake/generate.ts';
import { DAY_MS, listRawObjects, parseRawObjectKey, readRawLines } from '../../src/lake/raw-layout.ts';
import { LocalObjectStore } from '../../src/lake/storage/local-store.ts';

const START = new Date('2024-03-04T20:00:00.000Z');
const BASE: GenerateOptions = {
  seed: 7,
  sourceId: 'gen-src',
  events: 6000,
  start: START,
  durationMs: 2.5 * DAY_MS,
  badLineRate: 0.06,
  duplicateRate: 0.05,
};

const TYPES = new Set(['identify', 'track', 'page', 'screen', 'group', 'alias']);

type Parsed = { ok: true; value: unknown } | { ok: false };
function tryParse(line: string): Parsed {
  try {
    return { ok: true, value: JSON.parse(line) as unknown };
  } catch {
    return { ok: false };
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Nesting depth, the event object itself being level 1 (as Prepare counts). */
function depth(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + Math.max(0, ...children.map(depth));
}

function everyKey(value: unknown, visit: (key: string) => void): void {
  if (Array.isArray(value)) value.forEach((v) => everyKey(v, visit));
  else if (isRecord(value))
    for (const [k, v] of Object.entries(value)) {
      visit(k);
      everyKey(v, visit);
    }
}

const hasLetterOrDigit = (s: string): boolean => /[\p{L}\p{N}]/u.test(s);
const TIMESTAMP_FIELDS = ['timestamp', 'originalTimestamp', 'sentAt', 'receivedAt'] as const;

/** Which defects a line has, judged independently of the generator. */
function defects(line: string): Set<BadLineReason> {
  const found = new Set<BadLineReason>();
  if (Buffer.byteLength(line) > 32 * 1024) found.add('too_large');
  const parsed = tryParse(line);
  if (!parsed.ok) {
    found.add('malformed_json');
    return found;
  }
  const event = parsed.value;
  if (!isRecord(event)) {
    found.add('not_an_object');
    return found;
  }
  if (typeof event['type'] !== 'string' || event['type'] === '') found.add('missing_type');
  else if (!TYPES.has(event['type'])) found.add('unknown_type');
  if (typeof event['messageId'] !== 'string' || event['messageId'] === '') found.add('missing_message_id');
  for (const field of TIMESTAMP_FIELDS) {
    const v = event[field];
    if (
      v !== undefined &&
      (typeof v !== 'string' || !/^\d{4}-\d\d-\d\dT/.test(v) || Number.isNaN(Date.parse(v)))
    ) {
      found.add('bad_timestamp');
    }
  }
  if (depth(event) > 16) found.add('too_deep');
  if (typeof event['event'] === 'string' && !hasLetterOrDigit(event['event'])) found.add('unsafe_name');
  everyKey(event, (k) => {
    if (!hasLetterOrDigit(k)) found.add('unsafe_name');
  });
  return found;
}

void describe('generateLines', () => {
  void test('gives the same lines for the same seed and different lines for another', () => {
    const a = [...generateEvents({ ...BASE, events: 1500 })];
    const b = [...generateEvents({ ...BASE, events: 1500 })];
    const c = [...generateEvents({ ...BASE, events: 1500, seed: 8 })];
    assert.deepEqual(a, b);
    assert.equal(a.length, 1500);
    assert.ok(a.filter((line, i) => line === c[i]).length < 20);
  });

  void test('every bad line has exactly the defect it is counted under, and valid lines have none', () => {
    const seen = new Map<BadLineReason, number>();
    for (const g of generateLines(BASE)) {
      const found = defects(g.line);
      if (g.kind === 'bad') {
        assert.ok(g.reason !== undefined);
        assert.deepEqual([...found], [g.reason], `a ${g.reason} line: ${g.line.slice(0, 200)}`);
        seen.set(g.reason, (seen.get(g.reason) ?? 0) + 1);
      } else {
        assert.deepEqual([...found], [], `a ${g.kind} line: ${g.line.slice(0, 200)}`);
      }
    }
    assert.deepEqual([...seen.keys()].sort(), [...BAD_LINE_REASONS].sort(), 'every reason appears');
  });

  void test('duplicates repeat a recent valid line byte for byte, so they share its messageId', () => {
    const valid = new Map<string, string>();
    let duplicates = 0;
    for (const g of generateLines(BASE)) {
      if (g.kind === 'valid') {
        assert.ok(g.messageId !== undefined && !valid.has(g.messageId), 'valid events have fresh ids');
        valid.set(g.messageId, g.line);
      } else if (g.kind === 'duplicate') {
        duplicates++;
        assert.equal(valid.get(g.messageId ?? ''), g.line);
      }
    }
    assert.ok(duplicates > 0);
  });

  void test('honours the bad-line and duplicate rates', () => {
    const lines = [...generateLines({ ...BASE, events: 10_000, badLineRate: 0.1, duplicateRate: 0.2 })];
    const share = (kind: GeneratedLine['kind']): number =>
      lines.filter((l) => l.kind === kind).length / lines.length;
    assert.ok(Math.abs(share('bad') - 0.1) < 0.015, `bad ${share('bad')}`);
    assert.ok(Math.abs(share('duplicate') - 0.2) < 0.02, `duplicates ${share('duplicate')}`);
    const clean = [...generateLines({ ...BASE, events: 2000, badLineRate: 0, duplicateRate: 0 })];
    assert.ok(clean.every((l) => l.kind === 'valid'));
  });

  void test('makes events of every call type that look like real Segment traffic', () => {
    const events = [...generateLines({ ...BASE, badLineRate: 0, duplicateRate: 0 })].map((g) => {
      const parsed: unknown = JSON.parse(g.line);
      assert.ok(isRecord(parsed));
      return parsed;
    });
    const byType = (type: string): Record<string, unknown>[] => events.filter((e) => e['type'] === type);
    for (const type of TYPES) assert.ok(byType(type).length > 0, `${type} events`);
    const trackNames = new Set(byType('track').map((e) => e['event']));
    assert.ok(trackNames.size >= 5, `track names ${[...trackNames].join(', ')}`);
    const text = events.map((e) => JSON.stringify(e)).join('\n');
    assert.match(text, /[^\u0000-\u007f]/, 'unicode');
    assert.match(text, /":null/, 'nulls');
    assert.match(text, /"products":\[\{/, 'arrays of objects');
    assert.ok(
      events.every((e) => isRecord(e['context']) && isRecord(e['context']['library'])),
      'context.library everywhere',
    );
    assert.ok(
      events.some((e) => isRecord(e['context']) && isRecord(e['context']['device'])),
      'mobile context',
    );
    assert.ok(
      events.some((e) => isRecord(e['context']) && isRecord(e['context']['page'])),
      'web context',
    );
    assert.ok(events.every((e) => e['projectId'] === BASE.sourceId && typeof e['messageId'] === 'string'));
    assert.ok(events.every((e) => typeof e['anonymousId'] === 'string' || typeof e['userId'] === 'string'));
    assert.ok(
      byType('alias').every((e) => typeof e['previousId'] === 'string' && typeof e['userId'] === 'string'),
    );
    assert.ok(byType('group').every((e) => typeof e['groupId'] === 'string'));
    // Apps send screens, browsers send pages.
    assert.ok(byType('screen').every((e) => isRecord(e['context']) && isRecord(e['context']['device'])));
    assert.ok(byType('page').every((e) => isRecord(e['context']) && isRecord(e['context']['page'])));
    // Segment's correction holds on every event.
    for (const e of events) {
      const ms = (f: string): number => Date.parse(String(e[f]));
      assert.equal(ms('timestamp'), ms('receivedAt') - (ms('sentAt') - ms('originalTimestamp')));
    }
    // Received times rise across the whole duration.
    const received = events.map((e) => Date.parse(String(e['receivedAt'])));
    assert.ok(received.every((t, i) => i === 0 || t >= (received[i - 1] ?? 0)));
    assert.ok(
      (received[0] ?? 0) >= START.getTime() && (received.at(-1) ?? 0) < START.getTime() + BASE.durationMs,
    );
  });

  void test('drifts a property from number to string later in the stream', () => {
    const orders = [...generateLines({ ...BASE, events: 8000, badLineRate: 0, duplicateRate: 0 })]
      .filter((g) => g.event === 'Order Completed')
      .map((g) => {
        const parsed: unknown = JSON.parse(g.line);
        assert.ok(isRecord(parsed) && isRecord(parsed['properties']));
        return parsed['properties']['revenue'];
      });
    const firstString = orders.findIndex((r) => typeof r === 'string');
    assert.ok(firstString > 0, 'revenue starts as a number');
    assert.equal(typeof orders[0], 'number');
    assert.ok(
      orders.slice(firstString).some((r) => typeof r === 'number'),
      'and stays mixed',
    );
  });

  void test('refuses impossible options', () => {
    assert.throws(() => [...generateEvents({ ...BASE, badLineRate: 0.7, duplicateRate: 0.5 })], RangeError);
    assert.throws(() => [...generateEvents({ ...BASE, sourceId: '../x' })], RangeError);
    assert.throws(() => [...generateEvents({ ...BASE, events: -1 })], RangeError);
    assert.deepEqual([...generateEvents({ ...BASE, events: 0 })], []);
  });
});

void describe('generateRaw', () => {
  let dir: string;
  let store: LocalObjectStore;
  let result: GenerateResult;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'inlet-gen-'));
    store = new LocalObjectStore(dir);
    result = await generateRaw(store, { ...BASE, eventsPerFile: 700 });
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  void test('writes gzip objects in the raw layout, split by size and by received day', async () => {
    const listed = [];
    for await (const o of listRawObjects(store, BASE.sourceId)) listed.push(o);
    assert.deepEqual(
      listed.map((o) => o.key),
      [...result.keys].sort(),
    );
    const days = new Set(result.files.map((f) => f.day));
    assert.equal(days.size, 4, 'from 20:00 on March 4 over 60 hours: March 4, 5, 6 and 7');
    assert.ok(result.files.every((f) => f.lines <= 700 && f.key.endsWith('.gz')));
    assert.ok(result.files.every((f) => parseRawObjectKey(f.key)?.day === f.day));
    assert.equal(
      result.files.reduce((n, f) => n + f.bytes, 0),
      result.storedBytes,
    );
    assert.ok(result.storedBytes < result.rawBytes / 3, 'compressed');
  });

  void test('counts what a reader finds: read = valid + duplicates + bad, by reason', async () => {
    const { counts } = result;
    assert.equal(counts.lines, BASE.events);
    assert.equal(counts.valid + counts.duplicates + counts.badTotal, counts.lines);
    assert.equal(
      Object.values(counts.bad).reduce((a, b) => a + b, 0),
      counts.badTotal,
    );
    assert.ok(BAD_LINE_REASONS.every((r) => counts.bad[r] > 0));
    assert.equal(
      Object.values(counts.byType).reduce((a, b) => a + b, 0),
      counts.valid,
    );
    assert.equal(
      Object.values(counts.byTrackEvent).reduce((a, b) => a + b, 0),
      counts.byType.track,
    );

    const ids = new Set<string>();
    let read = 0;
    let duplicates = 0;
    let bad = 0;
    for (const file of result.files) {
      let inFile = 0;
      for await (const { text } of readRawLines(store, file.key)) {
        read++;
        inFile++;
        if (defects(text).size > 0) {
          bad++;
          continue;
        }
        const event: unknown = JSON.parse(text);
        assert.ok(isRecord(event));
        const id = String(event['messageId']);
        if (ids.has(id)) duplicates++;
        else ids.add(id);
      }
      assert.equal(inFile, file.lines);
    }
    assert.deepEqual(
      { read, valid: ids.size, duplicates, bad },
      {
        read: counts.lines,
        valid: counts.valid,
        duplicates: counts.duplicates,
        bad: counts.badTotal,
      },
    );
  });

  void test('writes the same keys and bytes for the same options', async () => {
    const dir2 = await mkdtemp(join(tmpdir(), 'inlet-gen-'));
    try {
      const again = await generateRaw(new LocalObjectStore(dir2), { ...BASE, eventsPerFile: 700 });
      assert.deepEqual(again.keys, result.keys);
      assert.deepEqual(again.counts, result.counts);
      assert.equal(again.rawBytes, result.rawBytes);
    } finally {
      await rm(dir2, { recursive: true, force: true });
    }
  });
});

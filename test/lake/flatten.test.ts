/**
 * Flattening one event into one row: nested objects to `_` columns, arrays to JSON text, nulls
 * and empty objects to nothing, type inference per value, and collisions that lose no value.
 * Also the type lattice both Prepare and Load widen with.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { flattenObject, RowBuilder, stringifyJson } from '../../src/lake/flatten.ts';
import type { FlattenContext } from '../../src/lake/flatten.ts';
import type { SegmentType } from '../../src/lake/naming.ts';
import { COLUMN_TYPES, widenType, type ColumnType } from '../../src/lake/types.ts';

interface Flat {
  row: Record<string, unknown>;
  types: Record<string, ColumnType>;
  ok: boolean;
  builder: RowBuilder;
}

/** Flattens `envelope` as top-level fields and `payload` as hoisted properties, like an event. */
function flatten(envelope: Record<string, unknown>, payload?: Record<string, unknown>, type: SegmentType = 'track', maxDepth = 16): Flat {
  const builder = new RowBuilder();
  builder.reset();
  const ctx: FlattenContext = { builder, type, maxDepth };
  let ok = flattenObject(ctx, envelope, builder.names.envelope, 1, false);
  if (ok && payload !== undefined) ok = flattenObject(ctx, payload, builder.names.properties, 2, true);
  const row = JSON.parse(builder.toJson()) as Record<string, unknown>;
  const types: Record<string, ColumnType> = {};
  for (let i = 0; i < builder.size; i++) types[builder.slots[i]?.name ?? ''] = builder.types[i] ?? 'string';
  return { row, types, ok, builder };
}

void describe('flattening', () => {
  void test('joins nested objects into snake_case columns', () => {
    const { row } = flatten({ context: { library: { name: 'analytics.js' }, userAgentData: { mobile: false } } });
    assert.deepEqual(row, { context_library_name: 'analytics.js', context_user_agent_data_mobile: false });
  });

  void test('writes arrays as JSON strings, and drops nulls and empty objects', () => {
    const { row, types } = flatten({ tags: ['a', { b: 1 }], empty: [], gone: null, nothing: {}, deep: { nothing: {} } });
    assert.deepEqual(row, { tags: '["a",{"b":1}]', empty: '[]' });
    assert.equal(types.tags, 'string');
  });

  void test('infers bigint, double, boolean, timestamp and string per value', () => {
    const { row, types } = flatten({
      n: 42,
      neg: -7,
      max: 2 ** 62,
      f: 1.25,
      huge: 1e300,
      yes: true,
      at: '2024-05-01T10:00:00+02:00',
      micro: '2024-05-01T10:00:00.123456Z',
      year: '2024',
      date: '2024-05-01',
      text: 'hello',
      numeric: '123',
    });
    assert.deepEqual(types, {
      n: 'bigint',
      neg: 'bigint',
      max: 'bigint',
      f: 'double',
      huge: 'double',
      yes: 'boolean',
      at: 'timestamp',
      micro: 'timestamp',
      year: 'string',
      date: 'string',
      text: 'string',
      numeric: 'string',
    });
    assert.equal(row.at, '2024-05-01T08:00:00.000Z', 'timestamps are written as UTC with milliseconds');
    assert.equal(row.micro, '2024-05-01T10:00:00.123456Z', 'microseconds are kept');
    assert.equal(row.numeric, '123');
  });

  void test('types integers past int64 as double and flags integers JSON.parse may have rounded', () => {
    const { types, builder } = flatten({ big: 2 ** 64, exact: 9_007_199_254_740_991n, bigger: 2n ** 70n });
    assert.equal(types.big, 'double');
    assert.equal(types.exact, 'bigint');
    assert.equal(types.bigger, 'double');
    assert.equal(builder.inexact, true);
    assert.equal(flatten({ small: 2 ** 53 - 1 }).builder.inexact, false);
  });

  void test('keeps both values when two keys make the same column, the exactly spelled key winning', () => {
    const first = flatten({}, { userName: 'camel', user_name: 'snake' });
    const second = flatten({}, { user_name: 'snake', userName: 'camel' });
    assert.deepEqual(first.row, { user_name: 'snake', user_name_2: 'camel' });
    assert.deepEqual(second.row, { user_name: 'snake', user_name_2: 'camel' });
    const nested = flatten({ a: { b: 1 }, a_b: 2, 'a-b': 3 });
    assert.deepEqual(nested.row, { a_b: 1, a_b_2: 2, a_b_3: 3 });
  });

  void test('moves a property off a standard column to its prefixed name', () => {
    const builder = new RowBuilder();
    builder.reset();
    builder.addStandard(builder.names.standard.id, '"m1"', 'string');
    const ctx: FlattenContext = { builder, type: 'track', maxDepth: 16 };
    flattenObject(ctx, { id: 'mine', received_at: 'x', context: { ip: 'p' }, event: 'e', plan: 'pro' }, builder.names.properties, 2, true);
    assert.deepEqual(JSON.parse(builder.toJson()), {
      id: 'm1',
      properties_id: 'mine',
      properties_received_at: 'x',
      properties_context_ip: 'p',
      properties_event: 'e',
      plan: 'pro',
    });
  });

  void test('moves a property off a column another top-level field made', () => {
    const { row } = flatten({ channel: 'server', plan: 'top' }, { plan: 'property' });
    assert.deepEqual(row, { channel: 'server', plan: 'top', properties_plan: 'property' });
  });

  void test('rejects a key with no letter or digit as unsafe_name', () => {
    const { ok, builder } = flatten({}, { fine: 1, nested: { '💥': 2 } });
    assert.equal(ok, false);
    assert.equal(builder.rejection?.reason, 'unsafe_name');
    assert.match(builder.rejection?.detail ?? '', /in 'nested'/);
  });

  void test('rejects nesting past the depth limit, in objects and in arrays', () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 3; i++) deep = { d: deep };
    assert.equal(flatten({ x: deep }, undefined, 'track', 5).ok, true);
    assert.equal(flatten({ x: deep }, undefined, 'track', 4).builder.rejection?.reason, 'too_deep');
    assert.equal(flatten({ x: [[[[1]]]] }, undefined, 'track', 4).builder.rejection?.reason, 'too_deep');
    assert.equal(flatten({ x: [[[1]]] }, undefined, 'track', 4).ok, true);
  });

  void test('stringifies exactly parsed big integers without losing digits', () => {
    assert.equal(stringifyJson([12345678901234567890n, { a: 1n }]), '[12345678901234567890,{"a":1}]');
  });
});

void describe('widenType', () => {
  void test('widens along bigint ⊂ double ⊂ string, timestamp ⊂ string, boolean ⊂ string', () => {
    assert.equal(widenType('bigint', 'double'), 'double');
    assert.equal(widenType('double', 'bigint'), 'double');
    assert.equal(widenType('bigint', 'string'), 'string');
    assert.equal(widenType('timestamp', 'string'), 'string');
    assert.equal(widenType('boolean', 'string'), 'string');
    assert.equal(widenType('timestamp', 'bigint'), 'string');
    assert.equal(widenType('boolean', 'double'), 'string');
    assert.equal(widenType('timestamp', 'boolean'), 'string');
  });

  void test('leaves a type as it is when widened with itself or with null', () => {
    for (const t of COLUMN_TYPES) {
      assert.equal(widenType(t, t), t);
      assert.equal(widenType(t, null), t);
      assert.equal(widenType(null, t), t);
    }
    assert.equal(widenType(null, null), null);
  });

  void test('is commutative and associative, so the order rows arrive in does not matter', () => {
    for (const a of COLUMN_TYPES) {
      for (const b of COLUMN_TYPES) {
        assert.equal(widenType(a, b), widenType(b, a));
        for (const c of COLUMN_TYPES) assert.equal(widenType(widenType(a, b), c), widenType(a, widenType(b, c)));
      }
    }
  });
});

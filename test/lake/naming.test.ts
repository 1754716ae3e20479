/**
 * Table and column naming: Segment's snake_case for ASCII keys, and Inlet's deterministic rules
 * for what Segment leaves open (non-Latin keys, unusable keys, reserved table names, length).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ColumnNames,
  isStandardColumn,
  limitName,
  MAX_NAME_LENGTH,
  snakeCase,
  trackTableName,
  TYPE_TABLES,
} from '../../src/lake/naming.ts';

void describe('snakeCase', () => {
  void test('spells keys as Segment warehouses do (go-snakecase)', () => {
    const cases: [string, string][] = [
      ['userId', 'user_id'],
      ['userID', 'user_id'],
      ['Order Completed', 'order_completed'],
      ['product_id', 'product_id'],
      ['$browser', 'browser'],
      ['first-name', 'first_name'],
      ['a.b.c', 'a_b_c'],
      ['  padded  ', 'padded'],
      ['__private', 'private'],
      ['double__under', 'double_under'],
      ['HTTPServer', 'httpserver'],
      ['Test1A', 'test1_a'],
      ['ABC123def', 'abc123def'],
      ['plan (annual)!', 'plan_annual'],
    ];
    for (const [raw, expected] of cases) assert.equal(snakeCase(raw), expected, raw);
  });

  void test('keeps leading digits, as Segment Data Lakes does', () => {
    assert.equal(snakeCase('101 Account Update'), '101_account_update');
    assert.equal(snakeCase('3dSecure'), '3d_secure');
  });

  void test('drops accents and transliterates letters NFKD leaves alone', () => {
    assert.equal(snakeCase('café'), 'cafe');
    assert.equal(snakeCase('Größe'), 'grosse');
    assert.equal(snakeCase('Ærøskøbing'), 'aeroskobing');
    assert.equal(snakeCase('ｆｕｌｌｗｉｄｔｈ'), 'fullwidth');
  });

  void test('spells letters of other scripts as u<code point> words, so they stay distinct', () => {
    assert.equal(snakeCase('名前'), 'u540d_u524d');
    assert.equal(snakeCase('имя'), 'u0438_u043c_u044f');
    assert.notEqual(snakeCase('名前'), snakeCase('名字'));
  });

  void test('returns empty for keys with no letter or digit', () => {
    for (const raw of ['', '$', '___', '🙂', '!!!', '€']) assert.equal(snakeCase(raw), '', JSON.stringify(raw));
  });

  void test('is idempotent', () => {
    for (const raw of ['userId', 'Order Completed', '名前', 'Größe', 'a__b']) {
      const once = snakeCase(raw);
      assert.equal(snakeCase(once), once);
    }
  });
});

void describe('limitName', () => {
  void test('keeps short names and cuts long ones to the limit with a hash, keeping them apart', () => {
    assert.equal(limitName('short'), 'short');
    const a = limitName(`${'x'.repeat(200)}_a`);
    const b = limitName(`${'x'.repeat(200)}_b`);
    assert.equal(a.length, MAX_NAME_LENGTH);
    assert.equal(b.length, MAX_NAME_LENGTH);
    assert.notEqual(a, b);
    assert.equal(limitName(`${'x'.repeat(200)}_a`), a, 'deterministic');
  });
});

void describe('trackTableName', () => {
  void test('is the snake_case of the event name', () => {
    assert.equal(trackTableName('Order Completed'), 'order_completed');
    assert.equal(trackTableName('order_completed'), 'order_completed');
    assert.equal(trackTableName('OrderCompleted'), 'order_completed');
  });

  void test('moves events named like a reserved table to an underscored name, never merging them', () => {
    for (const table of [...Object.values(TYPE_TABLES), 'tracks', 'users', 'accounts']) {
      assert.equal(trackTableName(table), `_${table}`);
    }
    assert.equal(trackTableName('Identifies'), '_identifies');
    // No event can snake-case to a leading underscore, so the moved name is free.
    assert.equal(trackTableName('_identifies'), '_identifies');
    assert.notEqual(trackTableName('identifies'), TYPE_TABLES.identify);
  });

  void test('is undefined for names with no letter or digit', () => {
    assert.equal(trackTableName(''), undefined);
    assert.equal(trackTableName('!!!'), undefined);
  });
});

void describe('standard columns', () => {
  void test('cover the common fields, each type’s own, and the context/integrations/metadata families', () => {
    assert.ok(isStandardColumn('track', 'id'));
    assert.ok(isStandardColumn('identify', 'received_at'));
    assert.ok(isStandardColumn('track', 'event_text'));
    assert.ok(!isStandardColumn('identify', 'event_text'));
    assert.ok(isStandardColumn('page', 'name'));
    assert.ok(!isStandardColumn('track', 'name'));
    assert.ok(isStandardColumn('group', 'group_id'));
    assert.ok(isStandardColumn('alias', 'previous_id'));
    assert.ok(isStandardColumn('track', 'context_ip'));
    assert.ok(isStandardColumn('track', 'integrations_all'));
    assert.ok(!isStandardColumn('track', 'plan'));
  });
});

void describe('ColumnNames', () => {
  void test('joins nested keys with _ and remembers them', () => {
    const root = new ColumnNames().envelope;
    const page = root.child('context')?.child('page')?.child('referrerUrl');
    assert.equal(page?.name, 'context_page_referrer_url');
    assert.equal(page?.exact, false);
    assert.equal(root.child('context')?.child('ip')?.exact, true);
    assert.equal(root.child('context'), root.child('context'), 'cached');
    assert.equal(root.child('$'), null);
  });

  void test('gives payload keys their prefixed alternative', () => {
    const node = new ColumnNames().properties.child('context')?.child('ip');
    assert.equal(node?.name, 'context_ip');
    assert.equal(node?.alt?.name, 'properties_context_ip');
    assert.ok(node?.slot.isStandardIn('track'));
  });

  void test('gives every key naming the same column the same slot', () => {
    const names = new ColumnNames();
    const a = names.envelope.child('userName');
    const b = names.envelope.child('user_name');
    const c = names.envelope.child('user')?.child('name');
    assert.ok(a && b && c);
    assert.notEqual(a, b);
    assert.equal(a.slot, b.slot);
    assert.equal(a.slot, c.slot);
    assert.equal(names.slot('user_name'), a.slot);
    assert.notEqual(new ColumnNames().slot('user_name'), a.slot, 'slots belong to one chunk');
  });
});

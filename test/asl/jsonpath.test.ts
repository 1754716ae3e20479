// JSONPath as Step Functions evaluates it: reading (InputPath, `.$` fields, ItemsPath …) and
// writing through Reference Paths (ResultPath), including the failures AWS reports.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compileJsonPath, compilePathExpression, compileReferencePath } from '../../src/asl/jsonpath.ts';
import { StatesError } from '../../src/asl/errors.ts';

const doc = {
  store: {
    book: [
      { category: 'reference', author: 'Nigel Rees', title: 'Sayings of the Century', price: 8.95 },
      { category: 'fiction', author: 'Evelyn Waugh', title: 'Sword of Honour', price: 12.99 },
      {
        category: 'fiction',
        author: 'Herman Melville',
        title: 'Moby Dick',
        isbn: '0-553-21311-3',
        price: 8.99,
      },
      {
        category: 'fiction',
        author: 'J. R. R. Tolkien',
        title: 'The Lord of the Rings',
        isbn: '0-395-19395-8',
        price: 22.99,
      },
    ],
    bicycle: { color: 'red', price: 19.95 },
  },
  expensive: 10,
  'odd key.with [chars]': { "it's": 1 },
  flags: { on: true, off: false, nothing: null },
};

function read(path: string, root: unknown = doc): unknown {
  const result = compileJsonPath(path).evaluate(root);
  assert.equal(result.found, true, `${path} should match`);
  return result.found ? result.value : undefined;
}

function titles(value: unknown): unknown {
  return (value as { title: string }[]).map((b) => b.title);
}

void describe('definite paths', () => {
  void test('$ is the whole document', () => {
    assert.equal(read('$'), doc);
  });

  void test('dot and bracket notation reach the same field', () => {
    assert.equal(read('$.store.bicycle.color'), 'red');
    assert.equal(read("$['store']['bicycle']['color']"), 'red');
    assert.equal(read('$["store"].bicycle["color"]'), 'red');
  });

  void test('quoted names may hold dots, spaces, brackets and escaped quotes', () => {
    assert.equal(read("$['odd key.with [chars]']['it\\'s']"), 1);
  });

  void test('array indexes count from the end when negative', () => {
    assert.equal(read('$.store.book[0].author'), 'Nigel Rees');
    assert.equal(read('$.store.book[-1].author'), 'J. R. R. Tolkien');
  });

  void test('null and false are found values, not missing ones', () => {
    assert.equal(read('$.flags.nothing'), null);
    assert.equal(read('$.flags.off'), false);
  });

  void test('a missing leaf reports "No results for path" with the normalised path', () => {
    const path = compileJsonPath('$.NoSuchOutputPath');
    assert.equal(path.definite, true);
    assert.deepEqual(path.evaluate(doc), {
      found: false,
      reason: "No results for path: $['NoSuchOutputPath']",
    });
  });

  void test('a missing intermediate field reports the missing property', () => {
    assert.deepEqual(compileJsonPath('$.store.nope.deeper').evaluate(doc), {
      found: false,
      reason: "Missing property in path $['store']['nope']",
    });
  });

  void test('an index past the end, or a field of a non-object, matches nothing', () => {
    assert.equal(compileJsonPath('$.store.book[10]').evaluate(doc).found, false);
    assert.equal(compileJsonPath('$.store.bicycle.color.shade').evaluate(doc).found, false);
    assert.equal(compileJsonPath('$.store[0]').evaluate(doc).found, false);
  });

  void test('length() counts an array, a string or an object', () => {
    assert.equal(read('$.store.book.length()'), 4);
    assert.equal(read('$.store.bicycle.color.length()'), 3);
    assert.equal(read('$.store.bicycle.length()'), 2);
    assert.equal(compileJsonPath('$.expensive.length()').evaluate(doc).found, false);
  });

  void test('the normalised form is what Jayway prints', () => {
    assert.equal(compileJsonPath("$.a['b c'][2].d").normalized, "$['a']['b c'][2]['d']");
  });
});

void describe('indefinite paths', () => {
  void test('a wildcard makes a path indefinite and returns every match as an array', () => {
    const path = compileJsonPath('$.store.book[*].author');
    assert.equal(path.definite, false);
    assert.deepEqual(path.evaluate(doc), {
      found: true,
      value: ['Nigel Rees', 'Evelyn Waugh', 'Herman Melville', 'J. R. R. Tolkien'],
    });
    assert.deepEqual(read('$.store.bicycle.*'), ['red', 19.95]);
  });

  void test('an indefinite path that matches nothing gives an empty array', () => {
    assert.deepEqual(compileJsonPath('$..absent').evaluate(doc), { found: true, value: [] });
    assert.deepEqual(compileJsonPath('$.store.book[?(@.price > 100)]').evaluate(doc), {
      found: true,
      value: [],
    });
  });

  void test('recursive descent finds a field at every depth, in document order', () => {
    assert.deepEqual(read('$..author'), [
      'Nigel Rees',
      'Evelyn Waugh',
      'Herman Melville',
      'J. R. R. Tolkien',
    ]);
    assert.deepEqual(read('$.store..price'), [8.95, 12.99, 8.99, 22.99, 19.95]);
    assert.deepEqual(titles(read('$..book[2]')), ['Moby Dick']);
    assert.equal((read('$..*') as unknown[]).length, 34);
  });

  void test('unions of names and of indexes', () => {
    assert.deepEqual(read("$.store.bicycle['color','price']"), ['red', 19.95]);
    assert.deepEqual(titles(read('$.store.book[0,2]')), ['Sayings of the Century', 'Moby Dick']);
  });

  void test('slices take start, end and step, with negative bounds from the end', () => {
    assert.deepEqual(titles(read('$.store.book[:2]')), ['Sayings of the Century', 'Sword of Honour']);
    assert.deepEqual(titles(read('$.store.book[1:2]')), ['Sword of Honour']);
    assert.deepEqual(titles(read('$.store.book[-2:]')), ['Moby Dick', 'The Lord of the Rings']);
    assert.deepEqual(titles(read('$.store.book[::2]')), ['Sayings of the Century', 'Moby Dick']);
    assert.deepEqual(read('$.store.book[::-1].price'), [22.99, 8.99, 12.99, 8.95]);
    assert.deepEqual(read('$.store.book[10:20]'), []);
  });

  void test('filters compare @ paths with literals and with $ paths', () => {
    assert.deepEqual(titles(read('$.store.book[?(@.price < 10)]')), ['Sayings of the Century', 'Moby Dick']);
    assert.deepEqual(titles(read('$..book[?(@.price <= $.expensive)]')), [
      'Sayings of the Century',
      'Moby Dick',
    ]);
    assert.deepEqual(titles(read("$.store.book[?(@.category == 'reference')]")), ['Sayings of the Century']);
    assert.deepEqual(titles(read('$.store.book[?(@.category != "fiction")]')), ['Sayings of the Century']);
    assert.deepEqual(titles(read('$.store.book[?(@.price >= 22.99)]')), ['The Lord of the Rings']);
    assert.deepEqual(titles(read('$.store.book[?(@.price > 12.99)]')), ['The Lord of the Rings']);
  });

  void test('filters test existence and combine with && || ! and parentheses', () => {
    assert.deepEqual(titles(read('$..book[?(@.isbn)]')), ['Moby Dick', 'The Lord of the Rings']);
    assert.deepEqual(titles(read('$..book[?(!@.isbn)]')), ['Sayings of the Century', 'Sword of Honour']);
    assert.deepEqual(titles(read("$..book[?(@.category == 'fiction' && @.price < 10)]")), ['Moby Dick']);
    assert.deepEqual(titles(read("$..book[?(@.price > 20 || (@.category == 'reference' && @.price < 9))]")), [
      'Sayings of the Century',
      'The Lord of the Rings',
    ]);
  });

  void test('filters accept boolean and null literals and regular expressions', () => {
    const items = { items: [{ ok: true, v: null }, { ok: false, v: 1 }, { name: 'Alpha' }] };
    assert.deepEqual(read('$.items[?(@.ok == true)]', items), [{ ok: true, v: null }]);
    assert.deepEqual(read('$.items[?(@.v == null)]', items), [{ ok: true, v: null }]);
    assert.deepEqual(read('$.items[?(@.name =~ /^al/i)]', items), [{ name: 'Alpha' }]);
  });

  void test('a filter on an object tests the object itself', () => {
    assert.deepEqual(read('$.store.bicycle[?(@.color)]'), [doc.store.bicycle]);
    assert.deepEqual(read('$..[?(@.color)]'), [doc.store.bicycle]);
  });
});

void describe('syntax errors', () => {
  for (const bad of [
    'store',
    '$.',
    '$[',
    "$['a",
    '$.a.foo()',
    '$[?(@.a ==)]',
    '$[1:2:0]',
    '$.a.length().b',
  ]) {
    void test(`'${bad}' is rejected with States.Runtime`, () => {
      assert.throws(
        () => compileJsonPath(bad),
        (e: unknown) =>
          e instanceof StatesError && e.error === 'States.Runtime' && (e.cause ?? '').includes(bad),
      );
    });
  }
});

void describe('Reference Paths (ResultPath)', () => {
  void test('$ replaces the whole input', () => {
    assert.deepEqual(compileReferencePath('$').set({ a: 1 }, [1, 2]), [1, 2]);
  });

  void test('a new field is added last and the input is not mutated', () => {
    const input = { a: 1, b: { c: 2 } };
    const out = compileReferencePath('$.b.d').set(input, 'x');
    assert.deepEqual(out, { a: 1, b: { c: 2, d: 'x' } });
    assert.deepEqual(Object.keys((out as { b: object }).b), ['c', 'd']);
    assert.deepEqual(input, { a: 1, b: { c: 2 } });
  });

  void test('missing objects on the way are created', () => {
    assert.deepEqual(compileReferencePath('$.x.y.z').set({}, 1), { x: { y: { z: 1 } } });
  });

  void test('an existing field is replaced in place', () => {
    const out = compileReferencePath("$['a']").set({ a: 1, b: 2 }, 3);
    assert.deepEqual(Object.keys(out as object), ['a', 'b']);
    assert.deepEqual(out, { a: 3, b: 2 });
  });

  void test('an existing array element can be replaced', () => {
    assert.deepEqual(compileReferencePath('$.list[1].v').set({ list: [{ v: 1 }, { v: 2 }] }, 9), {
      list: [{ v: 1 }, { v: 9 }],
    });
  });

  void test('a field of a non-object fails with States.ResultPathMatchFailure', () => {
    assert.throws(
      () => compileReferencePath('$.a.b').set({ a: 'text' }, 1),
      (e: unknown) =>
        e instanceof StatesError &&
        e.error === 'States.ResultPathMatchFailure' &&
        e.cause === 'Unable to apply step "b" to input "text"',
    );
    assert.throws(() => compileReferencePath('$.a').set('scalar input', 1), {
      error: 'States.ResultPathMatchFailure',
    });
    assert.throws(() => compileReferencePath('$.list[5]').set({ list: [] }, 1), {
      error: 'States.ResultPathMatchFailure',
    });
  });

  for (const bad of ['$.a[*]', '$..a', '$.a[?(@.b)]', '$.a[0:1]', '$.a[-1]', '$.a.length()', "$['a','b']"]) {
    void test(`'${bad}' is not a Reference Path`, () => {
      assert.throws(() => compileReferencePath(bad), { error: 'States.Runtime' });
    });
  }
});

void describe('path expressions', () => {
  void test('$$ reads the context object, rooted at $', () => {
    const expr = compilePathExpression('$$.Execution.Id');
    assert.equal(expr.root, 'context');
    assert.equal(expr.path.text, '$.Execution.Id');
    assert.deepEqual(expr.path.evaluate({ Execution: { Id: 'e1' } }), { found: true, value: 'e1' });
  });

  void test('$name reads a variable, with or without a path after it', () => {
    const whole = compilePathExpression('$items');
    assert.equal(whole.root, 'variable');
    assert.equal(whole.variable, 'items');
    assert.equal(whole.path.text, '$');
    const deep = compilePathExpression('$cfg.limits[0]');
    assert.equal(deep.variable, 'cfg');
    assert.deepEqual(deep.path.evaluate({ limits: [7] }), { found: true, value: 7 });
  });

  void test('$ and $.x read the input', () => {
    assert.equal(compilePathExpression('$').root, 'input');
    assert.equal(compilePathExpression('$.a').root, 'input');
    assert.equal(compilePathExpression('$[0]').root, 'input');
  });
});

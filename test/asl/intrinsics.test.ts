// The 18 intrinsic functions as AWS runs them in JSONPath states: results recorded against AWS
// (the conformance cases and the AWS documentation examples) and the failures a state sees.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compileIntrinsic, isIntrinsic, IntrinsicPathError } from '../../src/asl/intrinsics.ts';
import type { IntrinsicEnv } from '../../src/asl/intrinsics.ts';
import { StatesError } from '../../src/asl/errors.ts';

/** A deterministic [0,1) sequence, so MathRandom and UUID are repeatable. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] as number;
}

function env(input: unknown = {}, extra: Partial<IntrinsicEnv> = {}): IntrinsicEnv {
  return {
    input,
    context: {
      Execution: { Name: 'exec-1' },
      StateMachine: { Id: 'arn:aws:states:eu-west-1:1:stateMachine:my-machine', Name: 'my-machine' },
    },
    variables: (name) =>
      name === 'greeting' ? { found: true, value: { text: 'hi', list: [1, 2] } } : { found: false },
    random: sequence(0.5),
    ...extra,
  };
}

function run(expr: string, input: unknown = {}, extra: Partial<IntrinsicEnv> = {}): unknown {
  return compileIntrinsic(expr).evaluate(env(input, extra));
}

function fails(expr: string, input: unknown, error: string, causeIncludes: string): void {
  assert.throws(
    () => run(expr, input),
    (e: unknown) => {
      assert.ok(e instanceof StatesError, `expected a StatesError, got ${String(e)}`);
      assert.equal(e.error, error);
      assert.ok(
        (e.cause ?? '').includes(causeIncludes),
        `cause '${e.cause}' should include '${causeIncludes}'`,
      );
      return true;
    },
  );
}

const failure = 'States.IntrinsicFailure';

void describe('arguments', () => {
  void test("string literals unescape \\' \\{ \\} and \\\\", () => {
    assert.deepEqual(run("States.Array('it\\'s', 'a \\{brace\\}', 'back\\\\slash')"), [
      "it's",
      'a {brace}',
      'back\\slash',
    ]);
  });

  void test('numbers (negative, fractional, exponent), booleans and null', () => {
    assert.deepEqual(run('States.Array(1, -2, 3.5, 1e3, true, false, null)'), [
      1,
      -2,
      3.5,
      1000,
      true,
      false,
      null,
    ]);
  });

  void test('paths read the input, the context object and variables', () => {
    assert.deepEqual(run('States.Array($, $.a, $$.Execution.Name, $greeting.text, $greeting)', { a: 1 }), [
      { a: 1 },
      1,
      'exec-1',
      'hi',
      { text: 'hi', list: [1, 2] },
    ]);
  });

  void test('paths may contain brackets, quoted commas and filters', () => {
    const input = { 'a,b': [{ v: 1 }, { v: 2 }] };
    assert.deepEqual(run("States.Array($['a,b'][1].v, $['a,b'][?(@.v > 1)])", input), [2, [{ v: 2 }]]);
  });

  void test('calls nest', () => {
    const expr =
      "States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), States.MathAdd(States.ArrayLength(States.StringSplit($$.StateMachine.Name, '-')), -1))";
    assert.equal(run(expr), 'machine');
  });

  void test('an argument path that matches nothing fails with States.Runtime naming the path', () => {
    assert.throws(
      () => run("States.Format('{}', $.missing)", { other: 1 }),
      (e: unknown) =>
        e instanceof IntrinsicPathError && e.error === 'States.Runtime' && e.path === '$.missing',
    );
    assert.throws(
      () => run('States.Array($undefinedVar)'),
      (e: unknown) => e instanceof IntrinsicPathError && e.path === '$undefinedVar',
    );
  });

  void test('a wrong number of arguments fails with States.IntrinsicFailure', () => {
    fails('States.ArrayLength()', {}, failure, 'expects 1 argument');
    fails('States.UUID(1)', {}, failure, 'expects 0 argument');
    fails('States.MathRandom(1)', {}, failure, 'expects 2 to 3 argument');
  });
});

void describe('syntax', () => {
  void test('isIntrinsic recognises a States.* call and nothing else', () => {
    assert.equal(isIntrinsic("States.Format('{}', $.a)"), true);
    assert.equal(isIntrinsic('States.UUID()'), true);
    assert.equal(isIntrinsic('$.a'), false);
    assert.equal(isIntrinsic('States.Format'), false);
    assert.equal(isIntrinsic('Hello States.UUID()'), false);
  });

  for (const bad of [
    'States.Nope(1)',
    "States.Format('open",
    'States.Array(1,',
    'States.Array(1) extra',
    'States.Array(bogus)',
    'States.Array($.a[)',
  ]) {
    void test(`'${bad}' is rejected with States.Runtime when compiled`, () => {
      assert.throws(() => compileIntrinsic(bad), { error: 'States.Runtime' });
    });
  }
});

void describe('States.Format', () => {
  void test('fills each {} with the next argument', () => {
    assert.equal(
      run("States.Format('Hello {}, welcome to {}!', $.name, $.place)", {
        name: 'John',
        place: 'LocalStack',
      }),
      'Hello John, welcome to LocalStack!',
    );
  });

  void test('prints null, numbers and JSON strings as AWS does', () => {
    assert.equal(
      run("States.Format('{} {} {} {}', $.n, $.i, $.f, $.s)", { n: null, i: 1, f: 1.1, s: '{"Arg1": 1}' }),
      'null 1 1.1 {"Arg1": 1}',
    );
  });

  void test('prints objects and arrays the way Java prints maps and lists', () => {
    assert.equal(run("States.Format('{}', $.o)", { o: { Arg1: 1, Arg2: [] } }), '{Arg1=1, Arg2=[]}');
    assert.equal(
      run("States.Format('{}', $$.StateMachine)"),
      '{Id=arn:aws:states:eu-west-1:1:stateMachine:my-machine, Name=my-machine}',
    );
    assert.equal(run("States.Format('{}', $.a)", { a: [1, 'x', [true]] }), '[1, x, [true]]');
  });

  void test('escaped braces are literal, not placeholders', () => {
    assert.equal(run("States.Format('\\{\\} and {}', 5)"), '{} and 5');
  });

  void test('the template may come from a path', () => {
    assert.equal(run('States.Format($.t, $.v)', { t: 'Answer: {}', v: 42 }), 'Answer: 42');
  });

  void test('a placeholder count that differs from the argument count fails', () => {
    fails("States.Format('{} {}', 1)", {}, failure, '2 placeholder');
    fails("States.Format('{}', 1, 2)", {}, failure, '1 placeholder');
  });

  void test('a template that is not a string fails', () => {
    fails('States.Format($.t)', { t: 5 }, failure, 'to be a string');
  });
});

void describe('JSON manipulation', () => {
  void test('StringToJson parses JSON; a blank string is null; -0 is 0', () => {
    assert.deepEqual(run('States.StringToJson($.s)', { s: '{"Arg1": 1, "Arg2": []}' }), {
      Arg1: 1,
      Arg2: [],
    });
    assert.deepEqual(run('States.StringToJson($.s)', { s: '[1, 2, "HelloWorld"]' }), [1, 2, 'HelloWorld']);
    assert.equal(run('States.StringToJson($.s)', { s: ' ' }), null);
    assert.equal(run('States.StringToJson($.s)', { s: '' }), null);
    assert.ok(Object.is(run('States.StringToJson($.s)', { s: '-0' }), 0));
  });

  void test('StringToJson fails on invalid JSON and on non-strings', () => {
    fails('States.StringToJson($.s)', { s: '{nope' }, failure, 'could not parse');
    fails('States.StringToJson($.s)', { s: 1 }, failure, 'to be a string');
  });

  void test('JsonToString writes compact JSON in the input key order', () => {
    assert.equal(run('States.JsonToString($.o)', { o: { b: 1, a: [1, 'x'] } }), '{"b":1,"a":[1,"x"]}');
    assert.equal(run('States.JsonToString($.o)', { o: 'HelloWorld' }), '"HelloWorld"');
    assert.equal(run('States.JsonToString($.o)', { o: null }), 'null');
  });

  void test('JsonMerge merges shallowly, the second object winning', () => {
    const input = { a: { a: { a1: 1, a2: 2 }, b: 2, d: 3 }, b: { a: { a3: 1, a4: 2 }, c: 3, d: 4 } };
    assert.deepEqual(run('States.JsonMerge($.a, $.b, false)', input), {
      a: { a3: 1, a4: 2 },
      b: 2,
      d: 4,
      c: 3,
    });
  });

  void test('JsonMerge refuses deep merge and non-objects', () => {
    fails('States.JsonMerge($.a, $.a, true)', { a: {} }, failure, 'shallow');
    fails('States.JsonMerge($.a, $.b, false)', { a: {}, b: [1] }, failure, 'argument 2 to be an object');
    fails("States.JsonMerge($.a, $.a, 'false')", { a: {} }, failure, 'a boolean');
  });
});

void describe('arrays', () => {
  void test('Array collects its arguments, including none', () => {
    assert.deepEqual(run("States.Array('a', 'b', 'c')"), ['a', 'b', 'c']);
    assert.deepEqual(run('States.Array()'), []);
  });

  void test('ArrayPartition chunks, the last chunk holding the rest', () => {
    assert.deepEqual(run('States.ArrayPartition($.a, 2)', { a: [1, 2, 3, 4, 5, 6] }), [
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    assert.deepEqual(run('States.ArrayPartition($.a, 3)', { a: [0, 1, 2, 3] }), [[0, 1, 2], [3]]);
    assert.deepEqual(run('States.ArrayPartition($.a, 5)', { a: [] }), []);
  });

  void test('ArrayPartition needs an array and a positive integer chunk size', () => {
    fails('States.ArrayPartition($.a, 0)', { a: [1] }, failure, 'positive integer');
    fails('States.ArrayPartition($.a, 1.5)', { a: [1] }, failure, 'an integer');
    fails('States.ArrayPartition($.a, 1)', { a: 'x' }, failure, 'an array');
  });

  void test('ArrayContains compares by value, nested arrays and objects included', () => {
    assert.equal(run('States.ArrayContains($.a, 5)', { a: [1, 5] }), true);
    assert.equal(run('States.ArrayContains($.a, $.v)', { a: [[1, 2, 3], 2], v: [1, 2, 3] }), true);
    assert.equal(run('States.ArrayContains($.a, $.v)', { a: [{ 1: 2, 2: [] }], v: { 2: [], 1: 2 } }), true);
    assert.equal(run('States.ArrayContains($.a, $.v)', { a: [[1, 2, 3], 2], v: null }), false);
    assert.equal(run('States.ArrayContains($.a, false)', { a: [true, false] }), true);
    fails('States.ArrayContains($.a, 1)', { a: {} }, failure, 'an array');
  });

  void test('ArrayRange includes both ends and steps either way', () => {
    assert.deepEqual(run('States.ArrayRange(1, 9, 2)'), [1, 3, 5, 7, 9]);
    assert.deepEqual(run('States.ArrayRange(0, 10, 3)'), [0, 3, 6, 9]);
    assert.deepEqual(run('States.ArrayRange(1, 9, 9)'), [1]);
    assert.deepEqual(run('States.ArrayRange(10, 1, -3)'), [10, 7, 4, 1]);
    assert.deepEqual(run('States.ArrayRange(5, 1, 1)'), []);
    assert.equal((run('States.ArrayRange(1, 1000, 1)') as number[]).length, 1000);
  });

  void test('ArrayRange refuses a zero step, non-integers and more than 1000 items', () => {
    fails('States.ArrayRange(1, 5, 0)', {}, failure, 'non-zero');
    fails('States.ArrayRange(1.5, 5, 1)', {}, failure, 'an integer');
    fails('States.ArrayRange(0, 1000, 1)', {}, failure, 'at most 1000');
  });

  void test('ArrayGetItem reads by zero-based index', () => {
    assert.equal(run('States.ArrayGetItem($.a, 5)', { a: [1, 2, 3, 4, 5, 6, 7, 8, 9] }), 6);
    assert.equal(run('States.ArrayGetItem($.a, $.i)', { a: ['x'], i: 0 }), 'x');
  });

  void test('ArrayGetItem refuses an index out of bounds, negative or fractional', () => {
    fails('States.ArrayGetItem($.a, 3)', { a: [1, 2, 3] }, failure, 'out of bounds');
    fails('States.ArrayGetItem($.a, -1)', { a: [1, 2, 3] }, failure, 'out of bounds');
    fails('States.ArrayGetItem($.a, 0.5)', { a: [1] }, failure, 'an integer');
  });

  void test('ArrayLength counts items', () => {
    assert.equal(run('States.ArrayLength($.a)', { a: [1, 2, 3, 4, 5, 6, 7, 8, 9] }), 9);
    fails('States.ArrayLength($.a)', { a: 'abc' }, failure, 'an array');
  });

  void test('ArrayUnique keeps the first of each value, in order', () => {
    assert.deepEqual(run('States.ArrayUnique($.a)', { a: [1, 2, 2, 3, 3, 4] }), [1, 2, 3, 4]);
    assert.deepEqual(
      run('States.ArrayUnique($.a)', {
        a: [null, null, true, 1, 1, 'x', 'x', [], [], { a: 1, b: 2 }, { b: 2, a: 1 }, { a: 1, b: 1 }],
      }),
      [null, true, 1, 'x', [], { a: 1, b: 2 }, { a: 1, b: 1 }],
    );
    fails('States.ArrayUnique($.a)', { a: 1 }, failure, 'an array');
  });
});

void describe('encoding and hashing', () => {
  void test('Base64Encode and Base64Decode round-trip UTF-8 text', () => {
    assert.equal(run('States.Base64Encode($.s)', { s: 'Data to encode' }), 'RGF0YSB0byBlbmNvZGU=');
    assert.equal(run('States.Base64Decode($.s)', { s: 'RGF0YSB0byBlbmNvZGU=' }), 'Data to encode');
    assert.equal(run('States.Base64Decode(States.Base64Encode($.s))', { s: 'héllo ✓' }), 'héllo ✓');
    assert.equal(run("States.Base64Decode('')"), '');
  });

  void test('Base64 input is limited to 10,000 characters', () => {
    assert.equal(typeof run('States.Base64Encode($.s)', { s: 'a'.repeat(10000) }), 'string');
    fails('States.Base64Encode($.s)', { s: 'a'.repeat(10001) }, failure, 'at most 10000');
    fails('States.Base64Decode($.s)', { s: 'QUFB'.repeat(2501) }, failure, 'at most 10000');
  });

  void test('Base64Decode refuses text that is not Base64', () => {
    fails("States.Base64Decode('not base64!')", {}, failure, 'not valid Base64');
    fails('States.Base64Encode($.n)', { n: 1 }, failure, 'a string');
  });

  void test('Hash gives lowercase hex for each supported algorithm', () => {
    const expected: Record<string, string> = {
      MD5: '812f45842bc6d66ee14572ce20db8e86',
      'SHA-1': 'aaff4a450a104cd177d28d18d74485e8cae074b7',
      'SHA-256': 'b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3',
      'SHA-384':
        'd28a7d5cf25a74f11a50a18452b75e04bb3d70c9dd0510d6123aa008c756511b87525bdc835ebb27e1fb9e9374a15562',
      'SHA-512':
        '6ce4adb348546d4f449c4d25aad9a7c9cb711d9e91982d3f0b29ca2f3f47d4ce2deba23bf2954f0f1d593fc50283731a533d30d425402d4f91316d871303aac4',
    };
    for (const [algorithm, hex] of Object.entries(expected)) {
      assert.equal(run('States.Hash($.d, $.a)', { d: 'input data', a: algorithm }), hex, algorithm);
    }
  });

  void test('Hash refuses unknown algorithms and input over 10,000 characters', () => {
    fails("States.Hash('x', 'sha256')", {}, failure, "'sha256'");
    fails("States.Hash($.d, 'MD5')", { d: 'a'.repeat(10001) }, failure, 'at most 10000');
    fails("States.Hash($.d, 'MD5')", { d: 5 }, failure, 'a string');
  });
});

void describe('math', () => {
  void test('MathAdd rounds each operand like Java (half up) before adding', () => {
    const cases: [number, number, number][] = [
      [-9, 3, -6],
      [1.49, 1.5, 3],
      [1.5, 1.51, 4],
      [-1.49, -1.5, -2],
      [-1.5, -1.51, -3],
      [0.5, 0, 1],
      [2.5, 0, 3],
      [-0.5, 0.5, 1],
      [-0.5, 0, 0],
      [-2.5, 0, -2],
    ];
    for (const [fst, snd, sum] of cases)
      assert.equal(run('States.MathAdd($.a, $.b)', { a: fst, b: snd }), sum, `${fst} + ${snd}`);
    assert.equal(run('States.MathAdd($.v, -1)', { v: 111 }), 110);
  });

  void test('MathAdd refuses non-numbers and values outside 32-bit integers', () => {
    fails("States.MathAdd('1', 2)", {}, failure, 'a number');
    fails('States.MathAdd($.a, 1)', { a: 2147483648 }, failure, 'between -2147483648 and 2147483647');
  });

  void test('MathRandom draws from [start, end) with the random source it is handed', () => {
    assert.equal(run('States.MathRandom(1, 999)', {}, { random: sequence(0) }), 1);
    assert.equal(run('States.MathRandom(1, 999)', {}, { random: sequence(0.999999) }), 998);
    assert.equal(run('States.MathRandom($.a, $.b)', { a: 12.5, b: 44.51 }, { random: sequence(0) }), 13);
    assert.equal(run('States.MathRandom(-99999, -9999)', {}, { random: sequence(0.5) }), -54999);
  });

  void test('MathRandom with a seed is repeatable and ignores the random source', () => {
    const a = run('States.MathRandom(0, 999, 3)', {}, { random: sequence(0.1) });
    const b = run('States.MathRandom(0, 999, 3)', {}, { random: sequence(0.9) });
    assert.equal(a, b);
    assert.ok(Number.isInteger(a) && (a as number) >= 0 && (a as number) < 999);
    // What new java.util.Random(seed).nextInt(end - start) gives on a JVM, the generator AWS runs on.
    assert.equal(run('States.MathRandom(0, 10, 42)'), 0);
    assert.equal(run('States.MathRandom(0, 100, 42)'), 30);
    assert.equal(run('States.MathRandom(0, 999, 3)'), 239);
    assert.equal(run('States.MathRandom(0, 64, -7)'), 17);
    assert.equal(run('States.MathRandom(5, 1000005, 123456789)'), 10970);
  });

  void test('MathRandom needs start below end', () => {
    fails('States.MathRandom(5, 5)', {}, failure, 'lower than its end');
    fails("States.MathRandom('a', 5)", {}, failure, 'a number');
  });
});

void describe('strings and identifiers', () => {
  void test('StringSplit splits at any of the delimiter characters and drops empty pieces', () => {
    assert.deepEqual(run("States.StringSplit($.s, ',')", { s: '1,2,3,4,5' }), ['1', '2', '3', '4', '5']);
    assert.deepEqual(run('States.StringSplit($.s, $.d)', { s: 'This.is+a,test=string', d: '.+,=' }), [
      'This',
      'is',
      'a',
      'test',
      'string',
    ]);
    assert.deepEqual(run("States.StringSplit($.s, ',')", { s: ',,a,,b,' }), ['a', 'b']);
    assert.deepEqual(run("States.StringSplit($.s, ',')", { s: ' , ' }), [' ', ' ']);
    fails("States.StringSplit($.s, ',')", { s: 1 }, failure, 'a string');
  });

  void test('UUID is a version 4 UUID made from the random source', () => {
    const uuid = run('States.UUID()', {}, { random: sequence(0.1, 0.7, 0.3) }) as string;
    assert.match(uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(run('States.UUID()', {}, { random: sequence(0.1, 0.7, 0.3) }), uuid);
    assert.notEqual(run('States.UUID()', {}, { random: sequence(0.2) }), uuid);
  });
});

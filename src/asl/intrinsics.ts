/**
 * The 18 intrinsic functions of the Amazon States Language (`States.Format(...)`,
 * `States.ArrayRange(...)` …), as AWS runs them in JSONPath states. An intrinsic is parsed once,
 * when the definition is compiled, into a tree of literals, paths and calls; evaluating it only
 * resolves paths and runs the functions. Randomness (MathRandom, UUID) comes from the caller, so
 * the language core stays deterministic. Failures are `States.IntrinsicFailure` (catchable), or
 * `States.Runtime` for malformed calls and argument paths that match nothing.
 * Imports nothing of ours but JSONPath and the error type.
 */
import { createHash } from 'node:crypto';
import { StatesError, StatesErrorName } from './errors.ts';
import { compilePathExpression, deepEqual, readScalarLiteral } from './jsonpath.ts';
import type { PathExpression } from './jsonpath.ts';

/** What an intrinsic can read, and where its randomness comes from. */
export interface IntrinsicEnv {
  /** What `$` refers to. */
  input: unknown;
  /** What `$$` refers to. */
  context: unknown;
  /** Looks up a workflow variable (`$name`). */
  variables: (name: string) => { found: true; value: unknown } | { found: false };
  /** Uniform in [0,1); used by MathRandom and UUID (no Math.random inside the core). */
  random: () => number;
}

/** A compiled intrinsic function call. */
export interface Intrinsic {
  /** The expression as written. */
  readonly text: string;
  /** Runs the call; throws a StatesError when AWS would fail the state. */
  evaluate(env: IntrinsicEnv): unknown;
}

/**
 * An argument path that matched nothing. A `States.Runtime` failure; it carries the path so the
 * engine can name the field in its cause, as AWS does for `.$` fields.
 */
export class IntrinsicPathError extends StatesError {
  readonly path: string;
  constructor(path: string, cause: string) {
    super(StatesErrorName.Runtime, cause);
    this.path = path;
  }
}

/** The most items ArrayRange may produce, and the longest string Base64/Hash accept (AWS limits). */
export const ARRAY_RANGE_LIMIT = 1000;
export const STRING_INPUT_LIMIT = 10000;

/** The hash algorithms States.Hash (and JSONata's $hash) accept: AWS name → node:crypto name. */
export const HASH_ALGORITHMS: Readonly<Record<string, string>> = {
  MD5: 'md5',
  'SHA-1': 'sha1',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
};

// ───────────────────────────── syntax tree ─────────────────────────────

/** A string literal keeps which of its braces were escaped, since only bare `{}` are placeholders. */
interface StringLiteral {
  readonly k: 'string';
  readonly value: string;
  readonly template: readonly string[];
}
type Node =
  | StringLiteral
  | { readonly k: 'literal'; readonly value: number | boolean | null }
  | { readonly k: 'path'; readonly text: string; readonly expr: PathExpression }
  | { readonly k: 'call'; readonly name: string; readonly args: readonly Node[] };

function syntaxError(text: string, why: string): StatesError {
  return new StatesError(StatesErrorName.Runtime, `The intrinsic function '${text}' is not valid: ${why}`);
}

function failure(cause: string): StatesError {
  return new StatesError(StatesErrorName.IntrinsicFailure, cause);
}

class Parser {
  pos = 0;
  constructor(readonly text: string) {}

  fail(why: string): never {
    throw syntaxError(this.text, `${why} at position ${this.pos}`);
  }
  peek(): string {
    return this.text[this.pos] ?? '';
  }
  skipSpaces(): void {
    while (/\s/.test(this.peek())) this.pos++;
  }

  call(): Node & { k: 'call' } {
    const m = /^States\.([A-Za-z0-9]+)\s*\(/.exec(this.text.slice(this.pos));
    if (!m) this.fail("expected a function call 'States.<Name>('");
    const name = `States.${m[1] as string}`;
    if (!hasOwn.call(FUNCTIONS, name)) this.fail(`unknown function '${name}'`);
    this.pos += m[0].length;
    const args: Node[] = [];
    this.skipSpaces();
    if (this.peek() === ')') {
      this.pos++;
      return { k: 'call', name, args };
    }
    for (;;) {
      args.push(this.argument());
      this.skipSpaces();
      const c = this.peek();
      this.pos++;
      if (c === ')') return { k: 'call', name, args };
      if (c !== ',') {
        this.pos--;
        this.fail("expected ',' or ')'");
      }
    }
  }

  argument(): Node {
    this.skipSpaces();
    const c = this.peek();
    if (c === "'") return this.stringLiteral();
    if (c === '$') return this.path();
    if (this.text.startsWith('States.', this.pos)) return this.call();
    const literal = readScalarLiteral(this.text, this.pos);
    if (literal) {
      this.pos = literal.end;
      return { k: 'literal', value: literal.value };
    }
    this.fail('expected an argument');
  }

  /** `'…'` with `\'`, `\{`, `\}` and `\\` escapes; the template splits at unescaped `{}`. */
  stringLiteral(): StringLiteral {
    this.pos++;
    let value = '';
    let part = '';
    const template: string[] = [];
    for (;;) {
      if (this.pos >= this.text.length) this.fail('unterminated string literal');
      const c = this.peek();
      this.pos++;
      if (c === "'") break;
      if (c === '\\') {
        const next = this.peek();
        if (next === "'" || next === '{' || next === '}' || next === '\\') {
          this.pos++;
          value += next;
          part += next;
          continue;
        }
      }
      if (c === '{' && this.peek() === '}') {
        this.pos++;
        value += '{}';
        template.push(part);
        part = '';
        continue;
      }
      value += c;
      part += c;
    }
    template.push(part);
    return { k: 'string', value, template };
  }

  /** A path runs to the next `,` `)` or space outside brackets and quotes. */
  path(): Node {
    const start = this.pos;
    let depth = 0;
    let quote = '';
    while (this.pos < this.text.length) {
      const c = this.peek();
      if (quote !== '') {
        if (c === '\\') this.pos++;
        else if (c === quote) quote = '';
      } else if (c === "'" || c === '"') {
        quote = c;
      } else if (c === '[' || c === '(') {
        depth++;
      } else if (c === ']' || (c === ')' && depth > 0)) {
        depth--;
      } else if (depth === 0 && (c === ',' || c === ')' || /\s/.test(c))) {
        break;
      }
      this.pos++;
    }
    const text = this.text.slice(start, this.pos);
    try {
      return { k: 'path', text, expr: compilePathExpression(text) };
    } catch (e) {
      this.fail(`invalid path '${text}' (${e instanceof StatesError ? e.cause : String(e)})`);
    }
  }
}

const hasOwn = Object.prototype.hasOwnProperty;

// ───────────────────────────── evaluation ─────────────────────────────

function resolvePath(node: Node & { k: 'path' }, env: IntrinsicEnv): unknown {
  const { expr } = node;
  let root: unknown;
  if (expr.root === 'input') root = env.input;
  else if (expr.root === 'context') root = env.context;
  else {
    const name = expr.variable as string;
    const v = env.variables(name);
    if (!v.found) throw new IntrinsicPathError(node.text, `The variable '$${name}' referenced by '${node.text}' is not defined`);
    root = v.value;
  }
  const result = expr.path.evaluate(root);
  if (!result.found) {
    const where = expr.root === 'context' ? 'the context object' : expr.root === 'variable' ? `the variable '$${String(expr.variable)}'` : 'the input';
    throw new IntrinsicPathError(node.text, `The JSONPath '${node.text}' could not be found in ${where} (${result.reason ?? 'no match'})`);
  }
  return result.value;
}

function evaluateNode(node: Node, env: IntrinsicEnv): unknown {
  switch (node.k) {
    case 'string':
      return node.value;
    case 'literal':
      return node.value;
    case 'path':
      return resolvePath(node, env);
    case 'call': {
      const fn = FUNCTIONS[node.name] as FunctionSpec;
      const count = node.args.length;
      if (count < fn.min || count > fn.max) {
        const expected = fn.min === fn.max ? `${fn.min}` : fn.max === Infinity ? `at least ${fn.min}` : `${fn.min} to ${fn.max}`;
        throw failure(`The function ${node.name} expects ${expected} argument(s), but received ${count}`);
      }
      const values = node.args.map((a) => evaluateNode(a, env));
      return fn.run(values, { env, node });
    }
  }
}

interface CallSite {
  env: IntrinsicEnv;
  node: Node & { k: 'call' };
}

interface FunctionSpec {
  min: number;
  max: number;
  run(args: unknown[], site: CallSite): unknown;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function argError(fn: string, index: number, expected: string, value: unknown): StatesError {
  return failure(`The function ${fn} expects argument ${index + 1} to be ${expected}, but received ${typeName(value)}: ${render(value)}`);
}

function render(value: unknown): string {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function str(fn: string, args: unknown[], i: number): string {
  const v = args[i];
  if (typeof v !== 'string') throw argError(fn, i, 'a string', v);
  return v;
}
/** A string argument within AWS's 10,000-character limit for Base64 and Hash input. */
function limitedStr(fn: string, args: unknown[], i: number): string {
  const text = str(fn, args, i);
  if (text.length > STRING_INPUT_LIMIT) {
    throw failure(`The function ${fn} accepts at most ${STRING_INPUT_LIMIT} characters, but received ${text.length}`);
  }
  return text;
}
function arr(fn: string, args: unknown[], i: number): unknown[] {
  const v = args[i];
  if (!Array.isArray(v)) throw argError(fn, i, 'an array', v);
  return v;
}
function num(fn: string, args: unknown[], i: number): number {
  const v = args[i];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw argError(fn, i, 'a number', v);
  return v;
}
function int(fn: string, args: unknown[], i: number): number {
  const v = num(fn, args, i);
  if (!Number.isInteger(v)) throw argError(fn, i, 'an integer', v);
  return v;
}

/** Java's Math.round, which AWS applies to MathAdd/MathRandom operands (0.5 → 1, -0.5 → 0). */
function javaRound(x: number): number {
  const r = Math.floor(x + 0.5);
  return r === 0 ? 0 : r;
}

/** How States.Format prints a value: strings bare, objects and arrays the way Java prints maps and lists. */
function formatValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map(formatValue).join(', ')}]`;
  if (typeof value === 'object') {
    return `{${Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${k}=${formatValue(v)}`)
      .join(', ')}}`;
  }
  return String(value);
}

/** Splits a template found at run time (from a path) at its unescaped `{}`. */
function splitTemplate(template: string): string[] {
  const parts: string[] = [];
  let part = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i] as string;
    const next = template[i + 1] ?? '';
    if (c === '\\' && (next === "'" || next === '{' || next === '}' || next === '\\')) {
      part += next;
      i++;
    } else if (c === '{' && next === '}') {
      parts.push(part);
      part = '';
      i++;
    } else {
      part += c;
    }
  }
  parts.push(part);
  return parts;
}

/** java.util.Random, so a seeded MathRandom gives the same sequence for the same seed every time. */
class JavaRandom {
  private seed: bigint;
  private static readonly MULT = 0x5deece66dn;
  private static readonly MASK = (1n << 48n) - 1n;
  constructor(seed: number) {
    this.seed = (BigInt.asIntN(64, BigInt(seed)) ^ JavaRandom.MULT) & JavaRandom.MASK;
  }
  private next(bits: number): number {
    this.seed = (this.seed * JavaRandom.MULT + 0xbn) & JavaRandom.MASK;
    return Number(BigInt.asIntN(32, this.seed >> BigInt(48 - bits)));
  }
  nextInt(bound: number): number {
    if ((bound & -bound) === bound) return Number((BigInt(bound) * BigInt(this.next(31))) >> 31n);
    for (;;) {
      const bits = this.next(31);
      const val = bits % bound;
      if (bits - val + (bound - 1) < 2 ** 31) return val;
    }
  }
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

const FUNCTIONS: Record<string, FunctionSpec> = {
  'States.Format': {
    min: 1,
    max: Infinity,
    run(args, { node }) {
      const first = node.args[0] as Node;
      const parts = first.k === 'string' ? first.template : splitTemplate(str(node.name, args, 0));
      const values = args.slice(1);
      if (parts.length - 1 !== values.length) {
        throw failure(
          `The function ${node.name} has ${parts.length - 1} placeholder(s) '{}' in its template, but received ${values.length} value(s) for them`,
        );
      }
      let out = parts[0] as string;
      for (let i = 0; i < values.length; i++) out += formatValue(values[i]) + (parts[i + 1] as string);
      return out;
    },
  },
  'States.StringToJson': {
    min: 1,
    max: 1,
    run(args, { node }) {
      const text = str(node.name, args, 0);
      if (text.trim() === '') return null;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        throw failure(`The function ${node.name} could not parse its argument as JSON: ${render(text)}`);
      }
      return Object.is(value, -0) ? 0 : value;
    },
  },
  'States.JsonToString': {
    min: 1,
    max: 1,
    run: (args) => JSON.stringify(args[0]),
  },
  'States.Array': {
    min: 0,
    max: Infinity,
    run: (args) => args,
  },
  'States.ArrayPartition': {
    min: 2,
    max: 2,
    run(args, { node }) {
      const array = arr(node.name, args, 0);
      const size = int(node.name, args, 1);
      if (size <= 0) throw argError(node.name, 1, 'a positive integer (the chunk size)', size);
      const out: unknown[][] = [];
      for (let i = 0; i < array.length; i += size) out.push(array.slice(i, i + size));
      return out;
    },
  },
  'States.ArrayContains': {
    min: 2,
    max: 2,
    run(args, { node }) {
      const array = arr(node.name, args, 0);
      return array.some((el) => deepEqual(el, args[1]));
    },
  },
  'States.ArrayRange': {
    min: 3,
    max: 3,
    run(args, { node }) {
      const start = int(node.name, args, 0);
      const end = int(node.name, args, 1);
      const step = int(node.name, args, 2);
      if (step === 0) throw argError(node.name, 2, 'a non-zero integer (the step)', step);
      const count = (end - start) / step < 0 ? 0 : Math.floor((end - start) / step) + 1;
      if (count > ARRAY_RANGE_LIMIT) {
        throw failure(`The function ${node.name} would create ${count} items, but an array can contain at most ${ARRAY_RANGE_LIMIT}`);
      }
      const out: number[] = [];
      for (let i = 0; i < count; i++) out.push(start + i * step);
      return out;
    },
  },
  'States.ArrayGetItem': {
    min: 2,
    max: 2,
    run(args, { node }) {
      const array = arr(node.name, args, 0);
      const index = int(node.name, args, 1);
      if (index < 0 || index >= array.length) {
        throw failure(`The function ${node.name} was given index ${index}, which is out of bounds for an array of length ${array.length}`);
      }
      return array[index];
    },
  },
  'States.ArrayLength': {
    min: 1,
    max: 1,
    run: (args, { node }) => arr(node.name, args, 0).length,
  },
  'States.ArrayUnique': {
    min: 1,
    max: 1,
    run(args, { node }) {
      const out: unknown[] = [];
      for (const el of arr(node.name, args, 0)) if (!out.some((seen) => deepEqual(seen, el))) out.push(el);
      return out;
    },
  },
  'States.Base64Encode': {
    min: 1,
    max: 1,
    run(args, { node }) {
      const text = limitedStr(node.name, args, 0);
      return Buffer.from(text, 'utf8').toString('base64');
    },
  },
  'States.Base64Decode': {
    min: 1,
    max: 1,
    run(args, { node }) {
      const text = limitedStr(node.name, args, 0);
      if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
        throw failure(`The function ${node.name} was given a string that is not valid Base64: ${render(text)}`);
      }
      return Buffer.from(text, 'base64').toString('utf8');
    },
  },
  'States.Hash': {
    min: 2,
    max: 2,
    run(args, { node }) {
      const data = limitedStr(node.name, args, 0);
      const algorithm = str(node.name, args, 1);
      const nodeAlgorithm = HASH_ALGORITHMS[algorithm];
      if (nodeAlgorithm === undefined) {
        throw failure(
          `The function ${node.name} does not support the algorithm '${algorithm}'; use one of ${Object.keys(HASH_ALGORITHMS).join(', ')}`,
        );
      }
      return createHash(nodeAlgorithm).update(data, 'utf8').digest('hex');
    },
  },
  'States.JsonMerge': {
    min: 3,
    max: 3,
    run(args, { node }) {
      const left = args[0];
      const right = args[1];
      if (!isObject(left)) throw argError(node.name, 0, 'an object', left);
      if (!isObject(right)) throw argError(node.name, 1, 'an object', right);
      if (typeof args[2] !== 'boolean') throw argError(node.name, 2, 'a boolean', args[2]);
      if (args[2]) throw failure(`The function ${node.name} supports only shallow merging: its third argument must be false`);
      return { ...left, ...right };
    },
  },
  'States.MathRandom': {
    min: 2,
    max: 3,
    run(args, { node, env }) {
      const start = javaRound(num(node.name, args, 0));
      const end = javaRound(num(node.name, args, 1));
      if (end <= start) throw failure(`The function ${node.name} needs a start (${start}) lower than its end (${end})`);
      if (args.length === 3) {
        const seed = javaRound(num(node.name, args, 2));
        return start + new JavaRandom(seed).nextInt(end - start);
      }
      return start + Math.floor(env.random() * (end - start));
    },
  },
  'States.MathAdd': {
    min: 2,
    max: 2,
    run(args, { node }) {
      const a = javaRound(num(node.name, args, 0));
      const b = javaRound(num(node.name, args, 1));
      for (const [i, v] of [a, b].entries()) {
        if (v < INT32_MIN || v > INT32_MAX) throw argError(node.name, i, `an integer between ${INT32_MIN} and ${INT32_MAX}`, args[i]);
      }
      return a + b;
    },
  },
  'States.StringSplit': {
    min: 2,
    max: 2,
    run(args, { node }) {
      const text = str(node.name, args, 0);
      const delimiters = new Set(str(node.name, args, 1));
      // Every character of the second argument is a delimiter and empty pieces are dropped
      // (Java's StringTokenizer), which is what AWS returns for ",,a,".
      const out: string[] = [];
      let piece = '';
      for (const c of text) {
        if (delimiters.has(c)) {
          if (piece !== '') out.push(piece);
          piece = '';
        } else {
          piece += c;
        }
      }
      if (piece !== '') out.push(piece);
      return out;
    },
  },
  'States.UUID': {
    min: 0,
    max: 0,
    run: (_args, { env }) => uuidV4(env.random),
  },
};

// ───────────────────────────── public API ─────────────────────────────

/** A version 4 UUID from the caller's randomness (States.UUID, JSONata's $uuid). */
export function uuidV4(random: () => number): string {
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = Math.floor(random() * 256) & 0xff;
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** True for a text that starts with `States.` and looks like a call (`States.Name(…)`). */
export function isIntrinsic(text: string): boolean {
  return /^\s*States\.[A-Za-z0-9]+\s*\([\s\S]*\)\s*$/.test(text);
}

/** Parses once; throws `States.Runtime` with what is wrong on a syntax error. */
export function compileIntrinsic(text: string): Intrinsic {
  const parser = new Parser(text);
  parser.skipSpaces();
  const root = parser.call();
  parser.skipSpaces();
  if (parser.pos < text.length) parser.fail('unexpected text after the call');
  return {
    text,
    evaluate: (env: IntrinsicEnv) => evaluateNode(root, env),
  };
}

/**
 * JSONPath as AWS Step Functions evaluates it (Jayway JsonPath semantics): the paths of
 * InputPath, OutputPath, `.$` fields, ItemsPath, the `*Path` comparators, and the Reference
 * Paths that ResultPath writes through. Paths are parsed once when a definition is compiled and
 * then evaluated for every state entry, so compilation produces a small plan: definite paths
 * (the overwhelming majority) become a flat list of keys walked in one loop, and only paths
 * with wildcards, unions, slices, filters or recursive descent take the general node-list route.
 * Imports nothing of ours but the error type.
 */
import { StatesError, StatesErrorName } from './errors.ts';

/** What evaluating a path gives: a value, or nothing (with Jayway's reason, for error causes). */
export type JsonPathResult = { found: true; value: unknown } | { found: false; reason?: string };

/** A compiled JSONPath. */
export interface JsonPath {
  /** The path as written. */
  readonly text: string;
  /** True when the path selects at most one value (no `..`, `*`, union, slice or filter). */
  readonly definite: boolean;
  /** Jayway's normalised form (`$['a'][0]`), which AWS quotes in "No results for path" causes. */
  readonly normalized: string;
  /**
   * Evaluate against `root`. For a definite path: `{ found: false }` when nothing matches.
   * For an indefinite path: always found, the value is the array of matches.
   */
  evaluate(root: unknown): JsonPathResult;
}

/** A Reference Path: the definite, filter-free kind of path that ResultPath writes through. */
export interface ReferencePath {
  readonly text: string;
  /**
   * Returns a NEW value: `root` with `value` placed at the path, creating missing objects on the
   * way (AWS ResultPath semantics); `$` replaces the whole root. Never mutates `root`. Throws
   * `States.ResultPathMatchFailure` when a step cannot be applied (a field of a non-object).
   */
  set(root: unknown, value: unknown): unknown;
}

/** A path with its root resolved: the state input, the context object, or a variable. */
export interface PathExpression {
  readonly root: 'input' | 'context' | 'variable';
  /** The variable's name, when `root` is `'variable'`. */
  readonly variable?: string;
  /** The rest of the path, rooted at `$`. */
  readonly path: JsonPath;
}

type Key = string | number;

/** One step of a compiled path. `scan` is `..` applied to the step after it. */
type Segment =
  | { readonly k: 'name'; readonly name: string }
  | { readonly k: 'names'; readonly names: readonly string[] }
  | { readonly k: 'index'; readonly index: number }
  | { readonly k: 'indices'; readonly indices: readonly number[] }
  | { readonly k: 'wild' }
  | { readonly k: 'slice'; readonly start: number | undefined; readonly end: number | undefined; readonly step: number }
  | { readonly k: 'filter'; readonly pred: Predicate }
  | { readonly k: 'scan'; readonly target: Segment };

/** A filter expression, evaluated with `@` bound to the candidate node. */
type Predicate = (current: unknown, root: unknown) => boolean;

/** An operand inside a filter: a literal, or a path from `@` or `$`. */
type Operand = { readonly k: 'literal'; readonly value: unknown } | { readonly k: 'path'; readonly rel: boolean; readonly path: Compiled };

interface Compiled {
  readonly segments: readonly Segment[];
  readonly length: boolean;
  readonly definite: boolean;
  /** For a definite path, its keys, so evaluation is one tight loop. */
  readonly keys: readonly Key[] | undefined;
}

const UNDEFINED: unique symbol = Symbol('undefined');

function invalid(text: string, why: string): StatesError {
  return new StatesError(StatesErrorName.Runtime, `Invalid JSONPath '${text}': ${why}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const hasOwn = Object.prototype.hasOwnProperty;

// ───────────────────────────── parsing ─────────────────────────────

/** Characters that end a dot-notation name inside a filter (outside one only `.` and `[` do). */
const FILTER_NAME_STOP = new Set([' ', '\t', '\n', ')', '=', '!', '<', '>', '&', '|', ',', ']']);

class Parser {
  pos = 0;
  /** Depth of filter nesting: inside a filter, names stop at operators and spaces. */
  filterDepth = 0;
  constructor(readonly text: string) {}

  get inFilter(): boolean {
    return this.filterDepth > 0;
  }

  fail(why: string): never {
    throw invalid(this.text, `${why} at position ${this.pos}`);
  }
  peek(offset = 0): string {
    return this.text[this.pos + offset] ?? '';
  }
  eof(): boolean {
    return this.pos >= this.text.length;
  }
  skipSpaces(): void {
    while (/\s/.test(this.peek())) this.pos++;
  }
  expect(ch: string): void {
    if (this.peek() !== ch) this.fail(`expected '${ch}'`);
    this.pos++;
  }

  /** Parses the segments after the root symbol, up to the end (or, in a filter, a delimiter). */
  segments(): Compiled {
    const segments: Segment[] = [];
    let length = false;
    for (;;) {
      const ch = this.peek();
      if (ch === '.') {
        if (this.peek(1) === '.') {
          this.pos += 2;
          const target = this.peek() === '[' ? this.bracket() : this.dotName(true);
          if (target === 'length') this.fail("'length()' cannot follow '..'");
          segments.push({ k: 'scan', target });
        } else {
          this.pos++;
          const seg = this.dotName(false);
          if (seg === 'length') {
            length = true;
            break;
          }
          segments.push(seg);
        }
      } else if (ch === '[') {
        segments.push(this.bracket());
      } else {
        break;
      }
    }
    if (!this.inFilter && !this.eof()) this.fail(`unexpected '${this.peek()}'`);
    const definite = segments.every((s) => s.k === 'name' || s.k === 'index');
    const keys = definite ? segments.map((s) => (s.k === 'name' ? s.name : (s as { index: number }).index)) : undefined;
    return { segments, length, definite, keys };
  }

  /** A name after `.` (or `..`); `*` is the wildcard; `length()` is the one function. */
  dotName(afterScan: boolean): Segment | 'length' {
    if (this.peek() === '*') {
      this.pos++;
      return { k: 'wild' };
    }
    const start = this.pos;
    while (!this.eof()) {
      const c = this.peek();
      if (c === '.' || c === '[' || c === '(') break;
      if (this.inFilter && FILTER_NAME_STOP.has(c)) break;
      this.pos++;
    }
    const name = this.text.slice(start, this.pos);
    if (name === '') this.fail('empty property name');
    if (this.peek() === '(') {
      this.pos++;
      this.skipSpaces();
      this.expect(')');
      if (name !== 'length') this.fail(`function '${name}()' is not supported`);
      if (afterScan) this.fail("'length()' cannot follow '..'");
      const rest = this.peek();
      if (!(this.eof() || (this.inFilter && (FILTER_NAME_STOP.has(rest) || rest === ')')))) {
        this.fail("'length()' must end the path");
      }
      return 'length';
    }
    return { k: 'name', name };
  }

  bracket(): Segment {
    this.expect('[');
    this.skipSpaces();
    const ch = this.peek();
    let seg: Segment;
    if (ch === '*') {
      this.pos++;
      seg = { k: 'wild' };
    } else if (ch === '?') {
      this.pos++;
      this.skipSpaces();
      this.expect('(');
      this.filterDepth++;
      const pred = this.orExpr();
      this.filterDepth--;
      this.skipSpaces();
      this.expect(')');
      seg = { k: 'filter', pred };
    } else if (ch === "'" || ch === '"') {
      const names = [this.quoted()];
      this.skipSpaces();
      while (this.peek() === ',') {
        this.pos++;
        this.skipSpaces();
        names.push(this.quoted());
        this.skipSpaces();
      }
      seg = names.length === 1 ? { k: 'name', name: names[0] as string } : { k: 'names', names };
    } else {
      seg = this.indexOrSlice();
    }
    this.skipSpaces();
    this.expect(']');
    return seg;
  }

  quoted(): string {
    const quote = this.peek();
    if (quote !== "'" && quote !== '"') this.fail('expected a quoted name');
    this.pos++;
    let out = '';
    for (;;) {
      if (this.eof()) this.fail('unterminated quoted name');
      const c = this.peek();
      this.pos++;
      if (c === quote) return out;
      if (c === '\\') {
        const next = this.peek();
        this.pos++;
        out += next === 'n' ? '\n' : next === 't' ? '\t' : next;
      } else {
        out += c;
      }
    }
  }

  integer(): number | undefined {
    const m = /^-?\d+/.exec(this.text.slice(this.pos));
    if (!m) return undefined;
    this.pos += m[0].length;
    return Number(m[0]);
  }

  indexOrSlice(): Segment {
    const first = this.integer();
    this.skipSpaces();
    if (this.peek() === ':') {
      this.pos++;
      this.skipSpaces();
      const end = this.integer();
      this.skipSpaces();
      let step = 1;
      if (this.peek() === ':') {
        this.pos++;
        this.skipSpaces();
        step = this.integer() ?? 1;
        if (step === 0) this.fail('slice step cannot be 0');
      }
      return { k: 'slice', start: first, end, step };
    }
    if (first === undefined) this.fail('expected an index, a quoted name, * or a filter');
    const indices = [first];
    while (this.peek() === ',') {
      this.pos++;
      this.skipSpaces();
      const next = this.integer();
      if (next === undefined) this.fail('expected an index');
      indices.push(next);
      this.skipSpaces();
    }
    return indices.length === 1 ? { k: 'index', index: first } : { k: 'indices', indices };
  }

  // ── filter expressions: || binds loosest, then &&, then !, comparisons, parentheses ──

  orExpr(): Predicate {
    return this.chain('||', () => this.andExpr(), (a, b) => (cur, root) => a(cur, root) || b(cur, root));
  }

  andExpr(): Predicate {
    return this.chain('&&', () => this.unary(), (a, b) => (cur, root) => a(cur, root) && b(cur, root));
  }

  /** A left-associative run of `next` operands joined by the two-character operator `op`. */
  chain(op: string, next: () => Predicate, join: (a: Predicate, b: Predicate) => Predicate): Predicate {
    let left = next();
    for (;;) {
      this.skipSpaces();
      if (!this.text.startsWith(op, this.pos)) return left;
      this.pos += op.length;
      left = join(left, next());
    }
  }

  unary(): Predicate {
    this.skipSpaces();
    if (this.peek() === '!' && this.peek(1) !== '=') {
      this.pos++;
      const inner = this.unary();
      return (cur, root) => !inner(cur, root);
    }
    if (this.peek() === '(') {
      this.pos++;
      const inner = this.orExpr();
      this.skipSpaces();
      this.expect(')');
      return inner;
    }
    return this.comparison();
  }

  comparison(): Predicate {
    const left = this.operand();
    this.skipSpaces();
    const op = /^(==|!=|<=|>=|<|>|=~)/.exec(this.text.slice(this.pos))?.[0];
    if (op === undefined) {
      // A lone operand is an existence test (`[?(@.isbn)]`); a lone literal is its truthiness.
      if (left.k === 'literal') {
        const truthy = left.value === true;
        return () => truthy;
      }
      return (cur, root) => resolveOperand(left, cur, root) !== UNDEFINED;
    }
    this.pos += op.length;
    this.skipSpaces();
    if (op === '=~') {
      const re = this.regex();
      return (cur, root) => {
        const v = resolveOperand(left, cur, root);
        return typeof v === 'string' && re.test(v);
      };
    }
    const right = this.operand();
    const compare = COMPARATORS[op as keyof typeof COMPARATORS];
    return (cur, root) => compare(resolveOperand(left, cur, root), resolveOperand(right, cur, root));
  }

  regex(): RegExp {
    this.expect('/');
    const start = this.pos;
    while (!this.eof() && this.peek() !== '/') this.pos += this.peek() === '\\' ? 2 : 1;
    const body = this.text.slice(start, this.pos);
    this.expect('/');
    const flags = /^[a-z]*/.exec(this.text.slice(this.pos))?.[0] ?? '';
    this.pos += flags.length;
    try {
      return new RegExp(body, flags.replace(/[^imsu]/g, ''));
    } catch {
      this.fail(`invalid regular expression /${body}/`);
    }
  }

  operand(): Operand {
    this.skipSpaces();
    const ch = this.peek();
    if (ch === '@' || ch === '$') {
      this.pos++;
      return { k: 'path', rel: ch === '@', path: this.segments() };
    }
    if (ch === "'" || ch === '"') return { k: 'literal', value: this.quoted() };
    const literal = readScalarLiteral(this.text, this.pos);
    if (literal) {
      this.pos = literal.end;
      return { k: 'literal', value: literal.value };
    }
    this.fail('expected a filter operand');
  }
}

/**
 * Reads a number, `true`, `false` or `null` at `pos` (shared with intrinsic arguments, which
 * spell literals the same way); undefined when there is none.
 */
export function readScalarLiteral(text: string, pos: number): { value: number | boolean | null; end: number } | undefined {
  const rest = text.slice(pos);
  const num = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(rest);
  if (num) return { value: Number(num[0]), end: pos + num[0].length };
  const word = /^(true|false|null)(?![A-Za-z0-9_])/.exec(rest)?.[1];
  if (word === undefined) return undefined;
  return { value: word === 'null' ? null : word === 'true', end: pos + word.length };
}

function resolveOperand(op: Operand, current: unknown, root: unknown): unknown {
  if (op.k === 'literal') return op.value;
  const result = run(op.path, op.rel ? current : root, root);
  return result.found ? result.value : UNDEFINED;
}

/** Jayway compares numbers with numbers and strings with strings; mixed pairs never order. */
const COMPARATORS = {
  '==': (a: unknown, b: unknown) => a !== UNDEFINED && b !== UNDEFINED && looseEquals(a, b),
  '!=': (a: unknown, b: unknown) => !(a !== UNDEFINED && b !== UNDEFINED && looseEquals(a, b)),
  '<': (a: unknown, b: unknown) => order(a, b, (x) => x < 0),
  '<=': (a: unknown, b: unknown) => order(a, b, (x) => x <= 0),
  '>': (a: unknown, b: unknown) => order(a, b, (x) => x > 0),
  '>=': (a: unknown, b: unknown) => order(a, b, (x) => x >= 0),
};

function looseEquals(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'string') return b.trim() !== '' && Number(b) === a;
  if (typeof a === 'string' && typeof b === 'number') return a.trim() !== '' && Number(a) === b;
  return deepEqual(a, b);
}

function order(a: unknown, b: unknown, test: (cmp: number) => boolean): boolean {
  if (typeof a === 'number' && typeof b === 'number') return test(a - b);
  if (typeof a === 'string' && typeof b === 'string') return test(a < b ? -1 : a > b ? 1 : 0);
  return false;
}

/** Structural JSON equality (object key order ignored). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ak = Object.keys(a);
  const bo = b as Record<string, unknown>;
  if (ak.length !== Object.keys(bo).length) return false;
  const ao = a as Record<string, unknown>;
  for (const k of ak) if (!hasOwn.call(bo, k) || !deepEqual(ao[k], bo[k])) return false;
  return true;
}

// ───────────────────────────── evaluation ─────────────────────────────

function lengthOf(value: unknown): JsonPathResult {
  if (Array.isArray(value)) return { found: true, value: value.length };
  if (typeof value === 'string') return { found: true, value: value.length };
  if (isObject(value)) return { found: true, value: Object.keys(value).length };
  return { found: false, reason: 'length() requires an array, a string or an object' };
}

function run(compiled: Compiled, start: unknown, root: unknown): JsonPathResult {
  const { segments } = compiled;
  if (compiled.keys !== undefined) {
    const node = walk(compiled.keys, start);
    if (node === UNDEFINED) return { found: false };
    return compiled.length ? lengthOf(node) : { found: true, value: node };
  }
  let nodes: unknown[] = [start];
  for (const seg of segments) {
    const out: unknown[] = [];
    for (const node of nodes) apply(seg, node, root, out);
    nodes = out;
  }
  return compiled.length ? { found: true, value: nodes.length } : { found: true, value: nodes };
}

/** The hot path: a definite path is a flat list of keys, walked without allocating. */
function walk(keys: readonly Key[], start: unknown): unknown {
  let node = start;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as Key;
    if (typeof key === 'string') {
      if (typeof node !== 'object' || node === null || Array.isArray(node) || !hasOwn.call(node, key)) return UNDEFINED;
      node = (node as Record<string, unknown>)[key];
    } else {
      if (!Array.isArray(node)) return UNDEFINED;
      const idx = key < 0 ? node.length + key : key;
      if (idx < 0 || idx >= node.length) return UNDEFINED;
      node = node[idx];
    }
  }
  return node;
}

function step(node: unknown, seg: { k: 'name'; name: string } | { k: 'index'; index: number }): unknown {
  if (seg.k === 'name') {
    return isObject(node) && hasOwn.call(node, seg.name) ? node[seg.name] : UNDEFINED;
  }
  if (!Array.isArray(node)) return UNDEFINED;
  const i = seg.index < 0 ? node.length + seg.index : seg.index;
  return i >= 0 && i < node.length ? node[i] : UNDEFINED;
}

function apply(seg: Segment, node: unknown, root: unknown, out: unknown[]): void {
  switch (seg.k) {
    case 'name':
    case 'index': {
      const v = step(node, seg);
      if (v !== UNDEFINED) out.push(v);
      return;
    }
    case 'names':
      if (isObject(node)) for (const n of seg.names) if (hasOwn.call(node, n)) out.push(node[n]);
      return;
    case 'indices':
      if (Array.isArray(node)) {
        for (const idx of seg.indices) {
          const i = idx < 0 ? node.length + idx : idx;
          if (i >= 0 && i < node.length) out.push(node[i]);
        }
      }
      return;
    case 'wild':
      if (Array.isArray(node)) out.push(...node);
      else if (isObject(node)) for (const k in node) out.push(node[k]);
      return;
    case 'slice':
      if (Array.isArray(node)) slice(node, seg, out);
      return;
    case 'filter':
      // Jayway tests an object node itself, but the elements of an array node.
      if (Array.isArray(node)) {
        for (const el of node) if (seg.pred(el, root)) out.push(el);
      } else if (isObject(node) && seg.pred(node, root)) {
        out.push(node);
      }
      return;
    case 'scan':
      scan(seg.target, node, root, out);
      return;
  }
}

function slice(arr: readonly unknown[], seg: { start: number | undefined; end: number | undefined; step: number }, out: unknown[]): void {
  const len = arr.length;
  const norm = (i: number, lo: number, hi: number) => Math.min(Math.max(i < 0 ? len + i : i, lo), hi);
  if (seg.step > 0) {
    const from = seg.start === undefined ? 0 : norm(seg.start, 0, len);
    const to = seg.end === undefined ? len : norm(seg.end, 0, len);
    for (let i = from; i < to; i += seg.step) out.push(arr[i]);
  } else {
    const from = seg.start === undefined ? len - 1 : norm(seg.start, -1, len - 1);
    const to = seg.end === undefined ? -1 : norm(seg.end, -1, len - 1);
    for (let i = from; i > to; i += seg.step) out.push(arr[i]);
  }
}

/**
 * Recursive descent in Jayway's order: at each container, first the target applied to the
 * container itself, then each child in document order, depth first.
 */
function scan(target: Segment, node: unknown, root: unknown, out: unknown[]): void {
  if (Array.isArray(node)) {
    if (target.k === 'filter') {
      if (target.pred(node, root)) apply(target, node, root, out);
    } else if (target.k !== 'name' && target.k !== 'names') {
      apply(target, node, root, out);
    }
    for (const el of node) scan(target, el, root, out);
  } else if (isObject(node)) {
    if (target.k !== 'index' && target.k !== 'indices' && target.k !== 'slice') {
      if (target.k === 'filter') {
        if (target.pred(node, root)) out.push(node);
      } else {
        apply(target, node, root, out);
      }
    }
    for (const k in node) scan(target, node[k], root, out);
  }
}

// ───────────────────────────── public API ─────────────────────────────

/** Renders a key the way Jayway prints a path, for AWS-identical error causes. */
function keyText(key: Key): string {
  return typeof key === 'number' ? `[${key}]` : `['${key}']`;
}

function normalizedText(compiled: Compiled): string {
  let out = '$';
  for (const seg of compiled.segments) out += segmentText(seg);
  return compiled.length ? `${out}.length()` : out;
}

function segmentText(seg: Segment): string {
  switch (seg.k) {
    case 'name':
      return keyText(seg.name);
    case 'index':
      return keyText(seg.index);
    case 'names':
      return `[${seg.names.map((n) => `'${n}'`).join(',')}]`;
    case 'indices':
      return `[${seg.indices.join(',')}]`;
    case 'wild':
      return '[*]';
    case 'slice':
      return `[${seg.start ?? ''}:${seg.end ?? ''}${seg.step === 1 ? '' : `:${seg.step}`}]`;
    case 'filter':
      return '[?]';
    case 'scan':
      return `..${segmentText(seg.target)}`;
  }
}

/** Why a definite path found nothing, in Jayway's words (AWS quotes them in causes). */
function notFoundReason(compiled: Compiled, root: unknown, normalized: string): string {
  let node = root;
  let at = '$';
  const segs = compiled.segments;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i] as Segment & { k: 'name' | 'index' };
    const leaf = i === segs.length - 1;
    if (seg.k === 'name' && !isObject(node)) {
      return `Expected to find an object with property ${keyText(seg.name)} in path ${at} but found '${typeName(node)}'. This is not a json object.`;
    }
    const next = step(node, seg);
    at += keyText(seg.k === 'name' ? seg.name : seg.index);
    if (next === UNDEFINED) {
      return leaf || seg.k === 'index' ? `No results for path: ${normalized}` : `Missing property in path ${at}`;
    }
    node = next;
  }
  return `No results for path: ${normalized}`;
}

function typeName(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function parse(path: string): Compiled {
  if (typeof path !== 'string' || !path.startsWith('$')) throw invalid(String(path), "a path must start with '$'");
  const parser = new Parser(path);
  parser.pos = 1;
  return parser.segments();
}

/** Compiles once; throws `States.Runtime` with what is wrong for invalid syntax. */
export function compileJsonPath(path: string): JsonPath {
  const compiled = parse(path);
  const normalized = normalizedText(compiled);
  const definite = compiled.definite;
  return {
    text: path,
    definite,
    normalized,
    evaluate(root: unknown): JsonPathResult {
      const result = run(compiled, root, root);
      if (result.found || !definite || result.reason !== undefined) return result;
      // Only a miss pays for working out Jayway's wording.
      return { found: false, reason: notFoundReason(compiled, root, normalized) };
    },
  };
}

/** Compiles a Reference Path; throws `States.Runtime` if `path` is not one. */
export function compileReferencePath(path: string): ReferencePath {
  const { segments, length } = parse(path);
  const keys: Key[] = [];
  for (const seg of segments) {
    if (seg.k === 'name') keys.push(seg.name);
    else if (seg.k === 'index' && seg.index >= 0) keys.push(seg.index);
    else throw new StatesError(StatesErrorName.Runtime, `Invalid Reference Path '${path}': only fields and non-negative indexes are allowed`);
  }
  if (length) throw new StatesError(StatesErrorName.Runtime, `Invalid Reference Path '${path}': functions are not allowed`);
  return {
    text: path,
    set(root: unknown, value: unknown): unknown {
      return setAt(root, keys, 0, value);
    },
  };
}

function setAt(node: unknown, keys: readonly Key[], i: number, value: unknown): unknown {
  if (i === keys.length) return value;
  const key = keys[i] as Key;
  if (typeof key === 'number') {
    if (!Array.isArray(node) || key >= node.length) throw matchFailure(key, node);
    const copy = node.slice();
    copy[key] = setAt(node[key], keys, i + 1, value);
    return copy;
  }
  if (node === undefined) node = {};
  if (!isObject(node)) throw matchFailure(key, node);
  const child = hasOwn.call(node, key) ? node[key] : undefined;
  // Spread keeps the input's key order and adds a new key last, as AWS's output shows.
  return { ...node, [key]: setAt(child, keys, i + 1, value) };
}

function matchFailure(key: Key, node: unknown): StatesError {
  return new StatesError(
    StatesErrorName.ResultPathMatchFailure,
    `Unable to apply step "${String(key)}" to input ${JSON.stringify(node ?? null)}`,
  );
}

/** `$name` or `$name.rest` / `$name[...]`: the variable's name is everything up to `.` or `[`. */
const VARIABLE = /^\$([A-Za-z_][A-Za-z0-9_]*)/;

/** Resolves the root of a path: `$$…` the context object, `$name…` a variable, `$…` the input. */
export function compilePathExpression(text: string): PathExpression {
  if (text.startsWith('$$')) return { root: 'context', path: compileJsonPath(text.slice(1)) };
  const m = VARIABLE.exec(text);
  if (m) {
    const name = m[1] as string;
    return { root: 'variable', variable: name, path: compileJsonPath('$' + text.slice(m[0].length)) };
  }
  return { root: 'input', path: compileJsonPath(text) };
}

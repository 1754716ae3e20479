/**
 * The normalisation the recorded AWS executions went through, re-done on Inlet's results so the
 * two can be compared with plain JSON equality. The recordings are LocalStack snapshot data, so
 * this re-creates LocalStack's snapshot pipeline step by step (see
 * `shared/conformance/README.md`): key ordering, one round of JSON-string parsing, the case's own
 * transformers, the global rules, then the text replacements on the serialised JSON in the order
 * they were registered. Getting the order right matters: a UUID is numbered by first occurrence,
 * and a run-time name must be replaced before the generic UUID and date rules see it.
 *
 * It also holds the comparison side: dropping `skipVerify` paths, comparing Parallel blocks as
 * multisets and Map iterations per iteration where AWS's interleaving is not deterministic, and
 * reporting the first differing path.
 */
import { findPath, updatePath } from './json-path.ts';

/** A JSON value as the harness handles it. */
export type Json = null | boolean | number | string | Json[] | JsonObject;
/** A JSON object. */
export interface JsonObject {
  [key: string]: Json;
}

/** Which value of the engine's own run a `runtimeValue` RegexTransformer replaces. */
export type RuntimeValueName =
  | 'roleArn'
  | 'roleName'
  | 'stateMachineName'
  | 'executionName'
  | 'expressExecutionArnPart1'
  | 'expressExecutionArnPart2'
  | 'mapRunArnPart0'
  | 'mapRunArnPart1'
  | 'dynamicInput'
  | 'executionOutput.FunctionResult'
  | 'testGeneratedName';

/** One per-case normalisation step, as listed in a case's `transformers`. */
export type CaseTransformer =
  | { type: 'RegexTransformer'; pattern: string; replacement: string; note?: string }
  | { type: 'RegexTransformer'; runtimeValue: RuntimeValueName; replacement: string; note?: string }
  | { type: 'JsonpathTransformer'; jsonpath: string; replacement: string; replaceReference: boolean }
  | { type: 'SfnNoneRecursiveParallelTransformer'; note?: string }
  | { type: 'ParseEventOutputJsonStrings'; note?: string };

/** The values of one run of the engine that the recordings replaced by placeholders. */
export interface RuntimeValues {
  roleArn: string;
  accountId: string;
  region: string;
  partition: string;
  stateMachineName?: string;
  executionName?: string;
  expressExecutionArnPart1?: string;
  expressExecutionArnPart2?: string;
  /** Distinct map-run ARNs in order of first appearance; index k fills `<MapRunArnPart*_kidx>`. */
  mapRunArns?: readonly string[];
  dynamicInput?: string;
  executionOutputFunctionResult?: string;
  testGeneratedName?: string;
}

const UUID_PREFIX = /^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}/;
/** LocalStack's PATTERN_ISO8601: a calendar-valid date-time with a zone. */
const ISO8601_SOURCE =
  '(?:[1-9]\\d{3}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\\d|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)' +
  '|(?:[1-9]\\d(?:0[48]|[2468][048]|[13579][26])|(?:[2468][048]|[13579][26])00)-02-29)' +
  'T(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d{1,9})?(?:Z|[+-][01]\\d:?([0-5]\\d)?)';
const ISO8601_PREFIX = new RegExp(`^${ISO8601_SOURCE}`);
const TIMESTAMP_KEY = /^.*timestamp.*$/i;
/** `cause` texts that quote the whole state input: `… '{"a":1}'`. `[^\n]` is Python's `.`. */
const CAUSE_WITH_JSON = /^[^\n]*'(\{[^\n]*\})'/;
const PARALLEL_BLOCK_END = new Set([
  'ParallelStateSucceeded',
  'ParallelStateAborted',
  'ParallelStateExited',
  'ParallelStateFailed',
]);
const ALWAYS_APPLIED_REGEXES: readonly { pattern: string; replacement: string }[] = [
  {
    pattern: 'Extended Request ID: [a-zA-Z0-9-/=+]+',
    replacement: 'Extended Request ID: <extended_request_id>',
  },
  { pattern: 'Request ID: [a-zA-Z0-9-]+', replacement: 'Request ID: <request_id>' },
];

/** True for a JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Turns a runner result (Dates, undefined fields) into plain JSON. A Date becomes `"datetime"`,
 * as LocalStack's datetime rule did with boto's datetimes before the timestamp rule ran.
 */
export function toPlainJson(value: unknown): Json {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Date) return 'datetime';
  if (Array.isArray(value)) return value.map((item) => (item === undefined ? null : toPlainJson(item)));
  if (typeof value === 'object') {
    const out: JsonObject = {};
    for (const [key, item] of Object.entries(value)) if (item !== undefined) out[key] = toPlainJson(item);
    return out;
  }
  return String(value);
}

/** A deep copy, so normalising never touches the caller's data (recorded cases are shared). */
export function cloneJson<T extends Json>(value: T): T {
  return structuredClone(value);
}

/** LocalStack's `_order_dict`: keys sorted in objects and in objects directly inside arrays. */
function orderKeys(value: Json): Json {
  if (!isJsonObject(value)) return value;
  const out: JsonObject = {};
  for (const key of Object.keys(value).sort()) {
    const item = value[key] as Json;
    out[key] = isJsonObject(item) ? orderKeys(item) : Array.isArray(item) ? item.map(orderKeys) : item;
  }
  return out;
}

/**
 * Step 1: a string value of an object that starts with `{` and parses is replaced by the parsed
 * value, once. Arrays are only searched for objects, not for nested arrays, as LocalStack did.
 */
export function parseJsonStrings(object: JsonObject): void {
  for (const [key, value] of Object.entries(object)) {
    if (Array.isArray(value)) for (const item of value) if (isJsonObject(item)) parseJsonStrings(item);
    if (isJsonObject(value)) parseJsonStrings(value);
    if (typeof value === 'string' && value.startsWith('{')) {
      try {
        object[key] = JSON.parse(value) as Json;
      } catch {
        // not JSON after all: it stays a string
      }
    }
  }
}

/**
 * `json.dumps(value)` as Python writes it (`", "`/`": "` separators, non-ASCII escaped), so text
 * replacements see the same text LocalStack's did.
 */
export function pythonJsonDumps(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(', ')}]`;
  if (isJsonObject(value)) {
    const parts = Object.entries(value).map(
      ([key, item]) => `${escapeString(key)}: ${pythonJsonDumps(item)}`,
    );
    return `{${parts.join(', ')}}`;
  }
  return typeof value === 'string' ? escapeString(value) : JSON.stringify(value);
}

function escapeString(text: string): string {
  return JSON.stringify(text).replace(
    /[\u0080-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** Collects the text replacements in registration order; numbers reference placeholders. */
class TransformContext {
  readonly replacements: ((text: string) => string)[] = [];
  private readonly counters = new Map<string, number>();
  private readonly seenReferences = new Set<string>();

  registerRegex(pattern: RegExp, replacement: string): void {
    const global = new RegExp(
      pattern.source,
      pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`,
    );
    this.replacements.push((text) => text.replace(global, () => replacement));
  }

  /** Every occurrence of `value` in the serialised text becomes `<replacement:N>`. */
  registerReference(value: Json, replacement: string): void {
    if (typeof value !== 'string') {
      throw new Error(
        `reference replacement '${replacement}' needs a string value, got ${JSON.stringify(value)}`,
      );
    }
    const reference = value.replaceAll('"', '\\"');
    if (reference === '' || this.seenReferences.has(reference)) return;
    this.seenReferences.add(reference);
    const n = this.counters.get(replacement) ?? 1;
    this.counters.set(replacement, n + 1);
    const placeholder = `<${replacement}:${n}>`;
    this.replacements.push((text) => text.split(reference).join(placeholder));
  }
}

/**
 * LocalStack's KeyValueBasedTransformer walk: `match` sees every key/value pair of every object
 * (also objects directly inside arrays); a matched value is not descended into.
 */
function walkKeyValues(
  object: JsonObject,
  match: (key: string, value: Json) => string | undefined,
  onMatch: (object: JsonObject, key: string, found: string) => void,
): void {
  for (const [key, value] of Object.entries(object)) {
    const found = match(key, value);
    if (found !== undefined) onMatch(object, key, found);
    else if (Array.isArray(value)) {
      for (const item of value) if (isJsonObject(item)) walkKeyValues(item, match, onMatch);
    } else if (isJsonObject(value)) walkKeyValues(value, match, onMatch);
  }
}

function causeJsonInput(key: string, value: Json): string | undefined {
  if (key !== 'cause' || typeof value !== 'string') return undefined;
  const quoted = CAUSE_WITH_JSON.exec(value)?.[1];
  if (quoted === undefined) return undefined;
  try {
    JSON.parse(quoted);
    return quoted;
  } catch {
    return undefined;
  }
}

function uuidUnderIdKey(key: string, value: Json): string | undefined {
  return typeof value === 'string' && key.toLowerCase().endsWith('id') && UUID_PREFIX.test(value)
    ? value
    : undefined;
}

function timestampValue(key: string, value: Json): string | undefined {
  const timestampKey = TIMESTAMP_KEY.test(key) || key === 'creationTime' || key === 'ingestionTime';
  if (!timestampKey) return undefined;
  return typeof value === 'string' && ISO8601_PREFIX.test(value) ? undefined : 'timestamp';
}

/**
 * LocalStack's SfnNoneRecursiveParallelTransformer, quirks included: events inside a Parallel
 * block get `id: [0]` and `previousEventId: 0` and are sorted; the block is re-spliced at every
 * block-end event, so a ParallelStateSucceeded followed by ParallelStateExited is deleted, the
 * event after it is skipped, and nested Parallels are mangled further.
 */
export function sfnNoneRecursiveParallel(events: Json[]): void {
  let start: number | undefined;
  let block: Json[] = [];
  let inBlock = false;
  for (let i = 0; i < events.length; i++) {
    const event = events[i];
    const type = isJsonObject(event) ? event['type'] : undefined;
    if (type === undefined || type === null) {
      inBlock = false;
    } else if (typeof type === 'string' && PARALLEL_BLOCK_END.has(type)) {
      const from = start ?? 0;
      events.splice(from, Math.max(0, i - from), ...sortByPythonJson(block));
      inBlock = false;
    } else if (type === 'ParallelStateStarted') {
      inBlock = true;
      block = [];
      start = i + 1;
    } else if (inBlock && isJsonObject(event)) {
      event['id'] = [0];
      event['previousEventId'] = 0;
      block.push(event);
    }
  }
}

function sortByPythonJson(items: readonly Json[]): Json[] {
  const keyed = items.map((item) => ({ item, key: pythonJsonDumps(item) }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return keyed.map(({ item }) => item);
}

/** The test helper `_convert_output_to_json`: a details `output` still a string is parsed. */
function parseEventOutputs(doc: JsonObject): void {
  for (const { value: events } of findPath(doc, '$..events')) {
    if (!Array.isArray(events)) continue;
    for (const event of events) {
      if (!isJsonObject(event)) continue;
      for (const [key, details] of Object.entries(event)) {
        if (!key.endsWith('EventDetails') || !isJsonObject(details)) continue;
        const output = details['output'];
        if (typeof output !== 'string') continue;
        try {
          details['output'] = JSON.parse(output) as Json;
        } catch {
          // AWS output is always JSON; a non-JSON string is left for the comparison to show
        }
      }
    }
  }
}

/** The literal of this run that a `runtimeValue` transformer replaces, if this run has one. */
export function runtimeLiteral(
  name: RuntimeValueName,
  replacement: string,
  runtime: RuntimeValues,
): string | undefined {
  switch (name) {
    case 'roleArn':
      return runtime.roleArn;
    case 'roleName':
      return runtime.roleArn.split('/').pop();
    case 'stateMachineName':
      return runtime.stateMachineName;
    case 'executionName':
      return runtime.executionName;
    case 'expressExecutionArnPart1':
      return runtime.expressExecutionArnPart1;
    case 'expressExecutionArnPart2':
      return runtime.expressExecutionArnPart2;
    case 'mapRunArnPart0':
    case 'mapRunArnPart1': {
      const index = Number(/_(\d+)idx>$/.exec(replacement)?.[1] ?? '0');
      const arn = runtime.mapRunArns?.[index];
      if (arn === undefined) return undefined;
      const parts = (arn.split('/').pop() ?? '').split(':');
      if (name === 'mapRunArnPart1') return parts[1];
      return parts[0] !== undefined && UUID_PREFIX.test(parts[0]) ? parts[0] : undefined;
    }
    case 'dynamicInput':
      return runtime.dynamicInput;
    case 'executionOutput.FunctionResult':
      return runtime.executionOutputFunctionResult;
    case 'testGeneratedName':
      return runtime.testGeneratedName;
    default: {
      const unknown: never = name;
      throw new Error(`unknown runtimeValue '${String(unknown)}' in a case transformer`);
    }
  }
}

/** Options for {@link normaliseSnapshot}. */
export interface NormaliseOptions {
  /** Off only to check that normalising already-normalised data changes nothing. */
  parseJsonStrings?: boolean;
}

/**
 * The whole pipeline on one snapshot (`{ <key>: value }`, e.g. `{ history: { events } }`):
 * returns a normalised copy. Each top-level value is serialised and text-replaced on its own,
 * sharing one context, as LocalStack did per snapshot key.
 */
export function normaliseSnapshot(
  snapshot: JsonObject,
  transformers: readonly CaseTransformer[],
  runtime: RuntimeValues,
  options: NormaliseOptions = {},
): JsonObject {
  const doc: JsonObject = {};
  for (const [key, value] of Object.entries(snapshot)) doc[key] = orderKeys(cloneJson(value));
  if (options.parseJsonStrings !== false) parseJsonStrings(doc);

  const ctx = new TransformContext();
  // The Step Functions fixture's own transformer, registered before any test's.
  walkKeyValues(doc, causeJsonInput, (_object, _key, found) => ctx.registerReference(found, 'json-input'));
  for (const transformer of transformers) applyTransformer(doc, transformer, runtime, ctx);
  for (const { pattern, replacement } of ALWAYS_APPLIED_REGEXES) {
    const listed = transformers.some(
      (t) => t.type === 'RegexTransformer' && 'pattern' in t && t.pattern === pattern,
    );
    if (!listed) ctx.registerRegex(new RegExp(pattern), replacement);
  }

  // The global rules every snapshot got, after the test's own.
  ctx.registerRegex(new RegExp(escapeRegExp(runtime.accountId)), '111111111111');
  ctx.registerRegex(new RegExp(escapeRegExp(runtime.region)), '<region>');
  ctx.registerRegex(new RegExp(escapeRegExp(`arn:${runtime.partition}:`)), 'arn:<partition>:');
  walkKeyValues(doc, uuidUnderIdKey, (_object, _key, found) => ctx.registerReference(found, 'uuid'));
  ctx.registerRegex(new RegExp(ISO8601_SOURCE), 'date');
  walkKeyValues(doc, timestampValue, (object, key) => {
    object[key] = 'timestamp';
  });

  const out: JsonObject = {};
  for (const [key, value] of Object.entries(doc)) {
    let text = pythonJsonDumps(value);
    for (const replace of ctx.replacements) text = replace(text);
    try {
      out[key] = JSON.parse(text) as Json;
    } catch {
      throw new Error(`a text replacement broke the JSON of '${key}': ${text.slice(0, 200)}`);
    }
  }
  return out;
}

function applyTransformer(
  doc: JsonObject,
  transformer: CaseTransformer,
  runtime: RuntimeValues,
  ctx: TransformContext,
): void {
  switch (transformer.type) {
    case 'RegexTransformer': {
      if ('pattern' in transformer) {
        ctx.registerRegex(new RegExp(transformer.pattern), transformer.replacement);
        return;
      }
      const literal = runtimeLiteral(transformer.runtimeValue, transformer.replacement, runtime);
      if (literal) ctx.registerRegex(new RegExp(escapeRegExp(literal)), transformer.replacement);
      return;
    }
    case 'JsonpathTransformer':
      if (transformer.replaceReference) {
        for (const match of findPath(doc, transformer.jsonpath)) {
          ctx.registerReference(match.value as Json, transformer.replacement);
        }
      } else {
        updatePath(doc, transformer.jsonpath, transformer.replacement);
      }
      return;
    case 'SfnNoneRecursiveParallelTransformer':
      for (const { value } of findPath(doc, '$..events'))
        if (Array.isArray(value)) sfnNoneRecursiveParallel(value);
      return;
    case 'ParseEventOutputJsonStrings':
      parseEventOutputs(doc);
      return;
    default: {
      const unknown: never = transformer;
      throw new Error(`unknown transformer ${JSON.stringify(unknown)}`);
    }
  }
}

const SKIPPED = Symbol('skipped');

/**
 * Drops the `skipVerify` paths, as LocalStack's `_remove_skip_verification_paths`: object keys
 * are deleted, array items are marked and removed at the end so later indexes stay valid.
 */
export function removeSkipPaths(doc: JsonObject, paths: readonly string[]): void {
  let marked = false;
  for (const path of paths) {
    for (const match of findPath(doc, path)) {
      if (Array.isArray(match.parent)) {
        match.parent[Number(match.key)] = SKIPPED;
        marked = true;
      } else {
        delete match.parent[String(match.key)];
      }
    }
  }
  if (marked) dropMarked(doc);
}

function dropMarked(value: unknown): void {
  if (Array.isArray(value)) {
    for (let i = value.length - 1; i >= 0; i--) if (value[i] === SKIPPED) value.splice(i, 1);
    for (const item of value) dropMarked(item);
  } else if (isJsonObject(value)) {
    for (const item of Object.values(value)) dropMarked(item);
  }
}

/** JSON text with sorted keys: the identity of a value when order does not matter. */
export function canonicalJson(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isJsonObject(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key] as Json)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Compares Parallel blocks as multisets: each run of events carrying the transformer's
 * `id: [0]` is sorted by its normalised text (the recording sorted by raw values, which differ
 * between AWS and any other run).
 */
export function sortZeroedParallelRuns(events: Json[]): void {
  const zeroed = (event: Json | undefined): boolean =>
    isJsonObject(event) && canonicalJson(event['id'] ?? null) === '[0]';
  for (let i = 0; i < events.length;) {
    if (!zeroed(events[i])) {
      i++;
      continue;
    }
    let end = i;
    while (end < events.length && zeroed(events[end])) end++;
    const run = events.slice(i, end).map((event) => ({ event, key: canonicalJson(event) }));
    run.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    events.splice(i, run.length, ...run.map(({ event }) => event));
    i = end;
  }
}

function detailsOf(event: JsonObject): JsonObject | undefined {
  for (const [key, value] of Object.entries(event))
    if (key.endsWith('EventDetails') && isJsonObject(value)) return value;
  return undefined;
}

const MAP_BLOCK_END = new Set(['MapStateSucceeded', 'MapStateFailed', 'MapStateAborted']);

function typeOf(event: Json | undefined): string | undefined {
  const type = isJsonObject(event) ? event['type'] : undefined;
  return typeof type === 'string' ? type : undefined;
}

/** Index of the event closing the Map block opened at `start` (nested blocks counted). */
function mapBlockEnd(events: readonly Json[], start: number): number {
  let depth = 0;
  for (let k = start; k < events.length; k++) {
    const type = typeOf(events[k]);
    if (type === 'MapStateStarted') depth++;
    else if (type !== undefined && MAP_BLOCK_END.has(type) && --depth === 0) return k;
  }
  return events.length;
}

/**
 * Puts the iterations of each top-level Map block into index order, each iteration's events in
 * their own order, and drops the ids and links inside the block: with MaxConcurrency ≠ 1 AWS
 * interleaves iterations differently from run to run. Membership follows `previousEventId` back
 * to the iteration's own MapIteration* event (which names the Map state and the index).
 */
export function groupMapIterations(events: Json[]): void {
  const byId = new Map<number, JsonObject>();
  for (const event of events)
    if (isJsonObject(event) && typeof event['id'] === 'number') byId.set(event['id'], event);
  for (let i = 0; i < events.length; i++) {
    const started = events[i];
    if (!isJsonObject(started) || typeOf(started) !== 'MapStateStarted') continue;
    const end = mapBlockEnd(events, i);
    const block = events.slice(i + 1, end);
    const mapName = block
      .filter((event) => typeOf(event) === 'MapIterationStarted')
      .map((event) => (isJsonObject(event) ? detailsOf(event)?.['name'] : undefined))[0];
    const memo = new Map<JsonObject, number | undefined>();
    const iterationOf = (event: JsonObject, hops: number): number | undefined => {
      if (memo.has(event)) return memo.get(event);
      const details = detailsOf(event);
      const index = details?.['index'];
      let result: number | undefined;
      if (
        typeOf(event)?.startsWith('MapIteration') &&
        details?.['name'] === mapName &&
        typeof index === 'number'
      ) {
        result = index;
      } else {
        const link = event['previousEventId'];
        const previous = typeof link === 'number' ? byId.get(link) : undefined;
        result =
          previous && previous !== started && hops < events.length
            ? iterationOf(previous, hops + 1)
            : undefined;
      }
      memo.set(event, result);
      return result;
    };
    const header: Json[] = [];
    const iterations = new Map<number, Json[]>();
    for (const event of block) {
      const index = isJsonObject(event) ? iterationOf(event, 0) : undefined;
      if (index === undefined) header.push(event);
      else iterations.set(index, [...(iterations.get(index) ?? []), event]);
    }
    const indexes = [...iterations.keys()].sort((a, b) => a - b);
    const ordered = [...header, ...indexes.flatMap((index) => iterations.get(index) ?? [])];
    for (const event of [...ordered, events[end], events[end + 1]]) {
      if (!isJsonObject(event)) continue;
      if (event !== events[end + 1]) delete event['id'];
      delete event['previousEventId'];
    }
    events.splice(i + 1, block.length, ...ordered);
    i = end;
  }
}

/** Where two JSON values first differ. */
export interface Difference {
  path: string;
  expected: Json | undefined;
  actual: Json | undefined;
}

/** The first path (depth first, keys sorted) where `actual` differs from `expected`. */
export function firstDifference(
  expected: Json | undefined,
  actual: Json | undefined,
  path = '$',
): Difference | undefined {
  if (expected === undefined || actual === undefined) {
    return expected === actual ? undefined : { path, expected, actual };
  }
  if (Array.isArray(expected) && Array.isArray(actual)) {
    for (let i = 0; i < Math.max(expected.length, actual.length); i++) {
      const found = firstDifference(expected[i], actual[i], `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (isJsonObject(expected) && isJsonObject(actual)) {
    const keys = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
    for (const key of keys) {
      const step = /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
      const found = firstDifference(expected[key], actual[key], `${path}${step}`);
      if (found) return found;
    }
    return undefined;
  }
  return canonicalJson(expected) === canonicalJson(actual) ? undefined : { path, expected, actual };
}

function shortJson(value: Json | undefined, limit = 160): string {
  if (value === undefined) return '(absent)';
  const text = JSON.stringify(value);
  return text.length > limit ? `${text.slice(0, limit)}…` : text;
}

/** One line: `at $.history.events[3].type: expected "A", actual "B"`. */
export function describeDifference(difference: Difference, limit = 160): string {
  return `at ${difference.path}: expected ${shortJson(difference.expected, limit)}, actual ${shortJson(difference.actual, limit)}`;
}

/**
 * Flattening of one event into one staging row: nested objects become `_`-joined snake_case
 * columns, arrays become JSON strings, nulls and empty objects become nothing, and every value
 * gets its inferred {@link ColumnType}. Two keys that name the same column both survive (one is
 * suffixed), because the lake loses no value.
 *
 * Prepare runs this for every event, so a single {@link RowBuilder} is reused across rows and
 * values are kept as ready-to-write JSON text; columns are the chunk's interned {@link ColumnSlot}s.
 */
import type { ColumnSlot, NameNode, SegmentType } from './naming.ts';
import { ColumnNames, suffixName } from './naming.ts';
import type { ColumnType, QuarantineReason } from './types.ts';
import { normaliseTimestamp } from './types.ts';

/** Why an event cannot become a row; Prepare writes it to quarantine. */
export interface Rejection {
  reason: QuarantineReason;
  detail: string;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN_NUMBER = -(2 ** 63);
const INT64_LIMIT_NUMBER = 2 ** 63;

/** A character JSON.stringify escapes in a string: quote, backslash, control, surrogate. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * `JSON.stringify(text)`, with the common case (nothing to escape) done by wrapping it in quotes:
 * testing for the characters JSON.stringify would escape is about three times cheaper.
 */
export function quoteJson(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}

/**
 * JSON text of any parsed value, including the `bigint`s the exact parser makes for integers
 * beyond 2^53 (JSON.stringify refuses those).
 */
export function stringifyJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'null';
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    return stringifyExact(value);
  }
}

function stringifyExact(value: unknown): string {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : stringifyExact(v))).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const parts: string[] = [];
    for (const [k, v] of Object.entries(value)) if (v !== undefined) parts.push(`${JSON.stringify(k)}:${stringifyExact(v)}`);
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * The columns of one row under construction. Names are unique within the row: a clash is
 * settled so that Segment's standard columns never move, a property or trait that clashes with a
 * column from outside its payload takes its prefixed name (`properties_x`), a key already spelled
 * as its column (`user_name`) keeps it over one that only snake-cases to it (`userName`), and
 * anything else is suffixed `_2`, `_3`, … in document order.
 */
export class RowBuilder {
  /** Number of columns; entries past it in the arrays are stale. */
  size = 0;
  /** Column of each value, `size` of them. */
  readonly slots: ColumnSlot[] = [];
  /** Values as JSON text (`"a"`, `12`, `true`), ready to write. */
  readonly values: string[] = [];
  /** Inferred type of each value. */
  readonly types: ColumnType[] = [];
  private readonly exact: boolean[] = [];
  private readonly fixed: boolean[] = [];
  private readonly hoisted: boolean[] = [];
  /** Stamps the slots taken by the current row; a new number empties the row in O(1). */
  private row = 0;
  /** Set by flattening when the event cannot be a row. */
  rejection: Rejection | undefined;
  /**
   * Set when a value was an integer past 2^53, which JSON.parse may have rounded: the line must
   * be parsed again exactly and the row rebuilt.
   */
  inexact = false;
  /** Set when an array or object value holds a number JSON.parse made Infinity. */
  outOfRange = false;

  /** @param names the chunk's column names, which every row of this builder uses */
  constructor(readonly names: ColumnNames = new ColumnNames()) {}

  /** Empties the builder for the next row. */
  reset(): void {
    this.size = 0;
    this.row++;
    this.rejection = undefined;
    this.inexact = false;
    this.outOfRange = false;
  }

  /** Adds a Segment standard column; it keeps its name whatever comes later. */
  addStandard(slot: ColumnSlot, json: string, type: ColumnType): void {
    this.push(slot, json, type, true, true, false);
  }

  /**
   * Adds a flattened value. `exact` says the raw key path is already spelled as the column; `alt`,
   * given for a hoisted property or trait, is its prefixed column, taken when the plain one is
   * already a column from outside the payload.
   */
  add(slot: ColumnSlot, json: string, type: ColumnType, exact: boolean, alt?: ColumnSlot): void {
    const hoisted = alt !== undefined;
    if (slot.row !== this.row) {
      this.push(slot, json, type, exact, false, hoisted);
      return;
    }
    const at = slot.index;
    if (alt !== undefined && !this.hoisted[at] && alt.row !== this.row) {
      this.push(alt, json, type, false, false, true);
    } else if (exact && !this.exact[at] && !this.fixed[at]) {
      const moved = this.freeSlot(slot.name);
      this.slots[at] = moved;
      moved.row = this.row;
      moved.index = at;
      this.push(slot, json, type, true, false, hoisted);
    } else {
      this.push(this.freeSlot(slot.name), json, type, false, false, hoisted);
    }
  }

  /** Whether a column of this name is in the current row. */
  has(name: string): boolean {
    return this.names.slot(name).row === this.row;
  }

  /** The row as one NDJSON line (without the newline). */
  toJson(): string {
    let out = '{';
    for (let i = 0; i < this.size; i++) {
      if (i > 0) out += ',';
      out += (this.slots[i] as ColumnSlot).key + (this.values[i] as string);
    }
    return `${out}}`;
  }

  private freeSlot(name: string): ColumnSlot {
    for (let n = 2; ; n++) {
      const candidate = this.names.slot(suffixName(name, `_${n}`));
      if (candidate.row !== this.row) return candidate;
    }
  }

  private push(slot: ColumnSlot, json: string, type: ColumnType, exact: boolean, fixed: boolean, hoisted: boolean): void {
    const i = this.size++;
    slot.row = this.row;
    slot.index = i;
    this.slots[i] = slot;
    this.values[i] = json;
    this.types[i] = type;
    this.exact[i] = exact;
    this.fixed[i] = fixed;
    this.hoisted[i] = hoisted;
  }
}

/** Whether a parsed JSON value is an object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What flattening needs besides the value: where to put it, and the limits. */
export interface FlattenContext {
  builder: RowBuilder;
  /** The event's type, which decides the standard columns a hoisted key may not take. */
  type: SegmentType;
  /** Deepest allowed nesting level; the event object is level 1. */
  maxDepth: number;
  /** Whether the event was parsed from its UTF-8 bytes read as Latin-1 (see Prepare). */
  latin1?: boolean;
}

/** Whether a number is an integer JSON.parse may have rounded (past 2^53). */
function maybeRounded(n: number): boolean {
  return !Number.isSafeInteger(n) && Number.isInteger(n);
}

/**
 * Whether a container at `level` or anything inside it lies deeper than `maxDepth`; flags the
 * builder when a number inside may have been rounded.
 */
function tooDeep(b: RowBuilder, value: object, level: number, maxDepth: number): boolean {
  if (level > maxDepth) return true;
  for (const child of Array.isArray(value) ? value : Object.values(value)) {
    if (typeof child === 'object' && child !== null) {
      if (tooDeep(b, child, level + 1, maxDepth)) return true;
    } else if (typeof child === 'number') {
      if (maybeRounded(child)) b.inexact = true;
      else if (!Number.isFinite(child)) b.outOfRange = true;
    }
  }
  return false;
}

/** The rejection of a number JSON.parse could only make Infinity: its text would be lost. */
function outOfRange(node: NameNode): Rejection {
  return { reason: 'number_out_of_range', detail: `'${node.name}' holds a number beyond the range of a double` };
}

/**
 * Adds the inferred type and JSON text of one scalar or array. Integers within int64 are bigint,
 * other numbers double; strict ISO-8601 date-times are timestamps (written in staging form);
 * arrays are strings holding their JSON text.
 */
function addValue(ctx: FlattenContext, node: NameNode, value: unknown, hoisted: boolean, level: number): boolean {
  let json: string;
  let type: ColumnType;
  switch (typeof value) {
    case 'string': {
      const c = value.length >= 16 && value.length <= 40 && value.charCodeAt(10) === 84 ? normaliseTimestamp(value, true) : undefined;
      if (c === undefined) {
        json = quoteJson(value);
        type = 'string';
      } else {
        json = `"${c}"`;
        type = 'timestamp';
      }
      break;
    }
    case 'number':
      if (maybeRounded(value)) ctx.builder.inexact = true;
      if (!Number.isFinite(value)) {
        ctx.builder.rejection = outOfRange(node);
        return false;
      }
      json = String(value);
      type = Number.isInteger(value) && value >= INT64_MIN_NUMBER && value < INT64_LIMIT_NUMBER ? 'bigint' : 'double';
      break;
    case 'boolean':
      json = value ? 'true' : 'false';
      type = 'boolean';
      break;
    case 'bigint':
      json = value.toString();
      type = value >= INT64_MIN && value <= INT64_MAX ? 'bigint' : 'double';
      break;
    case 'object':
      if (value === null) return true;
      if (tooDeep(ctx.builder, value, level, ctx.maxDepth)) {
        ctx.builder.rejection = { reason: 'too_deep', detail: `'${node.name}' nests deeper than ${ctx.maxDepth} levels` };
        return false;
      }
      if (ctx.builder.outOfRange) {
        ctx.builder.rejection = outOfRange(node);
        return false;
      }
      json = JSON.stringify(stringifyJson(value));
      type = 'string';
      break;
    default:
      return true;
  }
  if (hoisted && node.alt !== undefined && node.slot.isStandardIn(ctx.type)) ctx.builder.add(node.alt, json, type, false);
  else ctx.builder.add(node.slot, json, type, node.exact, hoisted ? node.alt : undefined);
  return true;
}

/**
 * Flattens the fields of `obj` (an object at nesting `level`) below `node` into the builder,
 * except the keys in `skip`.
 * `hoisted` marks a Segment payload (`properties`, `traits`), whose keys become top-level
 * columns unless they would take a standard column. Returns false, with `builder.rejection` set,
 * when the event must go to quarantine.
 */
export function flattenObject(
  ctx: FlattenContext,
  obj: Record<string, unknown>,
  node: NameNode,
  level: number,
  hoisted: boolean,
  skip?: ReadonlySet<string>,
): boolean {
  for (const key in obj) {
    const value = obj[key];
    if (value === null || value === undefined || skip?.has(key) === true) continue;
    const child = node.child(key);
    if (child === null) {
      const where = node.name === '' ? 'at the top level' : `in '${node.name}'`;
      ctx.builder.rejection = { reason: 'unsafe_name', detail: `key ${JSON.stringify(key)} ${where} has no letter or digit to name a column` };
      return false;
    }
    if (isRecord(value)) {
      if (level + 1 > ctx.maxDepth) {
        ctx.builder.rejection = { reason: 'too_deep', detail: `'${child.name}' nests deeper than ${ctx.maxDepth} levels` };
        return false;
      }
      if (!flattenObject(ctx, value, child, level + 1, hoisted)) return false;
    } else if (!addValue(ctx, child, value, hoisted, level + 1)) {
      return false;
    }
  }
  return true;
}

/**
 * Table and column names of the lake. Segment names every table and column in snake_case (its
 * warehouses use go-snakecase); users port queries between Segment and Inlet, so the ASCII rules
 * here give the same names, and the cases Segment leaves undefined (non-Latin keys, collisions,
 * reserved names, very long names) are settled deterministically: the same event always yields
 * the same names. The rules are written out in docs/lake.md "Naming".
 *
 * Names are computed once per distinct key and cached in a trie of {@link NameNode}s, because
 * Prepare names every key of every event and real sources repeat the same few hundred keys.
 */
import { createHash } from 'node:crypto';

const NON_ASCII_LATIN1 = /[\u0080-\u00ff]/;

/**
 * The text whose UTF-8 bytes `latin1` holds one character per byte (Prepare parses most lines
 * so): the same string when it is ASCII.
 */
export function utf8FromLatin1(latin1: string): string {
  return NON_ASCII_LATIN1.test(latin1) ? Buffer.from(latin1, 'latin1').toString('utf8') : latin1;
}

/** Longest table or column name; longer ones are cut and end in a hash of the full name. */
export const MAX_NAME_LENGTH = 128;

/** The six Segment call types, each with its own table (tracks: one per event name). */
export type SegmentType = 'identify' | 'track' | 'page' | 'screen' | 'group' | 'alias';

/** Every {@link SegmentType}. */
export const SEGMENT_TYPES: readonly SegmentType[] = ['identify', 'track', 'page', 'screen', 'group', 'alias'];

/** The table of each non-track type, as Segment names it. */
export const TYPE_TABLES: Readonly<Record<Exclude<SegmentType, 'track'>, string>> = {
  identify: 'identifies',
  page: 'pages',
  screen: 'screens',
  group: 'groups',
  alias: 'aliases',
};

/**
 * Table names a track event may not take: the five type tables, and the names Segment's
 * warehouses give to the track summary and the users and accounts views, so a lake exported to a
 * warehouse layout cannot clash either.
 */
export const RESERVED_TABLE_NAMES: ReadonlySet<string> = new Set([...Object.values(TYPE_TABLES), 'tracks', 'users', 'accounts']);

const isLower = (c: number): boolean => c >= 97 && c <= 122;
const isUpper = (c: number): boolean => c >= 65 && c <= 90;
const isDigit = (c: number): boolean => c >= 48 && c <= 57;

const SNAKE = /^[a-z0-9]+(?:_[a-z0-9]+)*$/;
const MARK = /\p{M}/u;
const LETTER_OR_NUMBER = /[\p{L}\p{N}]/u;
/** Letters NFKD does not decompose into ASCII, spelled as German, Nordic and Polish writers do. */
const TRANSLITERATION: Readonly<Record<string, string>> = {
  ß: 'ss', ẞ: 'SS', æ: 'ae', Æ: 'AE', œ: 'oe', Œ: 'OE', ø: 'o', Ø: 'O', đ: 'd', Đ: 'D',
  ł: 'l', Ł: 'L', þ: 'th', Þ: 'TH', ð: 'd', Ð: 'D', ı: 'i',
};

/**
 * Makes a non-ASCII key ASCII: accents are dropped (é → e), a few letters are transliterated
 * (ß → ss), and any other letter or digit becomes its own word `u<hex code point>` (名 → u540d),
 * so keys in any script keep distinct, reversible names instead of vanishing. Symbols and emoji
 * are separators, like ASCII punctuation.
 */
function toAscii(raw: string): string {
  let out = '';
  for (const ch of raw.normalize('NFKD')) {
    const code = ch.codePointAt(0) ?? 0;
    if (code < 128) out += ch;
    else if (MARK.test(ch)) continue;
    else if (TRANSLITERATION[ch] !== undefined) out += TRANSLITERATION[ch];
    else if (LETTER_OR_NUMBER.test(ch)) out += ` u${code.toString(16).padStart(4, '0')} `;
    else out += ' ';
  }
  return out;
}

/**
 * snake_case of one key, as Segment's go-snakecase spells it for ASCII: words split at
 * non-alphanumerics and where a lowercase letter or digit meets an uppercase letter
 * (`userId` → `user_id`, `Order Completed` → `order_completed`, `$browser` → `browser`); an
 * uppercase run stays one word (`HTTPServer` → `httpserver`). Returns '' when no letter or digit
 * is left (`$`, `🙂`, ''): such a key cannot be a name.
 */
export function snakeCase(raw: string): string {
  if (SNAKE.test(raw)) return raw;
  let s = raw;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 127) {
      s = toAscii(s);
      break;
    }
  }
  let out = '';
  let i = 0;
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (!(isLower(c) || isUpper(c) || isDigit(c))) {
      i++;
      continue;
    }
    if (out.length > 0) out += '_';
    let start = i;
    while (i < n && (isUpper(s.charCodeAt(i)) || isDigit(s.charCodeAt(i)))) i++;
    out += s.slice(start, i).toLowerCase();
    start = i;
    while (i < n && (isLower(s.charCodeAt(i)) || isDigit(s.charCodeAt(i)))) i++;
    out += s.slice(start, i);
  }
  return out;
}

/**
 * Keeps a name within {@link MAX_NAME_LENGTH} (Glue allows 250, Redshift 127): a longer name is
 * cut and ends in 8 hex digits of the SHA-256 of the whole name, so two long names that share a
 * beginning stay apart.
 */
export function limitName(name: string): string {
  if (name.length <= MAX_NAME_LENGTH) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.slice(0, MAX_NAME_LENGTH - 9).replace(/_+$/, '')}_${hash}`;
}

/** `name` with a suffix such as `_2`, still within the length limit. */
export function suffixName(name: string, suffix: string): string {
  const room = MAX_NAME_LENGTH - suffix.length;
  return (name.length > room ? name.slice(0, room).replace(/_+$/, '') : name) + suffix;
}

/**
 * The table of a track event: the snake_case of its name (`Order Completed` →
 * `order_completed`). A name that snake-cases onto a reserved table gets a leading underscore
 * (`Identifies` → `_identifies`); snake_case never starts with one, so no other event can land
 * there. Undefined when the name has no letter or digit.
 */
export function trackTableName(event: string): string | undefined {
  const cached = trackTables.get(event);
  if (cached !== undefined) return cached === '' ? undefined : cached;
  const snake = limitName(snakeCase(event));
  const name = snake === '' || !RESERVED_TABLE_NAMES.has(snake) ? snake : `_${snake}`;
  if (trackTables.size >= MAX_CACHED_EVENTS) trackTables.clear();
  trackTables.set(event, name);
  return name === '' ? undefined : name;
}

/** Distinct event names remembered; sources have tens to thousands, so this bound is rarely met. */
const MAX_CACHED_EVENTS = 10_000;
const trackTables = new Map<string, string>();

const COMMON_STANDARD = [
  'id', 'received_at', 'sent_at', 'timestamp', 'original_timestamp', 'anonymous_id', 'user_id',
  'type', 'channel', 'version', 'project_id', 'message_id', 'write_key',
];
const TYPE_STANDARD: Readonly<Record<SegmentType, readonly string[]>> = {
  track: ['event', 'event_text'],
  page: ['name', 'category'],
  screen: ['name', 'category'],
  group: ['group_id'],
  alias: ['previous_id'],
  identify: [],
};
/** Prefixes of the flattened Segment objects: a property may not pose as one of their fields. */
const STANDARD_PREFIXES = ['context_', 'integrations_', 'metadata_'];

const STANDARD_BY_TYPE = new Map<SegmentType, ReadonlySet<string>>(
  SEGMENT_TYPES.map((t) => [t, new Set([...COMMON_STANDARD, ...TYPE_STANDARD[t]])]),
);

/**
 * Whether a column of a `type` table belongs to Segment: the common fields (`id`,
 * `received_at`, `user_id`, …), the type's own (`event` for tracks, `name` for pages, …), and
 * every `context_*`, `integrations_*` and `metadata_*`. A property or trait that would take one
 * of these names is written under its prefixed name instead (`properties_id`).
 */
export function isStandardColumn(type: SegmentType, name: string): boolean {
  if (STANDARD_BY_TYPE.get(type)?.has(name) === true) return true;
  for (const prefix of STANDARD_PREFIXES) if (name.startsWith(prefix)) return true;
  return false;
}

const TYPE_BIT: Readonly<Record<SegmentType, number>> = { identify: 1, track: 2, page: 4, screen: 8, group: 16, alias: 32 };

/**
 * One column name, interned per chunk by {@link ColumnNames}: every key that names the same
 * column shares one slot, so a row detects a clash by identity (`row`) instead of a Map lookup,
 * and a table keeps types in an array indexed by `id`.
 */
export class ColumnSlot {
  /** The row that last used this name (see RowBuilder), and the column's position in it. */
  row = -1;
  index = 0;
  /** `"name":`, the slot's prefix in an NDJSON row; names are [a-z0-9_], so need no escaping. */
  readonly key: string;
  private standardMask = -1;

  constructor(
    readonly name: string,
    readonly id: number,
  ) {
    this.key = `"${name}":`;
  }

  /** Whether this name is a standard column of a `type` table (cached per type). */
  isStandardIn(type: SegmentType): boolean {
    if (this.standardMask === -1) {
      let mask = 0;
      for (const t of SEGMENT_TYPES) if (isStandardColumn(t, this.name)) mask |= TYPE_BIT[t];
      this.standardMask = mask;
    }
    return (this.standardMask & TYPE_BIT[type]) !== 0;
  }
}

/** Trie nodes kept per {@link ColumnNames}; past this, names are computed without caching. */
const MAX_CACHED_NODES = 100_000;

/**
 * One flattened key path and its column. Children are cached by raw key, so naming a repeated
 * key costs one Map lookup. A node under `properties`/`traits` also carries `alt`, the prefixed
 * column (`properties_<name>`) used when the plain one is a standard column or taken.
 */
export class NameNode {
  private readonly children = new Map<string, NameNode | null>();

  /**
   * @param names the chunk's registry, which interns the slots
   * @param slot the column (a root's is the empty name)
   * @param exact whether the raw key path joined with `_` is already this name, so it wins a collision
   * @param alt the prefixed column of a hoisted property or trait
   * @param latin1 whether keys below come as UTF-8 bytes read as Latin-1 (see {@link utf8FromLatin1})
   */
  constructor(
    private readonly names: ColumnNames,
    readonly slot: ColumnSlot,
    readonly exact: boolean,
    readonly alt?: ColumnSlot,
    readonly latin1 = false,
  ) {}

  /** The column name. */
  get name(): string {
    return this.slot.name;
  }

  /** The node of `key` below this one, or null when the key has no letter or digit. */
  child(key: string): NameNode | null {
    const cached = this.children.get(key);
    if (cached !== undefined) return cached;
    const segment = snakeCase(this.latin1 ? utf8FromLatin1(key) : key);
    let node: NameNode | null = null;
    if (segment !== '') {
      const parent = this.slot.name;
      const joined = parent === '' ? segment : `${parent}_${segment}`;
      const name = limitName(joined);
      const exact = this.exact && segment === key && name === joined;
      const alt = this.alt === undefined ? undefined : this.names.slot(limitName(`${this.alt.name}_${segment}`));
      node = new NameNode(this.names, this.names.slot(name), exact, alt, this.latin1);
    }
    if (this.names.cachedNodes < MAX_CACHED_NODES) {
      this.names.cachedNodes++;
      this.children.set(key, node);
    }
    return node;
  }
}

/** The columns every row starts with (those the event has). */
export type StandardColumn =
  | 'id' | 'received_at' | 'timestamp' | 'original_timestamp' | 'sent_at' | 'anonymous_id' | 'user_id'
  | 'group_id' | 'previous_id' | 'event' | 'event_text' | 'type';

/** The roots of one set of name tries. */
export interface NameRoots {
  /** Root of top-level event fields (`context` → `context_*`). */
  readonly envelope: NameNode;
  /** Root of hoisted `properties`, whose fields become top-level columns. */
  readonly properties: NameNode;
  /** Root of hoisted `traits`. */
  readonly traits: NameNode;
}

/**
 * The column names of one chunk: the roots of its name tries and the interned slots. Prepare
 * makes one per chunk, so the caches die with the chunk however many distinct keys it had.
 */
export class ColumnNames implements NameRoots {
  private readonly slots = new Map<string, ColumnSlot>();
  /** Nodes cached in this chunk's tries. */
  cachedNodes = 0;
  readonly envelope: NameNode;
  readonly properties: NameNode;
  readonly traits: NameNode;
  /**
   * The same names for keys that come as UTF-8 bytes read as Latin-1: tries of their own, since
   * such a key and a real one can be the same string for different keys (`Ã©` and `é`).
   */
  readonly latin1: NameRoots;
  /** The slots of the columns Prepare writes before any flattened field. */
  readonly standard: Readonly<Record<StandardColumn, ColumnSlot>>;

  constructor() {
    this.standard = {
      id: this.slot('id'),
      received_at: this.slot('received_at'),
      timestamp: this.slot('timestamp'),
      original_timestamp: this.slot('original_timestamp'),
      sent_at: this.slot('sent_at'),
      anonymous_id: this.slot('anonymous_id'),
      user_id: this.slot('user_id'),
      group_id: this.slot('group_id'),
      previous_id: this.slot('previous_id'),
      event: this.slot('event'),
      event_text: this.slot('event_text'),
      type: this.slot('type'),
    };
    const root = this.slot('');
    this.envelope = new NameNode(this, root, true);
    this.properties = new NameNode(this, root, true, this.slot('properties'));
    this.traits = new NameNode(this, root, true, this.slot('traits'));
    this.latin1 = {
      envelope: new NameNode(this, root, true, undefined, true),
      properties: new NameNode(this, root, true, this.slot('properties'), true),
      traits: new NameNode(this, root, true, this.slot('traits'), true),
    };
  }

  /** The slot of a column name, the same object for the same name within this chunk. */
  slot(name: string): ColumnSlot {
    let slot = this.slots.get(name);
    if (slot === undefined) {
      slot = new ColumnSlot(name, this.slots.size);
      this.slots.set(name, slot);
    }
    return slot;
  }
}

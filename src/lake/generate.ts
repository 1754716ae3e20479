/**
 * A seeded generator of realistic Segment raw data, for tests, benchmarks, demos and
 * `inlet generate`: every call type (track under several event names, identify, page, screen,
 * group, alias) with nested properties, traits and context as Segment's libraries send them,
 * unicode, nulls, arrays, a property whose type drifts across the stream, redelivered duplicates,
 * and a chosen share of bad lines of every quarantine reason. It knows what it wrote (valid,
 * duplicate, bad by reason) so a sync's report can be reconciled exactly against it.
 *
 * Determinism: all randomness comes from one mulberry32 stream seeded by `seed` (and per-user
 * attributes from a hash of the seed and the user's number), never Math.random or the clock, so
 * a seed names a data set. Speed: about 1M events in seconds, so the bench can use it.
 */
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import type { SegmentType } from './naming.ts';
import { DAY_MS, rawObjectKey, validateSourceId } from './raw-layout.ts';
import type { ObjectStore } from './storage/object-store.ts';
import type { QuarantineReason } from './types.ts';

const gzip = promisify(gzipCallback);

/** The quarantine reasons the generator produces bad lines for (one defect per line). */
export type BadLineReason = Extract<
  QuarantineReason,
  | 'malformed_json'
  | 'not_an_object'
  | 'missing_type'
  | 'unknown_type'
  | 'missing_message_id'
  | 'bad_timestamp'
  | 'too_large'
  | 'too_deep'
  | 'unsafe_name'
>;

/** Every {@link BadLineReason}, in the order bad lines cycle through them. */
export const BAD_LINE_REASONS: readonly BadLineReason[] = [
  'malformed_json',
  'not_an_object',
  'missing_type',
  'unknown_type',
  'missing_message_id',
  'bad_timestamp',
  'too_large',
  'too_deep',
  'unsafe_name',
];

/** Options for {@link generateEvents}, {@link generateLines} and {@link generateRaw}. */
export interface GenerateOptions {
  /** Names the data set: the same options give the same lines, byte for byte. */
  seed: number;
  /** Written into each event as `projectId` (as Segment does) and into the raw keys. */
  sourceId: string;
  /** Lines in total: valid events, duplicates and bad lines together. */
  events: number;
  /** Received time of the first line. */
  start: Date;
  /** Received times spread evenly over this many milliseconds after `start`. */
  durationMs: number;
  /** Share of lines that are bad, cycling through every {@link BadLineReason}; 0 by default. */
  badLineRate?: number;
  /** Share of lines that redeliver a recent valid event (same messageId, same bytes); 0 by default. */
  duplicateRate?: number;
}

/** Options for {@link generateRaw}. */
export interface GenerateRawOptions extends GenerateOptions {
  /** Lines per raw object (objects also end at each UTC midnight); 10,000 by default. */
  eventsPerFile?: number;
  /** gzip level of the raw objects; 1 (fast) by default. */
  gzipLevel?: number;
}

/** What one generated line is. */
export type GeneratedKind = 'valid' | 'duplicate' | 'bad';

/** One generated line with what it is, for callers that reconcile. */
export interface GeneratedLine {
  line: string;
  kind: GeneratedKind;
  /** Set for bad lines. */
  reason?: BadLineReason;
  /** Received time (epoch ms) of the position in the stream; the raw object's day follows it. */
  receivedAt: number;
  /** Set for valid lines and duplicates. */
  type?: SegmentType;
  /** The track event name, for valid tracks and their duplicates. */
  event?: string;
  /** The messageId, for valid lines and duplicates. */
  messageId?: string;
}

/** Counts of what was generated. read = valid + duplicates + badTotal. */
export interface GenerateCounts {
  lines: number;
  /** Distinct valid events: the rows a sync loads. */
  valid: number;
  /** Redelivered copies of valid events: what deduplication drops. */
  duplicates: number;
  /** Bad lines in total: what goes to quarantine. */
  badTotal: number;
  bad: Record<BadLineReason, number>;
  /** Distinct valid events per call type. */
  byType: Record<SegmentType, number>;
  /** Distinct valid track events per event name. */
  byTrackEvent: Record<string, number>;
}

/** One raw object written by {@link generateRaw}. */
export interface GeneratedFile {
  key: string;
  lines: number;
  /** Compressed size. */
  bytes: number;
  /** UTC midnight (epoch ms) of the object's received day. */
  day: number;
}

/** What {@link generateRaw} wrote. */
export interface GenerateResult {
  keys: string[];
  files: GeneratedFile[];
  counts: GenerateCounts;
  /** Uncompressed NDJSON bytes. */
  rawBytes: number;
  /** Compressed bytes stored. */
  storedBytes: number;
}

// ---------------------------------------------------------------------------------------------
// Randomness

/** mulberry32: a tiny, fast 32-bit PRNG with a good enough spread for sample data. */
class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** A uint32. */
  u32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** A stable uint32 from a few integers: per-user attributes without storing users. */
function hash32(a: number, b: number, c: number): number {
  let h =
    Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^
    Math.imul(b + 0x632be5ab, 0xc2b2ae35) ^
    Math.imul(c + 0x165667b1, 0x27d4eb2f);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function pickBy<T>(items: readonly T[], h: number): T {
  const item = items[h % items.length];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hex32(n: number): string {
  return (
    (HEX[(n >>> 24) & 255] ?? '') +
    (HEX[(n >>> 16) & 255] ?? '') +
    (HEX[(n >>> 8) & 255] ?? '') +
    (HEX[n & 255] ?? '')
  );
}

/** A version-4-shaped UUID from four uint32s. */
function uuid(a: number, b: number, c: number, d: number): string {
  const h = hex32(a) + hex32(b) + hex32(c) + hex32(d);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${'89ab'[c >>> 30] ?? '8'}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

// ---------------------------------------------------------------------------------------------
// Vocabulary

const FIRST_NAMES = [
  'Ada',
  'Zoë',
  'Björn',
  'Chloé',
  'José',
  'Mei',
  '李雷',
  'Ólafur',
  'Aiyana',
  'Søren',
  'Nguyễn',
  'Fatima',
  'Даша',
  'Kwame',
  'Yuki',
  'Ana',
];
const LAST_NAMES = [
  'Lovelace',
  'Müller',
  'García',
  'Øster',
  'Tanaka',
  '王',
  'Smith',
  'Nowak',
  'Okafor',
  'Dubois',
  'Иванова',
  'Kowalczyk',
  "O'Brien",
  'Silva',
];
const PLANS = ['free', 'starter', 'pro', 'enterprise'];
const CITIES: readonly (readonly [string, string, number, number])[] = [
  ['San Francisco', 'US', 37.7749, -122.4194],
  ['Berlin', 'DE', 52.52, 13.405],
  ['São Paulo', 'BR', -23.5505, -46.6333],
  ['東京', 'JP', 35.6762, 139.6503],
  ['Zürich', 'CH', 47.3769, 8.5417],
  ['Lagos', 'NG', 6.5244, 3.3792],
  ['Montréal', 'CA', 45.5019, -73.5674],
  ['Mumbai', 'IN', 19.076, 72.8777],
];
const LOCALES = ['en-US', 'de-DE', 'pt-BR', 'ja-JP', 'fr-CH', 'en-NG', 'fr-CA', 'hi-IN'];
const TIMEZONES = [
  'America/Los_Angeles',
  'Europe/Berlin',
  'America/Sao_Paulo',
  'Asia/Tokyo',
  'Europe/Zurich',
  'Africa/Lagos',
  'America/Toronto',
  'Asia/Kolkata',
];
const PRODUCTS: readonly (readonly [string, string, string, number])[] = [
  ['Monopoly: 3rd Edition', 'Games', 'Hasbro', 19.99],
  ['Uno Card Game', 'Games', 'Mattel', 3.45],
  ['Café Crème 1kg', 'Groceries', 'Lavazza', 18.5],
  ['Kindle Paperwhite', 'Electronics', 'Amazon', 139.99],
  ['抹茶 Matcha Set', 'Groceries', 'Ippodo', 42],
  ['Trail Runner “Aero”', 'Shoes', 'Salomon', 129.95],
  ['Notebook A5 — dotted', 'Office', 'Leuchtturm1917', 21.95],
  ['🚀 Rocket Lamp', 'Home', 'Lumio', 64.5],
];
const PAGES: readonly (readonly [string, string, string])[] = [
  ['Home', 'Marketing', '/'],
  ['Pricing', 'Marketing', '/pricing'],
  ['Docs', 'Docs', '/docs/getting-started'],
  ['Blog Post', 'Blog', '/blog/schema-évolution'],
  ['Checkout', 'Shop', '/checkout'],
  ['Product', 'Shop', '/products/rocket-lamp'],
];
const SCREENS = ['Home', 'Settings', 'Product Detail', 'Checkout', 'Onboarding – Step 2'];
const CAMPAIGNS: readonly (readonly [string, string, string])[] = [
  ['Spring Sale 🌸', 'newsletter', 'email'],
  ['brand', 'google', 'cpc'],
  ['launch-week', 'twitter', 'social'],
];
const VIDEO_TITLES = [
  'Getting started',
  'Für Fortgeschrittene',
  '入門ガイド',
  'Deep dive: pipelines',
  'مرحبا بالعالم',
];
const INDUSTRIES = ['Retail', 'Software', 'Finance', 'Healthcare', 'Logística'];
const TAGS = ['beta', 'vip', 'newsletter', 'churn-risk', 'early-adopter', 'ünïcödé'];
const SIGNUP_METHODS = ['email', 'google', 'github', 'apple'];
const UNKNOWN_TYPES = ['pageview', 'trak', 'event', 'purchase', 'identity'];
const BAD_TIMESTAMPS = [
  'not a timestamp',
  '2024-13-45T99:99:99Z',
  'yesterday at noon',
  '32/13/2024 25:61',
  '',
];
const VARIATIONS = ['blue signup button', 'red signup button', null];
const UNSAFE_NAMES = ['!!!', '---', '%%%', '$$ $$', '...'];

/** Track event names and how often each is sent. */
const TRACK_EVENTS: readonly (readonly [string, number])[] = [
  ['Product Viewed', 0.3],
  ['Product Added', 0.2],
  ['Order Completed', 0.15],
  ['Signed Up', 0.1],
  ['Video Played', 0.15],
  ['Products Searched', 0.1],
];
/** Call types and how often each is sent. */
const TYPE_WEIGHTS: readonly (readonly [SegmentType, number])[] = [
  ['track', 0.55],
  ['page', 0.2],
  ['identify', 0.1],
  ['screen', 0.08],
  ['group', 0.04],
  ['alias', 0.03],
];

function weighted<T>(rng: Random, table: readonly (readonly [T, number])[]): T {
  let r = rng.next();
  for (const [item, weight] of table) {
    r -= weight;
    if (r < 0) return item;
  }
  const last = table.at(-1);
  if (last === undefined) throw new Error('empty weight table');
  return last[0];
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

// ---------------------------------------------------------------------------------------------
// Events

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** A user's stable attributes, derived from the seed and the user's number. */
interface User {
  userId: string;
  anonymousId: string;
  name: string;
  email: string;
  plan: string;
  city: (typeof CITIES)[number];
  cityIndex: number;
  mobile: 'ios' | 'android' | undefined;
  createdAt: string;
  age: number;
  /** Client clock skew in ms: why Segment corrects timestamps. */
  skewMs: number;
  groupId: string;
  /** First two octets of the user's IP address. */
  ipPrefix: string;
  /** JSON members of `context` that never change for this user, each with a leading comma. */
  staticContext: string;
  /** `,"location":{…}` for this user. */
  locationContext: string;
  /** `,"traits":{…}` for this user. */
  traitsContext: string;
}

const USER_AGENT =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
const USER_AGENT_DATA = `,"userAgentData":${JSON.stringify({
  brands: [
    { brand: 'Chromium', version: '124' },
    { brand: 'Google Chrome', version: '124' },
  ],
  mobile: false,
  platform: 'macOS',
})}`;

/** JSON object members (`,"key":value…`) to splice into an object's text. */
function members(fields: JsonObject): string {
  let out = '';
  for (const [key, value] of Object.entries(fields))
    out += `,${JSON.stringify(key)}:${JSON.stringify(value)}`;
  return out;
}

function staticContext(mobile: User['mobile'], cityIndex: number, anonymousId: string): string {
  const fields: JsonObject = {
    locale: LOCALES[cityIndex] ?? 'en-US',
    timezone: TIMEZONES[cityIndex] ?? 'UTC',
  };
  if (mobile === undefined) {
    fields['library'] = { name: 'analytics.js', version: 'next-1.70.0' };
    fields['userAgent'] = USER_AGENT;
    return members(fields);
  }
  const ios = mobile === 'ios';
  fields['library'] = {
    name: ios ? 'analytics-ios' : 'analytics-android',
    version: ios ? '4.1.8' : '4.10.4',
  };
  fields['app'] = { name: 'Inlet Shop', version: '3.2.1', build: '3.2.1.545', namespace: 'com.example.shop' };
  fields['device'] = {
    id: anonymousId,
    advertisingId: null,
    adTrackingEnabled: false,
    manufacturer: ios ? 'Apple' : 'Samsung',
    model: ios ? 'iPhone16,2' : 'SM-S918B',
    type: mobile,
  };
  fields['os'] = { name: ios ? 'iOS' : 'Android', version: ios ? '17.4.1' : '14' };
  fields['screen'] = { width: ios ? 1290 : 1080, height: ios ? 2796 : 2340, density: ios ? 3 : 2.625 };
  return members(fields);
}

function makeUser(seed: number, n: number, epochMs: number): User {
  const h = (salt: number): number => hash32(seed, n, salt);
  const first = pickBy(FIRST_NAMES, h(1));
  const last = pickBy(LAST_NAMES, h(2));
  const platform = h(3) % 10;
  const cityIndex = h(4) % CITIES.length;
  const city = CITIES[cityIndex] ?? ['Berlin', 'DE', 52.52, 13.405];
  const anonymousId = uuid(h(6), h(7), h(8), h(9));
  const mobile = platform < 2 ? 'ios' : platform < 4 ? 'android' : undefined;
  const email = `${
    first
      .normalize('NFD')
      .replace(/[^A-Za-z]/g, '')
      .toLowerCase() || 'user'
  }.${n}@example.com`;
  const plan = pickBy(PLANS, h(10));
  return {
    userId: `user_${hex32(h(5)).slice(0, 6)}${n}`,
    anonymousId,
    name: `${first} ${last}`,
    email,
    plan,
    city,
    cityIndex,
    mobile,
    ipPrefix: `${10 + ((cityIndex * 31) % 200)}.${h(16) % 256}`,
    staticContext: staticContext(mobile, cityIndex, anonymousId),
    locationContext: members({
      location: { city: city[0], country: city[1], latitude: city[2], longitude: city[3], speed: 0 },
    }),
    traitsContext: members({ traits: { email, plan } }),
    createdAt: new Date(epochMs - (h(11) % 1000) * DAY_MS).toISOString(),
    age: 18 + (h(12) % 60),
    skewMs: h(13) % 5 === 0 ? (h(14) % 600_000) - 300_000 : 0,
    groupId: `grp_${h(15) % 97}`,
  };
}

const PAD2: readonly string[] = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));
const PAD3: readonly string[] = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
const LAST_ISO_YEAR_MS = Date.UTC(9999, 11, 31);
let isoDay = Number.NaN;
let isoPrefix = '';

/**
 * `new Date(ms).toISOString()`, several times faster: four timestamps per event made
 * toISOString a tenth of the generator's time. The date part is cached per UTC day.
 */
function iso(ms: number): string {
  if (!(ms >= 0 && ms < LAST_ISO_YEAR_MS && Number.isInteger(ms))) return new Date(ms).toISOString();
  const day = Math.floor(ms / DAY_MS);
  if (day !== isoDay) {
    isoDay = day;
    isoPrefix = new Date(day * DAY_MS).toISOString().slice(0, 11);
  }
  let rest = ms - day * DAY_MS;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const sec = Math.floor(rest / 1000);
  return `${isoPrefix}${PAD2[h] ?? ''}:${PAD2[m] ?? ''}:${PAD2[sec] ?? ''}.${PAD3[rest - sec * 1000] ?? ''}Z`;
}

/** Distinct users at most: their cached attributes (about 1 KB each) bound the generator's memory. */
const USER_LIMIT = 20_000;

/** A valid event's line and what it is. */
interface ValidEvent {
  line: string;
  type: SegmentType;
  messageId: string;
  name?: string;
}

/** The state that carries across lines: the random stream, position, recent events, counts. */
class EventFactory {
  readonly rng: Random;
  private readonly users: number;
  private readonly userCache = new Map<number, User>();
  /** Position in the stream, 0..1, for properties whose type drifts later in the stream. */
  progress = 0;

  constructor(
    readonly seed: number,
    readonly sourceId: string,
    readonly totalEvents: number,
    readonly startMs: number,
  ) {
    this.rng = new Random(seed);
    this.users = Math.max(10, Math.min(USER_LIMIT, Math.ceil(totalEvents / 20)));
  }

  private user(): User {
    // Skewed: a few users send most events, like real traffic.
    const r = this.rng.next();
    const n = Math.floor(r * r * this.users);
    let user = this.userCache.get(n);
    if (user === undefined) {
      user = makeUser(this.seed, n, this.startMs);
      this.userCache.set(n, user);
    }
    return user;
  }

  private messageId(): string {
    const r = this.rng;
    return uuid(r.u32(), r.u32(), r.u32(), r.u32());
  }

  /**
   * Appends the event's `context` member as JSON text. Most of it is fixed per user (library,
   * app, device, os, screen, user agent), so that part is serialized once per user and spliced
   * in: context is half of an event's bytes, and re-serializing it was much of the cost.
   */
  private context(
    out: string[],
    user: User,
    type: SegmentType,
    page: (typeof PAGES)[number] | undefined,
  ): void {
    const r = this.rng;
    out.push(`,"context":{"ip":"${user.ipPrefix}.${r.int(0, 255)}.${r.int(1, 254)}"`, user.staticContext);
    if (user.mobile !== undefined) {
      out.push(
        `,"network":{"wifi":${r.chance(0.6)},"cellular":${r.chance(0.5)},"carrier":${r.chance(0.8) ? '"T-Mobile"' : 'null'},"bluetooth":false}`,
      );
      if (r.chance(0.5)) out.push(user.locationContext);
    } else {
      const [title, , path] = page ?? r.pick(PAGES);
      out.push(
        `,"page":${JSON.stringify({
          path,
          referrer: r.chance(0.4) ? 'https://www.google.com/' : '',
          search: r.chance(0.2) ? '?utm_source=newsletter' : '',
          title: `${title} · Inlet`,
          url: `https://shop.example.com${path}`,
        })}`,
      );
      if (r.chance(0.3)) out.push(USER_AGENT_DATA);
      if (r.chance(0.15)) {
        const [name, source, medium] = r.pick(CAMPAIGNS);
        out.push(
          `,"campaign":${JSON.stringify({ name, source, medium, term: r.chance(0.5) ? 'data lake' : null, content: 'hero' })}`,
        );
      }
    }
    if (type !== 'identify' && r.chance(0.2)) out.push(user.traitsContext);
    if (r.chance(0.05)) out.push(`,"groupId":"${user.groupId}"`);
    out.push('}');
  }

  private trackProperties(name: string): JsonObject {
    const r = this.rng;
    const [title, category, brand, price] = r.pick(PRODUCTS);
    const productId = `prod_${r.int(1, 500)}`;
    switch (name) {
      case 'Product Viewed':
        return {
          product_id: productId,
          sku: `SKU-${r.int(10000, 99999)}`,
          category,
          name: title,
          brand,
          variant: r.chance(0.3) ? null : r.pick(['red', 'blue', 'größe L']),
          price,
          currency: 'USD',
          position: r.int(1, 24),
          url: `https://shop.example.com/products/${productId}`,
        };
      case 'Product Added': {
        // quantity: an integer, until a later part of the stream sends fractional amounts (bigint → double)
        const quantity = this.progress > 0.3 && r.chance(0.2) ? round2(r.int(1, 8) / 2) : r.int(1, 4);
        return {
          cart_id: `cart_${r.u32() % 100000}`,
          product_id: productId,
          name: title,
          price,
          quantity,
          coupon: r.chance(0.7) ? null : 'SPRING24',
        };
      }
      case 'Order Completed': {
        const items = r.int(1, 4);
        const products: Json[] = [];
        let total = 0;
        for (let i = 0; i < items; i++) {
          const [ptitle, pcat, , pprice] = r.pick(PRODUCTS);
          const quantity = r.int(1, 3);
          total += pprice * quantity;
          products.push({
            product_id: `prod_${r.int(1, 500)}`,
            name: ptitle,
            category: pcat,
            price: pprice,
            quantity,
          });
        }
        total = round2(total);
        const props: JsonObject = {
          order_id: `ord_${r.u32().toString(36)}`,
          affiliation: r.chance(0.5) ? 'Online Store' : 'App Store',
          total,
          // revenue: a number, until a later part of the stream sends it as a string (type drift)
          revenue: this.progress > 0.5 && r.chance(0.3) ? total.toFixed(2) : round2(total * 0.9),
          shipping: r.chance(0.5) ? 0 : 4.99,
          tax: round2(total * 0.08),
          discount: r.chance(0.8) ? 0 : 2.5,
          coupon: r.chance(0.8) ? null : 'WELCOME10',
          currency: 'USD',
          products,
        };
        // A column that only appears later in the stream.
        if (this.progress > 0.6) props['gift_wrap'] = r.chance(0.1);
        return props;
      }
      case 'Signed Up':
        return {
          method: r.pick(SIGNUP_METHODS),
          referral_code: r.chance(0.7) ? null : `ref-${r.int(100, 999)}`,
          newsletter: r.chance(0.4),
          plan: r.pick(PLANS),
        };
      case 'Video Played':
        return {
          video_id: `vid_${r.int(1, 50)}`,
          title: r.pick(VIDEO_TITLES),
          position: this.progress > 0.4 && r.chance(0.3) ? round2(r.next() * 600) : r.int(0, 600),
          total_length: round2(600 + r.next() * 1200),
          full_screen: r.chance(0.2),
          tags: r.chance(0.5) ? [r.pick(TAGS), r.pick(TAGS)] : [],
        };
      default:
        return {
          query: r.pick(['lamp', 'café', '抹茶', 'running shoes', '']),
          results: r.int(0, 120),
          filters: { category: r.chance(0.5) ? category : null, in_stock: true },
        };
    }
  }

  /** A valid event of a random type, as an object (so bad lines can be made from it). */
  event(receivedAt: number): ValidEvent {
    const r = this.rng;
    const user = this.user();
    const drawn = weighted(r, TYPE_WEIGHTS);
    // Apps send screens and browsers send pages, as Segment's libraries do.
    const type =
      drawn === 'page' && user.mobile !== undefined
        ? 'screen'
        : drawn === 'screen' && user.mobile === undefined
          ? 'page'
          : drawn;
    const sentAt = receivedAt - r.int(5, 1500);
    const original = sentAt - (r.chance(0.1) ? r.int(1000, 3_600_000) : r.int(0, 500)) + user.skewMs;
    const known =
      user.mobile !== undefined ||
      r.chance(0.6) ||
      type === 'identify' ||
      type === 'group' ||
      type === 'alias';
    const page = type === 'page' ? r.pick(PAGES) : undefined;
    const messageId = this.messageId();
    // The envelope is written as text pieces joined once at the end (joining is far cheaper
    // than flattening a string grown by +=): its ids are hex and safe ASCII, its names come from the
    // vocabulary above (quoted with JSON.stringify), and only the payload is serialized, which
    // is about twice as fast as building and serializing the whole event object.
    const out = [`{"anonymousId":"${user.anonymousId}"`];
    if (known) out.push(`,"userId":"${user.userId}"`);
    out.push(`,"messageId":"${messageId}","type":"${type}"`);
    let name: string | undefined;
    switch (type) {
      case 'track':
        name = weighted(r, TRACK_EVENTS);
        out.push(
          `,"event":${JSON.stringify(name)},"properties":${JSON.stringify(this.trackProperties(name))}`,
        );
        break;
      case 'page': {
        const [pname, category, path] = page ?? PAGES[0] ?? ['Home', 'Marketing', '/'];
        const properties = {
          path,
          url: `https://shop.example.com${path}`,
          title: `${pname} · Inlet`,
          referrer: r.chance(0.5) ? null : 'https://news.ycombinator.com/',
          search: '',
        };
        out.push(
          `,"name":${JSON.stringify(pname)},"category":${JSON.stringify(category)},"properties":${JSON.stringify(properties)}`,
        );
        break;
      }
      case 'screen': {
        const properties = { feed_type: r.chance(0.5) ? 'private' : 'public', variation: r.pick(VARIATIONS) };
        out.push(`,"name":${JSON.stringify(r.pick(SCREENS))},"properties":${JSON.stringify(properties)}`);
        break;
      }
      case 'identify': {
        const [city, country] = user.city;
        const traits = {
          name: user.name,
          email: user.email,
          plan: user.plan,
          // age: a number, later sometimes a string (bigint → string)
          age: this.progress > 0.5 && r.chance(0.2) ? 'unknown' : user.age,
          created_at: user.createdAt,
          logins: r.int(1, 500),
          address: { city, country, postal_code: r.chance(0.2) ? null : String(r.int(10000, 99999)) },
          tags: r.chance(0.5) ? [r.pick(TAGS)] : [],
          company: r.chance(0.5) ? { name: `Acme ${user.groupId}`, id: user.groupId } : null,
        };
        out.push(`,"traits":${JSON.stringify(traits)}`);
        break;
      }
      case 'group': {
        const traits = {
          name: `Acme ${user.groupId}`,
          industry: r.pick(INDUSTRIES),
          employees: r.int(1, 5000),
          plan: r.pick(PLANS),
          website: 'https://acme.example.com',
        };
        out.push(`,"groupId":"${user.groupId}","traits":${JSON.stringify(traits)}`);
        break;
      }
      case 'alias':
        out.push(`,"previousId":"${user.anonymousId}"`);
        break;
    }
    this.context(out, user, type, page);
    out.push(r.chance(0.2) ? ',"integrations":{"All":true,"Salesforce":false}' : ',"integrations":{}');
    out.push(`,"channel":"${user.mobile !== undefined ? 'mobile' : r.chance(0.9) ? 'browser' : 'server'}"`);
    out.push(
      `,"originalTimestamp":"${iso(original)}","sentAt":"${iso(sentAt)}","receivedAt":"${iso(receivedAt)}"`,
    );
    // Segment's correction: timestamp = receivedAt − (sentAt − originalTimestamp)
    out.push(
      `,"timestamp":"${iso(receivedAt - (sentAt - original))}","projectId":"${this.sourceId}","version":2}`,
    );
    const line = out.join('');
    return name === undefined ? { line, type, messageId } : { line, type, messageId, name };
  }

  /** A line with exactly one defect of the given kind. */
  badLine(reason: BadLineReason, receivedAt: number): string {
    const r = this.rng;
    // Rare enough that parsing a valid line back is cheaper than keeping every event's object.
    const event: JsonObject = JSON.parse(this.event(receivedAt).line);
    switch (reason) {
      case 'malformed_json': {
        const text = JSON.stringify(event);
        return r.pick([
          () => text.slice(0, Math.floor(text.length / 2)),
          () => text.replace('{"', "{'"),
          () => `${text.slice(0, -1)},}`,
          () => 'GET /v1/track HTTP/1.1',
          () => text.replace('"type":', 'type:'),
        ])();
      }
      case 'not_an_object':
        return r.pick([
          () => `[${JSON.stringify(event)}]`,
          () => '"track"',
          () => '42',
          () => 'null',
          () => 'true',
          () => '[]',
        ])();
      case 'missing_type':
        if (r.chance(0.5)) delete event['type'];
        else event['type'] = r.pick([null, '', 7]);
        return JSON.stringify(event);
      case 'unknown_type':
        event['type'] = r.pick(UNKNOWN_TYPES);
        return JSON.stringify(event);
      case 'missing_message_id':
        if (r.chance(0.5)) delete event['messageId'];
        else event['messageId'] = r.pick([null, '']);
        return JSON.stringify(event);
      case 'bad_timestamp':
        event[r.pick(['timestamp', 'originalTimestamp', 'sentAt'])] = r.pick(BAD_TIMESTAMPS);
        return JSON.stringify(event);
      case 'too_large': {
        // Over 32 KB in bytes however it is measured: 14,000 three-byte characters is 42 KB.
        event['properties'] = {
          ...(isObject(event['properties']) ? event['properties'] : {}),
          notes: '€'.repeat(14_000),
        };
        return JSON.stringify(event);
      }
      case 'too_deep': {
        let nested: Json = { leaf: true };
        for (let i = 0; i < 24; i++) nested = { level: nested };
        event['properties'] = { ...(isObject(event['properties']) ? event['properties'] : {}), nested };
        return JSON.stringify(event);
      }
      case 'unsafe_name': {
        const bad = r.pick(UNSAFE_NAMES);
        if (event['type'] === 'track' && r.chance(0.5)) event['event'] = bad;
        else
          event['properties'] = {
            ...(isObject(event['properties']) ? event['properties'] : {}),
            [bad]: 'value',
          };
        return JSON.stringify(event);
      }
    }
  }
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkOptions(options: GenerateOptions): void {
  validateSourceId(options.sourceId);
  if (!Number.isSafeInteger(options.events) || options.events < 0)
    throw new RangeError('events must be a non-negative integer');
  if (!Number.isFinite(options.start.getTime())) throw new RangeError('start must be a valid date');
  if (!Number.isFinite(options.durationMs) || options.durationMs < 0)
    throw new RangeError('durationMs must be >= 0');
  const bad = options.badLineRate ?? 0;
  const dup = options.duplicateRate ?? 0;
  if (!(bad >= 0 && dup >= 0 && bad + dup <= 1))
    throw new RangeError('badLineRate and duplicateRate must be >= 0 and sum to at most 1');
}

/** How many recent valid lines a duplicate may copy: recent, so it lands within the dedupe window. */
const RECENT = 64;

/**
 * Generates the lines with what each one is. Received times rise evenly from `start` over
 * `durationMs`; each line is bad with probability `badLineRate` (reasons in turn, so every
 * reason appears once there are nine bad lines), else a redelivered copy of one of the last 64
 * valid lines with probability `duplicateRate` (once there is one), else a new valid event.
 */
export function* generateLines(options: GenerateOptions): Generator<GeneratedLine> {
  checkOptions(options);
  const startMs = options.start.getTime();
  const factory = new EventFactory(options.seed, options.sourceId, options.events, startMs);
  const rng = factory.rng;
  const badRate = options.badLineRate ?? 0;
  const dupRate = options.duplicateRate ?? 0;
  const recent: GeneratedLine[] = [];
  let badCount = 0;
  for (let i = 0; i < options.events; i++) {
    const receivedAt = startMs + Math.floor((options.durationMs * i) / Math.max(1, options.events));
    factory.progress = i / options.events;
    const roll = rng.next();
    if (roll < badRate) {
      const reason = BAD_LINE_REASONS[badCount++ % BAD_LINE_REASONS.length] ?? 'malformed_json';
      yield { line: factory.badLine(reason, receivedAt), kind: 'bad', reason, receivedAt };
      continue;
    }
    if (roll < badRate + dupRate && recent.length > 0) {
      const original = recent[rng.int(0, recent.length - 1)];
      if (original !== undefined) {
        yield { ...original, kind: 'duplicate', receivedAt };
        continue;
      }
    }
    const made = factory.event(receivedAt);
    const line: GeneratedLine = {
      line: made.line,
      kind: 'valid',
      receivedAt,
      type: made.type,
      messageId: made.messageId,
      ...(made.name !== undefined ? { event: made.name } : {}),
    };
    if (recent.length < RECENT) recent.push(line);
    else recent[i % RECENT] = line;
    yield line;
  }
}

/** The generated NDJSON lines alone, for in-memory use (see {@link generateLines}). */
export function* generateEvents(options: GenerateOptions): Generator<string> {
  for (const generated of generateLines(options)) yield generated.line;
}

/** Empty counts. */
export function emptyCounts(): GenerateCounts {
  return {
    lines: 0,
    valid: 0,
    duplicates: 0,
    badTotal: 0,
    bad: {
      malformed_json: 0,
      not_an_object: 0,
      missing_type: 0,
      unknown_type: 0,
      missing_message_id: 0,
      bad_timestamp: 0,
      too_large: 0,
      too_deep: 0,
      unsafe_name: 0,
    },
    byType: { identify: 0, track: 0, page: 0, screen: 0, group: 0, alias: 0 },
    byTrackEvent: {},
  };
}

/** Adds one generated line to counts. */
export function countLine(counts: GenerateCounts, line: GeneratedLine): void {
  counts.lines++;
  if (line.kind === 'bad') {
    counts.badTotal++;
    if (line.reason !== undefined) counts.bad[line.reason]++;
  } else if (line.kind === 'duplicate') {
    counts.duplicates++;
  } else {
    counts.valid++;
    if (line.type !== undefined) counts.byType[line.type]++;
    if (line.event !== undefined)
      counts.byTrackEvent[line.event] = (counts.byTrackEvent[line.event] ?? 0) + 1;
  }
}

/**
 * Writes the generated lines as gzip NDJSON objects in the raw layout
 * (`segment-logs/<source>/<day>/inlet-gen-<seed>-<n>.gz`), `eventsPerFile` lines per object and
 * a new object at each UTC midnight of received time, and returns what it wrote. The same
 * options write the same keys and bytes, so a rerun overwrites rather than adds.
 */
export async function generateRaw(store: ObjectStore, options: GenerateRawOptions): Promise<GenerateResult> {
  const perFile = options.eventsPerFile ?? 10_000;
  if (!Number.isSafeInteger(perFile) || perFile < 1)
    throw new RangeError('eventsPerFile must be a positive integer');
  const level = options.gzipLevel ?? 1;
  const counts = emptyCounts();
  const files: GeneratedFile[] = [];
  let rawBytes = 0;
  let storedBytes = 0;
  let pending: string[] = [];
  let pendingDay = -1;
  let inFlight: Promise<void> | undefined;

  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const lines = pending;
    const day = pendingDay;
    pending = [];
    const fileName = `inlet-gen-${options.seed >>> 0}-${String(files.length).padStart(6, '0')}.gz`;
    const file: GeneratedFile = {
      key: rawObjectKey(options.sourceId, day, fileName),
      lines: lines.length,
      bytes: 0,
      day,
    };
    files.push(file);
    // One object compresses and uploads while the next is generated; never more, to bound memory.
    await inFlight;
    inFlight = (async () => {
      const text = Buffer.from(lines.join('\n') + '\n');
      rawBytes += text.length;
      const body = await gzip(text, { level });
      file.bytes = body.length;
      storedBytes += body.length;
      await store.put(file.key, body, { contentType: 'application/gzip' });
    })();
  };

  for (const line of generateLines(options)) {
    const day = Math.floor(line.receivedAt / DAY_MS) * DAY_MS;
    if (pending.length >= perFile || (pending.length > 0 && day !== pendingDay)) await flush();
    pendingDay = day;
    pending.push(line.line);
    countLine(counts, line);
  }
  await flush();
  await inFlight;
  return { keys: files.map((f) => f.key), files, counts, rawBytes, storedBytes };
}

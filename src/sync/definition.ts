/**
 * The datalake-sync state machine as a template, the way Segment kept theirs in Terraform: the
 * definition file stays valid JSON, activity ARNs and tuning numbers are `"${name}"` variables,
 * and {@link renderDefinition} fills them in. A whole-string variable takes the value's own JSON
 * type, so `"HeartbeatSeconds": "${heartbeat_seconds}"` becomes a number. Rendering refuses both
 * a variable the template uses but the caller did not give and one the caller gave that the
 * template never uses, because either is a deploy that silently does something other than meant.
 */
import { readFileSync } from 'node:fs';

/** A template variable's value: text (ARNs) or a number (seconds, attempts, rates). */
export type TemplateValue = string | number;

/** Raised for a template that uses a missing variable, or a variable the template never uses. */
export class TemplateVariableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateVariableError';
  }
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const WHOLE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;
const ANY = /\$\$\{|\$\{([^}]*)\}/g;

/**
 * Fills `"${name}"` variables in a JSON template and returns the definition text. `$${` is a
 * literal `${`. Throws {@link TemplateVariableError} for a used variable that is missing, an
 * unused one that was given, or a malformed name.
 */
export function renderDefinition(template: string, vars: Readonly<Record<string, TemplateValue>>): string {
  for (const [name, value] of Object.entries(vars)) {
    if (!NAME.test(name)) throw new TemplateVariableError(`'${name}' is not a template variable name`);
    if (typeof value === 'number' && !Number.isFinite(value))
      throw new TemplateVariableError(`variable '${name}' must be a finite number`);
  }
  const used = new Set<string>();
  const lookup = (name: string): TemplateValue => {
    if (!NAME.test(name)) throw new TemplateVariableError(`'\${${name}}' is not a template variable name`);
    const value = vars[name];
    if (value === undefined) throw new TemplateVariableError(`the template uses '\${${name}}', which was not given`);
    used.add(name);
    return value;
  };
  const fill = (value: unknown): unknown => {
    if (typeof value === 'string') {
      const whole = WHOLE.exec(value);
      if (whole) return lookup(whole[1] as string);
      return value.replace(ANY, (match, name: string | undefined) => (name === undefined ? '${' : String(lookup(name))));
    }
    if (Array.isArray(value)) return value.map(fill);
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = fill(v);
      return out;
    }
    return value;
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(template);
  } catch (e) {
    throw new SyntaxError(`the definition template is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  const rendered = JSON.stringify(fill(parsed), null, 2);
  const unused = Object.keys(vars).filter((name) => !used.has(name));
  if (unused.length > 0) {
    throw new TemplateVariableError(`the template does not use ${unused.map((n) => `'\${${n}}'`).join(', ')}`);
  }
  return rendered;
}

/** The tuning knobs of the datalake-sync machine; tests shrink them so failures show in seconds. */
export interface SyncMachineSettings {
  /** Prepare tasks running at once (the Map's MaxConcurrency). */
  prepareConcurrency: number;
  /** A task whose worker sends no heartbeat for this long times out (States.Timeout) and is retried. */
  heartbeatSeconds: number;
  /** First retry delay. */
  retryIntervalSeconds: number;
  /** Retries after the first attempt. */
  retryMaxAttempts: number;
  /** Each retry waits this many times longer than the one before. */
  retryBackoffRate: number;
}

/** Segment's values from the article: 3 Prepares at once, 300 s heartbeats, 30 s × 2ⁿ back-off, 5 attempts. */
export const DEFAULT_SYNC_SETTINGS: Readonly<SyncMachineSettings> = Object.freeze({
  prepareConcurrency: 3,
  heartbeatSeconds: 300,
  retryIntervalSeconds: 30,
  retryMaxAttempts: 5,
  retryBackoffRate: 2,
});

/** The four activity ARNs the machine's tasks run on. */
export interface SyncActivityArns {
  prepare: string;
  load: string;
  follow: string;
  cleanup: string;
}

/** The variables of `definitions/datalake-sync.asl.json` for these activities and settings. */
export function syncDefinitionVars(
  activities: SyncActivityArns,
  settings: Partial<SyncMachineSettings> = {},
): Record<string, TemplateValue> {
  const s = { ...DEFAULT_SYNC_SETTINGS, ...settings };
  return {
    activity_prepare: activities.prepare,
    activity_load: activities.load,
    activity_follow: activities.follow,
    activity_cleanup: activities.cleanup,
    prepare_concurrency: s.prepareConcurrency,
    heartbeat_seconds: s.heartbeatSeconds,
    retry_interval_seconds: s.retryIntervalSeconds,
    retry_max_attempts: s.retryMaxAttempts,
    retry_backoff_rate: s.retryBackoffRate,
  };
}

/** Where the template lives: `definitions/` at the package root, from `src/sync/` or `dist/src/sync/`. */
const TEMPLATE_URLS = [
  new URL('../../definitions/datalake-sync.asl.json', import.meta.url),
  new URL('../../../definitions/datalake-sync.asl.json', import.meta.url),
];

/** The text of `definitions/datalake-sync.asl.json`. */
export function loadSyncTemplate(): string {
  for (const url of TEMPLATE_URLS) {
    try {
      return readFileSync(url, 'utf8');
    } catch (e) {
      if (!(e instanceof Error && 'code' in e && e.code === 'ENOENT')) throw e;
    }
  }
  throw new Error('definitions/datalake-sync.asl.json was not found next to the package');
}

/** The rendered datalake-sync definition for these activities and settings. */
export function syncDefinition(activities: SyncActivityArns, settings: Partial<SyncMachineSettings> = {}): string {
  return renderDefinition(loadSyncTemplate(), syncDefinitionVars(activities, settings));
}

/**
 * JSONata as Step Functions runs it: `{% … %}` templates, the `$states` binding, the workflow's
 * variables as `$name`, and the functions AWS adds ($partition, $range, $hash, $random, $uuid,
 * $parse). Expressions are compiled once per definition; evaluation is async because the
 * `jsonata` package is.
 */
import jsonata from 'jsonata';
import { createHash } from 'node:crypto';
import { StatesError, StatesErrorName } from './errors.ts';
import { HASH_ALGORITHMS, uuidV4 } from './intrinsics.ts';

/** What a JSONata expression can see. */
export interface JsonataBindings {
  states: Record<string, unknown>;
  variables: Record<string, unknown>;
  random: () => number;
}

const TEMPLATE = /^\{%([\s\S]*)%\}$/;

/** Whether a string is a `{% expression %}` template. */
export function isJsonataTemplate(value: unknown): value is string {
  return typeof value === 'string' && TEMPLATE.test(value);
}

/** A compiled JSONata expression. */
export interface JsonataExpression {
  readonly text: string;
  evaluate(bindings: JsonataBindings): Promise<unknown>;
}

/** Seeded PRNG (mulberry32) for `$random(seed)`: the same seed gives the same number. */
function seededRandom(seed: number): number {
  let t = (seed + 0x6d2b79f5) | 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

function registerAwsFunctions(expression: jsonata.Expression, random: () => number): void {
  expression.registerFunction(
    'partition',
    (array: unknown, size: unknown) => {
      if (!Array.isArray(array) || typeof size !== 'number' || size <= 0) {
        throw new Error('$partition expects an array and a positive chunk size');
      }
      const out: unknown[][] = [];
      for (let i = 0; i < array.length; i += size) out.push(array.slice(i, i + size));
      return out;
    },
    '<an:a>',
  );
  expression.registerFunction(
    'range',
    (start: number, end: number, step: number) => {
      if (step === 0) throw new Error('$range step must not be zero');
      const out: number[] = [];
      for (let v = start; step > 0 ? v <= end : v >= end; v += step) out.push(v);
      return out;
    },
    '<nnn:a>',
  );
  expression.registerFunction(
    'hash',
    (value: unknown, algorithm: string) => {
      const name = HASH_ALGORITHMS[algorithm];
      if (!name) throw new Error(`Unsupported hash algorithm '${algorithm}'`);
      return createHash(name)
        .update(typeof value === 'string' ? value : JSON.stringify(value))
        .digest('hex');
    },
    '<js:s>',
  );
  expression.registerFunction(
    'random',
    (seed?: number) => (seed === undefined ? random() : seededRandom(seed)),
    '<n?:n>',
  );
  expression.registerFunction('uuid', () => uuidV4(random), '<:s>');
  expression.registerFunction(
    'parse',
    (text: string) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new Error(`$parse: invalid JSON: ${text}`);
      }
    },
    '<s:j>',
  );
}

/** Compiles a JSONata expression (the text inside `{% %}`); syntax errors are StatesErrors. */
export function compileJsonata(text: string): JsonataExpression {
  let expression: jsonata.Expression;
  try {
    expression = jsonata(text);
  } catch (e) {
    throw new StatesError(StatesErrorName.QueryEvaluationError, jsonataMessage(e));
  }
  return {
    text,
    async evaluate(bindings) {
      registerAwsFunctions(expression, bindings.random);
      const values: Record<string, unknown> = { ...bindings.variables, states: bindings.states };
      return expression.evaluate(undefined, values);
    },
  };
}

/** The `code: message` text AWS shows for a JSONata error. */
export function jsonataMessage(e: unknown): string {
  if (e && typeof e === 'object' && 'code' in e && 'message' in e) {
    return `${String(e.code)}: ${String(e.message)}`;
  }
  return e instanceof Error ? e.message : String(e);
}

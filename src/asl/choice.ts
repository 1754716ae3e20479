/**
 * Choice Rules in JSONPath mode: the comparison operators, And/Or/Not, the Is* tests and the
 * `*Path` forms, compiled once. Comparisons of mismatched types are false, not errors, as on AWS.
 * (JSONata Choice uses `Condition` and is evaluated in step.ts.)
 */
import { StatesError, StatesErrorName } from './errors.ts';
import type { ChoiceRule } from './definition.ts';
import { compilePathExpression } from './jsonpath.ts';
import { readPath } from './evaluate.ts';
import type { EvalEnv } from './evaluate.ts';

/** A compiled rule: true when it matches. */
export type CompiledRule = (env: EvalEnv) => boolean;

const COMPARATORS = [
  'StringEquals',
  'StringLessThan',
  'StringGreaterThan',
  'StringLessThanEquals',
  'StringGreaterThanEquals',
  'StringMatches',
  'NumericEquals',
  'NumericLessThan',
  'NumericGreaterThan',
  'NumericLessThanEquals',
  'NumericGreaterThanEquals',
  'BooleanEquals',
  'TimestampEquals',
  'TimestampLessThan',
  'TimestampGreaterThan',
  'TimestampLessThanEquals',
  'TimestampGreaterThanEquals',
  'IsNull',
  'IsPresent',
  'IsNumeric',
  'IsString',
  'IsBoolean',
  'IsTimestamp',
] as const;
type Comparator = (typeof COMPARATORS)[number];

/** The comparison operator names a rule may use, with and without the `Path` suffix. */
export const CHOICE_OPERATORS: ReadonlySet<string> = new Set([
  ...COMPARATORS,
  ...COMPARATORS.filter((c) => !c.startsWith('Is') && c !== 'StringMatches').map((c) => `${c}Path`),
]);

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Parses an RFC 3339 timestamp with the strictness AWS applies; undefined if not one. */
export function parseTimestamp(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const [month, day, hour, minute, second] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** `StringMatches`: `*` matches any run of characters; `\*` and `\\` are escapes. */
function globMatches(value: string, pattern: string): boolean {
  let regex = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '\\' && i + 1 < pattern.length) {
      regex += (pattern[++i] as string).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    } else if (c === '*') regex += '[\\s\\S]*';
    else regex += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${regex}$`).test(value);
}

function compare(op: Comparator, left: unknown, right: unknown): boolean {
  switch (op) {
    case 'StringEquals':
      return typeof left === 'string' && left === right;
    case 'StringLessThan':
      return typeof left === 'string' && typeof right === 'string' && left < right;
    case 'StringGreaterThan':
      return typeof left === 'string' && typeof right === 'string' && left > right;
    case 'StringLessThanEquals':
      return typeof left === 'string' && typeof right === 'string' && left <= right;
    case 'StringGreaterThanEquals':
      return typeof left === 'string' && typeof right === 'string' && left >= right;
    case 'StringMatches':
      return typeof left === 'string' && typeof right === 'string' && globMatches(left, right);
    case 'NumericEquals':
      return typeof left === 'number' && left === right;
    case 'NumericLessThan':
      return typeof left === 'number' && typeof right === 'number' && left < right;
    case 'NumericGreaterThan':
      return typeof left === 'number' && typeof right === 'number' && left > right;
    case 'NumericLessThanEquals':
      return typeof left === 'number' && typeof right === 'number' && left <= right;
    case 'NumericGreaterThanEquals':
      return typeof left === 'number' && typeof right === 'number' && left >= right;
    case 'BooleanEquals':
      return typeof left === 'boolean' && left === right;
    case 'IsNull':
      return (left === null) === right;
    case 'IsPresent':
      return (left !== undefined) === right;
    case 'IsNumeric':
      return (typeof left === 'number') === right;
    case 'IsString':
      return (typeof left === 'string') === right;
    case 'IsBoolean':
      return (typeof left === 'boolean') === right;
    case 'IsTimestamp':
      return (parseTimestamp(left) !== undefined) === right;
    default: {
      const l = parseTimestamp(left);
      const r = parseTimestamp(right);
      if (l === undefined || r === undefined) return false;
      if (op === 'TimestampEquals') return l === r;
      if (op === 'TimestampLessThan') return l < r;
      if (op === 'TimestampGreaterThan') return l > r;
      if (op === 'TimestampLessThanEquals') return l <= r;
      return l >= r;
    }
  }
}

/** Compiles a JSONPath-mode Choice Rule. */
export function compileChoiceRule(rule: ChoiceRule): CompiledRule {
  if (rule.And) {
    const parts = rule.And.map(compileChoiceRule);
    return (env) => parts.every((p) => p(env));
  }
  if (rule.Or) {
    const parts = rule.Or.map(compileChoiceRule);
    return (env) => parts.some((p) => p(env));
  }
  if (rule.Not) {
    const inner = compileChoiceRule(rule.Not);
    return (env) => !inner(env);
  }
  const operator = Object.keys(rule).find((k) => CHOICE_OPERATORS.has(k));
  if (!operator || rule.Variable === undefined) {
    throw new StatesError(StatesErrorName.Runtime, 'A Choice Rule needs a Variable and a comparison operator');
  }
  const variable = compilePathExpression(rule.Variable);
  const isPath = operator.endsWith('Path');
  const op = (isPath ? operator.slice(0, -4) : operator) as Comparator;
  const operand = rule[operator];
  const operandPath = isPath ? compilePathExpression(String(operand)) : undefined;
  return (env) => {
    const read = readPath(variable, env);
    if (!read.found) {
      if (op === 'IsPresent') return operand === false;
      throw new StatesError(
        StatesErrorName.Runtime,
        `Invalid path '${rule.Variable}': The choice state's condition path references an invalid value.`,
      );
    }
    let right: unknown = operand;
    if (operandPath) {
      const r = readPath(operandPath, env);
      if (!r.found) {
        throw new StatesError(
          StatesErrorName.Runtime,
          `Invalid path '${String(operand)}': The choice state's condition path references an invalid value.`,
        );
      }
      right = r.value;
    }
    return compare(op, read.value, right);
  };
}

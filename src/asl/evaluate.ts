/**
 * Evaluation of a state's data fields in either query language, compiled once per definition:
 * JSONPath payload templates (`"key.$": "$.path" | "$$.ctx" | "$var" | "States.Fn(…)"`) and
 * JSONata templates (`{% expr %}` strings anywhere inside a JSON value). Errors carry AWS's
 * error names and the field's location, so the step function can report them verbatim.
 */
import { StatesError, StatesErrorName } from './errors.ts';
import { compileJsonata, isJsonataTemplate, jsonataMessage } from './jsonata.ts';
import type { JsonataExpression } from './jsonata.ts';
import { compilePathExpression } from './jsonpath.ts';
import type { PathExpression } from './jsonpath.ts';
import { compileIntrinsic, isIntrinsic } from './intrinsics.ts';
import type { Intrinsic } from './intrinsics.ts';

/** Where workflow variables live: a scope sees its own and its ancestors' variables. */
export interface VariableScope {
  vars: Record<string, unknown>;
  parent?: VariableScope;
}

/** Finds a variable by name through the scope chain. */
export function lookupVariable(scope: VariableScope, name: string): { found: true; value: unknown } | { found: false } {
  for (let s: VariableScope | undefined = scope; s; s = s.parent) {
    if (Object.prototype.hasOwnProperty.call(s.vars, name)) return { found: true, value: s.vars[name] };
  }
  return { found: false };
}

/** Every variable visible from `scope`, inner names shadowing outer ones (for JSONata bindings). */
export function visibleVariables(scope: VariableScope): Record<string, unknown> {
  const chain: VariableScope[] = [];
  for (let s: VariableScope | undefined = scope; s; s = s.parent) chain.unshift(s);
  return Object.assign({}, ...chain.map((s) => s.vars)) as Record<string, unknown>;
}

/** What an expression evaluates against. */
export interface EvalEnv {
  /** `$` in JSONPath; `$states.input` in JSONata. */
  input: unknown;
  /** `$$` / `$states.context`. */
  context: unknown;
  variables: VariableScope;
  random: () => number;
  /** JSONata only: `$states.result` and `$states.errorOutput` where they exist. */
  result?: unknown;
  errorOutput?: unknown;
}

/** A compiled data field in either language. */
export interface CompiledValue {
  readonly async: boolean;
  evaluate(env: EvalEnv): unknown;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** Reads a path expression (`$…`, `$$…`, `$var…`) in `env`. */
export function readPath(expr: PathExpression, env: EvalEnv): { found: true; value: unknown } | { found: false } {
  if (expr.root === 'input') return expr.path.evaluate(env.input);
  if (expr.root === 'context') return expr.path.evaluate(env.context);
  const variable = lookupVariable(env.variables, expr.variable ?? '');
  if (!variable.found) return variable;
  return expr.path.evaluate(variable.value);
}

function intrinsicEnv(env: EvalEnv) {
  return {
    input: env.input,
    context: env.context,
    variables: (name: string) => lookupVariable(env.variables, name),
    random: env.random,
  };
}

/** Compiles a JSONPath payload template (Parameters, ItemSelector, ResultSelector, Assign). */
export function compilePayloadTemplate(template: unknown, fieldName: string): CompiledValue {
  const build = compileTemplateNode(template, fieldName);
  return { async: false, evaluate: build };
}

function compileTemplateNode(node: unknown, fieldName: string): (env: EvalEnv) => unknown {
  if (Array.isArray(node)) {
    const items = node.map((item) => compileTemplateNode(item, fieldName));
    return (env) => items.map((item) => item(env));
  }
  if (node === null || typeof node !== 'object') return () => node;
  const entries = Object.entries(node).map(([key, value]): [string, (env: EvalEnv) => unknown] => {
    if (!key.endsWith('.$')) return [key, compileTemplateNode(value, fieldName)];
    const outKey = key.slice(0, -2);
    if (typeof value !== 'string') {
      throw new StatesError(StatesErrorName.Runtime, `The value for the field '${key}' must be a STRING`);
    }
    if (isIntrinsic(value)) {
      const intrinsic: Intrinsic = compileIntrinsic(value);
      return [outKey, (env) => intrinsic.evaluate(intrinsicEnv(env))];
    }
    const path = compilePathExpression(value);
    return [
      outKey,
      (env) => {
        const read = readPath(path, env);
        if (read.found) return read.value;
        if (path.root === 'variable') {
          throw new StatesError(
            StatesErrorName.Runtime,
            `The JSONPath '${value}' specified for the field '${key}' could not be found in the input '${JSON.stringify(env.input)}'`,
          );
        }
        throw new StatesError(
          StatesErrorName.Runtime,
          `The JSONPath '${value}' specified for the field '${key}' could not be found in the input '${JSON.stringify(path.root === 'context' ? env.context : env.input)}'`,
        );
      },
    ];
  });
  return (env) => {
    const out: Record<string, unknown> = {};
    for (const [key, build] of entries) out[key] = build(env);
    return out;
  };
}

/** Compiles a value that may hold `{% %}` templates anywhere (Arguments, Output, Assign, …). */
export function compileJsonataValue(value: unknown, location: string): CompiledValue {
  const node = compileJsonataNode(value, location);
  return { async: true, evaluate: node };
}

function compileJsonataNode(value: unknown, location: string): (env: EvalEnv) => unknown {
  if (isJsonataTemplate(value)) {
    const text = (/^\{%([\s\S]*)%\}$/.exec(value)?.[1] ?? '').trim();
    const expression: JsonataExpression = compileJsonata(text);
    return async (env) => {
      let result: unknown;
      try {
        result = await expression.evaluate({
          states: jsonataStates(env),
          variables: visibleVariables(env.variables),
          random: env.random,
        });
      } catch (e) {
        if (e instanceof StatesError) throw e;
        throw new QueryEvaluationError(
          `The JSONata expression '${text}' specified for the field '${location}' threw an error during evaluation. ${jsonataMessage(e)}`,
          location,
        );
      }
      if (result === undefined) {
        throw new QueryEvaluationError(
          `The JSONata expression '${text}' specified for the field '${location}' returned nothing (undefined).`,
          location,
        );
      }
      return normaliseJsonataResult(result);
    };
  }
  if (Array.isArray(value)) {
    const items = value.map((item, i) => compileJsonataNode(item, `${location}[${i}]`));
    return async (env) => Promise.all(items.map((item) => item(env)));
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).map(
      ([key, v]) => [key, compileJsonataNode(v, `${location}/${key}`)] as const,
    );
    return async (env) => {
      const out: Record<string, unknown> = {};
      for (const [key, build] of entries) out[key] = await build(env);
      return out;
    };
  }
  return () => value;
}

/** A JSONata failure with the field it happened in (AWS reports it in EvaluationFailed). */
export class QueryEvaluationError extends StatesError {
  constructor(
    cause: string,
    readonly location: string | undefined,
  ) {
    super(StatesErrorName.QueryEvaluationError, cause);
  }
}

function jsonataStates(env: EvalEnv): Record<string, unknown> {
  const states: Record<string, unknown> = { input: env.input, context: env.context };
  if (env.result !== undefined) states.result = env.result;
  if (env.errorOutput !== undefined) states.errorOutput = env.errorOutput;
  return states;
}

/** JSONata returns arrays with a `sequence` flag and frozen objects; make them plain JSON. */
function normaliseJsonataResult(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normaliseJsonataResult);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = normaliseJsonataResult(v);
    return out;
  }
  if (typeof value === 'function') return undefined;
  return value;
}

/** Describes a value's JSON type as AWS names it in messages ('array', 'object', 'null' …). */
export { describeType };

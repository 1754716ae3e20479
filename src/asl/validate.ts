/**
 * Static validation of a definition, in the shape of AWS's ValidateStateMachineDefinition
 * diagnostics: a code, a message that names the state and field, and a JSON-pointer location.
 * The engine refuses to create or run a definition with any ERROR diagnostic.
 */
import type { ChoiceRule, State, SubMachine } from './definition.ts';
import { StateType } from './definition.ts';
import { CHOICE_OPERATORS, compileChoiceRule } from './choice.ts';
import { compileJsonataValue, compilePayloadTemplate } from './evaluate.ts';
import { compilePathExpression, compileReferencePath } from './jsonpath.ts';
import { compileIntrinsic, isIntrinsic } from './intrinsics.ts';
import { StatesError } from './errors.ts';
import { compileMachine } from './compile.ts';

/** One finding, as AWS returns it. */
export interface Diagnostic {
  severity: 'ERROR' | 'WARNING';
  code: string;
  message: string;
  location: string;
}

const STATE_TYPES = new Set<string>(Object.values(StateType));

const COMMON = ['Type', 'Comment', 'QueryLanguage', 'Next', 'End', 'InputPath', 'OutputPath', 'Output', 'Assign'];
const RESULT = ['Parameters', 'Arguments', 'ResultSelector', 'ResultPath', 'Retry', 'Catch'];
/** Fields each state type may carry (AWS rejects unknown fields). */
const ALLOWED: Record<string, ReadonlySet<string>> = {
  Pass: new Set([...COMMON, 'Result', 'ResultPath', 'Parameters']),
  Task: new Set([...COMMON, ...RESULT, 'Resource', 'TimeoutSeconds', 'TimeoutSecondsPath', 'HeartbeatSeconds', 'HeartbeatSecondsPath', 'Credentials']),
  Choice: new Set(['Type', 'Comment', 'QueryLanguage', 'InputPath', 'OutputPath', 'Output', 'Assign', 'Choices', 'Default']),
  Wait: new Set([...COMMON, 'Seconds', 'SecondsPath', 'Timestamp', 'TimestampPath']),
  Succeed: new Set(['Type', 'Comment', 'QueryLanguage', 'InputPath', 'OutputPath', 'Output']),
  Fail: new Set(['Type', 'Comment', 'QueryLanguage', 'Error', 'ErrorPath', 'Cause', 'CausePath']),
  Parallel: new Set([...COMMON, ...RESULT, 'Branches']),
  Map: new Set([
    ...COMMON,
    ...RESULT,
    'ItemProcessor',
    'Iterator',
    'ItemsPath',
    'Items',
    'ItemSelector',
    'ItemReader',
    'ItemBatcher',
    'ResultWriter',
    'MaxConcurrency',
    'MaxConcurrencyPath',
    'ToleratedFailurePercentage',
    'ToleratedFailurePercentagePath',
    'ToleratedFailureCount',
    'ToleratedFailureCountPath',
    'Label',
  ]),
};

/** Fields that exist only in JSONPath states. */
const JSONPATH_ONLY = ['InputPath', 'OutputPath', 'Parameters', 'ResultSelector', 'ResultPath', 'ItemsPath'];

const PATH_FIELDS = ['InputPath', 'OutputPath', 'ItemsPath', 'SecondsPath', 'TimestampPath', 'TimeoutSecondsPath', 'HeartbeatSecondsPath'];

/** Validates a whole definition; an empty list means it can run. */
export function validateDefinition(definition: unknown): Diagnostic[] {
  const out: Diagnostic[] = [];
  if (definition === null || typeof definition !== 'object' || Array.isArray(definition)) {
    return [{ severity: 'ERROR', code: 'INVALID_JSON_DESCRIPTION', message: 'The definition must be a JSON object', location: '' }];
  }
  validateMachine(definition as SubMachine, '', out, new Set(), 'JSONPath');
  if (out.length === 0) {
    // Whatever the structural checks let through must still compile: paths in Parameters,
    // intrinsic calls, Choice variables, JSONata syntax.
    checkCompiles(() => compileMachine(definition as SubMachine), '', out);
  }
  return out;
}

function error(out: Diagnostic[], code: string, location: string, message: string): void {
  out.push({ severity: 'ERROR', code, message, location });
}

function validateMachine(machine: SubMachine, at: string, out: Diagnostic[], names: Set<string>, inherited: string): void {
  const language = machine.QueryLanguage ?? inherited;
  if (typeof machine.StartAt !== 'string') {
    error(out, 'SCHEMA_VALIDATION_FAILED', `${at}/StartAt`, `The field 'StartAt' is required at ${at || '/'}`);
  }
  if (!machine.States || typeof machine.States !== 'object' || Array.isArray(machine.States)) {
    error(out, 'SCHEMA_VALIDATION_FAILED', `${at}/States`, `The field 'States' is required at ${at || '/'}`);
    return;
  }
  if (typeof machine.StartAt === 'string' && !(machine.StartAt in machine.States)) {
    error(out, 'MISSING_TRANSITION_TARGET', `${at}/StartAt`, `Missing 'StartAt' target: ${machine.StartAt} at ${at}/StartAt`);
  }
  const targets = new Set<string>();
  for (const [name, state] of Object.entries(machine.States)) {
    const loc = `${at}/States/${name}`;
    if (names.has(name)) error(out, 'DUPLICATE_STATE_NAME', loc, `Duplicate State name: '${name}'`);
    names.add(name);
    if (name.length > 80) error(out, 'SCHEMA_VALIDATION_FAILED', loc, `State name '${name}' is longer than 80 characters`);
    validateState(name, state, loc, machine, out, targets, names, language);
  }
  // Every state must be reachable from StartAt.
  const reachable = new Set<string>();
  const queue = [machine.StartAt];
  while (queue.length > 0) {
    const name = queue.pop() as string;
    if (reachable.has(name) || !(name in machine.States)) continue;
    reachable.add(name);
    queue.push(...transitionsOf(machine.States[name] as State));
  }
  for (const name of Object.keys(machine.States)) {
    if (!reachable.has(name)) error(out, 'MISSING_TRANSITION_TARGET', `${at}/States/${name}`, `State "${name}" is not reachable.`);
  }
  const terminal = Object.values(machine.States).some(
    (s) => s && (s.Type === 'Succeed' || s.Type === 'Fail' || (s as { End?: boolean }).End === true),
  );
  if (!terminal) error(out, 'MISSING_END_STATE', at || '/', `Workflow has no terminal state at ${at || '/'}`);
}

function transitionsOf(state: State): string[] {
  const out: string[] = [];
  if (typeof state.Next === 'string') out.push(state.Next);
  if (state.Type === 'Choice') {
    for (const c of state.Choices ?? []) if (typeof c.Next === 'string') out.push(c.Next);
    if (typeof state.Default === 'string') out.push(state.Default);
  }
  if ('Catch' in state && Array.isArray(state.Catch)) for (const c of state.Catch) out.push(c.Next);
  return out;
}

function checkTarget(target: unknown, field: string, loc: string, machine: SubMachine, out: Diagnostic[]): void {
  if (typeof target !== 'string' || !(target in machine.States)) {
    error(out, 'MISSING_TRANSITION_TARGET', `${loc}/${field}`, `Missing '${field}' target: ${String(target)} at ${loc}/${field}`);
  }
}

function checkCompiles(fn: () => unknown, loc: string, out: Diagnostic[]): void {
  try {
    fn();
  } catch (e) {
    const message = e instanceof StatesError ? (e.cause ?? e.message) : e instanceof Error ? e.message : String(e);
    error(out, 'SCHEMA_VALIDATION_FAILED', loc, `${message} at ${loc}`);
  }
}

function validateState(
  name: string,
  state: State,
  loc: string,
  machine: SubMachine,
  out: Diagnostic[],
  targets: Set<string>,
  names: Set<string>,
  inherited: string,
): void {
  if (state === null || typeof state !== 'object') {
    error(out, 'SCHEMA_VALIDATION_FAILED', loc, `State '${name}' must be an object`);
    return;
  }
  if (!STATE_TYPES.has(state.Type)) {
    error(out, 'SCHEMA_VALIDATION_FAILED', `${loc}/Type`, `State '${name}' has an invalid Type: ${JSON.stringify(state.Type)}`);
    return;
  }
  const allowed = ALLOWED[state.Type] as ReadonlySet<string>;
  for (const field of Object.keys(state)) {
    if (!allowed.has(field)) {
      error(out, 'SCHEMA_VALIDATION_FAILED', `${loc}/${field}`, `Field '${field}' is not supported in a ${state.Type} state ('${name}')`);
    }
  }
  const terminal = state.Type === 'Succeed' || state.Type === 'Fail' || state.Type === 'Choice';
  if (!terminal) {
    if (state.Next !== undefined && state.End === true) {
      error(out, 'SCHEMA_VALIDATION_FAILED', loc, `State '${name}' cannot have both 'Next' and 'End'`);
    } else if (state.Next === undefined && state.End !== true) {
      error(out, 'SCHEMA_VALIDATION_FAILED', loc, `State '${name}' must have 'Next' or 'End: true'`);
    } else if (state.Next !== undefined) {
      checkTarget(state.Next, 'Next', loc, machine, out);
      targets.add(state.Next);
    }
  }
  const jsonata = (state.QueryLanguage ?? inherited) === 'JSONata';
  if (jsonata) {
    for (const field of JSONPATH_ONLY) {
      if (field in state) {
        error(out, 'SCHEMA_VALIDATION_FAILED', `${loc}/${field}`, `The field '${field}' is not supported when QueryLanguage is JSONata (state '${name}')`);
      }
    }
    for (const field of ['Output', 'Arguments', 'Assign', 'Items', 'ItemSelector']) {
      const value = (state as unknown as Record<string, unknown>)[field];
      if (value !== undefined) checkCompiles(() => compileJsonataValue(value, field), `${loc}/${field}`, out);
    }
  } else {
    for (const field of ['Parameters', 'ResultSelector', 'ItemSelector', 'Assign']) {
      const value = (state as unknown as Record<string, unknown>)[field];
      if (value !== undefined) checkCompiles(() => compilePayloadTemplate(value, field), `${loc}/${field}`, out);
    }
    for (const field of PATH_FIELDS) {
      const value = (state as unknown as Record<string, unknown>)[field];
      if (typeof value === 'string') checkCompiles(() => compilePathExpression(value), `${loc}/${field}`, out);
    }
    const resultPath = (state as { ResultPath?: unknown }).ResultPath;
    if (typeof resultPath === 'string') checkCompiles(() => compileReferencePath(resultPath), `${loc}/ResultPath`, out);
  }
  switch (state.Type) {
    case 'Task':
      if (typeof state.Resource !== 'string') {
        error(out, 'SCHEMA_VALIDATION_FAILED', `${loc}/Resource`, `Task state '${name}' needs a 'Resource' string`);
      }
      if (
        typeof state.TimeoutSeconds === 'number' &&
        typeof state.HeartbeatSeconds === 'number' &&
        state.HeartbeatSeconds >= state.TimeoutSeconds
      ) {
        error(out, 'SCHEMA_VALIDATION_FAILED', `${loc}/HeartbeatSeconds`, `'HeartbeatSeconds' must be smaller than 'TimeoutSeconds' in state '${name}'`);
      }
      break;
    case 'Choice':
      if (!Array.isArray(state.Choices) || state.Choices.length === 0) {
        error(out, 'SCHEMA_VALIDATION_FAILED', `${loc}/Choices`, `Choice state '${name}' needs a non-empty 'Choices' array`);
        break;
      }
      state.Choices.forEach((rule, i) => {
        checkTarget(rule.Next, 'Next', `${loc}/Choices/${i}`, machine, out);
        validateChoiceRule(rule, `${loc}/Choices/${i}`, out, jsonata);
        if (!jsonata) checkCompiles(() => compileChoiceRule(rule), `${loc}/Choices/${i}`, out);
      });
      if (state.Default !== undefined) checkTarget(state.Default, 'Default', loc, machine, out);
      break;
    case 'Wait': {
      const forms = ['Seconds', 'SecondsPath', 'Timestamp', 'TimestampPath'].filter((f) => f in state);
      if (forms.length !== 1) {
        error(out, 'SCHEMA_VALIDATION_FAILED', loc, `Wait state '${name}' needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath`);
      }
      break;
    }
    case 'Fail':
      if (typeof state.ErrorPath === 'string' && isIntrinsic(state.ErrorPath)) {
        checkCompiles(() => compileIntrinsic(state.ErrorPath as string), `${loc}/ErrorPath`, out);
      }
      break;
    case 'Parallel':
      if (!Array.isArray(state.Branches) || state.Branches.length === 0) {
        error(out, 'SCHEMA_VALIDATION_FAILED', `${loc}/Branches`, `Parallel state '${name}' needs a non-empty 'Branches' array`);
        break;
      }
      state.Branches.forEach((b, i) => validateMachine(b, `${loc}/Branches/${i}`, out, names, jsonata ? 'JSONata' : 'JSONPath'));
      break;
    case 'Map': {
      // Reading items from S3 and writing results there are not built; refusing them beats
      // silently iterating over the input instead.
      for (const field of ['ItemReader', 'ItemBatcher', 'ResultWriter'] as const) {
        if (state[field] !== undefined) {
          error(out, 'SCHEMA_VALIDATION_FAILED', `${loc}/${field}`, `Field '${field}' is not supported by Inlet yet (state '${name}')`);
        }
      }
      const processor = state.ItemProcessor ?? state.Iterator;
      if (!processor) {
        error(out, 'SCHEMA_VALIDATION_FAILED', loc, `Map state '${name}' needs an 'ItemProcessor'`);
        break;
      }
      validateMachine(processor, `${loc}/${state.ItemProcessor ? 'ItemProcessor' : 'Iterator'}`, out, names, jsonata ? 'JSONata' : 'JSONPath');
      break;
    }
    default:
      break;
  }
  if ('Retry' in state && state.Retry !== undefined) {
    if (!Array.isArray(state.Retry)) error(out, 'SCHEMA_VALIDATION_FAILED', `${loc}/Retry`, `'Retry' must be an array in state '${name}'`);
    else
      state.Retry.forEach((r, i) => {
        if (!Array.isArray(r.ErrorEquals) || r.ErrorEquals.length === 0) {
          error(out, 'SCHEMA_VALIDATION_FAILED', `${loc}/Retry/${i}/ErrorEquals`, `A Retrier needs a non-empty 'ErrorEquals' in state '${name}'`);
        } else if (r.ErrorEquals.includes('States.ALL') && (r.ErrorEquals.length > 1 || i !== state.Retry!.length - 1)) {
          error(out, 'SCHEMA_VALIDATION_FAILED', `${loc}/Retry/${i}/ErrorEquals`, `'States.ALL' must appear alone and in the last Retrier of state '${name}'`);
        }
        if (r.MaxAttempts !== undefined && (!Number.isInteger(r.MaxAttempts) || r.MaxAttempts < 0)) {
          error(out, 'SCHEMA_VALIDATION_FAILED', `${loc}/Retry/${i}/MaxAttempts`, `'MaxAttempts' must be a non-negative integer in state '${name}'`);
        }
        if (r.BackoffRate !== undefined && (typeof r.BackoffRate !== 'number' || r.BackoffRate < 1)) {
          error(out, 'SCHEMA_VALIDATION_FAILED', `${loc}/Retry/${i}/BackoffRate`, `'BackoffRate' must be a number >= 1.0 in state '${name}'`);
        }
      });
  }
  if ('Catch' in state && state.Catch !== undefined) {
    if (!Array.isArray(state.Catch)) error(out, 'SCHEMA_VALIDATION_FAILED', `${loc}/Catch`, `'Catch' must be an array in state '${name}'`);
    else
      state.Catch.forEach((c, i) => {
        checkTarget(c.Next, 'Next', `${loc}/Catch/${i}`, machine, out);
        if (Array.isArray(c.ErrorEquals) && c.ErrorEquals.includes('States.ALL') && (c.ErrorEquals.length > 1 || i !== state.Catch!.length - 1)) {
          error(out, 'SCHEMA_VALIDATION_FAILED', `${loc}/Catch/${i}/ErrorEquals`, `'States.ALL' must appear alone and in the last Catcher of state '${name}'`);
        }
      });
  }
}

function validateChoiceRule(rule: ChoiceRule, loc: string, out: Diagnostic[], jsonata: boolean): void {
  if (jsonata) {
    if (rule.Condition === undefined) error(out, 'SCHEMA_VALIDATION_FAILED', loc, `A JSONata Choice Rule needs a 'Condition' at ${loc}`);
    return;
  }
  if (rule.And) return rule.And.forEach((r, i) => validateChoiceRule(r, `${loc}/And/${i}`, out, false));
  if (rule.Or) return rule.Or.forEach((r, i) => validateChoiceRule(r, `${loc}/Or/${i}`, out, false));
  if (rule.Not) return validateChoiceRule(rule.Not, `${loc}/Not`, out, false);
  const operators = Object.keys(rule).filter((k) => CHOICE_OPERATORS.has(k));
  if (rule.Variable === undefined || operators.length !== 1) {
    error(out, 'SCHEMA_VALIDATION_FAILED', loc, `A Choice Rule needs a 'Variable' and exactly one comparison operator at ${loc}`);
  }
}

/**
 * Types that mirror the Amazon States Language spec, field names verbatim, one type per state.
 * These describe a definition as written; {@link ../compile.ts} turns it into a runnable form.
 */

/** The eight state types. */
export const StateType = {
  Task: 'Task',
  Pass: 'Pass',
  Choice: 'Choice',
  Wait: 'Wait',
  Succeed: 'Succeed',
  Fail: 'Fail',
  Parallel: 'Parallel',
  Map: 'Map',
} as const;
export type StateType = (typeof StateType)[keyof typeof StateType];

/** The two query languages; JSONPath is the default. */
export type QueryLanguage = 'JSONPath' | 'JSONata';

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
/** A JSON object. */
export type JsonObject = { [key: string]: Json };

/** A Retrier. */
export interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: 'FULL' | 'NONE';
  Comment?: string;
}

/** A Catcher. */
export interface Catcher {
  ErrorEquals: string[];
  Next: string;
  ResultPath?: string | null;
  Output?: Json;
  Assign?: JsonObject;
  Comment?: string;
}

/** Fields every state may have. */
export interface CommonFields {
  Type: StateType;
  Comment?: string;
  QueryLanguage?: QueryLanguage;
  Next?: string;
  End?: boolean;
  InputPath?: string | null;
  OutputPath?: string | null;
  Output?: Json;
  Assign?: JsonObject;
}

/** Fields of the states that produce a result (Task, Parallel, Map). */
export interface ResultFields {
  Parameters?: Json;
  Arguments?: Json;
  ResultSelector?: JsonObject;
  ResultPath?: string | null;
  Retry?: Retrier[];
  Catch?: Catcher[];
}

export interface TaskState extends CommonFields, ResultFields {
  Type: 'Task';
  Resource: string;
  TimeoutSeconds?: number | string;
  TimeoutSecondsPath?: string;
  HeartbeatSeconds?: number | string;
  HeartbeatSecondsPath?: string;
  Credentials?: Json;
}

export interface PassState extends CommonFields {
  Type: 'Pass';
  Result?: Json;
  ResultPath?: string | null;
  Parameters?: Json;
}

/** A Choice Rule: a comparison, a boolean combination, or a JSONata Condition. */
export interface ChoiceRule {
  Variable?: string;
  And?: ChoiceRule[];
  Or?: ChoiceRule[];
  Not?: ChoiceRule;
  Condition?: string | boolean;
  Next?: string;
  Assign?: JsonObject;
  Output?: Json;
  Comment?: string;
  [operator: string]: unknown;
}

export interface ChoiceState extends CommonFields {
  Type: 'Choice';
  Choices: ChoiceRule[];
  Default?: string;
}

export interface WaitState extends CommonFields {
  Type: 'Wait';
  Seconds?: number | string;
  SecondsPath?: string;
  Timestamp?: string;
  TimestampPath?: string;
}

export interface SucceedState extends CommonFields {
  Type: 'Succeed';
}

export interface FailState extends CommonFields {
  Type: 'Fail';
  Error?: string;
  ErrorPath?: string;
  Cause?: string;
  CausePath?: string;
}

/** A nested state machine: a Parallel branch or a Map's ItemProcessor. */
export interface SubMachine {
  StartAt: string;
  States: Record<string, State>;
  QueryLanguage?: QueryLanguage;
  Comment?: string;
  ProcessorConfig?: { Mode?: 'INLINE' | 'DISTRIBUTED'; ExecutionType?: 'STANDARD' | 'EXPRESS' };
}

export interface ParallelState extends CommonFields, ResultFields {
  Type: 'Parallel';
  Branches: SubMachine[];
}

export interface MapState extends CommonFields, ResultFields {
  Type: 'Map';
  ItemProcessor?: SubMachine;
  Iterator?: SubMachine;
  ItemsPath?: string;
  Items?: Json;
  ItemSelector?: Json;
  ItemReader?: Json;
  ItemBatcher?: Json;
  ResultWriter?: Json;
  MaxConcurrency?: number | string;
  MaxConcurrencyPath?: string;
  ToleratedFailurePercentage?: number | string;
  ToleratedFailurePercentagePath?: string;
  ToleratedFailureCount?: number | string;
  ToleratedFailureCountPath?: string;
  Label?: string;
}

/** Any state. */
export type State = TaskState | PassState | ChoiceState | WaitState | SucceedState | FailState | ParallelState | MapState;

/** A whole state machine definition. */
export interface StateMachineDefinition extends SubMachine {
  Version?: string;
  TimeoutSeconds?: number;
}

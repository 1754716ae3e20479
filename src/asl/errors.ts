/**
 * The errors of the Amazon States Language. Every failure inside the language core is a
 * {@link StatesError}: an error name as AWS reports it (`States.Runtime`, `States.IntrinsicFailure`,
 * a user's own `Fail` error …) and a cause text. Nothing else is thrown out of the core, so the
 * engine can always turn a failure into a history event and a Retry/Catch match.
 */

/** The predefined error names of the spec, verbatim. */
export const StatesErrorName = {
  ALL: 'States.ALL',
  HeartbeatTimeout: 'States.HeartbeatTimeout',
  Timeout: 'States.Timeout',
  TaskFailed: 'States.TaskFailed',
  Permissions: 'States.Permissions',
  ResultPathMatchFailure: 'States.ResultPathMatchFailure',
  ParameterPathFailure: 'States.ParameterPathFailure',
  QueryEvaluationError: 'States.QueryEvaluationError',
  BranchFailed: 'States.BranchFailed',
  NoChoiceMatched: 'States.NoChoiceMatched',
  IntrinsicFailure: 'States.IntrinsicFailure',
  ExceedToleratedFailureThreshold: 'States.ExceedToleratedFailureThreshold',
  ItemReaderFailed: 'States.ItemReaderFailed',
  ResultWriterFailed: 'States.ResultWriterFailed',
  DataLimitExceeded: 'States.DataLimitExceeded',
  Runtime: 'States.Runtime',
} as const;
export type StatesErrorName = (typeof StatesErrorName)[keyof typeof StatesErrorName];

/**
 * An ASL error: `error` is the name Retry/Catch match on, `cause` the human text.
 * `States.Runtime` and `States.DataLimitExceeded` are not matched by `States.ALL` (AWS rule),
 * hence the flag.
 */
export class StatesError extends Error {
  readonly error: string;
  override readonly cause: string | undefined;

  constructor(error: string, cause?: string) {
    super(cause === undefined ? error : `${error}: ${cause}`);
    this.name = 'StatesError';
    this.error = error;
    this.cause = cause;
  }

  /** Whether a `States.ALL` retrier or catcher may handle this error. */
  get matchedByAll(): boolean {
    return this.error !== StatesErrorName.Runtime && this.error !== StatesErrorName.DataLimitExceeded;
  }
}

/**
 * Turns anything thrown into a StatesError at the boundary of the core, keeping the first
 * error's message as the cause rather than masking it.
 */
export function coerceStatesError(thrown: unknown, fallbackName: string = StatesErrorName.Runtime): StatesError {
  if (thrown instanceof StatesError) return thrown;
  if (thrown instanceof Error) return new StatesError(fallbackName, thrown.message);
  return new StatesError(fallbackName, String(thrown));
}

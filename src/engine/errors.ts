/**
 * Errors of the Step Functions API, named as AWS names them, so the HTTP layer can send AWS's
 * error shapes (`__type`, `message`, status) and SDK clients raise the exceptions users expect.
 */

/** An API error: `name` is AWS's error code (e.g. `ExecutionDoesNotExist`). */
export class SfnServiceError extends Error {
  constructor(
    name: string,
    message: string,
    readonly httpStatus = 400,
  ) {
    super(message);
    this.name = name;
  }
}

/** Shorthands for the errors the engine raises. */
export const sfnErrors = {
  invalidArn: (arn: string) => new SfnServiceError('InvalidArn', `Invalid Arn: '${arn}'`),
  invalidDefinition: (message: string) => new SfnServiceError('InvalidDefinition', `Invalid State Machine Definition: '${message}'`),
  invalidName: (name: string) => new SfnServiceError('InvalidName', `Invalid Name: '${name}'`),
  invalidInput: (message: string) => new SfnServiceError('InvalidExecutionInput', message),
  invalidOutput: (message: string) => new SfnServiceError('InvalidOutput', message),
  invalidToken: (message: string) => new SfnServiceError('InvalidToken', message),
  stateMachineDoesNotExist: (arn: string) => new SfnServiceError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`),
  stateMachineAlreadyExists: (arn: string) => new SfnServiceError('StateMachineAlreadyExists', `State Machine Already Exists: '${arn}'`),
  activityDoesNotExist: (arn: string) => new SfnServiceError('ActivityDoesNotExist', `Activity Does Not Exist: '${arn}'`),
  executionDoesNotExist: (arn: string) => new SfnServiceError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`),
  executionAlreadyExists: (arn: string) => new SfnServiceError('ExecutionAlreadyExists', `Execution Already Exists: '${arn}'`),
  executionNotRedrivable: (arn: string, why: string) => new SfnServiceError('ExecutionNotRedrivable', `Execution '${arn}' cannot be redriven: ${why}`),
  taskDoesNotExist: () => new SfnServiceError('TaskDoesNotExist', 'Task Does Not Exist'),
  taskTimedOut: () => new SfnServiceError('TaskTimedOut', 'Task Timed Out'),
  validation: (message: string) => new SfnServiceError('ValidationException', message),
} as const;

/**
 * The AWS SDK's Step Functions client behind the same method names as Inlet's in-process API
 * (`startExecution(req)` …), so CLI commands, deploy and workers run unchanged against an Inlet
 * server or AWS Step Functions.
 */
import * as sfn from '@aws-sdk/client-sfn';

type Commands = {
  [K in keyof typeof sfn as K extends `${infer Name}Command` ? (Name extends '$' ? never : Uncapitalize<Name>) : never]: unknown;
};

/** Builds the client for an endpoint (or AWS's, when undefined) with credentials from the environment or given. */
export function sfnClient(options: { endpoint?: string; region: string; credentials?: { accessKeyId: string; secretAccessKey: string } }): sfn.SFNClient {
  const config: sfn.SFNClientConfig = { region: options.region };
  if (options.endpoint) config.endpoint = options.endpoint;
  if (options.credentials) config.credentials = options.credentials;
  return new sfn.SFNClient(config);
}

/** The client as an object with one async method per action, named like the in-process API. */
export function sdkStepFunctions(client: sfn.SFNClient): Record<keyof Commands, (req: object) => Promise<Record<string, unknown>>> {
  return new Proxy({} as Record<keyof Commands, (req: object) => Promise<Record<string, unknown>>>, {
    get(_, method: string) {
      const name = `${method[0]?.toUpperCase() ?? ''}${method.slice(1)}Command`;
      const Command = (sfn as unknown as Record<string, new (input: object) => never>)[name];
      if (!Command) return undefined;
      return async (req: object) => (await client.send(new Command(req))) as unknown as Record<string, unknown>;
    },
  });
}

/**
 * `inlet deploy`: state machine definitions are JSON templates with `${name}` variables
 * (activity ARNs as `${activity_<name>}`, plus numbers), applied from the config. It creates
 * missing activities and state machines, updates changed ones, shows a diff first, and changes
 * nothing when nothing changed. It talks to a Step Functions API only through the methods
 * below, so it runs against Inlet in process, Inlet over HTTP, or AWS Step Functions.
 */
import { renderDefinition } from '../sync/definition.ts';
import type { TemplateValue } from '../sync/definition.ts';

/** The Step Functions calls deploy needs (the in-process API and the AWS SDK both fit). */
export interface DeployApi {
  listActivities(req: { nextToken?: string }): Promise<{ activities?: { activityArn?: string; name?: string }[]; nextToken?: string }>;
  createActivity(req: { name: string }): Promise<{ activityArn?: string }>;
  listStateMachines(req: { nextToken?: string }): Promise<{ stateMachines?: { stateMachineArn?: string; name?: string }[]; nextToken?: string }>;
  describeStateMachine(req: { stateMachineArn: string }): Promise<{ definition?: string; roleArn?: string }>;
  createStateMachine(req: { name: string; definition: string; roleArn: string }): Promise<{ stateMachineArn?: string }>;
  updateStateMachine(req: { stateMachineArn: string; definition: string; roleArn: string }): Promise<unknown>;
}

/** What to deploy. Each activity's ARN is given to the templates as the variable it names. */
export interface DeployPlan {
  activities: { name: string; variable: string }[];
  stateMachines: { name: string; template: string; vars?: Record<string, TemplateValue> }[];
  roleArn: string;
}

/** One change, as shown to the user. */
export interface DeployChange {
  kind: 'activity' | 'stateMachine';
  name: string;
  action: 'create' | 'update' | 'unchanged';
  arn?: string;
  /** Unified-style line diff of the pretty-printed definitions (updates only). */
  diff?: string;
}

async function listAll<T>(page: (token?: string) => Promise<{ items: T[]; nextToken?: string | undefined }>): Promise<T[]> {
  const out: T[] = [];
  let token: string | undefined;
  do {
    const res = await page(token);
    out.push(...res.items);
    token = res.nextToken;
  } while (token);
  return out;
}

/** A line diff (longest common subsequence), `-`/`+`/` ` prefixed, unchanged runs folded. */
export function lineDiff(before: string, after: string): string {
  const a = before.split('\n');
  const b = after.split('\n');
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      (lcs[i] as number[])[j] = a[i] === b[j] ? ((lcs[i + 1] as number[])[j + 1] as number) + 1 : Math.max((lcs[i + 1] as number[])[j] as number, (lcs[i] as number[])[j + 1] as number);
    }
  }
  const lines: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      lines.push(`  ${a[i]}`);
      i++;
      j++;
    } else if (j < b.length && (i >= a.length || ((lcs[i] as number[])[j + 1] as number) >= ((lcs[i + 1] as number[])[j] as number))) {
      lines.push(`+ ${b[j++]}`);
    } else {
      lines.push(`- ${a[i++]}`);
    }
  }
  // Keep two lines of context around changes.
  const keep = lines.map((l, k) => lines.slice(Math.max(0, k - 2), k + 3).some((x) => !x.startsWith('  ')));
  return lines.filter((_, k) => keep[k]).join('\n');
}

function pretty(definition: string): string {
  return JSON.stringify(JSON.parse(definition), null, 2);
}

/** Computes the changes and, unless `dryRun`, applies them. Idempotent. */
export async function deploy(api: DeployApi, plan: DeployPlan, options: { dryRun?: boolean } = {}): Promise<DeployChange[]> {
  const changes: DeployChange[] = [];
  const activities = await listAll(async (nextToken) => {
    const res = await api.listActivities(nextToken ? { nextToken } : {});
    return { items: res.activities ?? [], nextToken: res.nextToken };
  });
  const vars: Record<string, TemplateValue> = {};
  for (const { name, variable } of plan.activities) {
    const existing = activities.find((a) => a.name === name);
    let arn = existing?.activityArn;
    if (!arn && !options.dryRun) arn = (await api.createActivity({ name })).activityArn;
    const change: DeployChange = { kind: 'activity', name, action: existing ? 'unchanged' : 'create' };
    if (arn) change.arn = arn;
    changes.push(change);
    vars[variable] = arn ?? `arn:aws:states:<region>:<account>:activity:${name}`;
  }
  const machines = await listAll(async (nextToken) => {
    const res = await api.listStateMachines(nextToken ? { nextToken } : {});
    return { items: res.stateMachines ?? [], nextToken: res.nextToken };
  });
  for (const sm of plan.stateMachines) {
    const usedVars = Object.fromEntries(
      Object.entries({ ...vars, ...sm.vars }).filter(([name]) => sm.template.includes(`\${${name}}`)),
    );
    const definition = renderDefinition(sm.template, usedVars);
    const existing = machines.find((m) => m.name === sm.name);
    if (!existing?.stateMachineArn) {
      const change: DeployChange = { kind: 'stateMachine', name: sm.name, action: 'create', diff: lineDiff('', pretty(definition)) };
      if (!options.dryRun) {
        const created = await api.createStateMachine({ name: sm.name, definition, roleArn: plan.roleArn });
        if (created.stateMachineArn) change.arn = created.stateMachineArn;
      }
      changes.push(change);
      continue;
    }
    const current = await api.describeStateMachine({ stateMachineArn: existing.stateMachineArn });
    const before = pretty(current.definition ?? '{}');
    const after = pretty(definition);
    if (before === after && current.roleArn === plan.roleArn) {
      changes.push({ kind: 'stateMachine', name: sm.name, action: 'unchanged', arn: existing.stateMachineArn });
      continue;
    }
    if (!options.dryRun) await api.updateStateMachine({ stateMachineArn: existing.stateMachineArn, definition, roleArn: plan.roleArn });
    changes.push({ kind: 'stateMachine', name: sm.name, action: 'update', arn: existing.stateMachineArn, diff: lineDiff(before, after) });
  }
  return changes;
}

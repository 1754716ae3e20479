/**
 * The small JSONPath the conformance harness needs to read the recorded cases' `skipVerify`
 * paths, `JsonpathTransformer` paths and `dynamicInput.path` (`$..events[3].previousEventId`,
 * `$..events..stateEnteredEventDetails.input`, `$.start_at`). It follows jsonpath_ng, which
 * LocalStack used when it recorded the cases: a field step only matches an existing key of an
 * object, `..` applies the next step to the node itself and to every descendant, depth first.
 * It is kept apart from the engine's JSONPath on purpose: the harness must not share code with
 * what it checks.
 */

/** One step of a parsed path: a field name, an array index or `*`, optionally after `..`. */
export type PathStep =
  | { kind: 'field'; name: string; descendant: boolean }
  | { kind: 'index'; index: number; descendant: boolean }
  | { kind: 'wildcard'; descendant: boolean };

/** A place a path matched: the container holding the value, and its key or index there. */
export interface PathMatch {
  parent: Record<string, unknown> | unknown[];
  key: string | number;
  value: unknown;
}

/** Parses `$`-rooted paths made of `.name`, `..name`, `[n]`, `['name']`, `.*` and `[*]`. */
export function parsePath(path: string): PathStep[] {
  if (!path.startsWith('$')) throw new Error(`JSONPath must start with '$': ${path}`);
  const steps: PathStep[] = [];
  let i = 1;
  while (i < path.length) {
    let descendant = false;
    if (path.startsWith('..', i)) {
      descendant = true;
      i += 2;
    } else if (path[i] === '.') {
      i += 1;
    }
    if (path[i] === '[') {
      const close = path.indexOf(']', i);
      if (close < 0) throw new Error(`unclosed '[' in JSONPath: ${path}`);
      const inner = path.slice(i + 1, close).trim();
      i = close + 1;
      if (inner === '*') steps.push({ kind: 'wildcard', descendant });
      else if (/^\d+$/.test(inner)) steps.push({ kind: 'index', index: Number(inner), descendant });
      else if (/^'.*'$|^".*"$/.test(inner))
        steps.push({ kind: 'field', name: inner.slice(1, -1), descendant });
      else throw new Error(`unsupported JSONPath selector [${inner}] in ${path}`);
      continue;
    }
    const match = /^(\*|[^.[\]]+)/.exec(path.slice(i));
    if (!match?.[1]) throw new Error(`unsupported JSONPath syntax at ${i} in ${path}`);
    const token = match[1];
    i += token.length;
    steps.push(token === '*' ? { kind: 'wildcard', descendant } : { kind: 'field', name: token, descendant });
  }
  return steps;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function applyStep(node: unknown, step: PathStep): PathMatch[] {
  if (step.kind === 'field') {
    return isObject(node) && Object.hasOwn(node, step.name)
      ? [{ parent: node, key: step.name, value: node[step.name] }]
      : [];
  }
  if (step.kind === 'index') {
    return Array.isArray(node) && step.index < node.length
      ? [{ parent: node, key: step.index, value: node[step.index] }]
      : [];
  }
  if (Array.isArray(node)) return node.map((value, key) => ({ parent: node, key, value }));
  if (isObject(node)) return Object.entries(node).map(([key, value]) => ({ parent: node, key, value }));
  return [];
}

function descendAll(node: unknown, step: PathStep, out: PathMatch[]): void {
  out.push(...applyStep(node, step));
  const children = Array.isArray(node) ? node : isObject(node) ? Object.values(node) : [];
  for (const child of children) descendAll(child, step, out);
}

/** Every place `path` matches in `root`, in document order. */
export function findPath(root: unknown, path: string | PathStep[]): PathMatch[] {
  const steps = typeof path === 'string' ? parsePath(path) : path;
  let current: PathMatch[] = [{ parent: [root], key: 0, value: root }];
  for (const step of steps) {
    const next: PathMatch[] = [];
    for (const match of current) {
      if (step.descendant) descendAll(match.value, step, next);
      else next.push(...applyStep(match.value, step));
    }
    current = next;
  }
  return current;
}

/** Sets every existing match of `path` to `value` (jsonpath_ng's `update`: nothing is created). */
export function updatePath(root: unknown, path: string, value: unknown): void {
  for (const match of findPath(root, path)) {
    if (Array.isArray(match.parent)) match.parent[Number(match.key)] = value;
    else match.parent[String(match.key)] = value;
  }
}

/**
 * Quoting for SQL built at run time. Table and column names come from user events, so every
 * identifier and literal that reaches SQLite, DuckDB or Hive DDL goes through these helpers and
 * never through string concatenation alone.
 */

/** A double-quoted identifier (SQLite, DuckDB, PostgreSQL), embedded quotes doubled. */
export function quoteIdent(name: string): string {
  if (name.includes('\0')) throw new Error('identifier contains a NUL character');
  return `"${name.replaceAll('"', '""')}"`;
}

/** A single-quoted string literal, embedded quotes doubled. */
export function quoteString(value: string): string {
  if (value.includes('\0')) throw new Error('string literal contains a NUL character');
  return `'${value.replaceAll("'", "''")}'`;
}

/** A backquoted identifier for Hive/Athena DDL, embedded backquotes doubled. */
export function quoteHiveIdent(name: string): string {
  return `\`${name.replaceAll('`', '``')}\``;
}

/**
 * Source ids, sync ids and table names become path segments of lake keys; this pattern keeps them
 * to characters no object store or Hive path treats specially (no '/', '=', '..', spaces).
 */
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/;

/** Raised for a name that cannot be used as a path segment of the lake. */
export class UnsafeNameError extends Error {
  constructor(
    readonly kind: string,
    readonly value: string,
  ) {
    super(`unsafe ${kind} '${value}': use letters, digits, '_', '.', '-' (not starting with '.' or '-')`);
    this.name = 'UnsafeNameError';
  }
}

/** Throws {@link UnsafeNameError} unless `value` is a safe lake path segment. */
export function assertSafeName(kind: string, value: string): void {
  if (!SAFE_NAME.test(value) || value.includes('..')) throw new UnsafeNameError(kind, value);
}

/**
 * Schema evolution as Segment Data Lakes does it, minus its one-way trap: new columns are
 * appended (positions never move, so old Parquet files and Glue schemas stay aligned), and a
 * column's type only ever widens along the lake's lattice. Planning is pure so the Load can see
 * the whole change (and which files must be rewritten) before it writes anything.
 */
import type { CatalogColumn, CatalogColumnType, ColumnChange, WidenFn } from './types.ts';

/** A column of a planned schema. */
export interface PlannedColumn {
  name: string;
  type: CatalogColumnType;
  position: number;
}

/** The outcome of {@link planSchemaEvolution}. */
export interface SchemaPlan {
  /** The table's columns after the change, in position order. */
  columns: PlannedColumn[];
  changes: ColumnChange[];
  /** Names of columns whose type widened: files holding them in the old type need rewriting. */
  widened: string[];
}

/**
 * Merges incoming column types into a table's current columns. Incoming columns are taken in the
 * order given (first appearance), so appended positions are deterministic for a given input.
 */
export function planSchemaEvolution(
  current: readonly CatalogColumn[],
  incoming: Iterable<readonly [string, CatalogColumnType]>,
  widen: WidenFn,
): SchemaPlan {
  const columns: PlannedColumn[] = [...current]
    .sort((a, b) => a.position - b.position)
    .map((c) => ({ name: c.name, type: c.type, position: c.position }));
  const byName = new Map(columns.map((c) => [c.name, c]));
  const original = new Map(columns.map((c) => [c.name, c.type]));
  const added = new Set<string>();
  for (const [name, type] of incoming) {
    const existing = byName.get(name);
    if (existing === undefined) {
      const column = { name, type, position: columns.length };
      columns.push(column);
      byName.set(name, column);
      added.add(name);
    } else {
      existing.type = widen(existing.type, type);
    }
  }
  const changes: ColumnChange[] = [];
  const widened: string[] = [];
  for (const column of columns) {
    if (added.has(column.name)) {
      changes.push({ change: 'added', name: column.name, type: column.type, position: column.position });
      continue;
    }
    const before = original.get(column.name);
    if (before !== undefined && before !== column.type) {
      changes.push({ change: 'widened', name: column.name, fromType: before, toType: column.type });
      widened.push(column.name);
    }
  }
  return { columns, changes, widened };
}

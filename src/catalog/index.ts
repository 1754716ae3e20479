/**
 * The catalog module: the lake's Glue Data Catalog (databases per source, tables per event type,
 * columns with types and history, partitions and files) and the records that make syncs
 * exactly-once (raw-object marks, sync records, load jobs). It may import only `src/store`; the
 * lake imports it, never the other way round, so the type lattice is handed in where needed.
 */
export type * from './catalog.ts';
export * from './types.ts';
export { planSchemaEvolution, type PlannedColumn, type SchemaPlan } from './evolution.ts';
export { exportTableDdl, type DdlOptions } from './ddl.ts';
export { assertSafeName, quoteHiveIdent, quoteIdent, quoteString, UnsafeNameError } from './sql.ts';
export { SqliteCatalog } from './sqlite/sqlite-catalog.ts';
export { partitionLocation, tableLocation } from './layout.ts';
export { CATALOG_MIGRATIONS } from './migrations.ts';

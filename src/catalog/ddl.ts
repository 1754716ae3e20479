/**
 * Glue/Athena DDL for catalog tables, so a lake written by Inlet can be registered in AWS Glue
 * (or any Hive metastore: Spark, Trino) exactly as Segment Data Lakes registers it: one
 * database per source, one external Parquet table per event type, partitioned by day and hour.
 */
import { tableLocation } from './layout.ts';
import { quoteHiveIdent, quoteString } from './sql.ts';
import type { CatalogColumnType, CatalogPartition, CatalogTable } from './types.ts';

/** Hive type of each lake column type (Segment Data Lakes uses the same names). */
const HIVE_TYPES: Record<CatalogColumnType, string> = {
  bigint: 'bigint',
  double: 'double',
  boolean: 'boolean',
  string: 'string',
  timestamp: 'timestamp',
};

/** Options for {@link exportTableDdl}. */
export interface DdlOptions {
  /** Glue database name (Segment: the source slug). */
  database: string;
  /** The lake's root URL, e.g. `s3://my-bucket` (the `segment-data/...` keys go below it). */
  lakeUrl: string;
  /** Also emit `ALTER TABLE … ADD PARTITION` for these partitions. */
  partitions?: readonly CatalogPartition[];
}

function joinUrl(base: string, key: string): string {
  return `${base.replace(/\/+$/, '')}/${key}`;
}

/** `CREATE EXTERNAL TABLE … PARTITIONED BY (day string, hr string) STORED AS PARQUET LOCATION …`. */
export function exportTableDdl(table: CatalogTable, options: DdlOptions): string {
  const name = `${quoteHiveIdent(options.database)}.${quoteHiveIdent(table.name)}`;
  const columns = [...table.columns]
    .sort((a, b) => a.position - b.position)
    .map((c) => `  ${quoteHiveIdent(c.name)} ${HIVE_TYPES[c.type]}`)
    .join(',\n');
  const location = joinUrl(options.lakeUrl, tableLocation(table.sourceId, table.name));
  const statements = [
    `CREATE EXTERNAL TABLE IF NOT EXISTS ${name} (\n${columns}\n)\n` +
      'PARTITIONED BY (`day` string, `hr` string)\n' +
      'STORED AS PARQUET\n' +
      `LOCATION ${quoteString(location)}\n` +
      "TBLPROPERTIES ('parquet.compression' = 'ZSTD');",
  ];
  for (const p of options.partitions ?? []) {
    statements.push(
      `ALTER TABLE ${name} ADD IF NOT EXISTS PARTITION (\`day\` = ${quoteString(p.day)}, \`hr\` = ${quoteString(p.hr)}) ` +
        `LOCATION ${quoteString(joinUrl(options.lakeUrl, p.location))};`,
    );
  }
  return statements.join('\n');
}

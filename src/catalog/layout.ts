/**
 * Where a table's data lives in the lake: Segment Data Lakes layout,
 * `segment-data/data/<source-id>/segment_type=<table>/day=<YYYY-MM-DD>/hr=<HH>/`. The catalog
 * records these locations and the DDL points Glue at them, so the layout is defined once here.
 */

/** Key prefix of a table, ending in '/'. */
export function tableLocation(sourceId: string, table: string): string {
  return `segment-data/data/${sourceId}/segment_type=${table}/`;
}

/** Key prefix of one partition of a table, ending in '/'. */
export function partitionLocation(sourceId: string, table: string, day: string, hr: string): string {
  return `${tableLocation(sourceId, table)}day=${day}/hr=${hr}/`;
}

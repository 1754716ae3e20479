/**
 * The tracking API's counters, behind a small interface so the HTTP handler and the log stay
 * free of prom-client calls and tests can run without a registry. The Prometheus version
 * registers in a caller-supplied `Registry`, so the process's `/metrics` endpoint decides what is
 * exposed; metrics already registered there (a second handler in one process) are reused.
 */
import { Counter, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

/** What the tracking API reports. */
export interface IngestMetrics {
  /** Events accepted (acknowledged) for a source, and their bytes as stored. */
  eventsReceived(sourceId: string, events: number, bytes: number): void;
  /** A request refused, by reason code (e.g. `invalid_json`, `event_too_large`). */
  rejected(reason: string): void;
  /** One group commit of the log: records written under one fsync, and how long it took. */
  logFlushed(records: number, bytes: number, seconds: number): void;
  /** Objects the roller stored. */
  rolled(objects: number, events: number, bytes: number): void;
}

/** Metrics that go nowhere, for tests and embedded use without `/metrics`. */
export const noIngestMetrics: IngestMetrics = {
  eventsReceived: () => undefined,
  rejected: () => undefined,
  logFlushed: () => undefined,
  rolled: () => undefined,
};

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing instanceof Counter) return existing as Counter<L>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

function histogram(registry: Registry, name: string, help: string, buckets: number[]): Histogram {
  const existing = registry.getSingleMetric(name);
  if (existing instanceof Histogram) return existing;
  return new Histogram({ name, help, buckets, registers: [registry] });
}

/** Prometheus metrics for the tracking API, registered in `registry`. */
export function createIngestMetrics(registry: Registry): IngestMetrics {
  const events = counter(registry, 'inlet_ingest_events_received_total', 'Events acknowledged by the tracking API.', ['source']);
  const bytes = counter(registry, 'inlet_ingest_bytes_received_total', 'Bytes of acknowledged events, as stored (NDJSON).', ['source']);
  const rejected = counter(registry, 'inlet_ingest_requests_rejected_total', 'Tracking API requests refused, by reason.', ['reason']);
  const flushes = counter(registry, 'inlet_ingest_log_flushes_total', 'Group commits of the ingest log (one write and one fsync each).', []);
  const flushedRecords = counter(registry, 'inlet_ingest_log_records_total', 'Records (requests) made durable by the ingest log.', []);
  const flushSeconds = histogram(registry, 'inlet_ingest_log_flush_seconds', 'Latency of one group commit (write + fsync).', [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
  ]);
  const objects = counter(registry, 'inlet_ingest_objects_rolled_total', 'Raw objects the roller stored.', []);
  const rolledEvents = counter(registry, 'inlet_ingest_events_rolled_total', 'Events the roller moved into raw objects.', []);
  const rolledBytes = counter(registry, 'inlet_ingest_rolled_bytes_total', 'Compressed bytes of raw objects stored.', []);
  return {
    eventsReceived(sourceId, n, size) {
      events.inc({ source: sourceId }, n);
      bytes.inc({ source: sourceId }, size);
    },
    rejected(reason) {
      rejected.inc({ reason });
    },
    logFlushed(records, _size, seconds) {
      flushes.inc();
      flushedRecords.inc(records);
      flushSeconds.observe(seconds);
    },
    rolled(n, eventCount, size) {
      objects.inc(n);
      rolledEvents.inc(eventCount);
      rolledBytes.inc(size);
    },
  };
}

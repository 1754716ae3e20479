/**
 * `inlet state-machines list | validate <file>`: what is deployed, and whether a definition
 * file is valid, with AWS's diagnostics (code, location, message) before anything is deployed.
 */
import { readFileSync } from 'node:fs';
import { validateDefinition } from '../asl/validate.ts';
import type { Diagnostic } from '../asl/validate.ts';

/** Fields whose template variables stand for numbers. */
const NUMERIC_FIELDS = new Set([
  'IntervalSeconds',
  'MaxAttempts',
  'BackoffRate',
  'MaxDelaySeconds',
  'HeartbeatSeconds',
  'TimeoutSeconds',
  'MaxConcurrency',
  'ToleratedFailureCount',
  'ToleratedFailurePercentage',
  'Seconds',
]);

/**
 * A template's `"${var}"` variables replaced by placeholders of the field's type (a number for
 * numeric fields, an activity ARN otherwise), so the structure can be validated before deploy.
 */
export function withPlaceholders(text: string): string {
  return text
    .replace(/"(\w+)"(\s*):(\s*)"\$\{\w+\}"/g, (whole, field: string, a: string, b: string) =>
      NUMERIC_FIELDS.has(field) ? `"${field}"${a}:${b}1` : whole,
    )
    .replace(/"\$\{(\w+)\}"/g, (_, name: string) => `"arn:aws:states:us-east-1:123456789012:activity:${name}"`);
}

/** Validates a definition file (or template) with AWS's diagnostics. */
export function validateFile(path: string): { valid: boolean; diagnostics: Diagnostic[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(withPlaceholders(readFileSync(path, 'utf8')));
  } catch (e) {
    return { valid: false, diagnostics: [{ severity: 'ERROR', code: 'INVALID_JSON_DESCRIPTION', message: (e as Error).message, location: '' }] };
  }
  const diagnostics = validateDefinition(parsed);
  return { valid: diagnostics.length === 0, diagnostics };
}

/** Formats diagnostics one per line, as a user reads them. */
export function describeDiagnostics(path: string, result: { valid: boolean; diagnostics: Diagnostic[] }): string {
  if (result.valid) return `${path}: valid`;
  return [`${path}: ${result.diagnostics.length} problem(s)`, ...result.diagnostics.map((d) => `  ${d.severity} ${d.code} at ${d.location || '/'}: ${d.message}`)].join('\n');
}

/**
 * Session logging with onnxruntime's severities: 0 verbose, 1 info, 2 warning (the default),
 * 3 error, 4 fatal. Messages go to standard error, prefixed with the severity and the log id.
 */

export type Severity = 0 | 1 | 2 | 3 | 4;

const LABELS = ['verbose', 'info', 'warning', 'error', 'fatal'] as const;

export class Logger {
  constructor(
    readonly level: Severity,
    readonly id: string,
  ) {}

  enabled(severity: Severity): boolean {
    return severity >= this.level;
  }

  log(severity: Severity, message: string): void {
    if (this.enabled(severity)) console.error(`heddle ${LABELS[severity]} [${this.id}] ${message}`);
  }
}

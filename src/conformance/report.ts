/**
 * The machine-readable record of one conformance run (`heddle conformance DIR --json FILE`): every
 * case with its status, the operators its model uses and why it failed. The README's conformance
 * table is generated from it (table.ts).
 */

import { caseStatus, type CaseResult, type CaseStatus, type OperatorUse } from './runner.js';

export interface CaseRecord {
  name: string;
  status: CaseStatus;
  reason?: string;
  /** For a case passed by properties: which outputs, and what was checked. */
  byProperties?: string[];
  operators: OperatorUse[];
  millis: number;
}

export interface ConformanceReport {
  /** The suite folder's name: `node`, `simple`... */
  suite: string;
  backends: string[];
  optimization: string;
  cases: CaseRecord[];
}

export function caseRecord(result: CaseResult): CaseRecord {
  return {
    name: result.name,
    status: caseStatus(result),
    ...(result.reason !== undefined && { reason: result.reason }),
    ...(result.byProperties && { byProperties: result.byProperties }),
    operators: result.operators ?? [],
    millis: Math.round(result.millis),
  };
}

/** A failure reason on one line, cut at 300 characters: how the CLI and the README's table show it. */
export function oneLine(reason: string): string {
  const flat = reason.replace(/\s+/g, ' ');
  return flat.length > 300 ? `${flat.slice(0, 297)}...` : flat;
}

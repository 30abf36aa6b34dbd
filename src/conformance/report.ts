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

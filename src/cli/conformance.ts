/**
 * `heddle conformance DIR`: runs every ONNX backend test case under DIR, prints each failure with
 * its reason, and ends with `N passed, M failed`. It fails (exit 1) only when a case on the
 * project's expected-pass list fails, so a regression breaks the build and a newly passing case
 * is reported for the list. `--backends wasm,reference` runs the cases with those execution
 * providers against the same list: a backend must pass every case the reference backend passes.
 * A case whose outputs are random draws passes "by properties" (`--verbose` says what was checked);
 * `--json FILE` records every case with its status, its model's operators and its failure reason.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCasesIsolated } from '../conformance/pool.js';
import { HeddleError } from '../core/errors.js';
import { caseRecord, oneLine, type ConformanceReport } from '../conformance/report.js';
import { listCases, type CaseResult } from '../conformance/runner.js';
import type { OptimizationLevel } from '../passes/index.js';

export interface ConformanceOptions {
  filter?: string;
  expected?: string;
  updateExpected?: boolean;
  verbose?: boolean;
  /** Seconds after which a case is stopped and counted as failed. */
  timeout?: string;
  optimization?: OptimizationLevel;
  /** Backends in order of preference, comma-separated (default: reference). */
  backends?: string;
  /** Where to write the run as JSON (a ConformanceReport). */
  json?: string;
}

/** The checked-in list, `conformance/expected-pass.txt` at the package root. */
export const DEFAULT_EXPECTED_LIST = path.resolve(
  fileURLToPath(import.meta.url),
  '../../../../conformance/expected-pass.txt',
);

export async function conformanceCommand(dir: string, options: ConformanceOptions): Promise<number> {
  const backends = options.backends?.split(',');
  if (options.updateExpected && backends && backends.join() !== 'reference') {
    // The list is what the reference backend passes; other backends are held to it, not its authors.
    throw new HeddleError("--update-expected writes the reference backend's list: leave out --backends");
  }
  const suite = path.basename(path.resolve(dir));
  const filter = options.filter ? new RegExp(options.filter) : undefined;
  const cases = listCases(dir).filter((name) => !filter || filter.test(name));
  const listFile = options.expected ?? DEFAULT_EXPECTED_LIST;
  const expected = readExpected(listFile);
  let passed = 0;
  let passedByProperties = 0;
  let failed = 0;
  const regressions: string[] = [];
  const newlyPassing: string[] = [];
  const passingKeys: string[] = [];
  const results: CaseResult[] = [];
  await runCasesIsolated(dir, cases, (r) => results.push(r), {
    caseTimeoutMs: Number(options.timeout ?? 120) * 1000,
    caseOptions: { optimization: options.optimization, backends },
  });
  results.sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const result of results) {
    const { name } = result;
    const key = `${suite}/${name}`;
    if (result.passed) {
      passed++;
      passingKeys.push(key);
      if (!expected.has(key)) newlyPassing.push(key);
      if (result.byProperties) passedByProperties++;
      if (options.verbose) {
        console.log(`ok   ${name} (${result.millis.toFixed(0)} ms)${propertyNote(result)}`);
      }
    } else {
      failed++;
      if (expected.has(key)) regressions.push(key);
      console.log(`FAIL ${name}: ${oneLine(result.reason ?? 'failed')}`);
    }
  }
  if (options.json) writeReport(options.json, suite, backends, options.optimization, results);
  if (options.updateExpected) {
    writeExpected(listFile, suite, expected, passingKeys, cases);
    console.log(`updated ${listFile}`);
  } else if (newlyPassing.length > 0) {
    console.log(
      `${newlyPassing.length} cases pass that ${path.basename(listFile)} does not list yet (--update-expected adds them)`,
    );
  }
  if (regressions.length > 0) {
    console.log(`${regressions.length} cases on the expected-pass list failed: ${regressions.join(', ')}`);
  }
  if (passedByProperties > 0) {
    console.log(
      `${passedByProperties} of the passes are by properties: random outputs, checked by shape, type and range (--verbose lists them)`,
    );
  }
  console.log(`${passed} passed, ${failed} failed`);
  return regressions.length > 0 ? 1 : 0;
}

/** Says that a case passed on the properties of its random outputs, not on their values. */
function propertyNote(result: CaseResult): string {
  return result.byProperties ? ` by properties: ${result.byProperties.join('; ')}` : '';
}

function writeReport(
  file: string,
  suite: string,
  backends: string[] | undefined,
  optimization: OptimizationLevel | undefined,
  results: CaseResult[],
): void {
  const report: ConformanceReport = {
    suite,
    backends: backends ?? ['reference'],
    optimization: optimization ?? 'all',
    cases: results.map(caseRecord),
  };
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(report, null, 1) + '\n');
}

function readExpected(file: string): Set<string> {
  if (!fs.existsSync(file)) return new Set();
  return new Set(
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#')),
  );
}

/** Rewrites the list's entries for the cases just run, keeping every other entry. */
function writeExpected(
  file: string,
  suite: string,
  expected: Set<string>,
  passing: string[],
  ran: string[],
): void {
  const ranKeys = new Set(ran.map((name) => `${suite}/${name}`));
  const kept = [...expected].filter((key) => !ranKeys.has(key));
  const all = [...new Set([...kept, ...passing])].sort();
  const header =
    '# ONNX conformance cases Heddle must pass; written by `heddle conformance DIR --update-expected`.\n';
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, header + all.join('\n') + '\n');
}

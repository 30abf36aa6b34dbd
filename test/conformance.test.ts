/**
 * The ONNX backend conformance data runs on every test, without graph optimization and with all
 * of it: a case on the checked-in expected-pass list that fails either way is a regression and
 * fails the build. With the wasm backend first and reference for the rest, exactly the cases on
 * that list (the reference backend's) must pass: a case the wasm kernels break fails, and so does
 * one that passes only with them.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_EXPECTED_LIST } from '../src/cli/conformance.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const data = fileURLToPath(new URL('../../../shared/onnx-tests', import.meta.url));

for (const suite of ['node', 'simple']) {
  for (const level of ['disabled', 'all']) {
    const skip = !fs.existsSync(`${data}/${suite}`) && `no ${data}/${suite}`;
    test(`conformance: ${suite}, optimization ${level}`, { skip }, (t) => {
      const args = [cli, 'conformance', `${data}/${suite}`, '--optimization', level];
      const run = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
      const lines = run.stdout.trim().split('\n');
      const summary = lines[lines.length - 1] ?? '';
      t.diagnostic(`${suite} (${level}): ${summary}`);
      assert.match(summary, /^\d+ passed, \d+ failed$/, run.stderr);
      const regressions = lines.find((l) => l.includes('on the expected-pass list failed'));
      assert.equal(run.status, 0, regressions ?? run.stderr);
    });
  }
}

/** The cases of `suite` on the expected-pass list. */
function expectedPasses(suite: string): Set<string> {
  const prefix = `${suite}/`;
  return new Set(
    fs
      .readFileSync(DEFAULT_EXPECTED_LIST, 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line.startsWith(prefix))
      .map((line) => line.slice(prefix.length)),
  );
}

for (const suite of ['node', 'simple']) {
  for (const level of ['disabled', 'all']) {
    const skip = !fs.existsSync(`${data}/${suite}`) && `no ${data}/${suite}`;
    test(`conformance with backends wasm,reference: ${suite}, optimization ${level}`, { skip }, (t) => {
      const args = [cli, 'conformance', `${data}/${suite}`, '--optimization', level];
      const run = spawnSync(process.execPath, [...args, '--backends', 'wasm,reference', '--verbose'], {
        cwd: root,
        encoding: 'utf8',
        maxBuffer: 1 << 26,
      });
      const lines = run.stdout.trim().split('\n');
      const summary = lines[lines.length - 1] ?? '';
      t.diagnostic(`${suite} (${level}, wasm first): ${summary}`);
      assert.match(summary, /^\d+ passed, \d+ failed$/, run.stderr);
      const passing = new Set(lines.flatMap((l) => /^ok {3}(\S+)/.exec(l)?.[1] ?? []));
      const failures = new Map(
        lines.flatMap((l): [string, string][] => {
          const match = /^FAIL (\S+): (.*)$/.exec(l);
          return match ? [[match[1]!, match[2]!]] : [];
        }),
      );
      const expected = expectedPasses(suite);
      const broken = [...expected].filter((name) => !passing.has(name));
      const extra = [...passing].filter((name) => !expected.has(name));
      assert.deepEqual(
        broken.map((name) => `${name}: ${failures.get(name) ?? 'did not run'}`),
        [],
        'cases the reference backend passes that fail with the wasm backend first',
      );
      assert.deepEqual(
        extra,
        [],
        'cases that pass with the wasm backend first but not on the expected-pass list',
      );
    });
  }
}

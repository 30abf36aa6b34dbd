/**
 * The ONNX backend conformance data runs on every test, without graph optimization and with all
 * of it: a case on the checked-in expected-pass list that fails either way is a regression and
 * fails the build.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

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

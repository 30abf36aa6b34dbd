/**
 * The probe's peak GFLOP/s against an independent measurement: the same arithmetic written by hand
 * in the text format, assembled by wabt's `wat2wasm`, timed by its own loop. On one thread the two
 * must agree within 10%. Single timings on a shared machine wander, so each comparison takes the
 * medians of rounds that alternate the two sides, and a disagreement is measured again (up to
 * three times) before it fails. Skipped without wabt (Debian package wabt, installed by CI).
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { detectWasmFeatures } from '../../src/backends/wasm/features.js';
import { comparePeaks } from '../../src/probe/independent.js';
import type { SimdPath } from '../../src/probe/kernels.js';

const noWabt = spawnSync('wat2wasm', ['--version']).error ? "wabt's wat2wasm is not installed" : false;
const TOLERANCE = 0.1;
const ATTEMPTS = 3;

test('the peaks agree within 10% with wabt-assembled kernels on one thread', { skip: noWabt }, async () => {
  const paths: SimdPath[] = detectWasmFeatures().relaxedSimd ? ['mul-add', 'relaxed-madd'] : ['mul-add'];
  for (const path of paths) {
    const ratios: number[] = [];
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const [comparison] = await comparePeaks([path], 1, { rounds: 5, calls: 3, targetMs: 40 });
      assert.ok(comparison.independent! > 0 && comparison.probe > 0);
      ratios.push(comparison.independent! / comparison.probe);
      if (Math.abs(ratios[ratios.length - 1] - 1) <= TOLERANCE) break;
    }
    assert.ok(
      Math.abs(ratios[ratios.length - 1] - 1) <= TOLERANCE,
      `${path}: independent / probe = ${ratios.map((r) => r.toFixed(3)).join(', ')}`,
    );
  }
});

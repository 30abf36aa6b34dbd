/**
 * Real architectures against PyTorch: scripts/export-models.py exports each model with random
 * weights (cached in .cache/models) together with a fixed input and PyTorch's outputs for it, and
 * each test runs Heddle on that input and requires every output to agree with PyTorch's to within
 * 1e-4 of the output's largest magnitude. Needs /usr/bin/python3 with torch, torchvision and onnx;
 * without them the tests are skipped.
 */

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as path from 'node:path';
import { InferenceSession, Tensor } from '../src/index.js';
import { repoRoot } from './helpers/repo-root.js';
import { deviation, readNpyFiles } from './helpers/tensors.js';

const PYTHON = '/usr/bin/python3';
const MODELS = ['resnet18', 'mobilenet_v2', 'bert', 'lstm'];
/** Allowed max |heddle - torch|, as a fraction of max |torch| for that output. */
const RELATIVE_TOLERANCE = 1e-4;

const root = repoRoot(import.meta.url);
const cacheDir = path.join(root, '.cache', 'models');
// One interpreter start for all models, at load so a missing torch can mark the tests skipped.
const exported = spawnSync(PYTHON, [path.join(root, 'scripts', 'export-models.py'), cacheDir, ...MODELS], {
  encoding: 'utf8',
});
const skipReason = missingPythonPackages(exported);

before(() => {
  if (!skipReason && exported.status !== 0) {
    throw new Error(
      `export-models.py failed (${exported.error?.message ?? `exit ${exported.status}`}):\n${exported.stderr}`,
    );
  }
});

for (const name of MODELS) {
  test(name, { skip: skipReason }, async (t) => {
    const folder = path.join(cacheDir, name);
    const session = await InferenceSession.create(path.join(folder, 'model.onnx'));
    const feeds = readNpyFiles(path.join(folder, 'inputs'), session.inputNames);
    const expected = readNpyFiles(path.join(folder, 'outputs'), session.outputNames);
    const outputs = await session.run(feeds);
    for (const output of session.outputNames) {
      const actual = outputs[output];
      assert.ok(actual instanceof Tensor, `${output} is not a tensor`);
      const { maxError, scale } = deviation(actual, expected[output]!);
      const summary = `${output}: max |heddle - torch| = ${maxError.toExponential(2)}, max |torch| = ${scale.toPrecision(4)}`;
      t.diagnostic(summary);
      assert.ok(
        maxError <= RELATIVE_TOLERANCE * scale,
        `${summary}, over the ${RELATIVE_TOLERANCE} relative limit`,
      );
    }
  });
}

/** Why the tests cannot run here, or undefined when they can. */
function missingPythonPackages(run: SpawnSyncReturns<string>): string | undefined {
  if (run.error) return `${PYTHON} cannot be run (${run.error.message})`;
  const missing = /ModuleNotFoundError: No module named '([\w.]+)'/.exec(run.stderr)?.[1];
  return missing ? `${PYTHON} lacks the Python package '${missing}' that the export needs` : undefined;
}

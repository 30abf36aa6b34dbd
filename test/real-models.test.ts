/**
 * Real architectures against PyTorch: scripts/export-models.py exports each model with random
 * weights (cached in .cache/models) together with a fixed input and PyTorch's outputs for it, and
 * each test runs Heddle on that input and requires every output to agree with PyTorch's to within
 * 1e-4 of the output's largest magnitude, with graph optimization and without. Sessions use the
 * default backends, and with optimization every node that computes runs on the wasm backend: only
 * views and small casts are left to the reference backend. Needs /usr/bin/python3 with torch,
 * torchvision and onnx; without them the tests are skipped.
 */

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { InferenceSession, Tensor } from '../src/index.js';
import { exportModels, modelsDir } from './helpers/models.js';
import { deviation, readNpyFiles } from './helpers/tensors.js';

const MODELS = ['resnet18', 'mobilenet_v2', 'bert', 'lstm', 'gpt', 'squeezenet1_1'];
/** Operators the wasm backend leaves to the reference backend on purpose: views (no kernel runs) and casts. */
const LEFT_TO_REFERENCE = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Identity', 'Cast']);
/** Allowed max |heddle - torch|, as a fraction of max |torch| for that output. */
const RELATIVE_TOLERANCE = 1e-4;

const { skipReason, failure } = exportModels(MODELS);

before(() => {
  if (failure) throw new Error(failure);
});

for (const name of MODELS) {
  for (const level of ['disabled', 'all'] as const) {
    test(`${name}, optimization ${level}`, { skip: skipReason }, async (t) => {
      const folder = path.join(modelsDir, name);
      const session = await InferenceSession.create(path.join(folder, 'model.onnx'), {
        graphOptimizationLevel: level,
      });
      const feeds = readNpyFiles(path.join(folder, 'inputs'), session.inputNames);
      const expected = readNpyFiles(path.join(folder, 'outputs'), session.outputNames);
      const outputs = await session.run(feeds);
      if (level === 'all') {
        const dims = new Map(Object.entries(feeds).map(([input, tensor]) => [input, tensor.dims]));
        const notOnWasm = session
          .planFor(dims)
          .plan.assignments.filter((a) => a.backend.name !== 'wasm' && !LEFT_TO_REFERENCE.has(a.node.opType))
          .map((a) => `${a.node.opType} on ${a.backend.name}: ${a.cause}`);
        assert.deepEqual(notOnWasm, [], 'every node that computes runs on wasm');
      }
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
}

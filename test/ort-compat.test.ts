/**
 * A program written for onnxruntime-node runs on Heddle by changing only its import: the same
 * function below is handed either module, and both give the same outputs.
 */

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as heddle from '../src/index.js';

type OrtLike = typeof heddle;

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('../..', import.meta.url));
const node = `${root}/../shared/onnx-tests/node`;

function loadOnnxruntime(): OrtLike | undefined {
  try {
    return require('onnxruntime-node') as OrtLike;
  } catch {
    return undefined;
  }
}

/** Written against onnxruntime-node's API; nothing in it knows about Heddle. */
async function runWithRandomInputs(ort: OrtLike, modelPath: string) {
  const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: 1,
    logSeverityLevel: 3,
  });
  const feeds: Record<string, heddle.Tensor> = {};
  let seed = 1;
  for (const meta of session.inputMetadata) {
    const dims = (meta.shape ?? []).map((d) => (typeof d === 'number' && d > 0 ? d : 1));
    const size = dims.reduce((a, b) => a * b, 1);
    const data = Float32Array.from(
      { length: size },
      () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1,
    );
    feeds[meta.name] = new ort.Tensor('float32', data, dims);
  }
  const results = await session.run(feeds);
  await session.release();
  return session.outputNames.map((name) => {
    const t = results[name] as heddle.Tensor;
    return { name, type: t.type, dims: [...t.dims], data: Array.from(t.data as Float32Array) };
  });
}

const models = [
  `${root}/examples/tiny-cnn.onnx`,
  `${node}/test_basic_conv_with_padding/model.onnx`,
  `${node}/test_gemm_default_matrix_bias/model.onnx`,
  `${node}/test_softmax_axis_1/model.onnx`,
  `${node}/test_layer_normalization_2d_axis1/model.onnx`,
];

const ort = loadOnnxruntime();

for (const model of models) {
  const name = model.replace(root, '').replace(`${node}/`, '');
  test(
    `the same onnxruntime program runs on Heddle: ${name}`,
    { skip: !ort && 'onnxruntime-node is not installed' },
    async () => {
      assert.ok(fs.existsSync(model), `${model} is missing`);
      const expected = await runWithRandomInputs(ort!, model);
      const actual = await runWithRandomInputs(heddle, model);
      assert.deepEqual(
        actual.map((o) => [o.name, o.type, o.dims]),
        expected.map((o) => [o.name, o.type, o.dims]),
      );
      expected.forEach((e, k) => {
        const a = actual[k]!.data;
        e.data.forEach((v, i) =>
          assert.ok(Math.abs(a[i]! - v) <= 1e-5 + 1e-4 * Math.abs(v), `${e.name}[${i}]: ${a[i]} vs ${v}`),
        );
      });
    },
  );
}

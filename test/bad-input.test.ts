/**
 * Bad input gets a HeddleError that names the model, the node and the reason: never a crash,
 * a hang, or an out-of-bounds read.
 */

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { HeddleError, InferenceSession, Tensor } from '../src/index.js';
import { buildModel } from './support/build-model.js';

function heddleError(...patterns: RegExp[]) {
  return (e: unknown) => {
    assert.ok(e instanceof HeddleError, `expected a HeddleError, got ${String(e)}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  };
}

const gatherModel = buildModel({
  nodes: [{ op: 'Gather', name: 'lookup', inputs: ['table', 'idx'], outputs: ['y'] }],
  inputs: [{ name: 'idx', type: 'int64', dims: [2] }],
  outputs: [{ name: 'y', type: 'float32' }],
  initializers: [{ name: 'table', type: 'float32', dims: [5], values: [0, 1, 2, 3, 4] }],
});

test('a truncated model file', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heddle-bad-'));
  const file = path.join(dir, 'cut.onnx');
  fs.writeFileSync(file, gatherModel.subarray(0, gatherModel.length - 9));
  await assert.rejects(
    InferenceSession.create(file),
    heddleError(/cut\.onnx/, /truncated|not an ONNX model/),
  );
});

test('bytes that are not a model', async () => {
  await assert.rejects(
    InferenceSession.create(new TextEncoder().encode('hello, this is not a model at all')),
    heddleError(/<bytes>/, /not an ONNX model/),
  );
  await assert.rejects(InferenceSession.create(new Uint8Array(0)), heddleError(/empty/));
  await assert.rejects(
    InferenceSession.create('/nonexistent/model.onnx'),
    heddleError(/cannot read the model file/),
  );
});

test('an external-data offset past the end of its file', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heddle-bad-'));
  fs.writeFileSync(path.join(dir, 'w.bin'), Buffer.alloc(8));
  const model = buildModel({
    nodes: [{ op: 'Identity', inputs: ['w'], outputs: ['y'] }],
    inputs: [],
    outputs: [{ name: 'y', type: 'float32' }],
    initializers: [
      { name: 'w', type: 'float32', dims: [4], external: { location: 'w.bin', offset: 4, length: 16 } },
    ],
  });
  fs.writeFileSync(path.join(dir, 'ext.onnx'), model);
  await assert.rejects(
    InferenceSession.create(path.join(dir, 'ext.onnx')),
    heddleError(/ext\.onnx/, /past the end/),
  );
});

test('a negative dimension', async () => {
  const model = buildModel({
    nodes: [{ op: 'Identity', inputs: ['w'], outputs: ['y'] }],
    inputs: [],
    outputs: [{ name: 'y', type: 'float32' }],
    initializers: [{ name: 'w', type: 'float32', dims: [2, -3], values: [] }],
  });
  await assert.rejects(InferenceSession.create(model), heddleError(/<bytes>/, /'w'/, /invalid dimension -3/));
});

test('a Gather index out of range', async () => {
  const session = await InferenceSession.create(gatherModel);
  const ok = await session.run({ idx: new Tensor('int64', [4n, -5n], [2]) });
  assert.deepEqual([...((ok.y as Tensor).data as Float32Array)], [4, 0]);
  await assert.rejects(
    session.run({ idx: new Tensor('int64', [1n, 7n], [2]) }),
    heddleError(/node 'lookup'/, /Gather/, /7/, /out of range/),
  );
  await assert.rejects(
    session.run({ idx: new Tensor('int64', [-6n, 0n], [2]) }),
    heddleError(/node 'lookup'/, /out of range/),
  );
});

test('an unknown operator or domain', async () => {
  const unknownOp = buildModel({
    nodes: [{ op: 'Frobnicate', name: 'f', inputs: ['x'], outputs: ['y'] }],
    inputs: [{ name: 'x', type: 'float32', dims: [1] }],
    outputs: [{ name: 'y', type: 'float32' }],
  });
  await assert.rejects(
    InferenceSession.create(unknownOp),
    heddleError(/node 'f'/, /Frobnicate/, /not implemented/),
  );
  const unknownDomain = buildModel({
    opsets: { '': 17, 'com.example': 1 },
    nodes: [{ op: 'Relu', domain: 'com.example', name: 'r', inputs: ['x'], outputs: ['y'] }],
    inputs: [{ name: 'x', type: 'float32', dims: [1] }],
    outputs: [{ name: 'y', type: 'float32' }],
  });
  await assert.rejects(InferenceSession.create(unknownDomain), heddleError(/node 'r'/, /com\.example/));
});

test('a missing opset import', async () => {
  const model = buildModel({
    opsets: { 'ai.onnx.ml': 3 },
    nodes: [{ op: 'Relu', name: 'r', inputs: ['x'], outputs: ['y'] }],
    inputs: [{ name: 'x', type: 'float32', dims: [1] }],
    outputs: [{ name: 'y', type: 'float32' }],
  });
  await assert.rejects(
    InferenceSession.create(model),
    heddleError(/node 'r'/, /Relu/, /no opset for domain 'ai\.onnx'/),
  );
});

test('an operator used before the opset it appeared in', async () => {
  const model = buildModel({
    opsets: { '': 9 },
    nodes: [{ op: 'Gelu', name: 'g', inputs: ['x'], outputs: ['y'] }],
    inputs: [{ name: 'x', type: 'float32', dims: [1] }],
    outputs: [{ name: 'y', type: 'float32' }],
  });
  await assert.rejects(InferenceSession.create(model), heddleError(/node 'g'/, /Gelu/, /opset 9/));
});

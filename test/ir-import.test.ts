/** The ir/ layer: opset resolution per node, attributes, subgraphs, model-local functions. */

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { HeddleError } from '../src/core/errors.js';
import type { Tensor } from '../src/core/tensor.js';
import { importModel } from '../src/ir/import.js';
import { loadModelProto } from '../src/onnx/load.js';
import { buildModel, float32Bytes, graphAttr } from './support/build-model.js';
import { scratchFolder } from './support/cli-fixture.js';

const load = (bytes: Uint8Array) => importModel(loadModelProto(bytes));

test('nodes carry the opset version of their domain, and attributes are decoded', () => {
  const model = load(
    buildModel({
      opsets: { '': 13, 'ai.onnx.ml': 3 },
      nodes: [
        {
          op: 'Softmax',
          inputs: ['x'],
          outputs: ['y'],
          attributes: { axis: -1, mode: 'fast', scales: { floats: [0.5, 2] } },
        },
      ],
      inputs: [{ name: 'x', type: 'float32', dims: ['batch', 4] }],
      outputs: [{ name: 'y', type: 'float32', dims: ['batch', 4] }],
    }),
  );
  const node = model.graph.nodes[0]!;
  assert.equal(node.opset, 13);
  assert.equal(node.name, 'Softmax_0', 'unnamed nodes get a name');
  assert.deepEqual(node.attributes.get('axis'), { name: 'axis', type: 'int', value: -1 });
  assert.deepEqual(node.attributes.get('mode'), { name: 'mode', type: 'string', value: 'fast' });
  assert.deepEqual(node.attributes.get('scales')?.value, [0.5, 2]);
  assert.deepEqual(model.graph.inputs[0]!.type, { kind: 'tensor', elemType: 'float32', shape: ['batch', 4] });
  assert.equal(model.opsets.get('ai.onnx.ml'), 3);
});

test('subgraph attributes become graphs that inherit the opsets', () => {
  const branch = (name: string) =>
    graphAttr({
      nodes: [{ op: 'Identity', inputs: ['x'], outputs: [name] }],
      inputs: [],
      outputs: [{ name, type: 'float32' }],
    });
  const model = load(
    buildModel({
      nodes: [
        {
          op: 'If',
          inputs: ['c'],
          outputs: ['y'],
          attributes: { then_branch: branch('a'), else_branch: branch('b') },
        },
      ],
      inputs: [
        { name: 'c', type: 'bool', dims: [] },
        { name: 'x', type: 'float32', dims: [1] },
      ],
      outputs: [{ name: 'y', type: 'float32' }],
    }),
  );
  const attr = model.graph.nodes[0]!.attributes.get('then_branch')!;
  assert.equal(attr.type, 'graph');
  if (attr.type === 'graph') {
    assert.equal(attr.value.nodes[0]!.opset, 17);
    assert.equal(attr.value.nodes[0]!.inputs[0], 'x', 'outer-scope reads keep their names');
  }
});

test('model-local functions are expanded with renamed internals and bound attributes', () => {
  const model = load(
    buildModel({
      opsets: { '': 17, custom: 1 },
      functions: [
        {
          name: 'Twice',
          domain: 'custom',
          inputs: ['a'],
          outputs: ['b'],
          attributes: ['axis'],
          nodes: [
            { op: 'Identity', inputs: ['a'], outputs: ['tmp'] },
            { op: 'Softmax', inputs: ['tmp'], outputs: ['b'], refAttributes: { axis: 'axis' } },
          ],
        },
      ],
      nodes: [
        {
          op: 'Twice',
          domain: 'custom',
          name: 'call',
          inputs: ['x'],
          outputs: ['y'],
          attributes: { axis: 0 },
        },
      ],
      inputs: [{ name: 'x', type: 'float32', dims: [2] }],
      outputs: [{ name: 'y', type: 'float32', dims: [2] }],
    }),
  );
  const [first, second] = model.graph.nodes;
  assert.equal(model.graph.nodes.length, 2);
  assert.equal(first!.inputs[0], 'x');
  assert.equal(first!.outputs[0], second!.inputs[0]);
  assert.match(first!.outputs[0]!, /^call\/0\/tmp$/);
  assert.equal(second!.outputs[0], 'y');
  assert.deepEqual(second!.attributes.get('axis'), { name: 'axis', type: 'int', value: 0 });
});

test('a node whose domain has no opset import is refused, naming the node', () => {
  const bytes = buildModel({
    opsets: { '': 17 },
    nodes: [{ op: 'Foo', domain: 'com.example', name: 'foo1', inputs: ['x'], outputs: ['y'] }],
    inputs: [{ name: 'x', type: 'float32', dims: [1] }],
    outputs: [{ name: 'y', type: 'float32' }],
  });
  assert.throws(
    () => load(bytes),
    (e: unknown) =>
      e instanceof HeddleError &&
      /node 'foo1'/.test(e.message) &&
      /com\.example/.test(e.message) &&
      /opset/.test(e.message),
  );
});

test('initializers listed as inputs are overridable, not required inputs', () => {
  const model = load(
    buildModel({
      irVersion: 3,
      nodes: [{ op: 'Identity', inputs: ['w'], outputs: ['y'] }],
      inputs: [{ name: 'w', type: 'float32', dims: [1] }],
      outputs: [{ name: 'y', type: 'float32' }],
      initializers: [{ name: 'w', type: 'float32', dims: [1], values: [3] }],
    }),
  );
  assert.deepEqual(model.graph.inputs, []);
  assert.equal(model.graph.overridableInitializers[0]!.name, 'w');
});

/**
 * A model with a large and a small float initializer, laid out (by the lengths of their names) so
 * that the large one's raw_data is or is not 4-byte aligned in the file while the small one's is.
 */
function weightsModel(largeAligned: boolean): { bytes: Uint8Array; large: string; small: string } {
  const largeValues = Array.from({ length: 4096 }, (_, i) => i / 8);
  for (let pad = 0; pad < 16; pad++) {
    const large = 'large' + 'x'.repeat(pad % 4);
    const small = 'small' + 'x'.repeat(pad >> 2);
    const bytes = buildModel({
      nodes: [{ op: 'Identity', inputs: [small], outputs: ['y'] }],
      inputs: [],
      outputs: [{ name: 'y', type: 'float32', dims: [4] }],
      initializers: [
        { name: large, type: 'float32', dims: [4096], raw: float32Bytes(largeValues) },
        { name: small, type: 'float32', dims: [4], raw: float32Bytes([1, 2, 3, 4]) },
      ],
    });
    const offsets = new Map(
      loadModelProto(bytes).proto.graph!.initializer.map((t) => [t.name, t.rawData.byteOffset]),
    );
    if ((offsets.get(large)! % 4 === 0) === largeAligned && offsets.get(small)! % 4 === 0)
      return { bytes, large, small };
  }
  throw new Error('no layout of the names gives the wanted alignment');
}

/** The weights model written to a file and imported from it: its initializers and the file's bytes. */
function importedFromFile(bytes: Uint8Array): { initializers: Map<string, Tensor>; fileBytes: Uint8Array } {
  const file = path.join(scratchFolder('heddle-raw-'), 'model.onnx');
  fs.writeFileSync(file, bytes);
  const loaded = loadModelProto(file);
  return { initializers: importModel(loaded).graph.initializers, fileBytes: loaded.ownedBytes! };
}

test('a model file whose viewable raw data is a small part of it is copied out of, so the file can go', () => {
  const { bytes, large, small } = weightsModel(false);
  const { initializers, fileBytes } = importedFromFile(bytes);
  for (const name of [large, small]) {
    assert.notEqual((initializers.get(name)!.data as Float32Array).buffer, fileBytes.buffer, name);
  }
  assert.deepEqual([...(initializers.get(small)!.data as Float32Array)], [1, 2, 3, 4]);
  assert.equal((initializers.get(large)!.data as Float32Array)[4095], 4095 / 8);

  // The same bytes given by the caller stay views: they are the caller's, alive anyway.
  const given = importModel(loadModelProto(bytes)).graph.initializers;
  assert.equal((given.get(small)!.data as Float32Array).buffer, bytes.buffer);
});

test('a model file of aligned weights keeps viewing them, uncopied', () => {
  const { bytes, large, small } = weightsModel(true);
  const { initializers, fileBytes } = importedFromFile(bytes);
  for (const name of [large, small]) {
    assert.equal((initializers.get(name)!.data as Float32Array).buffer, fileBytes.buffer, name);
  }
});

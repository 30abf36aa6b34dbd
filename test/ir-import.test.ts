/** The ir/ layer: opset resolution per node, attributes, subgraphs, model-local functions. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeddleError } from '../src/core/errors.js';
import { importModel } from '../src/ir/import.js';
import { loadModelProto } from '../src/onnx/load.js';
import { buildModel, graphAttr } from './support/build-model.js';

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

/**
 * The conformance runner's checks of random outputs: which outputs the model's nodes make random
 * (a random operator's, one computed from its draws, Dropout's only in training with a ratio
 * above 0), and that each check accepts what a draw may be and rejects what it may not.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Tensor } from '../src/core/tensor.js';
import type { Attribute, Graph, Node } from '../src/ir/graph.js';
import { propertyChecks } from '../src/conformance/random-outputs.js';

const TOLERANCE = { rtol: 1e-3, atol: 1e-5 };

function node(opType: string, inputs: string[], outputs: string[], attributes: Attribute[] = []): Node {
  return {
    name: `${opType}_0`,
    opType,
    domain: '',
    opset: 22,
    inputs,
    outputs,
    attributes: new Map(attributes.map((a) => [a.name, a])),
  };
}

function graph(nodes: Node[], outputs: string[]): Graph {
  return {
    name: 'test',
    nodes,
    inputs: [],
    outputs: outputs.map((name) => ({ name })),
    initializers: new Map(),
    overridableInitializers: [],
    valueTypes: new Map(),
    opsets: new Map([['', 22]]),
  };
}

const floats = (values: number[]) => new Tensor('float32', new Float32Array(values), [values.length]);
const bools = (values: number[]) => new Tensor('bool', new Uint8Array(values), [values.length]);
const scalar = (type: 'float32' | 'bool', value: number) =>
  new Tensor(type, type === 'bool' ? new Uint8Array([value]) : new Float32Array([value]), []);

test('random outputs: Bernoulli draws are 0 or 1, certain where p is 0 or 1', () => {
  const p = floats([0, 1, 0.5, 0.5]);
  const checks = propertyChecks(graph([node('Bernoulli', ['p'], ['y'])], ['y']), { p }, TOLERANCE);
  const check = checks.get('y')!;
  const expected = floats([0, 1, 1, 1]);
  assert.equal(check.check(floats([0, 1, 0, 1]), expected, {}), undefined);
  assert.match(check.check(floats([0, 1, 0.5, 1]), expected, {})!, /element 2 \(0.5\) is neither 0 nor 1/);
  assert.match(check.check(floats([1, 1, 0, 1]), expected, {})!, /element 0 \(1\) is not 0/);
  assert.match(check.check(floats([0, 1, 0]), expected, {})!, /dims \[3\], expected \[4\]/);
});

test('random outputs: a value computed from draws is checked by what its producers guarantee', () => {
  const nodes = [
    node('RandomUniformLike', ['x'], ['u']),
    node('Greater', ['u', 'x'], ['g']),
    node('Cast', ['g'], ['y'], [{ name: 'to', type: 'int', value: 1 }]),
    node('Add', ['x', 'x'], ['twice']),
  ];
  const checks = propertyChecks(graph(nodes, ['y', 'twice']), { x: floats([0.5, 0.5]) }, TOLERANCE);
  assert.deepEqual([...checks.keys()], ['y'], 'an output computed without draws compares by value');
  const check = checks.get('y')!;
  assert.match(
    check.description,
    /computed from the draws of RandomUniformLike: shape, type, values in \{0, 1\}/,
  );
  assert.equal(check.check(floats([1, 0]), floats([0, 0]), {}), undefined);
  assert.match(check.check(floats([0.3, 0]), floats([0, 0]), {})!, /neither 0 nor 1/);
});

test('random outputs: uniform draws lie in [low, high)', () => {
  const attributes: Attribute[] = [
    { name: 'low', type: 'float', value: -1 },
    { name: 'high', type: 'float', value: 2 },
  ];
  const checks = propertyChecks(graph([node('RandomUniform', [], ['y'], attributes)], ['y']), {}, TOLERANCE);
  const check = checks.get('y')!;
  assert.equal(check.check(floats([-1, 0, 1.99]), floats([0, 0, 0]), {}), undefined);
  assert.match(
    check.check(floats([-1, 2.5, 0]), floats([0, 0, 0]), {})!,
    /element 1 \(2.5\) is outside \[-1, 2\)/,
  );
});

test('random outputs: Dropout in training keeps or zeroes each element, and its mask says which', () => {
  const dropout = node('Dropout', ['x', 'r', 't'], ['y', 'mask']);
  const x = floats([1, 2, 3, 4]);
  const feeds = { x, r: scalar('float32', 0.5), t: scalar('bool', 1) };
  const checks = propertyChecks(graph([dropout], ['y', 'mask']), feeds, TOLERANCE);
  const y = floats([2, 0, 6, 0]);
  const mask = bools([1, 0, 1, 0]);
  const expected = { y: floats([0, 4, 6, 8]), mask: bools([0, 1, 1, 1]) };
  assert.equal(checks.get('y')!.check(y, expected.y, { y, mask }), undefined);
  assert.equal(checks.get('mask')!.check(mask, expected.mask, { y, mask }), undefined);
  assert.match(
    checks.get('y')!.check(floats([2, 0, 3, 0]), expected.y, {})!,
    /element 2 \(3\) is neither 0 nor 6/,
  );
  const wrongMask = bools([1, 1, 1, 0]);
  assert.match(
    checks.get('mask')!.check(wrongMask, expected.mask, { y, mask: wrongMask })!,
    /element 1 \(1\) is true, but the output is 0, not 4/,
  );
});

test('random outputs: Dropout outside training, or at ratio 0, compares by value', () => {
  const dropout = node('Dropout', ['x', 'r', 't'], ['y']);
  const x = floats([1, 2]);
  const inference = { x, r: scalar('float32', 0.5), t: scalar('bool', 0) };
  const zeroRatio = { x, r: scalar('float32', 0), t: scalar('bool', 1) };
  assert.equal(propertyChecks(graph([dropout], ['y']), inference, TOLERANCE).size, 0);
  assert.equal(propertyChecks(graph([dropout], ['y']), zeroRatio, TOLERANCE).size, 0);
});

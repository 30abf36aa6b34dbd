/**
 * Elementwise-chain fusion: which trees of elementwise nodes become one ElementwiseChain, the
 * program it carries, what is left alone, and that a chain gives the unfused nodes' outputs bit
 * for bit, broadcasting included.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kernels } from '../../src/backends/reference/kernels/fused-elementwise.js';
import { Tensor } from '../../src/index.js';
import type { Node } from '../../src/ir/graph.js';
import type { ModelSpec, NodeSpec, ValueSpec } from '../support/build-model.js';
import { assertSameAsUnfused, optimize, randomFeeds, runHeddleKernel } from '../support/fuseops.js';

const chainKernel = kernels[0]!;

const a = { name: 'a', type: 'float32', dims: [2, 3, 4] } as const;
const b = { name: 'b', type: 'float32', dims: [4] } as const;
const y = { name: 'y', type: 'float32' } as const;

function model(nodes: NodeSpec[], inputs: ValueSpec[], outputs: ValueSpec[] = [y], opset = 17): ModelSpec {
  return { nodes, inputs, outputs, opsets: { '': opset } };
}

function program(node: Node): Record<string, unknown> {
  return Object.fromEntries([...node.attributes].map(([name, attr]) => [name, attr.value]));
}

test('Add + Relu with broadcasting fuse into one ElementwiseChain', async () => {
  const spec = model(
    [
      { op: 'Add', name: 'add', inputs: ['a', 'b'], outputs: ['sum'] },
      { op: 'Relu', name: 'relu', inputs: ['sum'], outputs: ['y'] },
    ],
    [a, b],
  );
  const { ops, session, rewrites } = await optimize(spec);
  assert.deepEqual(ops, ['com.heddle::ElementwiseChain']);
  const chain = session.model.graph.nodes[0]!;
  assert.deepEqual(chain.inputs, ['a', 'b']);
  assert.deepEqual(chain.outputs, ['y']);
  assert.deepEqual(program(chain), { ops: ['Add', 'Relu'], operand_counts: [2, 1], operands: [0, 1, 2] });
  assert.deepEqual(
    rewrites.filter((r) => r.pass === 'elementwise-chain-fusion').map((r) => r.description),
    ["fused Add 'add' + Relu 'relu' into ElementwiseChain 'relu'"],
  );
  await assertSameAsUnfused(spec);
});

test('a tree with shared inputs, attributes and omitted operands becomes one program', async () => {
  // y = Clip(LeakyRelu(a * b) + Exp(a) * Sigmoid(a), max = c): a is read three times.
  const spec: ModelSpec = {
    ...model(
      [
        { op: 'Mul', inputs: ['a', 'b'], outputs: ['ab'] },
        { op: 'LeakyRelu', inputs: ['ab'], outputs: ['leaky'], attributes: { alpha: { float: 0.5 } } },
        { op: 'Exp', inputs: ['a'], outputs: ['ea'] },
        { op: 'Sigmoid', inputs: ['a'], outputs: ['sa'] },
        { op: 'Mul', inputs: ['ea', 'sa'], outputs: ['gated'] },
        { op: 'Add', inputs: ['leaky', 'gated'], outputs: ['sum'] },
        { op: 'Clip', inputs: ['sum', '', 'c'], outputs: ['y'] },
      ],
      [a, b],
    ),
    initializers: [{ name: 'c', type: 'float32', dims: [], values: [2] }],
  };
  const { ops, session } = await optimize(spec);
  assert.deepEqual(ops, ['com.heddle::ElementwiseChain']);
  const chain = session.model.graph.nodes[0]!;
  assert.deepEqual(chain.inputs, ['a', 'b', 'c']);
  assert.deepEqual(program(chain), {
    ops: ['Mul', 'LeakyRelu', 'Exp', 'Sigmoid', 'Mul', 'Add', 'Clip'],
    operand_counts: [2, 1, 1, 1, 2, 2, 3],
    operands: [0, 1, 3, 0, 0, 5, 6, 4, 7, 8, -1, 2],
    attribute_owners: [1],
    attribute_names: ['alpha'],
    attribute_values: [0.5],
  });
  await assertSameAsUnfused(spec);
});

test('chains run on shapes known only at run time, and on float16 and float64', async () => {
  const dynamic = model(
    [
      { op: 'Sub', inputs: ['p', 'q'], outputs: ['d'] },
      { op: 'Mul', inputs: ['d', 'd'], outputs: ['sq'] },
      { op: 'Sqrt', inputs: ['sq'], outputs: ['y'] },
    ],
    [
      { name: 'p', type: 'float32', dims: ['n', 1] },
      { name: 'q', type: 'float32', dims: ['m'] },
    ],
  );
  assert.deepEqual((await optimize(dynamic)).ops, ['com.heddle::ElementwiseChain']);
  await assertSameAsUnfused(dynamic, { feeds: randomFeeds(dynamic.inputs, { n: 3, m: 5 }) });
  for (const type of ['float16', 'float64'] as const) {
    const typed = model(
      [
        { op: 'Div', inputs: ['p', 'q'], outputs: ['ratio'] },
        { op: 'Tanh', inputs: ['ratio'], outputs: ['t'] },
        { op: 'Pow', inputs: ['t', 'p'], outputs: ['y'] },
      ],
      [
        { name: 'p', type, dims: [6] },
        { name: 'q', type, dims: [6] },
      ],
      [{ name: 'y', type }],
    );
    assert.deepEqual((await optimize(typed)).ops, ['com.heddle::ElementwiseChain'], type);
    await assertSameAsUnfused(typed);
  }
});

test('Where joins a chain, its condition an input', async () => {
  const spec = model(
    [
      { op: 'Neg', inputs: ['a'], outputs: ['negated'] },
      { op: 'Where', inputs: ['flag', 'negated', 'a'], outputs: ['chosen'] },
      { op: 'Max', inputs: ['chosen', 'b'], outputs: ['y'] },
    ],
    [a, b, { name: 'flag', type: 'bool', dims: [3, 1] }],
  );
  assert.deepEqual((await optimize(spec)).ops, ['com.heddle::ElementwiseChain']);
  await assertSameAsUnfused(spec);
});

test('a chain stops at values with other readers or returned by the graph, and at Cast', async () => {
  const shared = model(
    [
      { op: 'Exp', inputs: ['a'], outputs: ['e'] },
      { op: 'Neg', inputs: ['e'], outputs: ['n'] },
      { op: 'Abs', inputs: ['n'], outputs: ['y'] },
      { op: 'Sqrt', inputs: ['e'], outputs: ['z'] },
    ],
    [a],
    [y, { name: 'z', type: 'float32' }],
  );
  const { ops: sharedOps, session } = await optimize(shared);
  assert.deepEqual(sharedOps, ['Exp', 'com.heddle::ElementwiseChain', 'Sqrt']);
  assert.deepEqual(session.model.graph.nodes[1]!.inputs, ['e']);
  await assertSameAsUnfused(shared);

  const returned = model(
    [
      { op: 'Exp', inputs: ['a'], outputs: ['e'] },
      { op: 'Neg', inputs: ['e'], outputs: ['y'] },
    ],
    [a],
    [y, { name: 'e', type: 'float32' }],
  );
  assert.deepEqual((await optimize(returned)).ops, ['Exp', 'Neg']);

  const cast = model(
    [
      { op: 'Exp', inputs: ['a'], outputs: ['e'] },
      { op: 'Cast', inputs: ['e'], outputs: ['wide'], attributes: { to: 11 } },
      { op: 'Neg', inputs: ['wide'], outputs: ['y'] },
    ],
    [a],
    [{ name: 'y', type: 'float64' }],
  );
  assert.deepEqual((await optimize(cast)).ops, ['Exp', 'Cast', 'Neg']);
});

test('integers, old broadcasting rules, string attributes and lone nodes are left alone', async () => {
  const integers = model(
    [
      { op: 'Div', inputs: ['i', 'j'], outputs: ['q'] },
      { op: 'Abs', inputs: ['q'], outputs: ['y'] },
    ],
    [
      { name: 'i', type: 'int32', dims: [4] },
      { name: 'j', type: 'int32', dims: [4] },
    ],
    [{ name: 'y', type: 'int32' }],
  );
  assert.deepEqual((await optimize(integers)).ops, ['Div', 'Abs']);

  const legacy = model(
    [
      { op: 'Add', inputs: ['a', 'a'], outputs: ['sum'] },
      { op: 'Mul', inputs: ['sum', 'a'], outputs: ['y'] },
    ],
    [a],
    [y],
    6,
  );
  assert.deepEqual((await optimize(legacy)).ops, ['Add', 'Mul']);

  const tanhGelu = model(
    [
      { op: 'Gelu', inputs: ['a'], outputs: ['g'], attributes: { approximate: 'tanh' } },
      { op: 'Neg', inputs: ['g'], outputs: ['y'] },
    ],
    [a],
    [y],
    20,
  );
  assert.deepEqual((await optimize(tanhGelu)).ops, ['Gelu', 'Neg']);

  const lone = model([{ op: 'Exp', inputs: ['a'], outputs: ['y'] }], [a]);
  assert.deepEqual((await optimize(lone)).ops, ['Exp']);
});

test('the chain kernel rejects programs that use values before they exist or unknown operators', () => {
  const input = new Tensor('float32', new Float32Array(24), [2, 3, 4]);
  const run = (ops: string[], counts: number[], operands: number[]) =>
    runHeddleKernel(
      chainKernel,
      [
        { name: 'ops', type: 'strings', value: ops },
        { name: 'operand_counts', type: 'ints', value: counts },
        { name: 'operands', type: 'ints', value: operands },
      ],
      [input],
    );
  const [result] = run(['Neg', 'Exp'], [1, 1], [0, 1]);
  assert.deepEqual(Array.from((result as Tensor).data as Float32Array), new Array(24).fill(1));
  assert.throws(
    () => run(['Neg', 'Exp'], [1, 1], [2, 0]),
    /instruction 0: operand 2 is not defined before it/,
  );
  assert.throws(() => run(['Cast'], [1], [0]), /instruction 0: 'Cast' cannot be chained/);
  assert.throws(() => run(['Neg'], [2], [0]), /operand_counts \[2\] do not add up to the 1 operands/);
});

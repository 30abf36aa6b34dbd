/**
 * Where the fused Attention reads its heads: the head split and merge Transposes of GPT- and
 * BERT-style exports go into qkv_layout 'BSNH', and a Split of a fused QKV projection into
 * packed_heads; what is left alone when a precondition fails; and that a session at 'all' answers
 * as the unfused graph does.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Node } from '../../src/ir/graph.js';
import type { ModelSpec, NodeSpec, ValueSpec } from '../support/build-model.js';
import { assertSameAsUnfused, optimize } from '../support/fuseops.js';
import { int64s, scalar } from '../support/fusetf.js';

/** Fused and unfused differ by float32 rounding of the unfused steps, relative to the output's scale. */
const ROUNDING = 1e-5;
const [BATCH, SEQUENCE, HEADS, DEPTH] = [2, 6, 3, 4];
const WIDTH = HEADS * DEPTH;

const fed = (name: string, dims: number[]): ValueSpec => ({ name, type: 'float32', dims });

/** Reshape `input` [B, S, H·D] to [B, S, H, D], then Transpose by `perm`. */
function splitHeads(input: string, name: string, perm = [0, 2, 1, 3]): NodeSpec[] {
  return [
    { op: 'Reshape', inputs: [input, 'headsShape'], outputs: [`${name}_bshd`] },
    { op: 'Transpose', inputs: [`${name}_bshd`], outputs: [name], attributes: { perm } },
  ];
}

/** softmax(q·kt·scale + mask)·v with the heads merged back to [B, S, H·D]. */
function attentionOf(masked: boolean): NodeSpec[] {
  return [
    { op: 'MatMul', inputs: ['q', 'kt'], outputs: ['s'] },
    { op: 'Mul', inputs: ['s', 'scale'], outputs: ['ss'] },
    ...(masked ? [{ op: 'Add', inputs: ['ss', 'mask'], outputs: ['sm'] }] : []),
    { op: 'Softmax', inputs: [masked ? 'sm' : 'ss'], outputs: ['p'], attributes: { axis: -1 } },
    { op: 'MatMul', inputs: ['p', 'v'], outputs: ['heads'] },
    { op: 'Transpose', inputs: ['heads'], outputs: ['merged'], attributes: { perm: [0, 2, 1, 3] } },
    { op: 'Reshape', inputs: ['merged', 'tokensShape'], outputs: ['y'] },
  ];
}

const shapes = [
  int64s('headsShape', [BATCH, SEQUENCE, HEADS, DEPTH]),
  int64s('tokensShape', [BATCH, SEQUENCE, WIDTH]),
  scalar('scale', 1 / Math.sqrt(DEPTH)),
];

/** GPT's attention: one [B, S, 3·H·D] projection split in three, K transposed by [0, 2, 3, 1]. */
function packedModel(opset: number, splitSizes: number[] = [WIDTH, WIDTH, WIDTH]): ModelSpec {
  const sizes = opset >= 13 ? ['sizes'] : [];
  const split: NodeSpec = {
    op: 'Split',
    inputs: ['qkv', ...sizes],
    outputs: ['qp', 'kp', 'vp'],
    attributes: { axis: -1, ...(opset >= 13 ? {} : { split: splitSizes }) },
  };
  const qkvWidth = splitSizes.reduce((a, b) => a + b, 0);
  return {
    nodes: [
      split,
      ...splitHeads('qp', 'q'),
      ...splitHeads('kp', 'kt', [0, 2, 3, 1]),
      ...splitHeads('vp', 'v'),
      ...attentionOf(false),
    ],
    inputs: [fed('qkv', [BATCH, SEQUENCE, qkvWidth])],
    outputs: [{ name: 'y', type: 'float32' }],
    initializers: [...shapes, ...(opset >= 13 ? [int64s('sizes', splitSizes)] : [])],
    opsets: { '': opset },
  };
}

/** BERT's attention: three projections fed separately, a mask over the keys. */
function separateModel(): ModelSpec {
  return {
    nodes: [
      ...splitHeads('qx', 'q'),
      ...splitHeads('kx', 'kt', [0, 2, 3, 1]),
      ...splitHeads('vx', 'v'),
      ...attentionOf(true),
    ],
    inputs: [
      fed('qx', [BATCH, SEQUENCE, WIDTH]),
      fed('kx', [BATCH, SEQUENCE, WIDTH]),
      fed('vx', [BATCH, SEQUENCE, WIDTH]),
      fed('mask', [BATCH, 1, 1, SEQUENCE]),
    ],
    outputs: [{ name: 'y', type: 'float32' }],
    initializers: shapes,
    opsets: { '': 17 },
  };
}

function attentionNode(nodes: readonly Node[]): Node {
  const node = nodes.find((n) => n.opType === 'Attention');
  assert.ok(node, 'no Attention in the optimized graph');
  return node;
}

test("GPT's packed QKV projection: Split, Reshapes and Transposes go into one Attention", async () => {
  for (const opset of [11, 13, 18]) {
    const spec = packedModel(opset);
    const { ops, session, rewrites } = await optimize(spec);
    assert.deepEqual(ops, ['com.heddle::Attention', 'Reshape'], `opset ${opset}`);
    const node = attentionNode(session.model.graph.nodes);
    assert.deepEqual(node.inputs, ['qkv', '', '']);
    assert.equal(node.attributes.get('qkv_layout')?.value, 'BSNH');
    assert.equal(node.attributes.get('packed_heads')?.value, HEADS);
    assert.equal(node.attributes.get('transpose_k')?.value, 1);
    assert.ok(rewrites.some((r) => r.pass === 'attention-packed-qkv'));
    await assertSameAsUnfused(spec, { tolerance: ROUNDING });
  }
});

test("BERT's separate projections: the head Transposes go, the mask still broadcasts", async () => {
  const spec = separateModel();
  const { ops, session } = await optimize(spec);
  assert.deepEqual(ops, ['Reshape', 'Reshape', 'Reshape', 'com.heddle::Attention', 'Reshape']);
  const node = attentionNode(session.model.graph.nodes);
  assert.equal(node.attributes.get('qkv_layout')?.value, 'BSNH');
  assert.equal(node.attributes.get('packed_heads'), undefined);
  assert.equal(node.inputs[3], 'mask');
  await assertSameAsUnfused(spec, { tolerance: ROUNDING });
});

test('a head Transpose read elsewhere too stays for that reader', async () => {
  const spec = separateModel();
  spec.nodes.push({ op: 'Identity', inputs: ['v'], outputs: ['vHeads'] });
  spec.outputs.push({ name: 'vHeads', type: 'float32' });
  const { ops, session } = await optimize(spec);
  assert.equal(attentionNode(session.model.graph.nodes).attributes.get('qkv_layout')?.value, 'BSNH');
  assert.equal(ops.filter((op) => op === 'Transpose').length, 1);
  await assertSameAsUnfused(spec, { tolerance: ROUNDING });
});

test('unequal Split parts keep the Split; the heads are still read in place', async () => {
  // V's heads are 2 wide: Q, K and V are no longer the thirds of the projection.
  const spec = packedModel(13, [WIDTH, WIDTH, HEADS * 2]);
  spec.initializers = [
    ...(spec.initializers ?? []),
    int64s('valueShape', [BATCH, SEQUENCE, HEADS, 2]),
    int64s('narrowShape', [BATCH, SEQUENCE, HEADS * 2]),
  ];
  const reshapedTo: Record<string, string> = { v_bshd: 'valueShape', y: 'narrowShape' };
  spec.nodes = spec.nodes.map((n) => {
    const shape = reshapedTo[n.outputs[0]!];
    return shape ? { ...n, inputs: [n.inputs[0]!, shape] } : n;
  });
  const { ops, session } = await optimize(spec);
  assert.ok(ops.includes('Split'));
  const node = attentionNode(session.model.graph.nodes);
  assert.equal(node.attributes.get('qkv_layout')?.value, 'BSNH');
  assert.equal(node.attributes.get('packed_heads'), undefined);
  await assertSameAsUnfused(spec, { tolerance: ROUNDING });
});

test('attention whose output is not merged back by a Transpose keeps the heads-first layout', async () => {
  const spec = separateModel();
  spec.nodes = spec.nodes.filter((n) => n.outputs[0] !== 'merged' && n.outputs[0] !== 'y');
  spec.outputs = [{ name: 'heads', type: 'float32' }];
  const { ops, session } = await optimize(spec);
  assert.equal(attentionNode(session.model.graph.nodes).attributes.get('qkv_layout'), undefined);
  assert.equal(ops.filter((op) => op === 'Transpose').length, 3);
  await assertSameAsUnfused(spec, { tolerance: ROUNDING });
});

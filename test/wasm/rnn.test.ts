/**
 * The wasm backend's LSTM and GRU against the reference backend: every direction and both
 * layouts, hidden sizes on and off the kernel's blocks of eight units, sequence_lens with short
 * and empty sequences, initial states, LSTM peepholes and input_forget, GRU linear_before_reset,
 * weights as constants (packed once) and as run-time inputs, outputs in and out of the wasm heap,
 * 1 and 2 threads and a host without threads; and the configurations it leaves to the reference
 * backend.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Tensor } from '../../src/core/tensor.js';
import type { Attribute, Node } from '../../src/ir/graph.js';
import type { KernelOutputs } from '../../src/backends/backend.js';
import { ReferenceBackend } from '../../src/backends/reference/backend.js';
import {
  argsOf,
  assertClose,
  backendsBy,
  heapMemory,
  heapPlacements,
  inHeap,
  ownMemory,
  random,
  randomTensor,
  threadsOrNone,
  THREADS_OR_NONE,
  typesOf,
} from '../support/wasm-checks.js';

interface RecurrentCase {
  op: 'LSTM' | 'GRU';
  opset?: number;
  seq: number;
  batch: number;
  input: number;
  hidden: number;
  direction?: 'forward' | 'reverse' | 'bidirectional';
  layout?: 0 | 1;
  bias?: boolean;
  lengths?: number[];
  initial?: boolean;
  peepholes?: boolean;
  inputForget?: boolean;
  linearBeforeReset?: boolean;
  /** Weights as run-time inputs rather than constants. */
  dynamicWeights?: boolean;
  outputs?: boolean[];
  attributes?: Record<string, Attribute>;
}

function build(c: RecurrentCase, seed: number): { node: Node; inputs: (Tensor | undefined)[] } {
  const rng = random(seed);
  /** Weights, biases and states in [-0.5, 0.5); the sequence spreads twice as wide. */
  const small = (dims: number[]): Tensor => randomTensor(rng, dims, 1);
  const directions = c.direction === 'bidirectional' ? 2 : 1;
  const gates = c.op === 'LSTM' ? 4 : 3;
  const layout = c.layout ?? 0;
  const stateDims = layout ? [c.batch, directions, c.hidden] : [directions, c.batch, c.hidden];
  const inputs: (Tensor | undefined)[] = [
    randomTensor(rng, layout ? [c.batch, c.seq, c.input] : [c.seq, c.batch, c.input], 2),
    small([directions, gates * c.hidden, c.input]),
    small([directions, gates * c.hidden, c.hidden]),
    c.bias === false ? undefined : small([directions, 2 * gates * c.hidden]),
    c.lengths ? new Tensor('int32', Int32Array.from(c.lengths), [c.batch]) : undefined,
    c.initial ? small(stateDims) : undefined,
  ];
  if (c.op === 'LSTM') {
    inputs.push(c.initial ? small(stateDims) : undefined);
    inputs.push(c.peepholes ? small([directions, 3 * c.hidden]) : undefined);
  }
  while (inputs.length > 0 && inputs[inputs.length - 1] === undefined) inputs.pop();
  const attributes = new Map<string, Attribute>([
    ['hidden_size', { name: 'hidden_size', type: 'int', value: c.hidden }],
    ['direction', { name: 'direction', type: 'string', value: c.direction ?? 'forward' }],
  ]);
  if (c.layout !== undefined) attributes.set('layout', { name: 'layout', type: 'int', value: c.layout });
  if (c.inputForget) attributes.set('input_forget', { name: 'input_forget', type: 'int', value: 1 });
  if (c.linearBeforeReset) {
    attributes.set('linear_before_reset', { name: 'linear_before_reset', type: 'int', value: 1 });
  }
  for (const [name, attribute] of Object.entries(c.attributes ?? {})) attributes.set(name, attribute);
  const outputs = (c.outputs ?? new Array<boolean>(c.op === 'LSTM' ? 3 : 2).fill(true)).map((wanted, i) =>
    wanted ? `out${i}` : '',
  );
  const node: Node = {
    name: `${c.op}_case`,
    opType: c.op,
    domain: '',
    opset: c.opset ?? 14,
    inputs: inputs.map((t, i) => (t ? `in${i}` : '')),
    outputs,
    attributes,
  };
  return { node, inputs };
}

const wasmBackend = backendsBy(threadsOrNone);

async function runWasm(
  c: RecurrentCase,
  node: Node,
  inputs: (Tensor | undefined)[],
  threads: number,
  heap: boolean,
): Promise<KernelOutputs> {
  const backend = wasmBackend(threads);
  const types = typesOf(node, inputs);
  assert.equal(backend.supports(node, types), true);
  const constants = new Map<string, Tensor>();
  if (!c.dynamicWeights) {
    for (const i of [1, 2, 3, 7]) if (inputs[i]) constants.set(node.inputs[i]!, inputs[i]!);
  }
  const kernel = backend.prepare(node, constants, types);
  if (!heap) return kernel.run(argsOf(inputs, ownMemory));
  // Sequence lengths stay outside; outputs start as NaN, so that an element never written shows.
  const placed = inputs.map((t) => (t?.type === 'float32' ? inHeap(backend, t) : t));
  return kernel.run(argsOf(placed, heapMemory(backend, Number.NaN)));
}

async function check(c: RecurrentCase, seed: number, threadCounts = THREADS_OR_NONE): Promise<void> {
  const { node, inputs } = build(c, seed);
  const expected = await new ReferenceBackend().prepare(node).run(argsOf(inputs, ownMemory));
  for (const threads of threadCounts) {
    for (const heap of heapPlacements(threads)) {
      const actual = await runWasm(c, node, inputs, threads, heap);
      const what = `${JSON.stringify(c)}, ${threads} threads, heap ${heap}`;
      assert.equal(actual.length, expected.length, what);
      expected.forEach((e, i) => {
        if (e === undefined) return assert.equal(actual[i], undefined, `${what}: output ${i}`);
        assertClose(actual[i], e, `${what}: output ${i}`, { rtol: 5e-5, atol: 5e-5 });
      });
    }
  }
}

test('LSTM matches the reference over directions, layouts and hidden sizes', async () => {
  let seed = 1;
  for (const direction of ['forward', 'reverse', 'bidirectional'] as const) {
    for (const layout of [0, 1] as const) {
      for (const hidden of [1, 5, 8, 13, 32]) {
        await check({ op: 'LSTM', seq: 7, batch: 3, input: 6, hidden, direction, layout }, seed++);
      }
    }
  }
});

test('GRU matches the reference over directions, layouts, hidden sizes and linear_before_reset', async () => {
  let seed = 100;
  for (const direction of ['forward', 'reverse', 'bidirectional'] as const) {
    for (const linearBeforeReset of [false, true]) {
      for (const hidden of [1, 5, 8, 13, 32]) {
        const layout = hidden % 2 === 0 ? 1 : 0;
        await check(
          { op: 'GRU', seq: 7, batch: 3, input: 6, hidden, direction, linearBeforeReset, layout },
          seed++,
        );
      }
    }
  }
});

test('sequence_lens, initial states, peepholes and input_forget', async () => {
  let seed = 200;
  const lengths = [7, 3, 0];
  for (const direction of ['forward', 'reverse', 'bidirectional'] as const) {
    await check(
      { op: 'LSTM', seq: 7, batch: 3, input: 4, hidden: 9, direction, lengths, initial: true },
      seed++,
    );
    await check(
      { op: 'GRU', seq: 7, batch: 3, input: 4, hidden: 9, direction, lengths, initial: true },
      seed++,
    );
    await check(
      {
        op: 'GRU',
        seq: 7,
        batch: 3,
        input: 4,
        hidden: 9,
        direction,
        lengths,
        linearBeforeReset: true,
        layout: 1,
      },
      seed++,
    );
  }
  await check({ op: 'LSTM', seq: 5, batch: 2, input: 3, hidden: 12, peepholes: true, initial: true }, seed++);
  await check(
    { op: 'LSTM', seq: 5, batch: 2, input: 3, hidden: 12, inputForget: true, peepholes: true },
    seed++,
  );
  await check({ op: 'LSTM', seq: 1, batch: 1, input: 1, hidden: 3, bias: false }, seed++);
});

test('weights given at run time, outputs left out, and a long sequence', async () => {
  let seed = 300;
  await check(
    { op: 'LSTM', seq: 6, batch: 2, input: 5, hidden: 16, dynamicWeights: true, peepholes: true },
    seed++,
  );
  await check({ op: 'GRU', seq: 6, batch: 2, input: 5, hidden: 7, dynamicWeights: true }, seed++);
  await check({ op: 'LSTM', seq: 6, batch: 2, input: 5, hidden: 16, outputs: [false, true, false] }, seed++);
  await check({ op: 'GRU', seq: 6, batch: 2, input: 5, hidden: 16, outputs: [true, false] }, seed++);
  await check({ op: 'LSTM', seq: 50, batch: 1, input: 64, hidden: 128 }, seed++);
  await check({ op: 'LSTM', seq: 4, batch: 1, input: 8, hidden: 8, opset: 7 }, seed++);
});

test('four threads share the steps of sequences with ragged unit blocks', async () => {
  await check({ op: 'LSTM', seq: 20, batch: 3, input: 6, hidden: 40, direction: 'bidirectional' }, 400, [4]);
  await check({ op: 'GRU', seq: 20, batch: 1, input: 6, hidden: 21, lengths: [13] }, 401, [4]);
});

test('other activations and clip stay with the reference backend', () => {
  const backend = wasmBackend(1);
  const clipped = build({ op: 'LSTM', seq: 2, batch: 1, input: 2, hidden: 4 }, 1);
  clipped.node.attributes.set('clip', { name: 'clip', type: 'float', value: 1 });
  assert.match(String(backend.supports(clipped.node, typesOf(clipped.node, clipped.inputs))), /clip/);
  const relu = build({ op: 'GRU', seq: 2, batch: 1, input: 2, hidden: 4 }, 2);
  relu.node.attributes.set('activations', { name: 'activations', type: 'strings', value: ['Relu', 'Tanh'] });
  assert.match(String(backend.supports(relu.node, typesOf(relu.node, relu.inputs))), /default activations/);
  const named = build({ op: 'GRU', seq: 2, batch: 1, input: 2, hidden: 4 }, 3);
  named.node.attributes.set('activations', {
    name: 'activations',
    type: 'strings',
    value: ['Sigmoid', 'Tanh'],
  });
  assert.equal(backend.supports(named.node, typesOf(named.node, named.inputs)), true);
});

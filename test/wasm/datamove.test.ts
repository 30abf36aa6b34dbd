/**
 * The wasm backend's data-movement kernels (Transpose, Gather, Concat, Split, Slice, Pad, Resize)
 * against the reference backend, node by node: random shapes, permutations, axes, steps and modes,
 * ragged sizes around the kernels' blocks, several element types, int32 and int64 indices, 1 and 2
 * threads, inputs and outputs both in the wasm heap and outside it. Data movement must be exact, so
 * outputs are compared bit for bit (linear resizing within float32 rounding).
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allocateStorage, type DataType } from '../../src/core/dtype.js';
import { Tensor } from '../../src/core/tensor.js';
import type { Node } from '../../src/ir/graph.js';
import type { KernelArgs, KernelOutputs } from '../../src/backends/backend.js';
import { ReferenceBackend } from '../../src/backends/reference/backend.js';
import { shapeSize } from '../../src/backends/reference/util.js';
import {
  argsOf,
  assertClose,
  attributes,
  backendsBy,
  inHeap,
  integer,
  random,
  shuffled,
  type AttributeValue,
  type Random,
} from '../support/wasm-checks.js';

/** A tensor of random contents: every bit pattern for integer storage, finite values for floats. */
function randomTensor(rng: Random, type: DataType, dims: readonly number[]): Tensor {
  const data = allocateStorage(type, shapeSize(dims));
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    for (let i = 0; i < data.length; i++) data[i] = BigInt(Math.floor(rng() * 2 ** 53) - 2 ** 52);
  } else if (data instanceof Float32Array || data instanceof Float64Array) {
    for (let i = 0; i < data.length; i++) data[i] = (rng() - 0.5) * 100;
  } else {
    const bytes = data as Uint8Array;
    const raw = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < raw.length; i++) raw[i] = integer(rng, 0, 255);
    if (type === 'bool') for (let i = 0; i < bytes.length; i++) bytes[i]! &= 1;
  }
  return new Tensor(type, data, dims);
}

function int64s(values: readonly number[]): Tensor {
  return new Tensor('int64', BigInt64Array.from(values, BigInt), [values.length]);
}

function ints(type: 'int32' | 'int64', values: readonly number[], dims = [values.length]): Tensor {
  return type === 'int64'
    ? new Tensor('int64', BigInt64Array.from(values, BigInt), dims)
    : new Tensor('int32', Int32Array.from(values), dims);
}

function floats(values: readonly number[]): Tensor {
  return new Tensor('float32', Float32Array.from(values), [values.length]);
}

interface NodeCase {
  op: string;
  opset: number;
  inputs: (Tensor | undefined)[];
  outputs?: number;
  attributes?: Record<string, AttributeValue>;
  /** Inputs given to the kernels as constants (initializers), by index. */
  constants?: number[];
}

function nodeOf(c: NodeCase): Node {
  return {
    name: `${c.op}_case`,
    opType: c.op,
    domain: '',
    opset: c.opset,
    inputs: c.inputs.map((t, i) => (t ? `in${i}` : '')),
    outputs: Array.from({ length: c.outputs ?? 1 }, (_, i) => `out${i}`),
    attributes: attributes(c.attributes ?? {}),
  };
}

const wasmBackend = backendsBy((threads) => ({ threads }));

const newOutput: KernelArgs['allocateOutput'] = (_index, type, dims) =>
  new Tensor(type, allocateStorage(type, shapeSize(dims)), dims);

interface Placement {
  threads: number;
  /** Inputs and outputs in the heap (the plan's arena) or in memory of their own. */
  heap: boolean;
}

const PLACEMENTS: Placement[] = [
  { threads: 1, heap: true },
  { threads: 2, heap: true },
  { threads: 1, heap: false },
  { threads: 2, heap: false },
];

async function runWasm(c: NodeCase, placement: Placement): Promise<KernelOutputs> {
  const backend = wasmBackend(placement.threads);
  const node = nodeOf(c);
  const constants = new Map<string, Tensor>();
  for (const i of c.constants ?? []) constants.set(node.inputs[i]!, c.inputs[i]!);
  const support = backend.supports(node);
  assert.equal(support, true, `wasm does not claim ${c.op}: ${String(support)}`);
  const kernel = backend.prepare(node, constants);
  const inputs = c.inputs.map((t, i) =>
    t && placement.heap && !c.constants?.includes(i) ? inHeap(backend, t) : t,
  );
  const { heap } = backend.runtime;
  const allocate: KernelArgs['allocateOutput'] = placement.heap
    ? (_index, type, dims) => {
        const size = shapeSize(dims);
        const bytes = (allocateStorage(type, 0) as Uint8Array).BYTES_PER_ELEMENT * size * 2;
        return new Tensor(type, heap.view(type, heap.allocate(Math.max(bytes, 1)), size), dims);
      }
    : newOutput;
  return kernel.run(argsOf(inputs, allocate));
}

async function runReference(c: NodeCase): Promise<KernelOutputs> {
  return new ReferenceBackend().prepare(nodeOf(c)).run(argsOf(c.inputs, newOutput));
}

function bytesOf(t: Tensor): Uint8Array {
  const data = t.data as Uint8Array;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function sameTensor(actual: unknown, expected: unknown, what: string, tolerance?: number): void {
  assert.ok(actual instanceof Tensor && expected instanceof Tensor, `${what}: not tensors`);
  assert.deepEqual(actual.dims, expected.dims, `${what}: dims`);
  assert.equal(actual.type, expected.type, `${what}: type`);
  if (tolerance === undefined) {
    assert.ok(Buffer.from(bytesOf(actual)).equals(bytesOf(expected)), `${what}: contents differ`);
    return;
  }
  assertClose(actual, expected, what, { rtol: tolerance, atol: tolerance });
}

/** Runs the case on every placement and compares each output with the reference backend's. */
async function check(c: NodeCase, tolerance?: number): Promise<void> {
  const expected = await runReference(c);
  const shapes = c.inputs.map((t) => (t ? `${t.type}[${t.dims.join(',')}]` : '-')).join(' ');
  for (const placement of PLACEMENTS) {
    const actual = await runWasm(c, placement);
    expected.forEach((e, i) =>
      sameTensor(
        actual[i],
        e,
        `${c.op}-${c.opset} ${JSON.stringify(c.attributes ?? {})} on ${shapes}, output ${i}, ${placement.threads} threads, ${placement.heap ? 'in' : 'out of'} heap`,
        tolerance,
      ),
    );
  }
}

/** The error the wasm kernel fails with on every placement. */
async function wasmError(c: NodeCase): Promise<string> {
  let message = '';
  for (const placement of PLACEMENTS) {
    await assert.rejects(
      async () => runWasm(c, placement),
      (error: Error) => {
        message = error.message;
        return true;
      },
    );
  }
  return message;
}

function randomDims(rng: Random, rank: number, maxSize: number): number[] {
  return Array.from({ length: rank }, () => integer(rng, 1, maxSize));
}

const TYPES: DataType[] = ['float32', 'int32', 'int64', 'float16', 'uint8', 'bool'];

test('Transpose: random permutations, ranks 1 to 7, every element size', async () => {
  const rng = random(1);
  for (let round = 0; round < 60; round++) {
    const rank = integer(rng, 1, round < 50 ? 5 : 7);
    const dims = randomDims(rng, rank, rank > 4 ? 4 : 9);
    const type = TYPES[round % TYPES.length]!;
    const perm = shuffled(rng, [...dims.keys()]);
    await check({
      op: 'Transpose',
      opset: 13,
      inputs: [randomTensor(rng, type, dims)],
      attributes: { perm },
    });
  }
});

test('Transpose: the common layouts at sizes around the 4x4 and 64x64 blocks', async () => {
  const rng = random(2);
  const cases: [number[], number[]][] = [
    [
      [67, 130],
      [1, 0],
    ],
    [
      [3, 64, 64],
      [0, 2, 1],
    ],
    [
      [2, 5, 3, 7],
      [0, 1, 3, 2],
    ],
    [
      [2, 128, 4, 64],
      [0, 2, 1, 3],
    ],
    [
      [2, 4, 128, 64],
      [0, 1, 3, 2],
    ],
    [
      [1, 3, 33, 17],
      [0, 2, 3, 1],
    ],
    [
      [1, 33, 17, 3],
      [0, 3, 1, 2],
    ],
    [
      [200, 300],
      [1, 0],
    ],
    [
      [1, 1, 1],
      [2, 0, 1],
    ],
    [
      [4, 0, 3],
      [2, 1, 0],
    ],
  ];
  for (const [dims, perm] of cases) {
    await check({
      op: 'Transpose',
      opset: 13,
      inputs: [randomTensor(rng, 'float32', dims)],
      attributes: { perm },
    });
  }
  await check({ op: 'Transpose', opset: 1, inputs: [randomTensor(rng, 'float32', [3, 4, 5])] });
  await check({ op: 'Transpose', opset: 13, inputs: [randomTensor(rng, 'int64', [])] });
});

test('Concat: random axes, part counts and element sizes; Concat-1 default axis', async () => {
  const rng = random(3);
  for (let round = 0; round < 40; round++) {
    const rank = integer(rng, 1, 4);
    const dims = randomDims(rng, rank, 7);
    const axis = integer(rng, 0, rank - 1);
    const type = TYPES[round % TYPES.length]!;
    const parts = Array.from({ length: integer(rng, 1, 4) }, () =>
      randomTensor(
        rng,
        type,
        dims.map((d, a) => (a === axis ? integer(rng, 0, 5) : d)),
      ),
    );
    await check({ op: 'Concat', opset: 13, inputs: parts, attributes: { axis: axis - (round % 2) * rank } });
  }
  await check({
    op: 'Concat',
    opset: 1,
    inputs: [randomTensor(rng, 'float32', [2, 3, 4]), randomTensor(rng, 'float32', [2, 5, 4])],
  });
  const channels = [64, 64].map((c) => randomTensor(rng, 'float32', [1, c, 55, 55]));
  await check({ op: 'Concat', opset: 13, inputs: channels, attributes: { axis: 1 }, constants: [1] });
});

test('Concat: mismatched parts fail clearly', async () => {
  const rng = random(4);
  const message = await wasmError({
    op: 'Concat',
    opset: 13,
    inputs: [randomTensor(rng, 'float32', [2, 3]), randomTensor(rng, 'float32', [3, 3])],
    attributes: { axis: 1 },
  });
  assert.match(message, /cannot concatenate float32\[3, 3\] with float32\[2, 3\] on axis 1/);
});

test('Split: lengths from attributes and inputs, equal and uneven parts, omitted outputs', async () => {
  const rng = random(5);
  for (let round = 0; round < 30; round++) {
    const rank = integer(rng, 1, 4);
    const dims = randomDims(rng, rank, 8);
    const axis = integer(rng, 0, rank - 1);
    const dim = dims[axis]!;
    const cut = integer(rng, 0, dim);
    const lengths = [cut, dim - cut];
    const data = randomTensor(rng, TYPES[round % TYPES.length]!, dims);
    await check({ op: 'Split', opset: 11, inputs: [data], outputs: 2, attributes: { axis, split: lengths } });
    await check({
      op: 'Split',
      opset: 13,
      inputs: [data, int64s(lengths)],
      outputs: 2,
      attributes: { axis },
    });
    const parts = integer(rng, 1, 3);
    await check({
      op: 'Split',
      opset: 18,
      inputs: [data],
      outputs: parts,
      attributes: { axis, num_outputs: parts },
    });
  }
  await check({
    op: 'Split',
    opset: 2,
    inputs: [randomTensor(rng, 'float32', [2, 6, 3])],
    outputs: 3,
    attributes: { axis: 1 },
  });
  const big = randomTensor(rng, 'float32', [64, 768]);
  await check({
    op: 'Split',
    opset: 13,
    inputs: [big, int64s([256, 256, 256])],
    outputs: 3,
    attributes: { axis: 1 },
  });
});

test('Split: an omitted output is skipped', async () => {
  const rng = random(6);
  const c: NodeCase = {
    op: 'Split',
    opset: 13,
    inputs: [randomTensor(rng, 'int32', [4, 6])],
    outputs: 3,
    attributes: { axis: 1 },
  };
  const node = nodeOf(c);
  node.outputs[1] = '';
  const backend = wasmBackend(1);
  const outputs = await backend.prepare(node, new Map()).run(argsOf(c.inputs, newOutput));
  assert.equal(outputs[1], undefined);
  assert.deepEqual(
    [...((outputs[2] as Tensor).data as Int32Array)],
    [...(c.inputs[0]!.data as Int32Array)].filter((_, i) => i % 6 >= 4),
  );
});

test('Slice: random starts, ends, axes and steps (negative included), every opset form', async () => {
  const rng = random(7);
  for (let round = 0; round < 80; round++) {
    const rank = integer(rng, 1, 4);
    const dims = randomDims(rng, rank, 9);
    const data = randomTensor(rng, TYPES[round % TYPES.length]!, dims);
    const axes = shuffled(rng, [...dims.keys()]).slice(0, integer(rng, 1, rank));
    const starts = axes.map((a) => integer(rng, -dims[a]! - 2, dims[a]! + 2));
    const ends = axes.map((a) => (rng() < 0.1 ? 2 ** 62 : integer(rng, -dims[a]! - 2, dims[a]! + 2)));
    const steps = axes.map(() => (rng() < 0.5 ? 1 : integer(rng, 1, 3) * (rng() < 0.5 ? -1 : 1)));
    const negativeAxes = axes.map((a) => (rng() < 0.3 ? a - rank : a));
    await check({
      op: 'Slice',
      opset: 13,
      inputs: [data, int64s(starts), int64s(ends), int64s(negativeAxes), int64s(steps)],
    });
    const positive = steps.map(() => 1);
    await check({
      op: 'Slice',
      opset: 10,
      inputs: [
        data,
        ints('int32', starts),
        ints(
          'int32',
          ends.map((e) => Math.min(e, 2 ** 31 - 1)),
        ),
        ints('int32', axes),
      ],
    });
    if (positive.length === rank)
      await check({
        op: 'Slice',
        opset: 1,
        inputs: [data],
        attributes: { starts, ends: ends.map((e) => Math.min(e, 2 ** 31 - 1)) },
      });
    await check({
      op: 'Slice',
      opset: 1,
      inputs: [data],
      attributes: { starts, ends: ends.map((e) => Math.min(e, 2 ** 31 - 1)), axes },
    });
  }
  const big = randomTensor(rng, 'float32', [3, 200, 300]);
  await check({
    op: 'Slice',
    opset: 13,
    inputs: [big, int64s([5, 299]), int64s([190, 0]), int64s([1, 2]), int64s([1, -2])],
  });
  await check({
    op: 'Slice',
    opset: 13,
    inputs: [big, int64s([1]), int64s([-1]), int64s([2])],
    constants: [0],
  });
});

test('Expand: broadcasts in front, of length-1 axes, and to the same shape', async () => {
  const rng = random(8);
  const cases: [number[], number[]][] = [
    [
      [3, 1],
      [2, 3, 4],
    ],
    [[1], [5, 7]],
    [
      [4, 1, 6],
      [4, 5, 6],
    ],
    [
      [2, 3],
      [2, 3],
    ],
    [
      [1, 1],
      [65, 130],
    ],
    [
      [1, 70],
      [300, 1],
    ],
  ];
  for (const [dims, shape] of cases)
    for (const type of TYPES)
      await check({ op: 'Expand', opset: 13, inputs: [randomTensor(rng, type, dims), int64s(shape)] });
});

test('Gather: embedding rows with int64 and int32 indices, other axes, negative indices', async () => {
  const rng = random(9);
  const table = randomTensor(rng, 'float32', [500, 64]);
  for (const type of ['int64', 'int32'] as const) {
    const tokens = Array.from({ length: 2 * 16 }, () => integer(rng, -500, 499));
    await check({ op: 'Gather', opset: 13, inputs: [table, ints(type, tokens, [2, 16])], constants: [0] });
    await check({ op: 'Gather', opset: 1, inputs: [table, ints(type, tokens, [2, 16])] });
  }
  for (let round = 0; round < 40; round++) {
    const rank = integer(rng, 1, 4);
    const dims = randomDims(rng, rank, 6);
    const axis = integer(rng, 0, rank - 1);
    const indexDims = randomDims(rng, integer(rng, 0, 2), 3);
    const indices = Array.from({ length: shapeSize(indexDims) }, () =>
      integer(rng, -dims[axis]!, dims[axis]! - 1),
    );
    await check({
      op: 'Gather',
      opset: 13,
      inputs: [
        randomTensor(rng, TYPES[round % TYPES.length]!, dims),
        ints(round % 2 ? 'int32' : 'int64', indices, indexDims),
      ],
      attributes: { axis: round % 3 === 0 ? axis - rank : axis },
    });
  }
});

test('Gather: an index out of range fails naming it, the axis and its size', async () => {
  const rng = random(10);
  const table = randomTensor(rng, 'float32', [50257, 4]);
  const message = await wasmError({
    op: 'Gather',
    opset: 13,
    inputs: [table, int64s([3, 70000])],
    constants: [0],
  });
  assert.match(message, /index 70000 is out of range for axis 0 of size 50257/);
  const negative = await wasmError({
    op: 'Gather',
    opset: 13,
    inputs: [randomTensor(rng, 'int32', [3, 5]), ints('int32', [-6])],
    attributes: { axis: 1 },
  });
  assert.match(negative, /index -6 is out of range for axis 1 of size 5/);
});

test('Pad: every mode, random pads, every opset form, crops in constant mode', async () => {
  const rng = random(11);
  for (let round = 0; round < 60; round++) {
    const rank = integer(rng, 1, 4);
    const dims = randomDims(rng, rank, 6);
    const type = TYPES[round % TYPES.length]!;
    const data = randomTensor(rng, type, dims);
    const mode = (['constant', 'reflect', 'edge', 'wrap'] as const)[round % 4];
    const reach = (a: number): number => (mode === 'reflect' ? dims[a]! - 1 : mode === 'wrap' ? dims[a]! : 4);
    const pads = [...dims.keys(), ...dims.keys()].map((a) =>
      integer(rng, mode === 'constant' ? -1 : 0, Math.min(reach(a), 4)),
    );
    const value = type === 'float32' ? new Tensor('float32', Float32Array.of(2.5), []) : undefined;
    await check({
      op: 'Pad',
      opset: mode === 'wrap' ? 19 : 13,
      inputs: [data, int64s(pads), value],
      attributes: { mode },
    });
    if (mode !== 'wrap')
      await check({ op: 'Pad', opset: 2, inputs: [data], attributes: { mode, pads, value: { float: 1.5 } } });
  }
  const image = randomTensor(rng, 'float32', [1, 3, 100, 90]);
  for (const mode of ['constant', 'reflect', 'edge'])
    await check({
      op: 'Pad',
      opset: 11,
      inputs: [image, int64s([0, 0, 3, 3, 0, 0, 3, 3])],
      attributes: { mode },
    });
  await check({ op: 'Pad', opset: 1, inputs: [image], attributes: { paddings: [0, 1, 2, 3, 0, 1, 2, 3] } });
  await check({
    op: 'Pad',
    opset: 18,
    inputs: [image, int64s([1, 2, 3, 4]), undefined, int64s([-1, 1])],
    attributes: { mode: 'reflect' },
  });
});

const COORDINATE_MODES = [
  'half_pixel',
  'half_pixel_symmetric',
  'pytorch_half_pixel',
  'align_corners',
  'asymmetric',
  'tf_half_pixel_for_nn',
];
const NEAREST_MODES = ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'];

test('Resize: nearest in every nearest_mode and coordinate transformation, scales and sizes', async () => {
  const rng = random(12);
  for (let round = 0; round < 48; round++) {
    const dims = [integer(rng, 1, 2), integer(rng, 1, 3), integer(rng, 1, 9), integer(rng, 1, 9)];
    const x = randomTensor(rng, round % 3 === 0 ? 'int32' : 'float32', dims);
    const attributes = {
      mode: 'nearest',
      coordinate_transformation_mode: COORDINATE_MODES[round % COORDINATE_MODES.length]!,
      nearest_mode: NEAREST_MODES[round % NEAREST_MODES.length]!,
    };
    const scales = floats([1, 1, integer(rng, 1, 8) / 4, integer(rng, 1, 8) / 4]);
    await check({ op: 'Resize', opset: 13, inputs: [x, undefined, scales], attributes });
    const sizes = int64s([dims[0]!, dims[1]!, integer(rng, 1, 12), integer(rng, 1, 12)]);
    await check({ op: 'Resize', opset: 19, inputs: [x, undefined, undefined, sizes], attributes });
  }
});

test('Resize: bilinear in every coordinate transformation, big images on the pool', async () => {
  const rng = random(13);
  for (let round = 0; round < 36; round++) {
    const dims = [integer(rng, 1, 2), integer(rng, 1, 3), integer(rng, 1, 9), integer(rng, 1, 9)];
    const x = randomTensor(rng, 'float32', dims);
    const attributes = {
      mode: 'linear',
      coordinate_transformation_mode: COORDINATE_MODES[round % COORDINATE_MODES.length]!,
    };
    const scales = floats([1, 1, integer(rng, 1, 8) / 4, integer(rng, 1, 8) / 4]);
    await check({ op: 'Resize', opset: 13, inputs: [x, undefined, scales], attributes }, 1e-5);
    const sizes = int64s([integer(rng, 1, 12), integer(rng, 1, 12)]);
    await check(
      {
        op: 'Resize',
        opset: 18,
        inputs: [x, undefined, undefined, sizes],
        attributes: { ...attributes, axes: [2, 3] },
      },
      1e-5,
    );
  }
  const image = randomTensor(rng, 'float32', [1, 8, 64, 48]);
  await check(
    {
      op: 'Resize',
      opset: 11,
      inputs: [image, floats([]), floats([1, 1, 2, 2])],
      attributes: { mode: 'linear' },
    },
    1e-5,
  );
  await check({ op: 'Resize', opset: 11, inputs: [image, floats([]), floats([1, 1, 2, 2])], constants: [2] });
});

test('Resize: the legacy forms (Resize-10, Upsample 1, 7 and 9) and a resized leading axis', async () => {
  const rng = random(14);
  const x = randomTensor(rng, 'float32', [1, 2, 5, 7]);
  for (const mode of ['nearest', 'linear']) {
    await check(
      { op: 'Resize', opset: 10, inputs: [x, floats([1, 1, 1.5, 0.6])], attributes: { mode } },
      1e-5,
    );
    await check({ op: 'Upsample', opset: 9, inputs: [x, floats([1, 1, 2, 3])], attributes: { mode } }, 1e-5);
    await check(
      { op: 'Upsample', opset: 7, inputs: [x], attributes: { mode, scales: { floats: [1, 1, 2, 2.5] } } },
      1e-5,
    );
  }
  await check(
    {
      op: 'Upsample',
      opset: 1,
      inputs: [x],
      attributes: { mode: 'bilinear', height_scale: { float: 2 }, width_scale: { float: 3 } },
    },
    1e-5,
  );
  await check({
    op: 'Resize',
    opset: 13,
    inputs: [x, undefined, floats([1, 2, 2, 2])],
    attributes: { mode: 'nearest' },
  });
});

test('Copies past a MiB run on the pool', async () => {
  const rng = random(15);
  const f32 = (dims: number[]): Tensor => randomTensor(rng, 'float32', dims);
  await check({ op: 'Transpose', opset: 13, inputs: [f32([601, 503])], attributes: { perm: [1, 0] } });
  await check({
    op: 'Transpose',
    opset: 13,
    inputs: [f32([2, 257, 4, 130])],
    attributes: { perm: [0, 2, 1, 3] },
  });
  await check({
    op: 'Concat',
    opset: 13,
    inputs: [f32([1, 64, 70, 70]), f32([1, 64, 70, 70])],
    attributes: { axis: 1 },
  });
  await check({ op: 'Split', opset: 13, inputs: [f32([2, 700, 400])], outputs: 2, attributes: { axis: 1 } });
  await check({
    op: 'Slice',
    opset: 13,
    inputs: [f32([4, 400, 400]), int64s([-1]), int64s([-1000]), int64s([2]), int64s([-1])],
  });
  await check({
    op: 'Pad',
    opset: 13,
    inputs: [f32([1, 4, 300, 300]), int64s([0, 0, 2, 2, 0, 0, 2, 2])],
    attributes: { mode: 'reflect' },
  });
  await check({ op: 'Expand', opset: 13, inputs: [f32([1, 700]), int64s([500, 700])] });
});

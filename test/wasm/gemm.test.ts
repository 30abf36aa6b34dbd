/**
 * The wasm GEMM: the `Gemm` API against a naive product (ragged m, n, k in 0..70 with primes,
 * each bias kind, accumulation, batches, both packings, both B layouts, C copied out of scratch
 * tile by tile), and the MatMul, Gemm,
 * FusedMatMul and FusedGemm kernels against the reference backend (batch axes that broadcast,
 * 1-D operands, constant and fed B, transA, alpha, every C broadcast, every activation the epilogue
 * generates), on 1 and 2 threads with operands in the wasm heap and outside it; a kernel that
 * hands a run to the reference backend fails.
 */

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { Tensor } from '../../src/core/tensor.js';
import { HEDDLE_DOMAIN, type Attribute, type Node } from '../../src/ir/graph.js';
import { ReferenceBackend } from '../../src/backends/reference/backend.js';
import { WasmBackend } from '../../src/backends/wasm/backend.js';
import {
  Gemm,
  packedPanelFloats,
  packPanels,
  PANEL_WIDTH,
  type GemmOptions,
} from '../../src/backends/wasm/gemm.js';
import type { WasmEnv } from '../../src/backends/wasm/kernel.js';
import { Tuner, tunerFor } from '../../src/backends/wasm/tuning.js';
import {
  argsOf,
  assertClose,
  assertCloseValues,
  backendsBy,
  heapMemory,
  inHeap,
  ownMemory,
  random,
  randomTensor,
  typesOf,
} from '../support/wasm-checks.js';

function randomFloats(rng: () => number, size: number): Float32Array {
  return Float32Array.from({ length: size }, () => rng() * 2 - 1);
}

const wasmBackend = backendsBy((threads) => ({ threads }));

const TOLERANCE = { rtol: 1e-4, atol: 1e-4 };

// The Gemm API.

/** What a Gemm needs of the environment: the backend's runtime and features, and a tuner (by default one that does not measure). */
function envOf(backend: WasmBackend, tuner = tunerFor({ tune: false })): WasmEnv {
  return {
    runtime: backend.runtime,
    heap: backend.runtime.heap,
    features: backend.features,
    tuner,
  } as WasmEnv;
}

/** C (m×n, row stride ldc) = act(C0 + A·B + bias), in float64, over `count` products of `strides`. */
function naive(
  a: Float32Array,
  b: Float32Array,
  c0: Float32Array,
  shape: { m: number; n: number; k: number; lda: number; ldc: number },
  options: GemmOptions,
  bias: Float32Array,
): Float32Array {
  const { m, n, k, lda, ldc } = shape;
  const c = Float32Array.from(c0);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = options.accumulate ? c0[i * ldc + j]! : 0;
      for (let p = 0; p < k; p++) sum += a[i * lda + p]! * b[p * n + j]!;
      if (options.bias === 'row') sum += bias[i]!;
      if (options.bias === 'column') sum += bias[j]!;
      c[i * ldc + j] = options.activation?.kind === 'Relu' ? Math.max(sum, 0) : sum;
    }
  }
  return c;
}

interface ApiCase {
  m: number;
  n: number;
  k: number;
  options: GemmOptions;
  /** Pack B at run time (else with packPanels), and whether B arrives transposed. */
  runTimePacking: boolean;
  transposed: boolean;
}

async function checkApi(threads: number, c: ApiCase, rng: () => number, tuner?: Tuner): Promise<void> {
  const backend = wasmBackend(threads);
  const { heap } = backend.runtime;
  const { m, n, k } = c;
  const [lda, ldc] = [k + 3, n + 5];
  const a = randomFloats(rng, m * lda);
  const b = randomFloats(rng, k * n);
  const c0 = randomFloats(rng, m * ldc);
  const bias = randomFloats(rng, c.options.bias === 'row' ? m : n);
  const source = c.transposed ? transpose(b, k, n) : b;
  const panels = packedPanelFloats(k, n);
  const gemm = new Gemm(envOf(backend, tuner), c.options);
  const addresses = [a, c0, bias].map((values) => heap.copyIn(values.length ? values : new Float32Array(1)));
  const [aAt, cAt, biasAt] = addresses as [number, number, number];
  const bAt = heap.allocate(4 * Math.max(panels, 1));
  const sourceAt = heap.copyIn(source.length ? source : new Float32Array(1));
  if (c.runTimePacking) {
    await gemm.packB(sourceAt, k, n, c.transposed ? k : n, c.transposed, bAt);
  } else {
    const packed = new Float32Array(panels);
    packPanels(source, k, n, c.transposed ? 'nk' : 'kn', packed);
    (heap.view('float32', bAt, panels) as Float32Array).set(packed);
  }
  await gemm.run({ m, n, k }, { a: aAt, lda, b: bAt, c: cAt, ldc, bias: biasAt });
  const actual = heap.view('float32', cAt, m * ldc) as Float32Array;
  const what = `${m}×${n}×${k} ${gemm.name}${c.options.accumulate ? ' accumulating' : ''}, ${threads} threads`;
  assertCloseValues(actual, naive(a, b, c0, { m, n, k, lda, ldc }, c.options, bias), what, TOLERANCE);
  for (const address of [...addresses, bAt, sourceAt]) heap.release(address);
}

function transpose(b: Float32Array, k: number, n: number): Float32Array {
  const t = new Float32Array(k * n);
  for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) t[j * k + p] = b[p * n + j]!;
  return t;
}

const RAGGED = [1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 31, 37, 64, 70];

test('packPanels lays B out in zero-padded panels of PANEL_WIDTH columns', () => {
  const [k, n] = [3, 10];
  const b = Float32Array.from({ length: k * n }, (_, i) => i + 1);
  const packed = new Float32Array(packedPanelFloats(k, n)).fill(NaN);
  packPanels(b, k, n, 'kn', packed);
  assert.equal(packed.length, 2 * k * PANEL_WIDTH);
  assert.deepEqual([...packed.subarray(0, 8)], [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual([...packed.subarray(3 * 8, 4 * 8)], [9, 10, 0, 0, 0, 0, 0, 0]);
  const fromTransposed = new Float32Array(packed.length);
  packPanels(transpose(b, k, n), k, n, 'nk', fromTransposed);
  assert.deepEqual(fromTransposed, packed);
});

for (const threads of [1, 2]) {
  test(`Gemm matches a naive product on ragged sizes, ${threads} threads`, async () => {
    const rng = random(threads);
    const biases: GemmOptions['bias'][] = ['none', 'row', 'column'];
    let round = 0;
    for (const m of RAGGED) {
      for (const n of RAGGED) {
        const k = RAGGED[(m * 7 + n) % RAGGED.length]!;
        const bias = biases[round % 3]!;
        const relu = round % 2 === 0 ? { kind: 'Relu' as const, params: [] } : undefined;
        const options = { bias, activation: relu, accumulate: round % 5 === 0 };
        const runTimePacking = round % 4 < 2;
        await checkApi(threads, { m, n, k, options, runTimePacking, transposed: round % 2 === 1 }, rng);
        round++;
      }
    }
  });
}

test('Gemm with K of 0 and K deeper than one L1 block', async () => {
  const rng = random(7);
  for (const threads of [1, 2]) {
    for (const k of [0, 1, 2000, 4099]) {
      const options: GemmOptions = { bias: 'column', activation: { kind: 'Relu', params: [] } };
      await checkApi(threads, { m: 13, n: 21, k, options, runTimePacking: true, transposed: false }, rng);
      await checkApi(
        threads,
        {
          m: 9,
          n: 17,
          k,
          options: { ...options, accumulate: true },
          runTimePacking: false,
          transposed: true,
        },
        rng,
      );
    }
  }
});

test('Gemm with C larger than L2 sweeps several panels per row strip, ragged edges included', async () => {
  // Shaped like a language model's head: few rows, tens of thousands of columns, so C (4–6 MiB)
  // outgrows L2 and each row strip walks a group of panels (the sweep) before the next strip.
  const rng = random(11);
  for (const threads of [1, 2]) {
    for (const [m, n, k] of [
      [67, 20003, 33],
      [5, 131081, 3],
    ] as const) {
      const options: GemmOptions = { bias: 'column' };
      await checkApi(threads, { m, n, k, options, runTimePacking: false, transposed: true }, rng);
    }
  }
});

test('Gemm copies C out of scratch into its place, tile by tile, batched and not', async () => {
  const rng = random(12);
  for (const threads of [1, 2]) {
    const backend = wasmBackend(threads);
    const { heap } = backend.runtime;
    // A head-like product (a pool job of many column tiles) and a batch of small ones.
    for (const [count, m, n, k] of [
      [1, 67, 20003, 33],
      [3, 19, 45, 23],
    ] as const) {
      const ldc = n + 5;
      const strideC = m * ldc + 3;
      const a = randomFloats(rng, count * m * k);
      const b = randomFloats(rng, k * n);
      const packed = new Float32Array(packedPanelFloats(k, n));
      packPanels(b, k, n, 'kn', packed);
      const [aAt, bAt] = [heap.copyIn(a), heap.copyIn(packed)];
      const cAt = heap.allocate(4 * count * strideC);
      const copyOut = new Float32Array(count * strideC).fill(Number.NaN);
      const gemm = new Gemm(envOf(backend), { bias: 'none' });
      const batch = { count, strideA: m * k, strideB: 0, strideC };
      await gemm.runBatched({ m, n, k }, { a: aAt, lda: k, b: bAt, c: cAt, ldc, copyOut }, batch);
      for (let item = 0; item < count; item++) {
        const expected = naive(
          a.subarray(item * m * k),
          b,
          new Float32Array(m * ldc),
          { m, n, k, lda: k, ldc },
          { bias: 'none' },
          new Float32Array(0),
        );
        for (let i = 0; i < m; i++) {
          const row = item * strideC + i * ldc;
          assertCloseValues(
            copyOut.subarray(row, row + n),
            expected.subarray(i * ldc, i * ldc + n),
            `${count}×${m}×${n}×${k} item ${item} row ${i}, ${threads} threads`,
            TOLERANCE,
          );
          assert.ok(copyOut.subarray(row + n, row + ldc).every(Number.isNaN), 'nothing outside C written');
        }
      }
      for (const address of [aAt, bAt, cAt]) heap.release(address);
    }
  }
});

test('Gemm computes the same product while the tuner times its blockings on it', async () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'heddle-gemm-tuning-'));
  try {
    const tuner = new Tuner({ directory });
    const rng = random(9);
    const options: GemmOptions = { bias: 'row', activation: { kind: 'Relu', params: [] } };
    await checkApi(
      1,
      { m: 70, n: 37, k: 1500, options, runTimePacking: false, transposed: false },
      rng,
      tuner,
    );
    assert.ok(fs.readdirSync(directory).some((file) => file.startsWith('tuning-')));
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }
});

test('Gemm.runBatched runs each product of a batch with its strides, B shared or not', async () => {
  const rng = random(11);
  for (const threads of [1, 2]) {
    const backend = wasmBackend(threads);
    const { heap } = backend.runtime;
    const [count, m, n, k] = [5, 11, 19, 23];
    for (const sharedB of [false, true]) {
      const a = randomFloats(rng, count * m * k);
      const bs = Array.from({ length: sharedB ? 1 : count }, () => randomFloats(rng, k * n));
      const panels = packedPanelFloats(k, n);
      const packed = new Float32Array(panels * bs.length);
      bs.forEach((b, i) => packPanels(b, k, n, 'kn', packed.subarray(i * panels, (i + 1) * panels)));
      const [aAt, bAt] = [heap.copyIn(a), heap.copyIn(packed)];
      const cAt = heap.allocate(4 * count * m * n);
      const gemm = new Gemm(envOf(backend), { bias: 'none' });
      const batch = { count, strideA: m * k, strideB: sharedB ? 0 : panels, strideC: m * n };
      await gemm.runBatched({ m, n, k }, { a: aAt, lda: k, b: bAt, c: cAt, ldc: n }, batch);
      for (let item = 0; item < count; item++) {
        const expected = naive(
          a.subarray(item * m * k),
          bs[sharedB ? 0 : item]!,
          new Float32Array(m * n),
          { m, n, k, lda: k, ldc: n },
          { bias: 'none' },
          new Float32Array(0),
        );
        const actual = heap.view('float32', cAt + 4 * item * m * n, m * n) as Float32Array;
        assertCloseValues(
          actual,
          expected,
          `batch item ${item}, B shared ${sharedB}, ${threads} threads`,
          TOLERANCE,
        );
      }
      for (const address of [aAt, bAt, cAt]) heap.release(address);
    }
  }
});

// The kernels, against the reference backend.

interface NodeCase {
  op: 'MatMul' | 'Gemm' | 'FusedMatMul' | 'FusedGemm';
  inputs: (readonly number[] | undefined)[];
  attributes?: Attribute[];
  /** Inputs given as constants (initializers) rather than fed. */
  constants?: number[];
  opset?: number;
}

const INPUT_NAMES = ['a', 'b', 'c', 'd'];

function nodeOf(c: NodeCase): Node {
  return {
    name: `${c.op}_case`,
    opType: c.op,
    domain: c.op.startsWith('Fused') ? HEDDLE_DOMAIN : '',
    opset: c.opset ?? (c.op.startsWith('Fused') ? 1 : 13),
    inputs: c.inputs.map((dims, i) => (dims ? INPUT_NAMES[i]! : '')),
    outputs: ['y'],
    attributes: new Map((c.attributes ?? []).map((a) => [a.name, a])),
  };
}

/**
 * Runs `body` with every reference kernel prepared meanwhile failing when run, so that a wasm
 * kernel that quietly hands a run to the reference backend fails the test.
 */
async function withoutReference(body: () => Promise<void>): Promise<void> {
  const prepare = Object.getOwnPropertyDescriptor(ReferenceBackend.prototype, 'prepare')!;
  Object.defineProperty(ReferenceBackend.prototype, 'prepare', {
    ...prepare,
    value: (node: Node) => ({
      name: 'reference',
      run: () => assert.fail(`${node.opType} was handed to the reference kernel`),
    }),
  });
  try {
    await body();
  } finally {
    Object.defineProperty(ReferenceBackend.prototype, 'prepare', prepare);
  }
}

async function checkNode(c: NodeCase, seed: number): Promise<void> {
  const rng = random(seed);
  const node = nodeOf(c);
  const inputs = c.inputs.map((dims) => (dims ? randomTensor(rng, dims) : undefined));
  const [expected] = (await new ReferenceBackend().prepare(node).run(argsOf(inputs, ownMemory))) as Tensor[];
  const types = typesOf(node, inputs);
  const constants = new Map((c.constants ?? []).map((i) => [INPUT_NAMES[i]!, inputs[i]!]));
  for (const threads of [1, 2]) {
    const backend = wasmBackend(threads);
    assert.equal(backend.supports(node, types), true);
    await withoutReference(async () => {
      const kernel = backend.prepare(node, constants, types);
      assert.match(kernel.name, /^gemm_f32_/);
      for (const heap of [true, false]) {
        const placed = inputs.map((t, i) =>
          t && heap && !c.constants?.includes(i) ? inHeap(backend, t) : t,
        );
        const [actual] = await kernel.run(argsOf(placed, heap ? heapMemory(backend, 0) : ownMemory));
        const what = `${c.op} [${c.inputs.map((d) => (d ? `[${d}]` : '-')).join(' ')}], ${threads} threads, heap ${heap}`;
        assertClose(actual, expected, what, TOLERANCE);
      }
    });
  }
}

const float = (name: string, value: number): Attribute => ({ name, type: 'float', value });
const int = (name: string, value: number): Attribute => ({ name, type: 'int', value });

test('MatMul matches the reference on ragged and empty 2-D products, B fed and constant', async () => {
  let seed = 100;
  for (const [m, k, n] of [
    [1, 1, 1],
    [3, 5, 7],
    [17, 13, 11],
    [64, 31, 70],
    [70, 64, 9],
    [4, 0, 6],
    [0, 5, 3],
  ]) {
    await checkNode(
      {
        op: 'MatMul',
        inputs: [
          [m!, k!],
          [k!, n!],
        ],
      },
      seed++,
    );
    await checkNode(
      {
        op: 'MatMul',
        inputs: [
          [m!, k!],
          [k!, n!],
        ],
        constants: [1],
      },
      seed++,
    );
  }
});

test('MatMul matches the reference on 1-D operands and broadcast batch axes', async () => {
  let seed = 200;
  const shapes: [number[], number[]][] = [
    [[7], [7]],
    [[7], [2, 7, 5]],
    [[3, 4, 9], [9]],
    [
      [2, 3, 5, 6],
      [6, 4],
    ],
    [
      [2, 3, 5, 6],
      [3, 6, 4],
    ],
    [
      [5, 6],
      [3, 6, 4],
    ],
    [
      [2, 1, 5, 6],
      [1, 3, 6, 4],
    ],
    [
      [4, 1, 5, 6],
      [4, 6, 13],
    ],
  ];
  for (const [a, b] of shapes) {
    await checkNode({ op: 'MatMul', inputs: [a, b] }, seed++);
    await checkNode({ op: 'MatMul', inputs: [a, b], constants: [1] }, seed++);
  }
});

test('Gemm matches the reference with transB, alpha, beta and every C broadcast', async () => {
  let seed = 300;
  const [m, k, n] = [13, 11, 19];
  for (const c of [undefined, [n], [1, n], [1], [], [m, 1], [m, n], [1, 1]]) {
    for (const transB of [0, 1]) {
      const b = transB ? [n, k] : [k, n];
      const attributes = [int('transB', transB), float('alpha', 0.5), float('beta', 0.75)];
      await checkNode({ op: 'Gemm', inputs: [[m, k], b, c], attributes, constants: [1] }, seed++);
      await checkNode({ op: 'Gemm', inputs: [[m, k], b, c], attributes: [int('transB', transB)] }, seed++);
      await checkNode(
        {
          op: 'Gemm',
          inputs: [[m, k], b, c],
          attributes: [int('transB', transB), float('beta', 2)],
          constants: [1, 2],
        },
        seed++,
      );
    }
  }
});

test('Gemm matches the reference with transA, and with alpha on a fed B', async () => {
  let seed = 350;
  for (const transB of [0, 1]) {
    const [m, k, n] = [9, 14, 11];
    const a = [k, m];
    const b = transB ? [n, k] : [k, n];
    const attributes = [int('transA', 1), int('transB', transB), float('alpha', 1.5)];
    await checkNode({ op: 'Gemm', inputs: [a, b, [n]], attributes }, seed++);
    await checkNode({ op: 'Gemm', inputs: [a, b, [m, n]], attributes, constants: [1] }, seed++);
    const scaled = [int('transB', transB), float('alpha', -2)];
    await checkNode({ op: 'Gemm', inputs: [[m, k], b, undefined], attributes: scaled }, seed++);
  }
});

/** Every activation of the fused operators, with the params it takes. */
const ACTIVATIONS: [string, number[]][] = [
  ['Relu', []],
  ['LeakyRelu', [0.1]],
  ['Clip', [-0.5, 0.25]],
  ['HardSigmoid', [0.2, 0.5]],
  ['HardSwish', []],
  ['Sigmoid', []],
  ['Tanh', []],
  ['Gelu', []],
  ['FastGelu', []],
  ['SiLU', []],
];

function activationAttributes(kind: string, params: number[]): Attribute[] {
  return [
    { name: 'activation', type: 'string', value: kind },
    { name: 'activation_params', type: 'floats', value: params },
  ];
}

test('FusedMatMul and FusedGemm match the reference with bias and every activation they claim', async () => {
  let seed = 400;
  const backend = wasmBackend(1);
  for (const [kind, params] of ACTIVATIONS) {
    const attributes = activationAttributes(kind, params);
    const matmul: NodeCase = {
      op: 'FusedMatMul',
      inputs: [[2, 9, 13], [13, 21], [21]],
      attributes,
      constants: [1],
    };
    const claim = backend.supports(nodeOf(matmul));
    if (claim !== true) {
      assert.match(String(claim), new RegExp(kind));
      continue;
    }
    await checkNode(matmul, seed++);
    await checkNode({ ...matmul, inputs: [[9, 13], [13, 21], [1]], constants: [] }, seed++);
    await checkNode(
      {
        op: 'FusedGemm',
        inputs: [[9, 13], [21, 13], [9, 21], [21]],
        attributes: [...attributes, int('transB', 1)],
      },
      seed++,
    );
    await checkNode({ op: 'FusedGemm', inputs: [[9, 13], [13, 21], [9, 1], undefined], attributes }, seed++);
    await checkNode(
      { op: 'FusedGemm', inputs: [[9, 13], [13, 21], undefined, [21]], attributes, constants: [1] },
      seed++,
    );
  }
});

test('a fused node whose activation params do not fit is not claimed', () => {
  const node = nodeOf({
    op: 'FusedMatMul',
    inputs: [
      [2, 3],
      [3, 4],
    ],
    attributes: activationAttributes('Clip', [1]),
  });
  assert.match(String(wasmBackend(1).supports(node)), /activation_params/);
});

/**
 * The wasm backend's fused attention (com.heddle::Attention) against the reference backend: query
 * and key counts around the kernel's blocks (1, 7, 64, 130), depths and value widths off the
 * register tile, K in both layouts, batch and head axes that broadcast, masks per key, per query
 * row, causal and of -Infinity, bool keep masks of mask_mode 'select' in the same shapes with
 * their fill values (infinite scores they drop included), 1 and 2 threads and a host without
 * threads, operands in the wasm heap and outside it.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Tensor } from '../../src/core/tensor.js';
import { HEDDLE_DOMAIN, type Node } from '../../src/ir/graph.js';
import { ReferenceBackend } from '../../src/backends/reference/backend.js';
import { shapeSize } from '../../src/backends/reference/util.js';
import {
  argsOf,
  assertClose,
  attributes,
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

type MaskMaker = (rng: () => number, queries: number, keys: number) => Tensor | undefined;

/** Padding masks as BERT builds them: 0 for kept keys, a large negative number for padded ones. */
const paddingMask =
  (batch: number, masked: number): MaskMaker =>
  (rng, _queries, keys) => {
    const data = new Float32Array(batch * keys);
    for (let b = 0; b < batch; b++) {
      const kept = Math.max(1, keys - Math.floor(rng() * Math.min(keys, 9)));
      for (let k = kept; k < keys; k++) data[b * keys + k] = masked;
    }
    return new Tensor('float32', data, [batch, 1, 1, keys]);
  };

/** -Infinity above the diagonal, as a decoder's causal mask. */
const causalMask: MaskMaker = (_rng, queries, keys) => {
  const data = new Float32Array(queries * keys);
  for (let q = 0; q < queries; q++) for (let k = q + 1; k < keys; k++) data[q * keys + k] = -Infinity;
  return new Tensor('float32', data, [queries, keys]);
};

/** Bool keep masks for mask_mode 'select': true keeps a score, false puts the fill value there. */
const keepMask = (dims: readonly number[], keep: (index: number) => boolean): Tensor =>
  new Tensor(
    'bool',
    Uint8Array.from({ length: shapeSize(dims) }, (_, i) => +keep(i)),
    dims,
  );

/** Keys on and below the diagonal kept, as GPT's `masked_fill(~causal, -inf)` leaves them. */
const causalKeep: MaskMaker = (_rng, queries, keys) =>
  keepMask([queries, keys], (i) => i % keys <= Math.floor(i / keys));

/** Each element kept at random (rows may lose every key). */
const randomKeep =
  (dims: (queries: number, keys: number) => number[]): MaskMaker =>
  (rng, queries, keys) =>
    keepMask(dims(queries, keys), () => rng() < 0.7);

interface AttentionCase {
  q: number[];
  k: number[];
  v: number[];
  transposeK: boolean;
  mask?: MaskMaker;
  /** mask_mode 'select' with this mask_fill; the mask adds when absent. */
  fill?: number;
  scale: number;
}

function caseOf(
  batch: number[],
  queries: number,
  keys: number,
  depth: number,
  width: number,
  options: {
    transposeK?: boolean;
    mask?: MaskMaker;
    fill?: number;
    kBatch?: number[];
    vBatch?: number[];
  } = {},
): AttentionCase {
  const transposeK = options.transposeK ?? true;
  const kBatch = options.kBatch ?? batch;
  return {
    q: [...batch, queries, depth],
    k: transposeK ? [...kBatch, keys, depth] : [...kBatch, depth, keys],
    v: [...(options.vBatch ?? batch), keys, width],
    transposeK,
    mask: options.mask,
    fill: options.fill,
    scale: 1 / Math.sqrt(depth),
  };
}

function nodeOf(c: AttentionCase, withMask: boolean): Node {
  return {
    name: 'attention_case',
    opType: 'Attention',
    domain: HEDDLE_DOMAIN,
    opset: 1,
    inputs: withMask ? ['q', 'k', 'v', 'mask'] : ['q', 'k', 'v'],
    outputs: ['out'],
    attributes: attributes({
      scale: { float: c.scale },
      transpose_k: c.transposeK ? 1 : 0,
      mask_mode: c.fill === undefined ? undefined : 'select',
      mask_fill: c.fill === undefined ? undefined : { float: c.fill },
    }),
  };
}

const wasmBackend = backendsBy(threadsOrNone);

async function runWasm(node: Node, inputs: Tensor[], threads: number, heap: boolean): Promise<Tensor> {
  const backend = wasmBackend(threads);
  const types = typesOf(node, inputs);
  assert.equal(backend.supports(node, types), true);
  const kernel = backend.prepare(node, new Map(), types);
  const placed = heap ? inputs.map((t) => inHeap(backend, t)) : inputs;
  const [out] = await kernel.run(argsOf(placed, heap ? heapMemory(backend) : ownMemory));
  return out as Tensor;
}

/** Q, K, V at random for the case, then its mask; `adjust` may then change them (to plant infinities). */
function inputsOf(c: AttentionCase, seed: number, adjust?: (inputs: Tensor[]) => void): Tensor[] {
  const rng = random(seed);
  const inputs = [randomTensor(rng, c.q), randomTensor(rng, c.k), randomTensor(rng, c.v)];
  const mask = c.mask?.(rng, c.q[c.q.length - 2]!, c.v[c.v.length - 2]!);
  if (mask) inputs.push(mask);
  adjust?.(inputs);
  return inputs;
}

/** Runs the case on both backends and requires the same outputs, NaN where the reference has NaN. */
async function check(c: AttentionCase, seed: number, adjust?: (inputs: Tensor[]) => void): Promise<void> {
  const inputs = inputsOf(c, seed, adjust);
  const mask = inputs[3];
  const node = nodeOf(c, mask !== undefined);
  const [expected] = (await new ReferenceBackend().prepare(node).run(argsOf(inputs, ownMemory))) as Tensor[];
  for (const threads of THREADS_OR_NONE) {
    for (const heap of heapPlacements(threads)) {
      const actual = await runWasm(node, inputs, threads, heap);
      const what = `Q [${c.q}] K [${c.k}] V [${c.v}] mask [${mask?.dims ?? '-'}] fill ${c.fill}, ${threads} threads, heap ${heap}`;
      assertClose(actual, expected, what, { rtol: 2e-5, atol: 2e-5 });
    }
  }
}

test('attention matches the reference on query and key counts around the blocks', async () => {
  let seed = 1;
  for (const queries of [1, 7, 64, 130]) {
    for (const keys of [1, 7, 64, 130]) {
      await check(caseOf([2, 3], queries, keys, 16, 16), seed++);
    }
  }
});

test('attention matches the reference on depths and value widths off the register tile', async () => {
  let seed = 100;
  for (const [depth, width] of [
    [1, 1],
    [3, 5],
    [5, 13],
    [13, 3],
    [64, 64],
    [72, 7],
  ] as const) {
    await check(caseOf([2], 9, 11, depth, width), seed++);
    await check(caseOf([2], 9, 11, depth, width, { transposeK: false }), seed++);
  }
});

test('attention matches the reference with broadcast batch and head axes', async () => {
  await check(caseOf([2, 4], 7, 9, 8, 8, { kBatch: [1, 4], vBatch: [4] }), 200);
  await check(caseOf([4], 7, 9, 8, 8, { kBatch: [2, 1], vBatch: [] }), 201);
  await check(caseOf([], 5, 6, 8, 8, { kBatch: [3] }), 202);
});

test('attention matches the reference with masks', async () => {
  await check(caseOf([2, 4], 128, 128, 64, 64, { mask: paddingMask(2, -10000) }), 300);
  await check(caseOf([2, 4], 13, 13, 8, 8, { mask: paddingMask(2, -Infinity) }), 301);
  await check(caseOf([1, 4], 64, 64, 64, 64, { mask: causalMask }), 302);
  await check(caseOf([3], 7, 130, 8, 8, { mask: causalMask, transposeK: false }), 303);
  const perRow: MaskMaker = (rng, queries) => randomTensor(rng, [2, 1, queries, 1]);
  await check(caseOf([2, 3], 7, 9, 8, 8, { mask: perRow }), 304);
  const scalar: MaskMaker = () => new Tensor('float32', Float32Array.of(0.5), []);
  await check(caseOf([2], 7, 9, 8, 8, { mask: scalar }), 305);
  const wide: MaskMaker = (rng, queries, keys) => randomTensor(rng, [3, 2, 1, queries, keys], 8);
  await check(caseOf([2, 1], 7, 9, 8, 8, { mask: wide }), 306);
});

test('a fully masked row is NaN, as the reference computes it', async () => {
  const allMasked: MaskMaker = (_rng, queries, keys) =>
    new Tensor('float32', new Float32Array(queries * keys).fill(-Infinity), [queries, keys]);
  const c = caseOf([1], 3, 5, 4, 4, { mask: allMasked });
  const rng = random(400);
  const inputs = [
    randomTensor(rng, c.q),
    randomTensor(rng, c.k),
    randomTensor(rng, c.v),
    allMasked(rng, 3, 5)!,
  ];
  const out = await runWasm(nodeOf(c, true), inputs, 1, true);
  assert.ok([...(out.data as Float32Array)].every(Number.isNaN));
});

test("attention matches the reference with bool keep masks (mask_mode 'select')", async () => {
  await check(caseOf([1, 4], 64, 64, 64, 64, { mask: causalKeep, fill: -Infinity }), 500);
  await check(caseOf([3], 7, 130, 8, 8, { mask: causalKeep, fill: -Infinity, transposeK: false }), 501);
  await check(caseOf([2, 4], 13, 13, 8, 8, { mask: randomKeep((_q, k) => [2, 1, 1, k]), fill: -1e9 }), 502);
  await check(caseOf([2, 3], 7, 9, 8, 8, { mask: randomKeep((q) => [2, 1, q, 1]), fill: -3 }), 503);
  await check(caseOf([2], 9, 11, 5, 13, { mask: randomKeep((q, k) => [q, k]), fill: -Infinity }), 504);
  await check(caseOf([2, 1], 7, 9, 8, 8, { mask: randomKeep((q, k) => [3, 2, 1, q, k]), fill: 0.25 }), 505);
  await check(caseOf([2], 7, 3, 8, 8, { mask: randomKeep((_q, k) => [1, k]), fill: NaN }), 506);
  const scalar: MaskMaker = () => keepMask([], () => false);
  await check(caseOf([2], 7, 9, 8, 8, { mask: scalar, fill: -1 }), 507);
});

test('a select mask drops infinite scores where adding -Infinity would give NaN', async () => {
  const c = caseOf([2], 6, 6, 4, 4, { mask: causalKeep, fill: -Infinity });
  // Key 5's scores are +Infinity for every query; only the last query keeps key 5.
  const plantInfinity = (inputs: Tensor[]) => {
    const [q, k] = inputs.map((t) => t.data as Float32Array);
    for (let i = 0; i < q!.length; i += 4) q![i] = 1;
    for (const pair of [0, 1]) k![(pair * 6 + 5) * 4] = Infinity;
  };
  await check(c, 600, plantInfinity);
  const out = await runWasm(nodeOf(c, true), inputsOf(c, 600, plantInfinity), 2, true);
  const rows = Array.from({ length: 12 }, (_, r) => [
    ...(out.data as Float32Array).subarray(r * 4, r * 4 + 4),
  ]);
  rows.forEach((row, r) => assert.equal(row.every(Number.isNaN), r % 6 === 5, `row ${r}: ${row}`));
});

test('a row a select mask drops entirely is NaN with fill -Infinity, as the reference has it', async () => {
  const dropAll: MaskMaker = (_rng, queries, keys) => keepMask([queries, keys], () => false);
  await check(caseOf([1], 3, 5, 4, 4, { mask: dropAll, fill: -Infinity }), 700);
  await check(caseOf([1], 3, 5, 4, 4, { mask: dropAll, fill: -1e9 }), 701);
  const c = caseOf([1], 3, 5, 4, 4, { mask: dropAll, fill: -Infinity });
  const out = await runWasm(nodeOf(c, true), inputsOf(c, 702), 1, true);
  assert.ok([...(out.data as Float32Array)].every(Number.isNaN));
});

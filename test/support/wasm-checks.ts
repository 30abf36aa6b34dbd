/**
 * What the wasm backend's node-by-node tests share: seeded random choices, attribute maps from
 * plain values, kernel arguments, wasm backends cached per thread count, copies of tensors into
 * a backend's heap (where the plan's arena would hold them), output allocators in and out of the
 * heap, value types of a node's inputs, the closeness check against the reference backend, and
 * a counted loop for functions built by hand with the assembler.
 */

import assert from 'node:assert/strict';
import { Tensor } from '../../src/core/tensor.js';
import type { Attribute, Node, ValueType } from '../../src/ir/graph.js';
import type { KernelArgs } from '../../src/backends/backend.js';
import type { FunctionBuilder, Local } from '../../src/backends/wasm/assembler/index.js';
import { shapeSize } from '../../src/backends/reference/util.js';
import { WasmBackend, type WasmBackendOptions } from '../../src/backends/wasm/backend.js';
import type { Tolerance } from '../../src/conformance/runner.js';

export { seededRandom as random } from '../../src/core/random.js';

export type Random = () => number;

/** An integer in [low, high], both ends included. */
export function integer(rng: Random, low: number, high: number): number {
  return low + Math.floor(rng() * (high - low + 1));
}

export function pick<T>(rng: Random, items: readonly T[]): T {
  return items[integer(rng, 0, items.length - 1)]!;
}

export function shuffled<T>(rng: Random, items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = integer(rng, 0, i);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

/** A float32 tensor of values uniform in [-spread / 2, spread / 2). */
export function randomTensor(rng: Random, dims: readonly number[], spread = 2): Tensor {
  return new Tensor(
    'float32',
    Float32Array.from({ length: shapeSize(dims) }, () => (rng() - 0.5) * spread),
    dims,
  );
}

export type AttributeValue =
  number | number[] | string | string[] | { float: number } | { floats: number[] } | undefined;

/**
 * Attributes from plain values: a number is an int, an array of numbers ints, of strings strings,
 * `{ float }` and `{ floats }` floats; undefined values are left out.
 */
export function attributes(values: Record<string, AttributeValue>): Map<string, Attribute> {
  const map = new Map<string, Attribute>();
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue;
    if (typeof value === 'number') map.set(name, { name, type: 'int', value });
    else if (typeof value === 'string') map.set(name, { name, type: 'string', value });
    else if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string'))
      map.set(name, { name, type: 'strings', value: value as string[] });
    else if (Array.isArray(value)) map.set(name, { name, type: 'ints', value: value as number[] });
    else if ('float' in value) map.set(name, { name, type: 'float', value: value.float });
    else map.set(name, { name, type: 'floats', value: value.floats });
  }
  return map;
}

/** A kernel's arguments for a node without subgraphs. */
export function argsOf(
  inputs: readonly (Tensor | undefined)[],
  allocate: KernelArgs['allocateOutput'],
): KernelArgs {
  return {
    inputs,
    allocateOutput: allocate,
    runSubgraph: () => {
      throw new Error('no subgraphs here');
    },
    site: {},
  };
}

/** Float32 outputs in memory of their own, outside any heap. */
export const ownMemory: KernelArgs['allocateOutput'] = (_index, type, dims) =>
  new Tensor(type, new Float32Array(shapeSize(dims)), dims);

/**
 * Float32 outputs in the heap of `backend`, holding whatever was there unless `fill` is given (NaN
 * shows an element a kernel leaves unwritten).
 */
export function heapMemory(backend: WasmBackend, fill?: number): KernelArgs['allocateOutput'] {
  const { heap } = backend.runtime;
  return (_index, type, dims) => {
    const size = shapeSize(dims);
    const view = heap.view(type, heap.allocate(size * 4), size) as Float32Array;
    if (fill !== undefined) view.fill(fill);
    return new Tensor(type, view, dims);
  };
}

/** A copy of `tensor` in the heap of `backend` (as the plan's arena would hold it). */
export function inHeap(backend: WasmBackend, tensor: Tensor): Tensor {
  const { heap } = backend.runtime;
  const address = heap.copyIn(tensor.data as Exclude<Tensor['data'], string[]>);
  return new Tensor(tensor.type, heap.view(tensor.type, address, tensor.size), tensor.dims);
}

/** Wasm backends made by `options` for a thread count, each made once and kept for the file's tests. */
export function backendsBy(
  options: (threads: number) => WasmBackendOptions,
): (threads: number) => WasmBackend {
  const backends = new Map<number, WasmBackend>();
  return (threads) => {
    let backend = backends.get(threads);
    if (!backend) backends.set(threads, (backend = new WasmBackend(options(threads))));
    return backend;
  };
}

/**
 * Options for a thread count where 0 stands for a host without threads, whose memory is not
 * shared: growing such a memory detaches every view of it made before.
 */
export const threadsOrNone = (threads: number): WasmBackendOptions =>
  threads === 0 ? { threads: 1, disable: ['threads'] } : { threads };

/** Thread counts to run with, 0 among them (see `threadsOrNone`). */
export const THREADS_OR_NONE = [1, 2, 0];

/**
 * Whether the operands go in the heap, for each run at a thread count: on a host without threads
 * they stay outside, as a growth of its memory would detach their views.
 */
export const heapPlacements = (threads: number): boolean[] => (threads === 0 ? [false] : [true, false]);

/** The value types of a node's given inputs, by input name. */
export function typesOf(node: Node, inputs: readonly (Tensor | undefined)[]): Map<string, ValueType> {
  const types = new Map<string, ValueType>();
  inputs.forEach((t, i) => {
    if (t) types.set(node.inputs[i]!, { kind: 'tensor', elemType: t.type, shape: [...t.dims] });
  });
  return types;
}

/**
 * Requires float tensors of the same dims whose elements agree within `tolerance` (|actual -
 * expected| ≤ atol + rtol·|expected|, as the conformance runner has it); identical values (NaN for
 * NaN, infinities of the same sign) always agree.
 */
export function assertClose(actual: unknown, expected: unknown, what: string, tolerance: Tolerance): void {
  assert.ok(actual instanceof Tensor && expected instanceof Tensor, `${what}: not tensors`);
  assert.deepEqual(actual.dims, expected.dims, `${what}: dims`);
  assertCloseValues(actual.data as Float32Array, expected.data as Float32Array, what, tolerance);
}

/** `assertClose` for bare arrays of values. */
export function assertCloseValues(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  { rtol, atol }: Tolerance,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const [a, e] = [actual[i]!, expected[i]!];
    if (!(Object.is(a, e) || Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      assert.fail(`${what}: element ${i} is ${a}, expected ${e}`);
    }
  }
}

/** `for (index = begin; index < end; index++) body()`. */
export function forRange(f: FunctionBuilder, index: Local, begin: Local, end: Local, body: () => void): void {
  f.get(begin).set(index);
  f.block(null, (exit) =>
    f.loop(null, (next) => {
      f.get(index).get(end).op('i32.ge_s').brIf(exit);
      body();
      f.get(index).i32Const(1).op('i32.add').set(index);
      f.br(next);
    }),
  );
}

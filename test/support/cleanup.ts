/**
 * Helpers for the tests of the cleanup passes (constant folding, elimination): a built model's
 * graph after chosen passes, random feeds for a model's inputs, and the check that a session at
 * the highest optimization level answers as one without optimization does.
 */

import assert from 'node:assert/strict';
import { InferenceSession, Tensor } from '../../src/index.js';
import { isFloatType } from '../../src/core/dtype.js';
import type { Graph, ValueType } from '../../src/ir/graph.js';
import { importModel } from '../../src/ir/import.js';
import { inferShapes } from '../../src/ir/inference/index.js';
import { loadModelProto } from '../../src/onnx/load.js';
import { optimizeGraph, type OptimizationReport } from '../../src/passes/index.js';
import type { GraphPass } from '../../src/passes/pass.js';
import { buildModel, type ModelSpec, type ValueSpec } from './build-model.js';

export interface Optimized {
  graph: Graph;
  report: OptimizationReport;
}

export interface OptimizeOptions {
  /** Run shape inference first, as sessions do (default true). */
  infer?: boolean;
  /** Concrete input dims to infer with, as a session specialising for its feeds does. */
  inputDims?: Record<string, number[]>;
}

/** The model's main graph after the given passes at level 'basic'. */
export function optimized(
  spec: ModelSpec,
  passes: readonly GraphPass[],
  options: OptimizeOptions = {},
): Optimized {
  const model = importModel(loadModelProto(buildModel(spec)));
  if (options.infer ?? true) {
    const inputs = new Map<string, ValueType>();
    for (const input of spec.inputs) {
      const dims = options.inputDims?.[input.name];
      if (dims) inputs.set(input.name, { kind: 'tensor', elemType: input.type, shape: dims });
    }
    inferShapes(model, { inputs });
  }
  const report = optimizeGraph(model.graph, 'basic', passes);
  return { graph: model.graph, report };
}

export function opTypes(graph: Graph): string[] {
  return graph.nodes.map((n) => n.opType);
}

/** Random values for each input; symbolic dims take their size from `sizes`. */
export function randomFeeds(
  inputs: readonly ValueSpec[],
  sizes: Record<string, number> = {},
): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const input of inputs) {
    const dims = (input.dims ?? []).map((d) => (typeof d === 'number' ? d : sizes[d]!));
    const count = dims.reduce((a, b) => a * b, 1);
    feeds[input.name] = randomTensor(input.type, count, dims);
  }
  return feeds;
}

function randomTensor(type: ValueSpec['type'], count: number, dims: number[]): Tensor {
  const draw = () => Math.random() * 2 - 1;
  switch (type) {
    case 'float32':
      return new Tensor('float32', Float32Array.from({ length: count }, draw), dims);
    case 'float64':
      return new Tensor('float64', Float64Array.from({ length: count }, draw), dims);
    case 'int64':
      return new Tensor(
        'int64',
        BigInt64Array.from({ length: count }, () => BigInt(Math.floor(draw() * 5))),
        dims,
      );
    case 'int32':
      return new Tensor(
        'int32',
        Int32Array.from({ length: count }, () => Math.floor(draw() * 5)),
        dims,
      );
    case 'bool':
      return new Tensor(
        'bool',
        Uint8Array.from({ length: count }, () => (draw() > 0 ? 1 : 0)),
        dims,
      );
    default:
      throw new Error(`randomFeeds does not make ${type} tensors`);
  }
}

/**
 * Runs the model at optimization 'all' and 'disabled' on the same feeds (random ones by default)
 * and requires equal outputs: same types and dims, equal integers, floats equal to 1e-6 of their scale.
 */
export async function assertSameOutputs(spec: ModelSpec, feeds?: Record<string, Tensor>): Promise<void> {
  const bytes = buildModel(spec);
  const inputs = feeds ?? randomFeeds(spec.inputs);
  const optimizedSession = await InferenceSession.create(bytes, { graphOptimizationLevel: 'all' });
  const plain = await InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
  const actual = await optimizedSession.run(inputs);
  const expected = await plain.run(inputs);
  for (const name of plain.outputNames)
    assertSameTensor(actual[name] as Tensor, expected[name] as Tensor, name);
}

export function assertSameTensor(actual: Tensor, expected: Tensor, name: string): void {
  assert.equal(actual.type, expected.type, `${name}: type`);
  assert.deepEqual(actual.dims, expected.dims, `${name}: dims`);
  const got = Array.from(actual.data as ArrayLike<unknown>);
  const want = Array.from(expected.data as ArrayLike<unknown>);
  if (!isFloatType(expected.type)) {
    assert.deepEqual(got, want, `${name}: values`);
    return;
  }
  const scale = Math.max(1, ...want.map((v) => Math.abs(v as number)));
  got.forEach((v, i) => {
    const difference = Math.abs((v as number) - (want[i] as number));
    assert.ok(difference <= 1e-6 * scale, `${name}[${i}]: ${String(v)} differs from ${String(want[i])}`);
  });
}

/** Little-endian bytes of int64 values, for initializers beyond the 2^53 that plain numbers hold. */
export function int64Bytes(values: bigint[]): Uint8Array {
  return new Uint8Array(BigInt64Array.from(values).buffer);
}

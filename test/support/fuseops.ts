/**
 * Helpers for the tests of the fusion passes: the operators a session leaves in a built model's
 * graph, seeded random feeds, the check that a session at 'all' answers as one at 'disabled' does
 * (bit for bit where the fusion repeats the unfused steps, within a tolerance where folding rounds
 * differently), and a direct run of a fused kernel on attributes the model builder cannot write.
 */

import { seededRandom } from '../../src/core/random.js';
import assert from 'node:assert/strict';
import { InferenceSession, Tensor } from '../../src/index.js';
import { KernelContext, type KernelDef } from '../../src/backends/reference/kernel.js';
import type { RuntimeValue } from '../../src/core/values.js';
import { HEDDLE_DOMAIN, opLabel, type Attribute, type Node } from '../../src/ir/graph.js';
import type { OptimizationLevel, Rewrite } from '../../src/passes/index.js';
import { fromNumbers, shapeSize, toNumbers } from '../../src/backends/reference/util.js';
import { allocateStorage } from '../../src/core/dtype.js';
import { buildModel, type ModelSpec, type ValueSpec } from './build-model.js';

export interface Optimized {
  /** The graph's operators in order, as `domain::Op` outside ai.onnx. */
  ops: string[];
  rewrites: Rewrite[];
  session: InferenceSession;
}

export async function optimize(spec: ModelSpec, level: OptimizationLevel = 'all'): Promise<Optimized> {
  const session = await InferenceSession.create(buildModel(spec), { graphOptimizationLevel: level });
  return { ops: session.model.graph.nodes.map(opLabel), rewrites: session.optimization.rewrites, session };
}

/** Values in [-3, 3) for each input (bools at random); symbolic dims take their size from `sizes`. */
export function randomFeeds(
  inputs: readonly ValueSpec[],
  sizes: Record<string, number> = {},
  seed = 7,
): Record<string, Tensor> {
  const next = seededRandom(seed);
  const feeds: Record<string, Tensor> = {};
  for (const input of inputs) {
    const dims = (input.dims ?? []).map((d) => (typeof d === 'number' ? d : sizes[d]!));
    const count = dims.reduce((a, b) => a * b, 1);
    const values = Array.from({ length: count }, () =>
      input.type === 'bool' ? +(next() < 0.5) : next() * 6 - 3,
    );
    feeds[input.name] = fromNumbers(input.type, values, dims);
  }
  return feeds;
}

export interface CompareOptions {
  feeds?: Record<string, Tensor>;
  /** Allowed |fused - unfused| as a fraction of max |unfused|; 0 (the default) asks for the same bits. */
  tolerance?: number;
}

/** Runs the model at 'all' and at 'disabled' on the same feeds and requires the same outputs. */
export async function assertSameAsUnfused(spec: ModelSpec, options: CompareOptions = {}): Promise<void> {
  const bytes = buildModel(spec);
  const feeds = options.feeds ?? randomFeeds(spec.inputs);
  const fused = await InferenceSession.create(bytes, { graphOptimizationLevel: 'all' });
  const plain = await InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
  const actual = await fused.run(feeds);
  const expected = await plain.run(feeds);
  for (const name of plain.outputNames) {
    const got = actual[name] as Tensor;
    const want = expected[name] as Tensor;
    assert.equal(got.type, want.type, `${name}: type`);
    assert.deepEqual(got.dims, want.dims, `${name}: dims`);
    const tolerance = options.tolerance ?? 0;
    if (tolerance === 0) {
      assert.deepEqual(got.data, want.data, `${name}: values`);
      continue;
    }
    const a = toNumbers(got);
    const b = toNumbers(want);
    const scale = Math.max(...Array.from(b, Math.abs));
    b.forEach((v, i) => {
      assert.ok(Math.abs(a[i]! - v) <= tolerance * scale, `${name}[${i}]: ${a[i]} differs from ${v}`);
    });
  }
}

/** Runs a Heddle-domain kernel directly on a node with the given attributes (lists of strings included). */
export function runHeddleKernel(
  kernel: KernelDef,
  attributes: readonly Attribute[],
  inputs: readonly Tensor[],
): (RuntimeValue | undefined)[] {
  const node: Node = {
    name: kernel.op,
    opType: kernel.op,
    domain: HEDDLE_DOMAIN,
    opset: 1,
    inputs: inputs.map((_, i) => `input${i}`),
    outputs: ['output'],
    attributes: new Map(attributes.map((a) => [a.name, a])),
  };
  const ctx = new KernelContext(node, {
    inputs,
    site: { model: 'test' },
    runSubgraph: () => [],
    allocateOutput: (_, type, dims) => new Tensor(type, allocateStorage(type, shapeSize(dims)), dims),
  });
  return kernel.run(ctx);
}

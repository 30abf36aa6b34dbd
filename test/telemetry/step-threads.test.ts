/**
 * Step spans say how many threads their kernel could use, which is how the profile knows which
 * peaks a step can reach: the wasm backend runs its kernels on its pool (the intra-op thread count
 * the session asked for) while its steps stay spans on the calling thread's track; a reference
 * kernel runs on the calling thread alone.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InferenceSession, Tensor, type SessionOptions } from '../../src/index.js';
import type { Span } from '../../src/telemetry/trace.js';
import { buildModel } from '../support/build-model.js';

/** A product the wasm backend claims, and a Tile it leaves to the reference backend. */
const model = buildModel({
  nodes: [
    { op: 'MatMul', name: 'product', inputs: ['a', 'b'], outputs: ['p'] },
    { op: 'Tile', name: 'tile', inputs: ['p', 'repeats'], outputs: ['y'] },
  ],
  inputs: [
    { name: 'a', type: 'float32', dims: [8, 16] },
    { name: 'b', type: 'float32', dims: [16, 8] },
  ],
  outputs: [{ name: 'y', type: 'float32', dims: [16, 8] }],
  initializers: [{ name: 'repeats', type: 'int64', dims: [2], values: [2, 1] }],
});

const feeds = {
  a: new Tensor('float32', new Float32Array(8 * 16).fill(0.5), [8, 16]),
  b: new Tensor('float32', new Float32Array(16 * 8).fill(-0.25), [16, 8]),
};

/** The step spans of one traced run. */
async function stepsOf(options: SessionOptions): Promise<Span[]> {
  const session = await InferenceSession.create(model, {
    ...options,
    graphOptimizationLevel: 'disabled',
    tuning: false,
    trace: true,
  });
  try {
    await session.run(feeds);
    return session.trace()!.spans.filter((s) => s.category === 'step');
  } finally {
    await session.release();
  }
}

/** What a step span says of where it ran. */
function argsOf(span: Span): { node: unknown; backend: unknown; threads: unknown; track: string } {
  return {
    node: span.args?.node,
    backend: span.args?.backend,
    threads: span.args?.threads,
    track: span.track,
  };
}

test('a wasm step says the pool size the session asked for; a reference step says one', async () => {
  const steps = await stepsOf({ executionProviders: ['wasm'], intraOpNumThreads: 3 });
  assert.deepEqual(steps.map(argsOf), [
    { node: 'product', backend: 'wasm', threads: 3, track: 'main' },
    { node: 'tile', backend: 'reference', threads: 1, track: 'main' },
  ]);
});

test('a wasm backend on one thread says one', async () => {
  const steps = await stepsOf({ executionProviders: ['wasm'], intraOpNumThreads: 1 });
  assert.deepEqual(
    steps.map((s) => [s.args?.node, s.args?.threads]),
    [
      ['product', 1],
      ['tile', 1],
    ],
  );
});

test('every step of a reference session says one thread', async () => {
  const steps = await stepsOf({ executionProviders: ['reference'] });
  assert.equal(steps.length, 2);
  assert.ok(steps.every((s) => s.args?.backend === 'reference' && s.args.threads === 1));
});

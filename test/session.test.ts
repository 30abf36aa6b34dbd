/** The public API: InferenceSession and Tensor behave as onnxruntime-common's do. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { HeddleError, InferenceSession, Tensor } from '../src/index.js';
import { buildModel } from './support/build-model.js';

const identityModel = buildModel({
  nodes: [
    { op: 'Identity', inputs: ['x'], outputs: ['y'] },
    { op: 'Identity', inputs: ['n'], outputs: ['m'] },
  ],
  inputs: [
    { name: 'x', type: 'float32', dims: ['batch', 3] },
    { name: 'n', type: 'int64', dims: ['batch'] },
  ],
  outputs: [
    { name: 'y', type: 'float32', dims: ['batch', 3] },
    { name: 'm', type: 'int64', dims: ['batch'] },
  ],
});

test('Tensor takes onnxruntime-common type names and array types', () => {
  assert.deepEqual(new Tensor('float32', [1, 2, 3, 4], [2, 2]).dims, [2, 2]);
  assert.ok(new Tensor('int64', [1, 2]).data instanceof BigInt64Array);
  assert.ok(new Tensor('bool', [true, false]).data instanceof Uint8Array);
  assert.deepEqual(new Tensor(['a', 'b']).type, 'string');
  assert.equal(new Tensor(new Float32Array(6), [2, 3]).size, 6);
  assert.equal(new Tensor('int4', new Int8Array([0x7f]), [2]).size, 2, 'packed 4-bit data is accepted');
  assert.throws(() => new Tensor('float32', [1, 2, 3], [2, 2]), /needs 4 values, got 3/);
  assert.throws(() => new Tensor('float32', [1], [-1]), /non-negative/);
});

test('session exposes names and metadata, and runs', async () => {
  const session = await InferenceSession.create(identityModel);
  assert.deepEqual(session.inputNames, ['x', 'n']);
  assert.deepEqual(session.outputNames, ['y', 'm']);
  assert.deepEqual(session.inputMetadata[0], {
    name: 'x',
    isTensor: true,
    type: 'float32',
    shape: ['batch', 3],
  });
  const x = new Tensor('float32', [1, 2, 3, 4, 5, 6], [2, 3]);
  const out = await session.run({ x, n: new Tensor('int64', [7n, 8n], [2]) });
  assert.deepEqual([...((out.y as Tensor).data as Float32Array)], [1, 2, 3, 4, 5, 6]);
  const only = await session.run({ x, n: new Tensor('int64', [7n, 8n], [2]) }, ['m']);
  assert.deepEqual(Object.keys(only), ['m']);
  await session.release();
  await assert.rejects(session.run({ x }), /released/);
});

test('feeds are checked, and errors name the input', async () => {
  const session = await InferenceSession.create(identityModel);
  const n = new Tensor('int64', [1n], [1]);
  const x = new Tensor('float32', [1, 2, 3], [1, 3]);
  const named = (input: string, pattern: RegExp) => (e: unknown) =>
    e instanceof HeddleError && e.site.input === input && pattern.test(e.message);
  await assert.rejects(session.run({ x }), named('n', /required/));
  await assert.rejects(session.run({ x, n, z: x }), named('z', /not an input/));
  await assert.rejects(
    session.run({ x: new Tensor('float64', [1, 2, 3], [1, 3]), n }),
    named('x', /type float32, got float64/),
  );
  await assert.rejects(session.run({ x: new Tensor('float32', [1, 2, 3], [3]), n }), named('x', /rank 2/));
  await assert.rejects(
    session.run({ x: new Tensor('float32', [1, 2, 3, 4], [1, 4]), n }),
    named('x', /dimension 1 must be 3/),
  );
  await assert.rejects(session.run({ x, n: new Tensor('int64', [1n, 2n], [2]) }), named('n', /'batch'/));
  await assert.rejects(session.run({ x, n }, ['nope']), /not an output/);
});

test('unknown execution providers are refused with the available list', async () => {
  await assert.rejects(
    InferenceSession.create(identityModel, { executionProviders: ['tpu'] }),
    /unknown execution provider 'tpu'.*reference/,
  );
});

test('writing into a returned output does not change the model or later runs', async () => {
  const model = buildModel({
    nodes: [{ op: 'Reshape', inputs: ['w', 'shape'], outputs: ['y'] }],
    inputs: [],
    outputs: [{ name: 'y', type: 'float32', dims: [2, 2] }],
    initializers: [
      { name: 'w', type: 'float32', dims: [4], values: [1, 2, 3, 4] },
      { name: 'shape', type: 'int64', dims: [2], values: [2, 2] },
    ],
  });
  const session = await InferenceSession.create(model, { graphOptimizationLevel: 'disabled' });
  const first = (await session.run({})).y as Tensor;
  (first.data as Float32Array).fill(0);
  const second = (await session.run({})).y as Tensor;
  assert.deepEqual([...(second.data as Float32Array)], [1, 2, 3, 4]);
});

test('logSeverityLevel: info summarises creation, verbose adds each choice, the default stays quiet', async (t) => {
  const lines: string[] = [];
  t.mock.method(console, 'error', (line: string) => lines.push(line));
  await InferenceSession.create(identityModel);
  assert.deepEqual(lines, [], 'warnings only by default, and this model has none');
  const reference = { executionProviders: ['reference'] };
  await InferenceSession.create(identityModel, { ...reference, logSeverityLevel: 1, logId: 'mine' });
  assert.match(
    lines[0]!,
    /^heddle info \[mine\] 2 nodes, \d+ after optimization 'all' \(\d+ rewrites\); \d+ steps on reference$/,
  );
  lines.length = 0;
  await InferenceSession.create(identityModel, {
    ...reference,
    logSeverityLevel: 0,
    graphOptimizationLevel: 'disabled',
  });
  assert.ok(
    lines.some((l) => /^heddle verbose .* on reference: the only backend$/.test(l)),
    lines.join('\n'),
  );
});

/** A full collection, from the flag V8 takes at run time. */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));

test('a session keeps nothing of the outputs the caller has dropped', async () => {
  const model = buildModel({
    nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }],
    inputs: [{ name: 'x', type: 'float32', dims: [4096] }],
    outputs: [{ name: 'y', type: 'float32', dims: [4096] }],
  });
  const session = await InferenceSession.create(model);
  const x = new Tensor('float32', new Float32Array(4096).fill(1), [4096]);
  // Made in a call of its own, so that no frame of this test holds the output.
  const outputOfRun = async () => new WeakRef(((await session.run({ x })).y as Tensor).data as Float32Array);
  const output = await outputOfRun();
  await nextTask();
  collectGarbage();
  await nextTask();
  assert.equal(output.deref(), undefined, "the last run's output outlived the caller's references");
  await session.release();
});

/**
 * The plan/ and runtime/ layers: partitioning with causes and copies at device borders, memory
 * plans whose places never collide, concurrent branches on an asynchronous backend, cancellation
 * and timeouts that leave the session usable.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeddleError, InferenceSession, Tensor } from '../src/index.js';
import { buildModel, type NodeSpec } from './support/build-model.js';
import { diamond, testDevice, type DeviceEvent } from './support/test-device.js';

const x = new Tensor('float32', [0.1, -0.2, 0.3, 0.4, 0.5, -0.6], [2, 3]);

async function referenceOutput(model: Uint8Array): Promise<Float32Array> {
  const session = await InferenceSession.create(model, {
    executionProviders: ['reference'],
    graphOptimizationLevel: 'disabled',
  });
  return ((await session.run({ x })).y as Tensor).data as Float32Array;
}

test('nodes go to the first backend that supports them, with the cause, and copies cross the border', async () => {
  const device = testDevice();
  const session = await InferenceSession.create(diamond, {
    executionProviders: [device, 'reference'],
    graphOptimizationLevel: 'disabled',
  });
  const assignments = new Map(session.plan.assignments.map((a) => [a.node.name, a]));
  assert.equal(assignments.get('left')!.backend.name, 'test-device');
  assert.equal(assignments.get('relu')!.backend.name, 'test-device');
  assert.equal(assignments.get('softmax')!.backend.name, 'reference');
  assert.match(assignments.get('softmax')!.cause, /Softmax is not on the test device/);
  const copies = session.plan.steps.filter((s) => s.kind === 'copy');
  assert.deepEqual(
    copies.map((c) => (c.kind === 'copy' ? `${c.fromDevice}->${c.toDevice}` : '')),
    ['host->test-device', 'test-device->host'],
    'x goes to the device once (both Muls share the copy); t comes back once; constants move at plan time',
  );
  const y = (await session.run({ x })).y as Tensor;
  assert.deepEqual(y.data, await referenceOutput(diamond));
  const before = { ...device.copies };
  await session.run({ x });
  assert.equal(
    device.copies.toDevice - before.toDevice,
    1,
    'a steady run moves only x; constants moved when planned',
  );
  assert.equal(device.copies.toHost - before.toHost, 1);
});

test('a shape-only node stays on the device its input lives on', async () => {
  const model = buildModel({
    nodes: [
      { op: 'Relu', name: 'relu', inputs: ['x'], outputs: ['r'] },
      { op: 'Reshape', name: 'reshape', inputs: ['r', 'shape'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', type: 'float32', dims: [2, 3] }],
    outputs: [{ name: 'y', type: 'float32', dims: [3, 2] }],
    initializers: [{ name: 'shape', type: 'int64', dims: [2], values: [3, 2] }],
  });
  const session = await InferenceSession.create(model, {
    executionProviders: ['reference', testDevice({ ops: ['Relu', 'Reshape'] })],
    graphOptimizationLevel: 'disabled',
  });
  const reshape = session.plan.assignments.find((a) => a.node.name === 'reshape')!;
  assert.equal(reshape.backend.name, 'reference');
  assert.equal(reshape.cause, 'first backend in order that supports it');
});

test('with time estimates, a node goes where it runs soonest, copies of its inputs included', async () => {
  const model = buildModel({
    nodes: [
      { op: 'MatMul', name: 'product', inputs: ['x', 'w'], outputs: ['p'] },
      { op: 'Relu', name: 'relu', inputs: ['x'], outputs: ['r'] },
    ],
    inputs: [{ name: 'x', type: 'float32', dims: [256, 256] }],
    outputs: [
      { name: 'p', type: 'float32', dims: [256, 256] },
      { name: 'r', type: 'float32', dims: [256, 256] },
    ],
    initializers: [{ name: 'w', type: 'float32', dims: [256, 256], values: new Array(256 * 256).fill(0.5) }],
  });
  // A device that computes in no time but copies slowly: worth it for the product's 33.5 MFLOP
  // (about 22 ms on the reference backend against a 2.6 ms copy of x), not for a Relu.
  const device = testDevice({
    ops: ['MatMul', 'Relu'],
    estimateSeconds: () => 1e-6,
    copyBytesPerSecond: 1e8,
  });
  const session = await InferenceSession.create(model, {
    executionProviders: ['reference', device],
    graphOptimizationLevel: 'disabled',
  });
  const byNode = new Map(session.plan.assignments.map((a) => [a.node.name, a]));
  assert.equal(byNode.get('product')!.backend.name, 'test-device');
  assert.match(
    byNode.get('product')!.cause,
    /least estimated time: .* of it copying inputs, against .* on reference/,
  );
  assert.equal(byNode.get('relu')!.backend.name, 'reference');
  assert.match(byNode.get('relu')!.cause, /least estimated time/);
  const x = new Tensor('float32', new Float32Array(256 * 256).fill(1), [256, 256]);
  const out = await session.run({ x });
  assert.equal(((out.p as Tensor).data as Float32Array)[0], 128);
});

test('independent branches overlap on an asynchronous backend', async () => {
  const events: DeviceEvent[] = [];
  const session = await InferenceSession.create(diamond, {
    executionProviders: [testDevice({ onEvent: (e) => events.push(e) }), 'reference'],
    graphOptimizationLevel: 'disabled',
  });
  await session.run({ x });
  const order = events.map((e) => `${e.phase} ${e.node}`);
  assert.ok(
    order.indexOf('start right') < order.indexOf('end left'),
    `right started after left ended: ${order.join(', ')}`,
  );
  assert.ok(order.indexOf('start join') > order.indexOf('end right'), 'join waited for both branches');
});

function chain(length: number): Uint8Array {
  const nodes: NodeSpec[] = Array.from({ length }, (_, i) => ({
    op: 'Relu',
    name: `relu${i}`,
    inputs: [i === 0 ? 'x' : `v${i}`],
    outputs: [i === length - 1 ? 'y' : `v${i + 1}`],
  }));
  return buildModel({
    nodes,
    inputs: [{ name: 'x', type: 'float32', dims: [2, 3] }],
    outputs: [{ name: 'y', type: 'float32', dims: [2, 3] }],
  });
}

test('an aborted run stops within one step with a clear error, and the next run succeeds', async () => {
  const controller = new AbortController();
  let started = 0;
  let startedAfterAbort = 0;
  const session = await InferenceSession.create(chain(40), {
    executionProviders: [
      testDevice({
        ops: ['Relu'],
        onEvent: (e) => {
          if (e.phase !== 'start') return;
          started++;
          if (controller.signal.aborted) startedAfterAbort++;
          if (started === 5) controller.abort(new Error('user pressed stop'));
        },
      }),
    ],
    graphOptimizationLevel: 'disabled',
  });
  await assert.rejects(
    session.run({ x }, { signal: controller.signal }),
    (e: unknown) =>
      e instanceof HeddleError && /the run was cancelled after \d+ of \d+ steps/.test(e.message),
  );
  assert.ok(startedAfterAbort <= 1, `${startedAfterAbort} steps started after the abort`);
  const again = await session.run({ x });
  assert.deepEqual([...(again.y as Tensor).data], [0.1, 0, 0.3, 0.4, 0.5, 0].map(Math.fround));
});

test('a run past its timeout stops with a clear error, and the session stays usable', async () => {
  const session = await InferenceSession.create(chain(30), {
    executionProviders: [testDevice({ ops: ['Relu'], turns: 50 })],
    graphOptimizationLevel: 'disabled',
  });
  await assert.rejects(
    session.run({ x }, { timeoutMs: 1 }),
    /exceeded its timeout of 1 ms after \d+ of \d+ steps/,
  );
  await assert.rejects(session.run({ x }, { timeoutMs: -5 }), /timeoutMs must be a positive number/);
  const ok = await session.run({ x });
  assert.equal((ok.y as Tensor).dims.length, 2);
});

test('cancelling a long run on the reference backend returns within one step', async () => {
  const session = await InferenceSession.create(chain(2000), { graphOptimizationLevel: 'disabled' });
  const controller = new AbortController();
  let ticks = 0;
  const tick = setInterval(() => {
    if (++ticks === 3) controller.abort();
  }, 0);
  await assert.rejects(
    session.run({ x }, { signal: controller.signal }),
    /cancelled after \d+ of 2000 steps/,
  );
  clearInterval(tick);
  assert.ok(await session.run({ x }));
});

/**
 * A traced run across a device border (the asynchronous test device): every step and copy of the
 * plan is found in the trace, copies are rows of their own, the device has its own track, and the
 * main thread's wait for the device's last kernel is an idle gap caused by that dependency.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InferenceSession, Tensor } from '../../src/index.js';
import { buildProfile } from '../../src/profile/index.js';
import { diamond, testDevice } from '../support/test-device.js';

test('steps, copies and waits across a device border', async () => {
  const session = await InferenceSession.create(diamond, {
    executionProviders: [testDevice(), 'reference'],
    graphOptimizationLevel: 'disabled',
    trace: true,
  });
  const x = new Tensor('float32', [0.1, -0.2, 0.3, 0.4, 0.5, -0.6], [2, 3]);
  for (let i = 0; i < 3; i++) await session.run({ x });
  const instance = session.planFor(new Map([['x', [2, 3]]]));
  const profile = buildProfile({
    trace: session.trace()!,
    instance,
    model: 'diamond',
    inputShapes: { x: [2, 3] },
    groupBy: 'node',
  });
  assert.deepEqual(profile.backends.sort(), ['reference', 'test-device']);
  const rows = new Map(profile.operators.map((r) => [r.key, r]));
  assert.equal(rows.size, instance.plan.steps.length, 'a row for every step and copy');
  assert.deepEqual(rows.get('x host→test-device')!.backends, ['host→test-device']);
  assert.equal(rows.get('x host→test-device')!.op, 'copy');
  assert.equal(rows.get('x host→test-device')!.bytes, 2 * 2 * 3 * 4, 'read and written once');
  assert.deepEqual(rows.get('t test-device→host')!.backends, ['test-device→host']);
  assert.deepEqual(rows.get('relu')!.backends, ['test-device']);
  const device = profile.tracks.find((t) => t.track === 'test-device')!;
  assert.equal(device.kind, 'device');
  assert.ok(device.utilisation > 0);
  const wait = profile.gaps.find((g) => g.track === 'main' && g.cause === 'dependency');
  assert.ok(wait, `no dependency gap on main among ${JSON.stringify(profile.gaps)}`);
  assert.equal(wait.detail, 'relu on test-device', 'the copy back waits for the last device kernel');
  assert.deepEqual(profile.criticalPath.steps.map((s) => s.node).slice(-3), [
    'relu',
    't test-device→host',
    'softmax',
  ]);
});

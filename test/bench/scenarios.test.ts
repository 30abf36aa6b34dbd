/**
 * Scenario plumbing: Poisson arrivals at the asked rate (seeded, so every system gets the same
 * queries), and the server verdict of whether a system kept up with the arrivals.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../src/core/random.js';
import { batchRequest, poissonArrivals, serverLoad } from '../../src/bench/scenarios.js';

test('Poisson arrivals come at the asked rate, in order, within the span', () => {
  const arrivals = poissonArrivals(200, 60_000, seededRandom(5));
  const perSecond = arrivals.length / 60;
  assert.ok(Math.abs(perSecond - 200) < 10, `${perSecond} per second`);
  assert.ok(arrivals.every((t, i) => t >= 0 && t < 60_000 && (i === 0 || t >= arrivals[i - 1]!)));
});

test('server batches repeat for the same round and differ between rounds', () => {
  const request = batchRequest({ scenario: 'server', sliceMs: 1000, rate: 50, seed: 3 });
  assert.deepEqual(request(2), request(2));
  assert.notDeepEqual(request(1), request(2));
});

test('server spans cover many arrivals, so the drain after a span stays a small part of it', () => {
  const request = batchRequest({ scenario: 'server', sliceMs: 100, rate: 2, seed: 3 })(0);
  assert.equal(request.kind, 'serve');
  assert.equal(request.kind === 'serve' && request.spanMs, 10_000);
});

test('the server held the rate when its batches end with their span, not when its queue drains late', () => {
  const measurement = (elapsedMs: number) => ({
    system: 'heddle',
    latenciesMs: [],
    batches: [{ elapsedMs, queries: 100, spanMs: 1000 }],
    peakRssKb: 0,
    gc: { markCompacts: 0, scavenges: 0, pauseMs: 0, runsWithMajorGc: 0 },
  });
  assert.equal(serverLoad(measurement(1010)).heldRate, true);
  assert.equal(serverLoad(measurement(3000)).heldRate, false);
  assert.equal(serverLoad(measurement(3000)).achievedQps.toFixed(1), '33.3');
});

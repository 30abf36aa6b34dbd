/**
 * Watching the engine's garbage collections: garbage made on purpose sets off scavenges, which
 * arrive with their kind and times on performance.now()'s clock once the event loop has turned;
 * none arrive after `stop`.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isMajor, watchCollections, type Collection } from '../src/host/collections.js';
import { makeGarbage } from './support/garbage.js';

test('garbage sets off scavenges, reported with their kind and when they ran', async () => {
  const collections: Collection[] = [];
  const start = performance.now();
  const watch = watchCollections((collection) => collections.push(collection));
  makeGarbage();
  const end = performance.now();
  await watch.settle();
  watch.stop();
  const scavenges = collections.filter((c) => c.kind === 'scavenge');
  assert.ok(
    scavenges.some((c) => c.start >= start && c.start + c.duration <= end),
    `a scavenge while the garbage was made (${start}..${end}) among ${JSON.stringify(collections)}`,
  );
  assert.ok(
    collections.every((c) => c.start >= start),
    'none from before the watch',
  );
  assert.ok(scavenges.every((c) => !isMajor(c.kind)));
  collections.length = 0;
  makeGarbage();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(collections, [], 'nothing after stop');
});

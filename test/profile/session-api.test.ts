/** Applications collect profiles from the session itself: per run, or for every run. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as path from 'node:path';
import { HeddleError, InferenceSession, Tensor } from '../../src/index.js';
import { repoRoot } from '../helpers/repo-root.js';

const model = path.join(repoRoot(import.meta.url), 'examples', 'tiny-cnn.onnx');
const image = new Tensor('float32', new Float32Array(3 * 32 * 32).fill(0.5), [1, 3, 32, 32]);

test('run(feeds, { profile: true }) profiles that run, and endProfiling returns the Profile', async () => {
  const session = await InferenceSession.create(model);
  await session.run({ image });
  await assert.rejects(
    session.endProfiling(),
    (e: unknown) => e instanceof HeddleError && /no run was profiled/.test(e.message),
  );
  for (let i = 0; i < 3; i++) await session.run({ image }, { profile: true });
  const profile = await session.endProfiling();
  assert.equal(profile.format, 'heddle-profile');
  assert.equal(profile.runs.durationsUs.length, 3, 'only the profiled runs');
  const ops = new Set(profile.operators.map((o) => o.op));
  assert.ok(ops.has('com.heddle::FusedConv') && ops.has('Gemm'), [...ops].join(', '));
  assert.ok(profile.operators.find((o) => o.op === 'Gemm')!.flops! > 0);
  await assert.rejects(session.endProfiling(), /no run was profiled/, 'profiling ended');
});

test('enableProfiling profiles every run, with the loading phases, and keeps going after endProfiling', async () => {
  const session = await InferenceSession.create(model, { enableProfiling: true });
  await session.run({ image });
  await session.run({ image });
  const first = await session.endProfiling();
  assert.equal(first.runs.durationsUs.length, 2);
  assert.ok(first.phases.loadUs > 0 && first.phases.planUs > 0);
  await session.run({ image });
  const second = await session.endProfiling();
  assert.equal(second.runs.durationsUs.length, 1);
});

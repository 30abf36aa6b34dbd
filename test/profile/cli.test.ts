/**
 * `heddle profile` end to end on a small model: the text report's sections, `--json` giving a
 * Profile of the current format, `--trace` writing Chrome JSON or Perfetto protobuf by the file's
 * name, and `--diff` of two saved profiles (refusing profiles grouped differently).
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { PROFILE_FORMAT, PROFILE_VERSION, type Profile } from '../../src/profile/index.js';
import { buildModel } from '../support/build-model.js';
import { cli, scratchFolder } from '../support/cli-fixture.js';

const folder = scratchFolder('heddle-profile-');
const model = path.join(folder, 'mlp.onnx');
fs.writeFileSync(
  model,
  buildModel({
    nodes: [
      { op: 'MatMul', name: 'hidden', inputs: ['x', 'w1'], outputs: ['h'] },
      { op: 'Relu', name: 'relu', inputs: ['h'], outputs: ['r'] },
      { op: 'MatMul', name: 'out', inputs: ['r', 'w2'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', type: 'float32', dims: ['batch', 16] }],
    outputs: [{ name: 'y', type: 'float32', dims: ['batch', 4] }],
    initializers: [
      { name: 'w1', type: 'float32', dims: [16, 32], values: new Array(16 * 32).fill(0.1) },
      { name: 'w2', type: 'float32', dims: [32, 4], values: new Array(32 * 4).fill(0.1) },
    ],
  }),
);

function heddle(...args: string[]) {
  return spawnSync(process.execPath, [cli, 'profile', ...args], { encoding: 'utf8' });
}

function profileJson(...args: string[]): Profile {
  const run = heddle(
    model,
    '--json',
    '--runs',
    '4',
    '--dim',
    'batch=8',
    '--optimization',
    'disabled',
    ...args,
  );
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as Profile;
}

test('the text report has every section', () => {
  const run = heddle(model, '--runs', '3', '--dim', 'batch=8', '--group-by', 'node');
  assert.equal(run.status, 0, run.stderr);
  for (const section of [
    'profile of mlp.onnx with x [8, 16]: 3 runs on wasm',
    'steady median',
    'operators, by node',
    'largest idle gaps',
    'critical path:',
    'memory: high-water',
  ])
    assert.ok(run.stdout.includes(section), `missing '${section}' in:\n${run.stdout}`);
});

test('--json prints a Profile with the analytic counts of the shapes run', () => {
  const profile = profileJson('--group-by', 'op+shape');
  assert.equal(profile.format, PROFILE_FORMAT);
  assert.equal(profile.version, PROFILE_VERSION);
  assert.deepEqual(profile.inputShapes, { x: [8, 16] });
  assert.deepEqual(profile.runs.steady, [1, 2, 3]);
  const hidden = profile.operators.find((row) => row.key === 'MatMul [8,16] [16,32]')!;
  assert.equal(hidden.flops, 2 * 8 * 32 * 16);
  assert.equal(hidden.samplesUs.length, 3);
  assert.deepEqual(
    profile.criticalPath.steps.map((s) => s.node),
    ['hidden', 'relu', 'out'],
  );
});

test('--trace writes Chrome JSON, or Perfetto protobuf for .pftrace', () => {
  const json = path.join(folder, 'trace.json');
  const proto = path.join(folder, 'trace.pftrace');
  for (const file of [json, proto]) assert.equal(heddle(model, '--runs', '2', '--trace', file).status, 0);
  const events = JSON.parse(fs.readFileSync(json, 'utf8')).traceEvents as { name: string; cat?: string }[];
  assert.ok(events.some((e) => e.cat === 'step' && e.name === 'MatMul'));
  const bytes = fs.readFileSync(proto);
  assert.ok(bytes.length > 0 && bytes[0] !== '{'.charCodeAt(0), 'a binary protobuf, not JSON');
});

test('--diff compares two saved profiles, and refuses profiles grouped differently', () => {
  const a = path.join(folder, 'a.json');
  const b = path.join(folder, 'b.json');
  const byNode = path.join(folder, 'by-node.json');
  fs.writeFileSync(a, JSON.stringify(profileJson()));
  fs.writeFileSync(b, JSON.stringify(profileJson()));
  fs.writeFileSync(byNode, JSON.stringify(profileJson('--group-by', 'node')));
  const text = heddle('--diff', a, b);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /flagged when the 95% percentile-bootstrap interval/);
  const json = heddle('--diff', a, b, '--json');
  const diff = JSON.parse(json.stdout) as { operators: { key: string }[] };
  assert.deepEqual(diff.operators.map((d) => d.key).sort(), ['MatMul', 'Relu']);
  const refused = heddle('--diff', a, byNode);
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /group operators differently/);
});

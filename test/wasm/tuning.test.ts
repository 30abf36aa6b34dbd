/**
 * The wasm backend's per-shape tuner: measuring on a miss and not on a hit (in this process and
 * the next), decisions kept apart per machine fingerprint, a corrupt cache ignored and replaced,
 * concurrent processes sharing one cache file, and `tune: false` answering the first candidate
 * without measuring or touching the disk. The measured "seconds" are made up by the tests, so no
 * assertion depends on the clock.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Tuner, tunerFor, type TuningCandidate } from '../../src/backends/wasm/tuning.js';
import { scratchFolder } from '../support/cli-fixture.js';

const root = scratchFolder('heddle-tuning-');

let folders = 0;
function freshFolder(): string {
  return fs.mkdtempSync(path.join(root, `case${folders++}-`));
}

/** Three tile shapes, the second the fastest. */
const TILES: TuningCandidate<string>[] = [
  { name: '4x8', value: 'tile 4x8' },
  { name: '6x8', value: 'tile 6x8' },
  { name: '8x8', value: 'tile 8x8' },
];
const SECONDS: Record<string, number> = { 'tile 4x8': 3e-4, 'tile 6x8': 1e-4, 'tile 8x8': 2e-4 };

/** A measure that answers made-up times and counts its calls per candidate. */
function countingMeasure(seconds: Record<string, number> = SECONDS) {
  const calls = new Map<string, number>();
  const measure = (value: string) => {
    calls.set(value, (calls.get(value) ?? 0) + 1);
    return seconds[value]!;
  };
  return { measure, calls, total: () => [...calls.values()].reduce((a, b) => a + b, 0) };
}

/** A fresh folder where machine-a has decided gemm_f32 at k9 (for tile 6x8). */
function folderWithDecision(): string {
  const directory = freshFolder();
  new Tuner({ directory, fingerprint: 'machine-a' }).choose(
    'gemm_f32',
    'k9',
    TILES,
    countingMeasure().measure,
  );
  return directory;
}

test('a miss measures every candidate and picks the fastest; a hit measures nothing', () => {
  const tuner = new Tuner({ directory: freshFolder(), fingerprint: 'machine-a' });
  const first = countingMeasure();
  assert.equal(tuner.choose('gemm_f32', 'm512_n512_k512', TILES, first.measure), 'tile 6x8');
  assert.deepEqual([...first.calls.keys()].sort(), ['tile 4x8', 'tile 6x8', 'tile 8x8']);
  assert.equal(tuner.decision('gemm_f32', 'm512_n512_k512')?.choice, '6x8');

  const again = countingMeasure();
  assert.equal(tuner.choose('gemm_f32', 'm512_n512_k512', TILES, again.measure), 'tile 6x8');
  assert.equal(again.total(), 0);

  const otherShape = countingMeasure({ 'tile 4x8': 1e-5, 'tile 6x8': 2e-5, 'tile 8x8': 3e-5 });
  assert.equal(tuner.choose('gemm_f32', 'm64_n64_k64', TILES, otherShape.measure), 'tile 4x8');
  assert.ok(otherShape.total() > 0);
});

test('the next process reads the decision from disk instead of measuring', () => {
  const directory = folderWithDecision();
  const later = new Tuner({ directory, fingerprint: 'machine-a' });
  const measure = countingMeasure();
  assert.equal(later.choose('gemm_f32', 'k9', TILES, measure.measure), 'tile 6x8');
  assert.equal(measure.total(), 0);
  const saved = JSON.parse(fs.readFileSync(later.cacheFile, 'utf8'));
  assert.equal(saved.fingerprint, 'machine-a');
  assert.equal(saved.decisions.gemm_f32.k9.choice, '6x8');
});

test('a remembered winner that is no longer a candidate is measured afresh', () => {
  const directory = folderWithDecision();
  const withoutWinner = [TILES[0]!, TILES[2]!];
  const measure = countingMeasure();
  const tuner = new Tuner({ directory, fingerprint: 'machine-a' });
  assert.equal(tuner.choose('gemm_f32', 'k9', withoutWinner, measure.measure), 'tile 8x8');
  assert.ok(measure.total() > 0);
});

test('decisions are kept per machine fingerprint and per kernel', () => {
  const directory = freshFolder();
  const a = new Tuner({ directory, fingerprint: 'machine-a' });
  a.choose('gemm_f32', 'k9', TILES, countingMeasure().measure);
  const b = new Tuner({ directory, fingerprint: 'machine-b' });
  assert.notEqual(a.cacheFile, b.cacheFile);
  const onB = countingMeasure({ 'tile 4x8': 1e-4, 'tile 6x8': 3e-4, 'tile 8x8': 2e-4 });
  assert.equal(b.choose('gemm_f32', 'k9', TILES, onB.measure), 'tile 4x8');
  assert.ok(onB.total() > 0);
  const otherKernel = countingMeasure();
  a.choose('conv_f32', 'k9', TILES, otherKernel.measure);
  assert.ok(otherKernel.total() > 0);

  // A file copied from another machine under this machine's name is not trusted.
  fs.copyFileSync(b.cacheFile, a.cacheFile);
  const c = new Tuner({ directory, fingerprint: 'machine-a' });
  const onA = countingMeasure();
  assert.equal(c.choose('gemm_f32', 'k9', TILES, onA.measure), 'tile 6x8');
  assert.ok(onA.total() > 0);
});

test('a corrupt or foreign cache file is ignored, then replaced by a valid one', () => {
  for (const content of [
    '{"format": 1, "fingerprint": "machine-a", "decisions": {"gemm_f32": {"k9": ',
    '[1, 2, 3]',
    '{"format": 99, "fingerprint": "machine-a", "decisions": {}}',
    '{"format": 1, "fingerprint": "machine-a", "decisions": {"gemm_f32": {"k9": {"choice": 7}}}}',
    '\u0000\u0001binary',
  ]) {
    const directory = freshFolder();
    const tuner = new Tuner({ directory, fingerprint: 'machine-a' });
    fs.writeFileSync(tuner.cacheFile, content);
    const measure = countingMeasure();
    assert.equal(tuner.choose('gemm_f32', 'k9', TILES, measure.measure), 'tile 6x8', content);
    assert.ok(measure.total() > 0, content);
    const saved = JSON.parse(fs.readFileSync(tuner.cacheFile, 'utf8'));
    assert.equal(saved.decisions.gemm_f32.k9.choice, '6x8', content);
  }
});

test('decisions of two processes sharing a cache are merged, not overwritten', () => {
  const directory = freshFolder();
  const first = new Tuner({ directory, fingerprint: 'machine-a' });
  const second = new Tuner({ directory, fingerprint: 'machine-a' });
  first.choose('gemm_f32', 'k9', TILES, countingMeasure().measure);
  second.choose('conv_f32', 'k3', TILES, countingMeasure().measure);
  const saved = JSON.parse(fs.readFileSync(first.cacheFile, 'utf8'));
  assert.deepEqual(Object.keys(saved.decisions).sort(), ['conv_f32', 'gemm_f32']);
});

test('processes writing one cache file at once leave it valid, with no temporary files behind', async () => {
  const directory = freshFolder();
  const tuningModule = new URL('../../src/backends/wasm/tuning.js', import.meta.url).href;
  const writer = (id: number) => `
    import { Tuner } from ${JSON.stringify(tuningModule)};
    const tuner = new Tuner({ directory: ${JSON.stringify(directory)}, fingerprint: 'machine-a' });
    const candidates = [{ name: 'a', value: 2 }, { name: 'b', value: 1 }];
    for (let shape = 0; shape < 40; shape++) tuner.choose('kernel_${id}', 'shape' + shape, candidates, (v) => v);
  `;
  const exits = await Promise.all(
    [0, 1, 2, 3].map(
      (id) =>
        new Promise<{ code: number | null; stderr: string }>((resolve) => {
          const child = spawn(process.execPath, ['--input-type=module', '-e', writer(id)]);
          let stderr = '';
          child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
          child.on('exit', (code) => resolve({ code, stderr }));
        }),
    ),
  );
  for (const exit of exits) assert.equal(exit.code, 0, exit.stderr);
  assert.deepEqual(fs.readdirSync(directory), ['tuning-machine-a.json']);
  const saved = JSON.parse(fs.readFileSync(path.join(directory, 'tuning-machine-a.json'), 'utf8'));
  assert.equal(saved.fingerprint, 'machine-a');
  // Entries may be lost to a race (and measured again later), but every one kept is right.
  const kept = (Object.values(saved.decisions) as Record<string, { choice: string }>[]).flatMap((shapes) =>
    Object.values(shapes),
  );
  assert.ok(kept.length > 0);
  for (const decision of kept) assert.equal(decision.choice, 'b');
});

test('timing stays within the budget: a warm-up and one round when calls are long, five rounds when short', () => {
  const long = countingMeasure({ 'tile 4x8': 1, 'tile 6x8': 1, 'tile 8x8': 1 });
  new Tuner({ directory: freshFolder(), fingerprint: 'm' }).choose('gemm_f32', 'k9', TILES, long.measure);
  assert.deepEqual([...long.calls.values()], [2, 2, 2]);
  const short = countingMeasure({ 'tile 4x8': 1e-7, 'tile 6x8': 1e-7, 'tile 8x8': 1e-7 });
  new Tuner({ directory: freshFolder(), fingerprint: 'm' }).choose('gemm_f32', 'k9', TILES, short.measure);
  assert.deepEqual([...short.calls.values()], [6, 6, 6]);
});

test('ties go to the earlier candidate, and one candidate is taken without measuring', () => {
  const tie = countingMeasure({ 'tile 4x8': 1e-4, 'tile 6x8': 1e-4, 'tile 8x8': 1e-4 });
  const tuner = new Tuner({ directory: freshFolder(), fingerprint: 'm' });
  assert.equal(tuner.choose('gemm_f32', 'k9', TILES, tie.measure), 'tile 4x8');
  const single = countingMeasure();
  assert.equal(tuner.choose('gemm_f32', 'k10', [TILES[2]!], single.measure), 'tile 8x8');
  assert.equal(single.total(), 0);
});

test('a median ignores one interrupted call', () => {
  let calls = 0;
  // 6x8's third call (its second timed one) is interrupted: 100x slower.
  const measure = (value: string) => {
    if (value === 'tile 6x8' && ++calls === 3) return 1e-2;
    return SECONDS[value]!;
  };
  const tuner = new Tuner({ directory: freshFolder(), fingerprint: 'm', budgetSeconds: 1 });
  assert.equal(tuner.choose('gemm_f32', 'k9', TILES, measure), 'tile 6x8');
});

test('bad candidate lists are refused', () => {
  const tuner = new Tuner({ directory: freshFolder(), fingerprint: 'm' });
  assert.throws(() => tuner.choose('gemm_f32', 'k9', [], () => 0), /no candidates/);
  assert.throws(
    () => tuner.choose('gemm_f32', 'k9', [TILES[0]!, TILES[0]!], () => 0),
    /two candidates have the same name/,
  );
});

test('tune: false answers the first candidate, measures nothing and writes nothing', () => {
  const directory = freshFolder();
  const tuner = new Tuner({ tune: false, directory, fingerprint: 'machine-a' });
  const measure = countingMeasure();
  for (let i = 0; i < 3; i++)
    assert.equal(tuner.choose('gemm_f32', 'k9', TILES, measure.measure), 'tile 4x8');
  assert.equal(measure.total(), 0);
  assert.equal(tuner.decision('gemm_f32', 'k9'), undefined);
  assert.deepEqual(fs.readdirSync(directory), []);
});

test("tunerFor gives the process's tuners: one per setting, measuring by default", () => {
  assert.equal(tunerFor(), tunerFor({ tune: true }));
  assert.equal(tunerFor({ tune: false }), tunerFor({ tune: false }));
  assert.equal(tunerFor().enabled, true);
  assert.equal(tunerFor({ tune: false }).enabled, false);
});

/**
 * The probe end to end, with short measurements (their figures are noise on a shared machine, so
 * only structure and relations computed from the same run are checked): the machine description
 * matches what the OS says, features are detected, every ceiling is measured on one thread and on
 * all, the ridge point follows from the measured peaks and bandwidth, results are cached per
 * machine fingerprint and reused, and `heddle probe` prints them as text and JSON.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { webAssembly } from '../../src/core/webassembly.js';
import { measureCeilings, type MeasureOptions } from '../../src/probe/ceilings.js';
import { detectWasmFeatures } from '../../src/backends/wasm/features.js';
import {
  bandwidthGBs,
  loadProbe,
  peakGflops,
  PROBE_FORMAT,
  probeCachePath,
  probeMachine,
} from '../../src/probe/index.js';
import { buildKernelModule } from '../../src/probe/kernels.js';
import { describeMachine } from '../../src/host/machine.js';
import { WorkerTeam } from '../../src/probe/team.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'heddle-probe-test-'));
process.env.HEDDLE_CACHE_DIR = cacheDir;
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

/** Short calls and a small DRAM buffer: enough to exercise every path, not to measure. */
const QUICK: MeasureOptions = { targetMs: 3, repetitions: 2, threads: 2, dramBytes: 8 << 20 };

test('the machine description agrees with the operating system', () => {
  const machine = describeMachine();
  assert.equal(machine.cpu.logicalCores, os.availableParallelism());
  assert.equal(machine.node, process.versions.node);
  const sysfsL1 = '/sys/devices/system/cpu/cpu0/cache/index0/size';
  if (process.platform === 'linux' && fs.existsSync(sysfsL1)) {
    assert.equal(typeof machine.caches.l1d, 'number');
    assert.ok(
      typeof machine.cpu.physicalCores === 'number' && machine.cpu.physicalCores <= machine.cpu.logicalCores,
    );
  }
  const { l1d, l2, l3 } = machine.caches;
  if (typeof l1d === 'number' && typeof l2 === 'number') assert.ok(l1d < l2);
  if (typeof l2 === 'number' && typeof l3 === 'number') assert.ok(l2 < l3);
});

test('SIMD128, relaxed SIMD (with the V8 flag on Node 20) and threads are detected by validation', () => {
  const features = detectWasmFeatures();
  assert.deepEqual([features.simd128, features.relaxedSimd, features.threads], [true, true, true]);
  assert.equal(detectWasmFeatures(), features, 'detected once per process');
});

test('every ceiling is measured on one thread and on all, and the ridge follows from them', async () => {
  const machine = describeMachine();
  const ceilings = await measureCeilings(machine, detectWasmFeatures(), QUICK);
  assert.equal(ceilings.threads, 2);
  assert.deepEqual(
    ceilings.compute.map((c) => c.path),
    ['mul-add', 'relaxed-madd'],
  );
  const levels = ceilings.bandwidth.map((b) => b.level);
  assert.deepEqual(
    levels,
    typeof machine.caches.l3 === 'number' ? ['L1d', 'L2', 'L3', 'DRAM'] : ['L1d', 'L2', 'DRAM'],
  );
  const rates = [
    ...ceilings.compute.map((c) => c.gflops),
    ...ceilings.bandwidth.flatMap((b) => [b.read, b.copy]),
  ].flatMap((r) => [r.perThread, r.allThreads]);
  assert.ok(
    rates.every((rate) => Number.isFinite(rate) && rate > 0),
    `rates: ${rates}`,
  );
  const dram = ceilings.bandwidth.find((b) => b.level === 'DRAM')!;
  assert.equal(dram.bufferBytes, 8 << 20);
  assert.equal(ceilings.ridge!.perThread, peakGflops(ceilings, 'perThread')! / dram.copy.perThread);
  assert.equal(ceilings.ridge!.allThreads, peakGflops(ceilings, 'allThreads')! / dram.copy.allThreads);
  assert.equal(bandwidthGBs(ceilings, 'L1d', 'perThread', 'read'), ceilings.bandwidth[0].read.perThread);
  for (const share of [ceilings.cpuShare.perThread, ceilings.cpuShare.allThreads])
    assert.ok(share > 0 && share <= 1);
});

test('a level list and one thread limit what is measured', async () => {
  const ceilings = await measureCeilings(describeMachine(), detectWasmFeatures(), {
    ...QUICK,
    threads: 1,
    levels: ['L1d'],
  });
  assert.deepEqual(
    ceilings.bandwidth.map((b) => b.level),
    ['L1d'],
  );
  assert.equal(ceilings.ridge, undefined, 'no ridge without DRAM');
  assert.equal(ceilings.compute[0].gflops.allThreads, ceilings.compute[0].gflops.perThread);
});

test('a team trial fails clearly when a worker fails', async () => {
  const bytes = buildKernelModule({ pages: 1, shared: true, paths: [] }).encode();
  const memory = new webAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const team = await WorkerTeam.start(2, bytes, memory);
  try {
    const job = { kernel: 'read', args: [0, 1024, 1], warmupArgs: [0, 1024, 1], warmupCalls: 1 };
    const { timings, cpuShare } = await team.trial([job, job]);
    assert.equal(timings.length, 2);
    assert.ok(timings.every((t) => t.end >= t.start));
    assert.ok(cpuShare > 0 && cpuShare <= 1);
    await assert.rejects(team.trial([job, { ...job, kernel: 'missing' }]), /not a function/);
  } finally {
    await team.close();
  }
});

test('results are cached per machine fingerprint and reused until refreshed', async () => {
  const unmeasured = await loadProbe({ measure: false });
  assert.equal(unmeasured.ceilings, undefined);
  assert.match(unmeasured.ceilingsMissing!, /not measured/);
  assert.ok(!fs.existsSync(probeCachePath(unmeasured.fingerprint)), 'nothing cached without measuring');

  const measured = await probeMachine(QUICK);
  assert.equal(measured.cacheFile, probeCachePath(measured.fingerprint));
  assert.equal(path.dirname(measured.cacheFile), cacheDir);
  const cached = await loadProbe({ measure: false });
  assert.deepEqual(cached.ceilings, measured.ceilings);
  assert.equal(cached.fingerprint, unmeasured.fingerprint);

  const refreshed = await loadProbe({ ...QUICK, refresh: true, levels: ['L1d'] });
  assert.notEqual(refreshed.ceilings!.measuredAt, measured.ceilings!.measuredAt);

  const stale = { ...JSON.parse(fs.readFileSync(measured.cacheFile, 'utf8')), format: PROBE_FORMAT - 1 };
  fs.writeFileSync(measured.cacheFile, JSON.stringify(stale));
  assert.equal(
    (await loadProbe({ measure: false })).ceilings,
    undefined,
    'a cache of an older format is ignored',
  );
});

test('`heddle probe` prints the cached result as text and as JSON', async () => {
  const measured = await probeMachine(QUICK);
  const run = (...args: string[]) => {
    const result = spawnSync(process.execPath, [cli, 'probe', ...args], {
      encoding: 'utf8',
      env: { ...process.env, HEDDLE_CACHE_DIR: cacheDir },
    });
    assert.equal(result.status, 0, result.stderr);
    return result.stdout;
  };
  const json = JSON.parse(run('--json'));
  assert.deepEqual(json.ceilings, measured.ceilings);
  assert.equal(json.machine.cpu.logicalCores, os.availableParallelism());
  const text = run();
  for (const expected of ['relaxed SIMD yes', 'GFLOP/s', 'mul-add', 'DRAM', 'ridge', 'webgpu', cacheDir]) {
    assert.ok(text.includes(expected), `missing '${expected}' in:\n${text}`);
  }
});

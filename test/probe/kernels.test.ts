/**
 * The probe's measurement kernels: the module validates with and without relaxed SIMD, the peak
 * kernels compute exactly what their arithmetic says (checked against a float32 emulation), the
 * read kernel folds every 16-byte chunk, and the copy kernel copies the first half onto the second
 * without touching anything else.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { webAssembly } from '../../src/core/webassembly.js';
import { detectWasmFeatures } from '../../src/backends/wasm/features.js';
import {
  buildKernelModule,
  PEAK_ACCUMULATORS,
  PEAK_UNROLL,
  peakExport,
  type SimdPath,
} from '../../src/probe/kernels.js';

const features = detectWasmFeatures();
const paths: SimdPath[] = features.relaxedSimd ? ['mul-add', 'relaxed-madd'] : ['mul-add'];

function instantiate(pages: number, kernelPaths: SimdPath[]) {
  const memory = new webAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const bytes = buildKernelModule({ pages, shared: true, paths: kernelPaths }).encode();
  assert.ok(webAssembly.validate(bytes));
  const kernels = new webAssembly.Instance(new webAssembly.Module(bytes), { env: { memory } })
    .exports as Record<string, (...args: number[]) => number>;
  return { memory, kernels };
}

/**
 * Lane 0 of the peak kernel's result, computed in float32: rounding after the multiply and after
 * the add, or once after both (a fused multiply-add: the float32 product is exact in float64).
 */
function emulatedMulAdd(iterations: number, fused = false): number {
  const x = Math.fround(0.9999);
  const y = Math.fround(0.0001);
  const accumulators = Array.from({ length: PEAK_ACCUMULATORS }, (_, i) => Math.fround(0.5 + i / 64));
  for (let step = 0; step < iterations * PEAK_UNROLL; step++) {
    for (let i = 0; i < accumulators.length; i++) {
      const product = accumulators[i] * x;
      accumulators[i] = Math.fround((fused ? product : Math.fround(product)) + y);
    }
  }
  return accumulators.reduce((sum, acc) => Math.fround(sum + acc));
}

test('the kernel module validates, with the relaxed path where the host has it', () => {
  assert.ok(features.simd128, 'Node 20 validates SIMD128');
  for (const kernelPaths of [[], ['mul-add'], paths] as SimdPath[][]) {
    assert.ok(
      webAssembly.validate(buildKernelModule({ pages: 1, shared: true, paths: kernelPaths }).encode()),
    );
  }
  assert.match(buildKernelModule({ pages: 1, shared: false, paths }).toText(), /f32x4\.mul/);
});

test('the peak kernels compute acc = acc * x + y on every accumulator, in float32', () => {
  const { kernels } = instantiate(1, paths);
  for (const iterations of [1, 7, 300]) {
    const expected = emulatedMulAdd(iterations);
    assert.equal(kernels[peakExport('mul-add')](iterations), expected);
    if (features.relaxedSimd) {
      // The host may fuse or not; emulating the fused form through float64 may round twice.
      const relaxed = kernels[peakExport('relaxed-madd')](iterations);
      const candidates = [expected, emulatedMulAdd(iterations, true)];
      assert.ok(
        candidates.some((candidate) => Math.abs(relaxed - candidate) <= 1e-6 * candidate),
        `${relaxed} vs ${candidates}`,
      );
    }
  }
});

test('the read kernel folds every 16-byte chunk of its buffer, pass after pass', () => {
  const { memory, kernels } = instantiate(2, []);
  const words = new Int32Array(memory.buffer);
  for (let i = 0; i < words.length; i++) words[i] = Math.imul(i + 1, 0x9e3779b1);
  const base = 4096;
  const bytes = 16 * 1024;
  let expected = 0;
  for (let offset = base; offset < base + bytes; offset += 16) expected ^= words[offset / 4];
  assert.equal(kernels.read(base, bytes, 1), expected);
  assert.equal(kernels.read(base, bytes, 3), expected, 'an odd number of passes folds to the same value');
  assert.equal(kernels.read(base, bytes, 2), 0, 'an even number of passes cancels out');
});

test('the copy kernel copies the first half of its buffer onto the second and nothing else', () => {
  const { memory, kernels } = instantiate(2, []);
  const data = new Uint8Array(memory.buffer);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
  const before = data.slice();
  const base = 1024;
  const bytes = 8192;
  kernels.copy(base, bytes, 2);
  assert.deepEqual(data.subarray(base + bytes / 2, base + bytes), before.subarray(base, base + bytes / 2));
  assert.deepEqual(data.subarray(0, base + bytes / 2), before.subarray(0, base + bytes / 2));
  assert.deepEqual(data.subarray(base + bytes), before.subarray(base + bytes));
});

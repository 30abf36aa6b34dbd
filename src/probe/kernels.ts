/**
 * The probe's measurement kernels, generated with the assembler into one module over one imported
 * memory:
 *
 * - `peak_mul_add(n)` and `peak_relaxed_madd(n)`: n iterations of PEAK_ACCUMULATORS independent
 *   v128 accumulators updated acc = acc * x + y, PEAK_UNROLL times per iteration, with
 *   `f32x4.mul` + `f32x4.add` or one `f32x4.relaxed_madd`. Enough independent chains hide the
 *   latency of the arithmetic units, and 12 accumulators plus the two operands still fit the 16
 *   vector registers of x86-64, whose spills would measure the load ports instead. x is just below
 *   1 and y small, so the values converge to 1 and never become denormal, infinite or NaN (which
 *   would run slower on some processors).
 * - `read(base, bytes, passes)`: streams over the buffer with 8 independent v128 loads per 128
 *   bytes, folded by xor so nothing is optimised away.
 * - `copy(base, bytes, passes)`: copies the first half of the buffer onto the second half with
 *   v128 loads and stores; it moves `bytes` per pass (half read, half written).
 */

import { ModuleBuilder, type FunctionBuilder, type Local } from '../backends/wasm/assembler/index.js';

export type SimdPath = 'mul-add' | 'relaxed-madd';

export const PEAK_ACCUMULATORS = 12;
export const PEAK_UNROLL = 8;
/** Floating-point operations of one iteration of a peak kernel (4 lanes, a multiply and an add). */
export const FLOPS_PER_ITERATION = PEAK_ACCUMULATORS * PEAK_UNROLL * 4 * 2;
/** The streaming kernels' step: a buffer's size must be a multiple of it (twice it for copy). */
export const STREAM_CHUNK = 128;

export function peakExport(path: SimdPath): string {
  return `peak_${path.replace('-', '_')}`;
}

export interface KernelModuleOptions {
  pages: number;
  shared: boolean;
  paths: readonly SimdPath[];
}

export function buildKernelModule({ pages, shared, paths }: KernelModuleOptions): ModuleBuilder {
  const module = new ModuleBuilder().importMemory('env', 'memory', {
    initial: pages,
    maximum: pages,
    shared,
  });
  for (const path of paths) emitPeak(module.function(peakExport(path), peakSpec), path);
  emitRead(module.function('read', streamSpec(['i32'])));
  emitCopy(module.function('copy', streamSpec([])));
  return module;
}

const peakSpec = { params: [['iterations', 'i32']], results: ['f32'], export: true } as const;

function streamSpec(results: ['i32'] | []) {
  return {
    params: [
      ['base', 'i32'],
      ['bytes', 'i32'],
      ['passes', 'i32'],
    ],
    results,
    export: true,
  } as const;
}

function emitPeak(f: FunctionBuilder, path: SimdPath): void {
  const [iterations] = f.params;
  const x = f.local('v128', 'x');
  const y = f.local('v128', 'y');
  f.f32Const(0.9999).op('f32x4.splat').set(x);
  f.f32Const(0.0001).op('f32x4.splat').set(y);
  const accumulators = Array.from({ length: PEAK_ACCUMULATORS }, (_, i) => f.local('v128', `acc${i}`));
  accumulators.forEach((acc, i) =>
    f
      .f32Const(0.5 + i / 64)
      .op('f32x4.splat')
      .set(acc),
  );
  f.loop(
    null,
    (next) => {
      for (let step = 0; step < PEAK_UNROLL; step++) {
        for (const acc of accumulators) {
          if (path === 'relaxed-madd') f.get(acc).get(x).get(y).op('f32x4.relaxed_madd').set(acc);
          else f.get(acc).get(x).op('f32x4.mul').get(y).op('f32x4.add').set(acc);
        }
      }
      countDown(f, iterations).brIf(next);
    },
    'iteration',
  );
  f.get(accumulators[0]);
  for (const acc of accumulators.slice(1)) f.get(acc).op('f32x4.add');
  f.lane('f32x4.extract_lane', 0);
}

function emitRead(f: FunctionBuilder): void {
  const [base, bytes, passes] = f.params;
  const end = f.local('i32', 'end');
  const at = f.local('i32', 'at');
  const folds = Array.from({ length: STREAM_CHUNK / 16 }, (_, i) => f.local('v128', `fold${i}`));
  f.get(base).get(bytes).op('i32.add').set(end);
  f.loop(
    null,
    (pass) => {
      f.get(base).set(at);
      f.loop(
        null,
        (chunk) => {
          folds.forEach((fold, i) =>
            f
              .get(fold)
              .get(at)
              .mem('v128.load', { offset: i * 16 })
              .op('v128.xor')
              .set(fold),
          );
          advance(f, at, end).brIf(chunk);
        },
        'chunk',
      );
      countDown(f, passes).brIf(pass);
    },
    'pass',
  );
  f.get(folds[0]);
  for (const fold of folds.slice(1)) f.get(fold).op('v128.xor');
  f.lane('i32x4.extract_lane', 0);
}

function emitCopy(f: FunctionBuilder): void {
  const [base, bytes, passes] = f.params;
  const half = f.local('i32', 'half');
  const end = f.local('i32', 'end');
  const at = f.local('i32', 'at');
  f.get(bytes).i32Const(1).op('i32.shr_u').set(half);
  f.get(base).get(half).op('i32.add').set(end);
  f.loop(
    null,
    (pass) => {
      f.get(base).set(at);
      f.loop(
        null,
        (chunk) => {
          for (let offset = 0; offset < STREAM_CHUNK; offset += 16) {
            f.get(at).get(half).op('i32.add');
            f.get(at).mem('v128.load', { offset });
            f.mem('v128.store', { offset });
          }
          advance(f, at, end).brIf(chunk);
        },
        'chunk',
      );
      countDown(f, passes).brIf(pass);
    },
    'pass',
  );
}

/** at += STREAM_CHUNK; leaves at < end. */
function advance(f: FunctionBuilder, at: Local, end: Local): FunctionBuilder {
  return f.get(at).i32Const(STREAM_CHUNK).op('i32.add').tee(at).get(end).op('i32.lt_u');
}

/** counter -= 1; leaves counter != 0. */
function countDown(f: FunctionBuilder, counter: Local): FunctionBuilder {
  return f.get(counter).i32Const(1).op('i32.sub').tee(counter);
}

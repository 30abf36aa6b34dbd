/**
 * Generated code for the global pools (GlobalAveragePool, GlobalMaxPool): each plane of a static
 * size reduced to one float, sixteen floats per step in four independent accumulators, the tail
 * of fewer than sixteen unrolled. Windowed pools (MaxPool, AveragePool) share the sliding-window
 * kernel of codegen/conv.ts.
 */

import type { FunctionBuilder, Local, ModuleBuilder } from '../assembler/index.js';
import { floatLanes, i32Function, splat } from './math.js';

export type GlobalReduction = 'average' | 'max';

const F32 = 4;
const ACCUMULATORS = 4;

export function globalPoolKernelName(reduction: GlobalReduction): string {
  return `global${reduction === 'average' ? 'avg' : 'max'}pool_f32_simd128`;
}

export function globalPoolKernelKey(reduction: GlobalReduction, planeSize: number): string {
  return `${globalPoolKernelName(reduction)}:${planeSize}`;
}

/**
 * `name(thread, plane0, plane1, x, y)`: y[p] = the mean (or maximum) of plane p's `planeSize`
 * floats, for p in [plane0, plane1). The maximum ignores NaN, as the reference does, unless the
 * whole plane is NaN.
 */
export function buildGlobalPoolKernel(
  module: ModuleBuilder,
  name: string,
  reduction: GlobalReduction,
  planeSize: number,
): void {
  const { f, params } = i32Function(module, name, ['thread', 'plane0', 'plane1', 'x', 'y']);
  const [, plane0, plane1, x, y] = params;
  const plane = f.local('i32', 'plane');
  const at = f.local('i32', 'at');
  const end = f.local('i32', 'end');
  const accs = Array.from({ length: ACCUMULATORS }, (_, i) => f.local('v128', `acc${i}`));
  const value = f.local('v128', 'value');
  const start = reduction === 'max' ? NaN : 0;
  const combine = (acc: Local) => {
    // pmax keeps acc when the new value is NaN; a NaN acc (the start) gives way to any value.
    if (reduction === 'max') {
      f.set(value).get(acc).get(value).op('f32x4.pmax').get(value);
      f.get(acc).get(acc).op('f32x4.eq').op('v128.bitselect');
    } else {
      f.get(acc).op('f32x4.add');
    }
    f.set(acc);
  };
  const blocks = Math.floor(planeSize / (4 * ACCUMULATORS));
  const tail = planeSize - blocks * 4 * ACCUMULATORS;

  f.get(plane0).set(plane);
  f.block(null, (exit) => {
    f.get(plane).get(plane1).op('i32.ge_s').brIf(exit);
    f.loop(null, (next) => {
      for (const acc of accs) splat(f, start).set(acc);
      f.get(plane)
        .i32Const(planeSize * F32)
        .op('i32.mul')
        .get(x)
        .op('i32.add')
        .set(at);
      if (blocks > 0) {
        f.get(at)
          .i32Const(blocks * 4 * ACCUMULATORS * F32)
          .op('i32.add')
          .set(end);
        f.loop(null, (top) => {
          accs.forEach((acc, i) => {
            f.get(at).mem('v128.load', { offset: i * 4 * F32 });
            combine(acc);
          });
          f.get(at)
            .i32Const(4 * ACCUMULATORS * F32)
            .op('i32.add')
            .tee(at)
            .get(end)
            .op('i32.lt_u')
            .brIf(top);
        });
      }
      for (let i = 0; i < Math.floor(tail / 4); i++) {
        f.get(at).mem('v128.load', { offset: i * 4 * F32 });
        combine(accs[i]!);
      }
      for (let i = tail - (tail % 4); i < tail; i++) {
        // One float: splatted for max (harmless in every lane), alone in lane 0 for the sum.
        f.get(at).mem(reduction === 'max' ? 'v128.load32_splat' : 'v128.load32_zero', { offset: i * F32 });
        combine(accs[i % ACCUMULATORS]!);
      }
      f.get(y).get(plane).i32Const(2).op('i32.shl').op('i32.add');
      reduceAccumulators(f, accs, combine);
      if (reduction === 'average') f.f32Const(1 / planeSize).op('f32.mul');
      f.mem('f32.store');
      f.get(plane).i32Const(1).op('i32.add').tee(plane).get(plane1).op('i32.lt_s').brIf(next);
    });
  });
}

/** Leaves the one float the accumulators reduce to on the stack. */
function reduceAccumulators(f: FunctionBuilder, accs: readonly Local[], combine: (acc: Local) => void): void {
  const [first, ...rest] = accs;
  for (const acc of rest) {
    f.get(acc);
    combine(first!);
  }
  // Lanes 2,3 onto 0,1, then lane 1 onto 0.
  f.get(first!)
    .get(first!)
    .shuffle(floatLanes([2, 3, 0, 1]));
  combine(first!);
  f.get(first!)
    .get(first!)
    .shuffle(floatLanes([1, 0, 2, 3]));
  combine(first!);
  f.get(first!).lane('f32x4.extract_lane', 0);
}

/**
 * Which WebAssembly features the host runs, decided by validating tiny probe modules built with
 * the assembler, never by version numbers: SIMD128, relaxed SIMD and threads (a shared memory with
 * atomics). Node 20 has relaxed SIMD behind a V8 flag; when the relaxed probe fails to validate,
 * the flag is turned on and the probe validated again, so later compiles in this process can use
 * relaxed SIMD too.
 */

import * as v8 from 'node:v8';
import { ModuleBuilder } from './assembler/index.js';
import { webAssembly } from '../../core/webassembly.js';

export interface WasmFeatures {
  simd128: boolean;
  relaxedSimd: boolean;
  /** Shared memories and atomics validate, and a shared memory can be created. */
  threads: boolean;
  /** Relaxed SIMD needed `--experimental-wasm-relaxed-simd` (which this process has now set). */
  relaxedSimdByFlag: boolean;
}

const RELAXED_SIMD_FLAG = '--experimental-wasm-relaxed-simd';

let detected: WasmFeatures | undefined;

/** The host's features; detected once per process. */
export function detectWasmFeatures(): WasmFeatures {
  if (detected) return detected;
  const simd128 = webAssembly.validate(simdProbe());
  let relaxedSimd = webAssembly.validate(relaxedSimdProbe());
  let relaxedSimdByFlag = false;
  if (!relaxedSimd) {
    v8.setFlagsFromString(RELAXED_SIMD_FLAG);
    relaxedSimd = webAssembly.validate(relaxedSimdProbe());
    relaxedSimdByFlag = relaxedSimd;
  }
  detected = { simd128, relaxedSimd, threads: threadsWork(), relaxedSimdByFlag };
  return detected;
}

function simdProbe(): Uint8Array {
  const module = new ModuleBuilder();
  module
    .function('probe', { results: ['f32'] })
    .f32Const(1)
    .op('f32x4.splat')
    .lane('f32x4.extract_lane', 0);
  return module.encode();
}

function relaxedSimdProbe(): Uint8Array {
  const module = new ModuleBuilder();
  const probe = module.function('probe', { results: ['v128'] });
  for (let i = 0; i < 3; i++) probe.f32Const(i).op('f32x4.splat');
  probe.op('f32x4.relaxed_madd');
  return module.encode();
}

function threadsWork(): boolean {
  const limits = { initial: 1, maximum: 1, shared: true };
  const module = new ModuleBuilder().importMemory('env', 'memory', limits);
  module
    .function('probe', { results: ['i32'] })
    .i32Const(0)
    .i32Const(1)
    .mem('i32.atomic.rmw.add');
  if (!webAssembly.validate(module.encode())) return false;
  try {
    return new webAssembly.Memory(limits).buffer instanceof SharedArrayBuffer;
  } catch {
    return false;
  }
}

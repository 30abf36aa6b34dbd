/**
 * The hardware probe: the machine as the OS describes it, the WebAssembly features the host
 * validates, the WebGPU adapter if any, and the ceilings measured on this machine (peak GFLOP/s
 * per SIMD path, bandwidth per memory level, per thread and on all threads, and the ridge point).
 * Results are cached per machine fingerprint, so `loadProbe()` is cheap after the first
 * measurement; other layers (the profiler's roofline, the wasm backend's tile sizes) read them
 * through this module.
 */

import {
  measureCeilings,
  type Ceilings,
  type MeasureOptions,
  type MemoryLevel,
  type ThreadRates,
} from './ceilings.js';
import { machineFingerprint, probeCachePath, readCached, writeCached } from '../host/cache.js';
import { detectWasmFeatures, type WasmFeatures } from '../backends/wasm/features.js';
import type { SimdPath } from './kernels.js';
import { describeMachine, type MachineInfo } from '../host/machine.js';
import { detectWebGpu, type WebGpuInfo } from './webgpu.js';

export type {
  BandwidthCeiling,
  Ceilings,
  ComputeCeiling,
  MeasureOptions,
  MemoryLevel,
  ThreadRates,
} from './ceilings.js';
export type { CacheSizes, MachineInfo } from '../host/machine.js';
export type { SimdPath } from './kernels.js';
export type { WasmFeatures } from '../backends/wasm/features.js';
export type { WebGpuInfo } from './webgpu.js';
export { cacheDirectory, probeCachePath } from '../host/cache.js';
export { detectWasmFeatures } from '../backends/wasm/features.js';
export { detectWebGpu } from './webgpu.js';

/** Bumped whenever the kernels or the method change, so older cached figures are measured again. */
export const PROBE_FORMAT = 1;

export interface ProbeResult {
  format: number;
  fingerprint: string;
  machine: MachineInfo;
  features: WasmFeatures;
  webgpu: WebGpuInfo;
  /** Absent when not measured (`measure: false` without a cache) or when the host lacks SIMD128. */
  ceilings?: Ceilings;
  /** Why `ceilings` is absent. */
  ceilingsMissing?: string;
  /** The cache file the result was read from or written to. */
  cacheFile?: string;
}

export interface LoadOptions extends MeasureOptions {
  /** Measure when nothing is cached (default true); false returns the description alone. */
  measure?: boolean;
  /** Ignore the cache and measure again. */
  refresh?: boolean;
}

/** The cached probe of this machine, measuring (and caching) it first when there is none. */
export async function loadProbe(options: LoadOptions = {}): Promise<ProbeResult> {
  const machine = describeMachine();
  const fingerprint = machineFingerprint(machine);
  const cacheFile = probeCachePath(fingerprint);
  if (!options.refresh) {
    const cached = readCached<ProbeResult>(cacheFile);
    if (cached?.format === PROBE_FORMAT && cached.fingerprint === fingerprint) {
      // Relaxed SIMD may need this process's V8 flag even when the figures come from the cache.
      detectWasmFeatures();
      return { ...cached, cacheFile };
    }
  }
  if (options.measure === false) {
    return {
      ...(await describeHost(machine, fingerprint)),
      ceilingsMissing: 'not measured yet (run `heddle probe`)',
    };
  }
  return probeMachine(options);
}

/** Measures this machine now and caches the result. */
export async function probeMachine(options: MeasureOptions = {}): Promise<ProbeResult> {
  const machine = describeMachine();
  const fingerprint = machineFingerprint(machine);
  const host = await describeHost(machine, fingerprint);
  const result: ProbeResult = host.features.simd128
    ? { ...host, ceilings: await measureCeilings(machine, host.features, options) }
    : {
        ...host,
        ceilingsMissing: 'the host does not validate WebAssembly SIMD128, which the probe kernels use',
      };
  const cacheFile = probeCachePath(fingerprint);
  writeCached(cacheFile, result);
  return { ...result, cacheFile };
}

async function describeHost(machine: MachineInfo, fingerprint: string): Promise<ProbeResult> {
  return {
    format: PROBE_FORMAT,
    fingerprint,
    machine,
    features: detectWasmFeatures(),
    webgpu: await detectWebGpu(),
  };
}

export type ThreadScope = keyof ThreadRates;

/** Peak GFLOP/s of one path, or of the fastest path the host has when none is named. */
export function peakGflops(ceilings: Ceilings, scope: ThreadScope, path?: SimdPath): number | undefined {
  const rates = ceilings.compute
    .filter((c) => path === undefined || c.path === path)
    .map((c) => c.gflops[scope]);
  return rates.length ? Math.max(...rates) : undefined;
}

/** GB/s at one level, for reads or for copies (which count bytes read plus bytes written). */
export function bandwidthGBs(
  ceilings: Ceilings,
  level: MemoryLevel,
  scope: ThreadScope,
  kind: 'read' | 'copy' = 'copy',
): number | undefined {
  return ceilings.bandwidth.find((b) => b.level === level)?.[kind][scope];
}

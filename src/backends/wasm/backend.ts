/**
 * The `wasm` backend: kernels generated at run time as WebAssembly SIMD, run on a pool of worker
 * threads that share one memory (the heap) with the calling thread. It is a host backend: its
 * values are ordinary host tensors, views of the heap, so it shares the plan's arena with the
 * reference backend (which runs whatever this one does not claim) and no value is copied between
 * them. The plan's arena lives in the heap for that reason.
 *
 * Host features decide the kernels: SIMD128 is required (without it the backend claims nothing
 * and `reference` runs every node), relaxed-SIMD FMA is used where it validates, and without
 * threads (no shared memory) every loop runs on the calling thread. Options can turn each feature
 * off, which is how the tests force every fallback.
 */

import { HeddleError } from '../../core/errors.js';
import type { Tensor } from '../../core/tensor.js';
import type { NodeCost } from '../../ir/cost.js';
import { opLabel, type Node, type ValueType } from '../../ir/graph.js';
import { detectWasmFeatures, type WasmFeatures } from './features.js';
import { describeMachine } from '../../host/machine.js';
import { HOST_DEVICE, type Backend, type CallerChores, type PreparedKernel } from '../backend.js';
import { ReferenceBackend } from '../reference/backend.js';
import { KernelRegistry } from '../reference/registry.js';
import { Staging, type WasmEnv, type WasmKernelDef } from './kernel.js';
import { ALL_WASM_KERNELS } from './kernels/index.js';
import { WasmRuntime } from './runtime.js';
import { tunerFor } from './tuning.js';

export const wasmRegistry = new KernelRegistry<WasmKernelDef>(ALL_WASM_KERNELS);

export interface WasmBackendOptions {
  /** Threads including the calling one (default: the physical cores). */
  threads?: number;
  /** Features to treat as missing even where the host has them (for tests and comparisons). */
  disable?: readonly ('simd128' | 'relaxedSimd' | 'threads')[];
  /**
   * Whether kernels choose their variants per shape by measuring them (default true); false
   * gives each kernel's deterministic default.
   */
  tune?: boolean;
}

/**
 * Rough rates for the partitioner's choice against `reference`: generated kernels reach a good
 * part of the probe's per-thread SIMD peak on products and move memory at a few GB/s per thread.
 */
const FLOPS_PER_THREAD = 25e9;
const BYTES_PER_SECOND = 8e9;

export class WasmBackend implements Backend {
  readonly name = 'wasm';
  readonly device = HOST_DEVICE;
  readonly asynchronous = true;
  /** Kernels keep their staging scratch between runs. */
  readonly exclusiveRuns = true;
  readonly runtime: WasmRuntime;
  readonly features: WasmFeatures;
  readonly tune: boolean;
  private readonly reference = new ReferenceBackend();
  private readonly kept: number[] = [];
  private readonly stagings: Staging[] = [];
  private memos = new WeakMap<object, Map<string, unknown>>();
  private sessions = 0;

  constructor(options: WasmBackendOptions = {}) {
    const host = detectWasmFeatures();
    const off = new Set(options.disable ?? []);
    this.features = {
      ...host,
      simd128: host.simd128 && !off.has('simd128'),
      relaxedSimd: host.relaxedSimd && !off.has('relaxedSimd') && !off.has('simd128'),
      threads: host.threads && !off.has('threads'),
    };
    const threads = options.threads ?? defaultThreads();
    if (!Number.isInteger(threads) || threads < 1) {
      throw new HeddleError(`the wasm backend's thread count must be a positive integer, got ${threads}`);
    }
    this.runtime = WasmRuntime.for(threads, this.features);
    this.tune = options.tune ?? true;
  }

  /** Threads that run a loop, the calling one included. */
  get threads(): number {
    return this.runtime.threads;
  }

  supports(node: Node, types: ReadonlyMap<string, ValueType> = new Map()): true | string {
    if (!this.features.simd128) return 'the host has no WebAssembly SIMD128';
    const def = wasmRegistry.find(node);
    if (typeof def === 'string') return def;
    return def.claims(node, types);
  }

  estimateSeconds(_node: Node, cost: NodeCost): number {
    return Math.max(
      cost.flops / (FLOPS_PER_THREAD * this.threads),
      (cost.bytesRead + cost.bytesWritten) / BYTES_PER_SECOND,
    );
  }

  prepare(
    node: Node,
    constants: ReadonlyMap<string, Tensor>,
    types: ReadonlyMap<string, ValueType> = new Map(),
  ): PreparedKernel {
    const def = wasmRegistry.find(node);
    if (typeof def === 'string') throw new HeddleError(def, { node: node.name, opType: opLabel(node) });
    return def.prepare(node, this.environment(constants, types));
  }

  hostArena(bytes: number): Uint8Array {
    return this.runtime.heap.bytes(this.runtime.heap.allocate(bytes), bytes);
  }

  releaseHostArena(arena: Uint8Array): void {
    this.runtime.heap.release(arena.byteOffset);
  }

  async initialize(): Promise<void> {
    await this.runtime.ready();
  }

  runStarted(chores?: CallerChores): void {
    this.runtime.runStarted(chores);
  }

  runEnded(chores?: CallerChores): void {
    this.runtime.runEnded(chores);
  }

  retain(): void {
    this.sessions++;
  }

  dispose(): void {
    if (--this.sessions > 0) return;
    this.sessions = 0;
    for (const address of this.kept.splice(0)) this.runtime.heap.release(address);
    for (const staging of this.stagings.splice(0)) staging.release();
    // What was packed lived in the blocks just released.
    this.memos = new WeakMap();
  }

  /**
   * A value made once per backend from `key` (a constant tensor, usually) and `kind` (how it is
   * packed): plans specialised to new input shapes reuse the weights packed for earlier ones.
   */
  memo<T>(key: object, kind: string, make: () => T): T {
    let byKind = this.memos.get(key);
    if (!byKind) this.memos.set(key, (byKind = new Map()));
    if (!byKind.has(kind)) byKind.set(kind, make());
    return byKind.get(kind) as T;
  }

  private environment(
    constants: ReadonlyMap<string, Tensor>,
    types: ReadonlyMap<string, ValueType>,
  ): WasmEnv {
    const { runtime } = this;
    return {
      runtime,
      heap: runtime.heap,
      features: this.features,
      threads: this.threads,
      tuner: tunerFor({ tune: this.tune }),
      types,
      constant: (name) => constants.get(name),
      keep: (bytes) => {
        const address = runtime.heap.allocate(bytes);
        this.kept.push(address);
        return address;
      },
      memo: (key, kind, make) => this.memo(key, kind, make),
      staging: () => {
        const staging = new Staging(runtime.heap);
        this.stagings.push(staging);
        return staging;
      },
      reference: (node) => this.reference.prepare(node),
    };
  }
}

function defaultThreads(): number {
  const physical = describeMachine().cpu.physicalCores;
  return typeof physical === 'number' ? physical : 1;
}

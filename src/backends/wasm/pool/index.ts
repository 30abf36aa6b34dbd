/**
 * The `wasm` backend's worker pool: fork-join parallel loops over tiled ranges, running
 * WebAssembly kernels on threads that share one memory.
 */

export { tileBounds, tileCaller, tileCount, type TileDone } from './control.js';
export { PoolError, PoolModule, WorkerPool } from './pool.js';
export type { CallerWork, PoolKernel, PoolOptions, TiledRange } from './pool.js';

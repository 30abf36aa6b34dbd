/**
 * The wasm backend's matrix product, C = activation(A·B + bias), that MatMul, Gemm, the
 * convolutions, attention and the recurrent kernels build on. B is read packed in panels of 8
 * columns (K rows of 8 floats, zeros past N, panel after panel): constant weights are packed once
 * with `packPanels`, products of two activations with `Gemm.packB` at run time. A and C are plain
 * row-major matrices with row strides, anywhere in the heap.
 *
 * A `Gemm` holds the generated module of one epilogue. A run is blocked for the caches — K passes
 * that keep a sweep of B's panels (one, or a few where C outgrows L2) in L1 across a tile's rows of
 * A, which stay in L2 — by the tuner's pick among blockings derived from the cache sizes, then
 * split into tiles of whole register tiles for the pool.
 */

import { describeMachine } from '../../host/machine.js';
import type { Activation } from './codegen/activation.js';
import { generatedKernel } from './codegen/compile.js';
import {
  emitGemm,
  emitPackB,
  gemmKernelName,
  gemmModuleKey,
  TILE_COLUMNS,
  type GemmKernelSpec,
} from './codegen/gemm.js';
import type { WasmEnv } from './kernel.js';
import type { ModuleKernel, WasmRuntime } from './runtime.js';
import type { TileDone } from './pool/index.js';
import type { Tuner, TuningCandidate } from './tuning.js';

/** Columns per packed panel of B: the micro-kernels' register tile is MR×8. */
export const PANEL_WIDTH = TILE_COLUMNS;

/** Floats B (K×N) takes packed: ceil(N/8) panels of K rows × 8 floats (columns 8p..8p+7, zero past N), panel after panel. */
export function packedPanelFloats(k: number, n: number): number {
  return Math.ceil(n / PANEL_WIDTH) * k * PANEL_WIDTH;
}

/**
 * Packs B on the calling thread (constant weights, at prepare). `layout` 'kn': element (p, j) at
 * source[p*n + j] (MatMul's B); 'nk': element (p, j) at source[j*k + p] (B given transposed: Gemm
 * with transB=1, a Linear layer's weight).
 */
export function packPanels(
  source: Float32Array,
  k: number,
  n: number,
  layout: 'kn' | 'nk',
  target: Float32Array,
): void {
  const [rowStep, colStep] = layout === 'kn' ? [n, 1] : [1, k];
  let at = 0;
  for (let j0 = 0; j0 < n; j0 += PANEL_WIDTH) {
    const cols = Math.min(PANEL_WIDTH, n - j0);
    for (let p = 0; p < k; p++, at += PANEL_WIDTH) {
      const row = p * rowStep + j0 * colStep;
      for (let q = 0; q < cols; q++) target[at + q] = source[row + q * colStep]!;
      target.fill(0, at + cols, at + PANEL_WIDTH);
    }
  }
}

export interface GemmShape {
  m: number;
  n: number;
  k: number;
}

export interface GemmOperands {
  /** A (M×K) row-major with row stride lda floats: element (i, p) at a + 4*(i*lda + p). */
  a: number;
  lda: number;
  /** B packed in panels (packPanels / packB). */
  b: number;
  /** C (M×N) row-major with row stride ldc floats. */
  c: number;
  ldc: number;
  /** Address of the bias floats when the Gemm was made with one (M of them for 'row', N for 'column'). */
  bias?: number;
  /**
   * Where C belongs when `c` is scratch: C's floats (offsets from `c` alike) are copied into it
   * before the product returns or resolves — a C of COPY_BY_TILE_BYTES or more tile by tile as the
   * tiles finish, while the workers compute on (an LM head's 13 MB of logits took 2 ms to copy
   * after the product).
   */
  copyOut?: Float32Array;
}

export interface GemmOptions {
  /** 'row': bias[i] added to row i (a convolution's output channel); 'column': bias[j] to column j (a Linear layer). */
  bias: 'none' | 'row' | 'column';
  activation?: Activation;
  /**
   * Add the product to what C holds: C = activation(C + A·B + bias) (default false). A second
   * product into the same C (a recurrent cell's X·W then H·R), or Gemm's full-size C.
   */
  accumulate?: boolean;
}

export interface GemmBatch {
  count: number;
  strideA: number;
  strideB: number;
  strideC: number;
}

/**
 * Rows of the register tile. 4×8 keeps its 8 accumulators, 2 B vectors and 4 broadcasts of A in
 * 14 of the 15 xmm registers V8 allocates; 6×8 spills in V8's schedule and runs at two thirds of
 * the speed (measured at 512³: 58 against 37 GFLOP/s).
 */
const TILE_ROWS = 4;
/** Multiply-adds below which a product keeps the blocking from the cache sizes, untuned. */
const TUNED_WORK = 1 << 20;
/** Tiles per thread a pooled run aims at, so that stealing evens out the threads. */
const TILES_PER_THREAD = 4;
/**
 * The same for a product that copies C out as its tiles finish: the calling thread's copies make
 * its share longer, and the workers take that over only a whole tile at a time (an LM head at 4
 * tiles a thread: 1.9–2.7 ms over the product in the heap; at 16: 1.2–1.6 ms).
 */
const TILES_PER_THREAD_COPYING_OUT = 16;
/**
 * The C from which copying out tile by tile pays: a smaller one takes well under 0.2 ms to copy
 * after the product, and its finer tiles would cost the product more (an LSTM's [50, 10] logits:
 * 0.635× onnxruntime-web's latency tile by tile, 0.613–0.625× copied after).
 */
const COPY_BY_TILE_BYTES = 1 << 20;

const SINGLE: GemmBatch = { count: 1, strideA: 0, strideB: 0, strideC: 0 };

/** The run-time packing module's key: one module per runtime, shared by every epilogue's Gemm. */
const PACK_MODULE_KEY = 'gemm_pack_f32_simd128';

export class Gemm {
  /** e.g. 'gemm_f32_4x8_relaxedsimd_bias_row_relu': what traces show. */
  readonly name: string;
  private readonly runtime: WasmRuntime;
  private readonly kernel: ModuleKernel;
  private readonly packKn: ModuleKernel;
  private readonly packNk: ModuleKernel;
  private readonly rows: number;
  private readonly accumulate: boolean;
  private readonly bias: GemmOptions['bias'];
  private readonly tuner: Tuner;
  /** What the tuner files its decisions under: the register tile and arithmetic, not the epilogue. */
  private readonly tuningName: string;
  /**
   * The cache blocking chosen per shape ('count×m×n×k', and whether C is copied out by tile), and
   * the pool's tiles it makes.
   */
  private readonly blockings = new Map<string, { blocking: CacheBlocking; tile: number[] }>();
  private readonly scratchRows = new ScratchRows();

  /** Builds (or finds) the kernel modules for this epilogue on env.runtime; runs once per plan. */
  constructor(env: WasmEnv, options: GemmOptions) {
    const spec: GemmKernelSpec = {
      rows: TILE_ROWS,
      relaxedSimd: env.features.relaxedSimd,
      bias: options.bias,
      activation: options.activation,
    };
    this.name = gemmKernelName(spec) + (options.accumulate ? '_accumulate' : '');
    this.runtime = env.runtime;
    this.rows = spec.rows;
    this.accumulate = options.accumulate ?? false;
    this.bias = options.bias;
    this.tuner = env.tuner;
    this.tuningName = gemmKernelName({ ...spec, bias: 'none', activation: undefined });
    this.kernel = generatedKernel(this.runtime, gemmModuleKey(spec), 'gemm', (module) => {
      emitGemm(module, spec);
    });
    this.packKn = generatedKernel(this.runtime, PACK_MODULE_KEY, 'pack_kn', emitPackB);
    this.packNk = generatedKernel(this.runtime, PACK_MODULE_KEY, 'pack_nk', emitPackB);
  }

  /**
   * C = activation(A·B + bias). Returns a promise only when the product goes on past the call
   * (`WasmRuntime.parallel`).
   */
  run(shape: GemmShape, operands: GemmOperands): void | Promise<void> {
    return this.runBatched(shape, operands, SINGLE);
  }

  /** `count` products at once (batched MatMul): operand i uses a + i*strideA, b + i*strideB, c + i*strideC (element strides, in floats). */
  runBatched(shape: GemmShape, operands: GemmOperands, batch: GemmBatch): void | Promise<void> {
    const { m, n, k } = shape;
    if (batch.count <= 0 || m <= 0 || n <= 0) return;
    if (this.bias !== 'none' && operands.bias === undefined) {
      throw new Error(`${this.name} needs the address of its ${this.bias} bias`);
    }
    const { copyOut } = operands;
    const byTile = copyOut !== undefined && 4 * batch.count * m * n >= COPY_BY_TILE_BYTES;
    const { blocking, tile } = this.cacheBlocking(shape, operands, batch, byTile);
    const args = this.arguments(shape, operands, batch, blocking);
    const work = batch.count * m * n * Math.max(k, 1);
    const range = { dims: [batch.count, m, n], tile };
    if (!copyOut) return this.runtime.parallel(this.kernel, range, args, work);
    const copy = tileCopier(
      this.scratchRows.over(this.scratchFloats(operands.c, copyOut.length), operands.ldc, batch.strideC),
      copyOut,
    );
    if (byTile) return this.runtime.parallel(this.kernel, range, args, work, copy);
    const all = [0, batch.count, 0, m, 0, n];
    const ran = this.runtime.parallel(this.kernel, range, args, work);
    return ran ? ran.then(() => copy(all)) : copy(all);
  }

  private scratchFloats(address: number, count: number): Float32Array {
    return this.runtime.heap.view('float32', address, count) as Float32Array;
  }

  /** The `gemm` export's arguments after its tile bounds. */
  private arguments(
    shape: GemmShape,
    operands: GemmOperands,
    batch: GemmBatch,
    blocking: CacheBlocking,
  ): number[] {
    return [
      operands.a,
      operands.lda,
      operands.b,
      operands.c,
      operands.ldc,
      operands.bias ?? 0,
      shape.k,
      batch.strideA,
      batch.strideB,
      batch.strideC,
      blocking.depth,
      this.accumulate ? 1 : 0,
      blocking.sweep,
    ];
  }

  /**
   * The blocking of this shape, and the pool's tiles for it: the tuner's pick among the
   * candidates, timed on the first run's own operands. An accumulating product would add itself
   * to C at every timed call, so it takes the default.
   */
  private cacheBlocking(
    shape: GemmShape,
    operands: GemmOperands,
    batch: GemmBatch,
    copyingOutByTile: boolean,
  ): { blocking: CacheBlocking; tile: number[] } {
    const key = `${batch.count}×${shape.m}×${shape.n}×${shape.k}`;
    const memo = copyingOutByTile ? `${key}, copied out by tile` : key;
    let chosen = this.blockings.get(memo);
    if (!chosen) {
      const candidates = blockingCandidates(shape, this.rows);
      const blocking = this.accumulate
        ? candidates[0]!.value
        : this.tuner.choose(this.tuningName, key, candidates, (candidate) =>
            this.secondsOnThisThread(shape, operands, batch, candidate),
          );
      const perThread = copyingOutByTile ? TILES_PER_THREAD_COPYING_OUT : TILES_PER_THREAD;
      const tile = threadTiles(
        batch.count,
        shape,
        blocking.tileRows,
        this.rows,
        this.runtime.threads,
        perThread,
      );
      this.blockings.set(memo, (chosen = { blocking, tile }));
    }
    return chosen;
  }

  private secondsOnThisThread(
    shape: GemmShape,
    operands: GemmOperands,
    batch: GemmBatch,
    blocking: CacheBlocking,
  ): number {
    const args = this.arguments(shape, operands, batch, blocking);
    const start = performance.now();
    for (let m0 = 0; m0 < shape.m; m0 += blocking.tileRows) {
      const m1 = Math.min(shape.m, m0 + blocking.tileRows);
      this.kernel.local(0, 0, batch.count, m0, m1, 0, shape.n, ...args);
    }
    return (performance.now() - start) / 1000;
  }

  /**
   * Packs B into panels at run time, in parallel (a product of two activations: attention's
   * Q·Kᵀ and P·V, MatMul with no constant operand, a 1×1 convolution's input). `transposed` false:
   * element (p, j) at source + 4*(p*ld + j); true: at source + 4*(j*ld + p). `target` must hold
   * packedPanelFloats(k, n) floats.
   */
  packB(
    source: number,
    k: number,
    n: number,
    ld: number,
    transposed: boolean,
    target: number,
  ): void | Promise<void> {
    const panels = Math.ceil(n / PANEL_WIDTH);
    if (panels === 0 || k === 0) return;
    const tile = Math.max(1, Math.ceil(panels / (TILES_PER_THREAD * this.runtime.threads)));
    return this.runtime.parallel(
      transposed ? this.packNk : this.packKn,
      { dims: [panels], tile: [tile] },
      [source, k, n, ld, target],
      k * n,
    );
  }
}

/** Copies one tile of C, given by its bounds, from scratch into its place (`GemmOperands.copyOut`). */
function tileCopier(scratch: ScratchRows, target: Float32Array): TileDone {
  return (bounds) => {
    const { rows, offsets } = scratch.tile(bounds);
    for (let row = 0; row < rows.length; row++) target.set(rows[row]!, offsets[row]!);
  };
}

/**
 * C's rows in scratch, as views per tile, kept from run to run while the scratch stays where it is:
 * an LM head copied out tile by tile copies 2,048 pieces of rows a run, and a fresh subarray for
 * each was a third of the bytes a GPT run allocated. A heap that is not shared gets a new buffer
 * when it grows, which starts afresh.
 */
class ScratchRows {
  private source?: Float32Array;
  private ldc = 0;
  private strideC = 0;
  private readonly byTile = new Map<string, ScratchTile>();

  over(source: Float32Array, ldc: number, strideC: number): this {
    const same =
      this.source?.buffer === source.buffer &&
      this.source.byteOffset === source.byteOffset &&
      this.source.length === source.length &&
      this.ldc === ldc &&
      this.strideC === strideC;
    if (!same) {
      this.byTile.clear();
      this.source = source;
      this.ldc = ldc;
      this.strideC = strideC;
    }
    return this;
  }

  /** The rows of tile `bounds` ([item0, item1, m0, m1, n0, n1]). */
  tile(bounds: readonly number[]): ScratchTile {
    const key = bounds.join();
    let tile = this.byTile.get(key);
    if (!tile) {
      const [item0, item1, m0, m1, n0, n1] = bounds as [number, number, number, number, number, number];
      tile = { rows: [], offsets: [] };
      for (let item = item0; item < item1; item++) {
        for (let i = m0; i < m1; i++) {
          const start = item * this.strideC + i * this.ldc + n0;
          tile.rows.push(this.source!.subarray(start, start + n1 - n0));
          tile.offsets.push(start);
        }
      }
      this.byTile.set(key, tile);
    }
    return tile;
  }
}

/** A tile's rows of C in scratch, and where each starts in C (in floats). */
interface ScratchTile {
  rows: Float32Array[];
  offsets: number[];
}

const caches = describeMachine().caches;
const L1_BYTES = typeof caches.l1d === 'number' ? caches.l1d : 32 * 1024;
export const L2_BYTES = typeof caches.l2 === 'number' ? caches.l2 : 256 * 1024;

/**
 * K steps per pass over C for a product of depth `k`: a panel's block (depth×8 floats) takes at
 * most half of L1, leaving the rest to the rows of A it meets, and the blocks of a deep K are
 * evened out so the last is not a sliver.
 */
export function depthBlock(k: number): number {
  const deepest = Math.max(16, Math.floor(L1_BYTES / 2 / (4 * PANEL_WIDTH)));
  return k <= deepest ? k : Math.ceil(k / Math.ceil(k / deepest));
}

/** How a product meets the caches: K steps per pass over C, rows of A per tile, panels per sweep. */
interface CacheBlocking {
  depth: number;
  tileRows: number;
  sweep: number;
}

/**
 * The blockings the tuner chooses among, the one derived from the cache sizes first. Its K
 * passes: `depthBlock`'s (the fused convolution's too). Its rows: as many as fill half of L2 at
 * that depth. Its sweeps: one panel, unless C outgrows L2 — then each of its lines would be
 * fetched for half a panel row's store and evicted before the next panel's; as many panels as
 * fill half of L1 then (an LM head's [64, 50257] output: 5% faster on
 * two threads). The others, for products big enough that a choice shows through the timing noise:
 * one pass over a deep K, and tiles of a quarter of the rows while that still leaves several
 * register tiles.
 */
function blockingCandidates(shape: GemmShape, rows: number): TuningCandidate<CacheBlocking>[] {
  const k = Math.max(shape.k, 1);
  const depth = depthBlock(k);
  const rowsFor = (passDepth: number) =>
    alignUp(Math.min(shape.m, Math.floor(L2_BYTES / 2 / (4 * passDepth))), rows);
  const sweepFor = (passDepth: number) =>
    4 * shape.m * shape.n > L2_BYTES
      ? Math.max(1, Math.floor(L1_BYTES / 2 / (4 * PANEL_WIDTH * passDepth)))
      : 1;
  const fromCaches = { depth, tileRows: rowsFor(depth), sweep: sweepFor(depth) };
  const variants = [fromCaches];
  if (shape.m * shape.n * k >= TUNED_WORK) {
    if (depth < k) variants.push({ depth: k, tileRows: rowsFor(k), sweep: sweepFor(k) });
    const quarter = alignUp(fromCaches.tileRows / 4, rows);
    if (quarter >= 4 * rows) variants.push({ ...fromCaches, tileRows: quarter });
  }
  return variants.map((value) => ({ name: blockingName(value), value }));
}

/** What the tuner files a blocking under; one-panel sweeps keep the names decided before sweeps. */
function blockingName({ depth, tileRows, sweep }: CacheBlocking): string {
  return `depth ${depth}, rows ${tileRows}` + (sweep > 1 ? `, sweep ${sweep}` : '');
}

/**
 * [batch, rows, columns] of the pool's tiles: `tileRows` rows and all columns, halved along the
 * longer side (rows stay `rows`-aligned, columns whole panels) until the pool has `perThread`
 * tiles per thread to share out.
 */
function threadTiles(
  count: number,
  shape: GemmShape,
  tileRows: number,
  rows: number,
  threads: number,
  perThread: number,
): number[] {
  let tileM = tileRows;
  let tileN = alignUp(shape.n, PANEL_WIDTH);
  const tiles = () => count * Math.ceil(shape.m / tileM) * Math.ceil(shape.n / tileN);
  const wanted = threads > 1 ? perThread * threads : 1;
  while (tiles() < wanted) {
    const canSplitM = tileM > rows;
    const canSplitN = tileN > PANEL_WIDTH;
    if (!canSplitM && !canSplitN) break;
    if (canSplitM && (!canSplitN || tileM >= tileN)) tileM = alignUp(tileM / 2, rows);
    else tileN = alignUp(tileN / 2, PANEL_WIDTH);
  }
  return [1, tileM, tileN];
}

/** `value` rounded up to a multiple of `step`, and at least `step`. */
function alignUp(value: number, step: number): number {
  return Math.max(step, Math.ceil(value / step) * step);
}

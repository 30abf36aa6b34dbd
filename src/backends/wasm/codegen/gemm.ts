/**
 * The GEMM micro-kernels as generated code. A module holds, for one epilogue (bias kind,
 * activation) and one arithmetic path (relaxed-SIMD FMA or mul+add), a register-tile function per
 * row count 1..MR — each computes an r×8 block of C = A·B with its 2r accumulators in registers,
 * B read from one packed panel (two `v128.load` per k) and A broadcast with `v128.load32_splat` —
 * and `gemm`, the tiled-loop export that walks a tile of [batch, M, N] in K blocks, sweeps of
 * panels and row blocks and calls them, touching the next sweep's lines of B ahead of use. Packing
 * B at run time has a module of its own (`pack_kn`, `pack_nk`).
 *
 * x86 has 16 xmm registers and V8 keeps one for itself, and TurboFan issues all of a loop
 * iteration's loads before its multiply-adds: the K loop therefore takes one k step per iteration
 * and MR is chosen so that the 2·MR accumulators, the two B vectors and the MR broadcasts of A
 * all fit (MR = 4: 14 registers). The epilogue (C added back for a later K block, bias,
 * activation, stores) works on the accumulators in registers; columns past N in the last panel
 * are computed on the panel's zero padding and simply not stored.
 */

import type { FunctionBuilder, Local, ModuleBuilder } from '../assembler/index.js';
import { activationName, emitActivation, type Activation } from './activation.js';
import { i32Function, multiplyAdd, splat, storeTransposed4x4 } from './math.js';

/** Floats per packed panel row: the register tile's width. */
export const TILE_COLUMNS = 8;

/** Bits of a register tile's `mode` argument. */
const MODE_ADD_C = 1;
const MODE_EPILOGUE = 2;

/** Accumulator sets of the single-row tile: 3 × (2 accumulators + 2 B vectors + 1 broadcast) registers. */
const SINGLE_ROW_SETS = 3;

export type GemmBias = 'none' | 'row' | 'column';

export interface GemmKernelSpec {
  /** Rows of the register tile (MR). */
  rows: number;
  relaxedSimd: boolean;
  bias: GemmBias;
  activation?: Activation;
}

/** What traces show: `gemm_f32_4x8_relaxedsimd_bias_row_relu`. */
export function gemmKernelName(spec: GemmKernelSpec): string {
  const parts = [`gemm_f32_${spec.rows}x${TILE_COLUMNS}_${spec.relaxedSimd ? 'relaxedsimd' : 'simd128'}`];
  if (spec.bias !== 'none') parts.push(`bias_${spec.bias}`);
  if (spec.activation) parts.push(activationName(spec.activation));
  return parts.join('_');
}

/** The module key: the name plus the activation's parameters, which are baked into the code. */
export function gemmModuleKey(spec: GemmKernelSpec): string {
  const params = spec.activation?.params.map((p) => String(Math.fround(p))) ?? [];
  return [gemmKernelName(spec), ...params].join('_');
}

/**
 * Adds the register tiles and the `gemm` export to `module`. `gemm(thread, b0, b1, m0, m1, n0, n1,
 * a, lda, b, c, ldc, bias, k, strideA, strideB, strideC, kBlock, addC, sweep)`: addresses in bytes,
 * leading dimensions and batch strides in floats; `kBlock` is the K depth of one pass over C;
 * `addC` non-zero adds the product to what C holds; `sweep` (≥ 1) is the panels a row strip goes
 * through before the next strip. Returns `gemm`, for generated code of the same module to call.
 */
export function emitGemm(module: ModuleBuilder, spec: GemmKernelSpec): FunctionBuilder {
  const tiles = Array.from({ length: spec.rows }, (_, r) => emitRegisterTile(module, spec, r + 1));
  return emitDriver(module, spec, tiles);
}

const TILE_PARAMS = ['a', 'lda', 'b', 'c', 'ldc', 'k', 'bias', 'cols', 'mode'] as const;

/**
 * `tile_r(a, lda, b, c, ldc, k, bias, cols, mode)`: the r×8 block at c (row stride ldc bytes) of
 * A (r rows from a, stride lda bytes) times the panel at b over k steps. `cols` < 8 stores only
 * that many columns; `mode` adds what C holds and/or applies the epilogue; `bias` is the address
 * of the tile's first bias float (row i0's, or column j0's).
 */
function emitRegisterTile(module: ModuleBuilder, spec: GemmKernelSpec, rows: number): FunctionBuilder {
  const { f, params } = i32Function(module, `tile_${rows}`, TILE_PARAMS, { exported: false });
  const [a, lda, b, c, ldc, k, bias, cols, mode] = params;
  const acc = Array.from({ length: rows }, (_, i) => [
    f.local('v128', `acc${i}l`),
    f.local('v128', `acc${i}h`),
  ]);
  const rowPointers = Array.from({ length: rows }, (_, i) => (i === 0 ? a : f.local('i32', `a${i}`)));
  const b0 = f.local('v128', 'b0');
  const b1 = f.local('v128', 'b1');
  const broadcast = Array.from({ length: rows }, (_, i) => f.local('v128', `splat${i}`));
  const bEnd = f.local('i32', 'bEnd');

  for (let i = 1; i < rows; i++)
    f.get(rowPointers[i - 1]!)
      .get(lda)
      .op('i32.add')
      .set(rowPointers[i]!);

  // TurboFan issues all of an iteration's loads before its multiply-adds, so the loaded B vectors
  // and A broadcasts must fit the registers beside the accumulators: one k step per iteration,
  // except for a single row, whose lone accumulator pair would wait on the FMA latency: it takes
  // several k steps at once into sets of accumulators summed at the end.
  const sets = rows === 1 ? SINGLE_ROW_SETS : 1;
  const partial = Array.from({ length: sets - 1 }, (_, s) => [
    f.local('v128', `partial${s}l`),
    f.local('v128', `partial${s}h`),
  ]);
  const accumulators = (set: number) => (set === 0 ? acc : [partial[set - 1]!]);
  const kSteps = (steps: number) => {
    f.block(null, (done) => {
      f.loop(null, (next) => {
        f.get(b)
          .i32Const(4 * TILE_COLUMNS * steps)
          .op('i32.add')
          .get(bEnd)
          .op('i32.gt_u')
          .brIf(done);
        for (let step = 0; step < steps; step++) {
          const into = accumulators(step);
          f.get(b)
            .mem('v128.load', { offset: 4 * TILE_COLUMNS * step })
            .set(b0);
          f.get(b)
            .mem('v128.load', { offset: 4 * TILE_COLUMNS * step + 16 })
            .set(b1);
          for (let i = 0; i < rows; i++) {
            f.get(rowPointers[i]!)
              .mem('v128.load32_splat', { offset: 4 * step })
              .set(broadcast[i]!);
            multiplyAdd(f, spec.relaxedSimd, broadcast[i]!, b0, into[i]![0]!);
            multiplyAdd(f, spec.relaxedSimd, broadcast[i]!, b1, into[i]![1]!);
          }
        }
        for (const pointer of rowPointers)
          f.get(pointer)
            .i32Const(4 * steps)
            .op('i32.add')
            .set(pointer);
        f.get(b)
          .i32Const(4 * TILE_COLUMNS * steps)
          .op('i32.add')
          .set(b);
        f.br(next);
      });
    });
  };
  f.get(b)
    .get(k)
    .i32Const(4 * TILE_COLUMNS)
    .op('i32.mul')
    .op('i32.add')
    .set(bEnd);
  kSteps(sets);
  if (sets > 1) kSteps(1);
  for (const [low, high] of partial) {
    f.get(acc[0]![0]!).get(low!).op('f32x4.add').set(acc[0]![0]!);
    f.get(acc[0]![1]!).get(high!).op('f32x4.add').set(acc[0]![1]!);
  }

  const cRow = (i: number) => {
    f.get(c);
    if (i > 0) f.get(ldc).i32Const(i).op('i32.mul').op('i32.add');
  };

  // Adding C back (K blocks after the first, or an accumulating product).
  f.get(mode).i32Const(MODE_ADD_C).op('i32.and');
  f.if(null, () => {
    ifFullPanel(
      f,
      cols,
      () => {
        for (let i = 0; i < rows; i++) {
          for (let h = 0; h < 2; h++) {
            f.get(acc[i]![h]!);
            cRow(i);
            f.mem('v128.load', { offset: 16 * h })
              .op('f32x4.add')
              .set(acc[i]![h]!);
          }
        }
      },
      () => {
        for (let i = 0; i < rows; i++) {
          loadPartial(f, cols, () => cRow(i), b0, b1);
          for (let h = 0; h < 2; h++)
            f.get(acc[i]![h]!)
              .get(h === 0 ? b0 : b1)
              .op('f32x4.add')
              .set(acc[i]![h]!);
        }
      },
    );
  });

  f.get(mode).i32Const(MODE_EPILOGUE).op('i32.and');
  f.if(null, () => {
    if (spec.bias === 'column') {
      // b0, b1 are free now: they hold the tile's 8 bias floats.
      ifFullPanel(
        f,
        cols,
        () => {
          f.get(bias).mem('v128.load').set(b0);
          f.get(bias).mem('v128.load', { offset: 16 }).set(b1);
        },
        () => loadPartial(f, cols, () => f.get(bias), b0, b1),
      );
    }
    for (let i = 0; i < rows; i++) {
      if (spec.bias === 'row')
        f.get(bias)
          .mem('v128.load32_splat', { offset: 4 * i })
          .set(broadcast[i]!);
      for (let h = 0; h < 2; h++) {
        f.get(acc[i]![h]!);
        if (spec.bias === 'row') f.get(broadcast[i]!).op('f32x4.add');
        if (spec.bias === 'column') f.get(h === 0 ? b0 : b1).op('f32x4.add');
        emitActivation(f, spec.activation);
        f.set(acc[i]![h]!);
      }
    }
  });

  ifFullPanel(
    f,
    cols,
    () => {
      for (let i = 0; i < rows; i++) {
        for (let h = 0; h < 2; h++) {
          cRow(i);
          f.get(acc[i]![h]!).mem('v128.store', { offset: 16 * h });
        }
      }
    },
    () => {
      for (let i = 0; i < rows; i++) storePartial(f, cols, () => cRow(i), acc[i]![0]!, acc[i]![1]!);
    },
  );
  return f;
}

/** `full()` for a panel of all TILE_COLUMNS columns, `partial()` for a narrower last one. */
function ifFullPanel(f: FunctionBuilder, cols: Local, full: () => void, partial: () => void): void {
  f.get(cols).i32Const(TILE_COLUMNS).op('i32.eq');
  f.if(null, full, partial);
}

/** low, high = the first `cols` (< 8) floats at the address `address` pushes, zeros after them. */
function loadPartial(f: FunctionBuilder, cols: Local, address: () => void, low: Local, high: Local): void {
  splat(f, 0).set(low);
  splat(f, 0).set(high);
  for (let q = 0; q < TILE_COLUMNS - 1; q++) {
    const target = q < 4 ? low : high;
    f.get(cols).i32Const(q).op('i32.gt_u');
    f.if(null, () => {
      address();
      f.get(target)
        .memLane('v128.load32_lane', q % 4, { offset: 4 * q })
        .set(target);
    });
  }
}

/** Stores the first `cols` (< 8) floats of low, high at the address `address` pushes. */
function storePartial(f: FunctionBuilder, cols: Local, address: () => void, low: Local, high: Local): void {
  for (let q = 0; q < TILE_COLUMNS - 1; q++) {
    f.get(cols).i32Const(q).op('i32.gt_u');
    f.if(null, () => {
      address();
      f.get(q < 4 ? low : high).memLane('v128.store32_lane', q % 4, { offset: 4 * q });
    });
  }
}

const DRIVER_PARAMS = [
  'thread',
  'b0',
  'b1',
  'm0',
  'm1',
  'n0',
  'n1',
  'a',
  'lda',
  'b',
  'c',
  'ldc',
  'bias',
  'k',
  'strideA',
  'strideB',
  'strideC',
  'kBlock',
  'addC',
  'sweep',
] as const;

/**
 * The tiled-loop export. Per batch item and K block, it walks the tile's panels in sweeps of
 * `sweep` panels and, within a sweep (which stays in L1 across the rows), its rows MR at a time,
 * each strip through all the sweep's panels, the last rows with a smaller register tile. A sweep
 * of one panel keeps the least of B in L1; a wider one writes a strip's rows of C in longer runs,
 * which counts where C outgrows the caches (a strip of one panel writes half a cache line per row).
 */
function emitDriver(
  module: ModuleBuilder,
  spec: GemmKernelSpec,
  tiles: readonly FunctionBuilder[],
): FunctionBuilder {
  const { f, params } = i32Function(module, 'gemm', DRIVER_PARAMS);
  const [
    ,
    batch0,
    batch1,
    m0,
    m1,
    n0,
    n1,
    a,
    lda,
    b,
    c,
    ldc,
    bias,
    k,
    strideA,
    strideB,
    strideC,
    kBlock,
    addC,
    sweep,
  ] = params;
  const item = f.local('i32', 'item');
  const aItem = f.local('i32', 'aItem');
  const bItem = f.local('i32', 'bItem');
  const cItem = f.local('i32', 'cItem');
  const k0 = f.local('i32', 'k0');
  const depth = f.local('i32', 'depth');
  const mode = f.local('i32', 'mode');
  const j = f.local('i32', 'j');
  const cols = f.local('i32', 'cols');
  const panel = f.local('i32', 'panel');
  const sweepStart = f.local('i32', 'sweepStart');
  const sweepEnd = f.local('i32', 'sweepEnd');
  const sweepColumns = f.local('i32', 'sweepColumns');
  const i = f.local('i32', 'i');
  const left = f.local('i32', 'left');
  const ldaBytes = f.local('i32', 'ldaBytes');
  const ldcBytes = f.local('i32', 'ldcBytes');
  const rows = spec.rows;
  const prefetch: NextSweepTouches = {
    ahead: f.local('i32', 'ahead'),
    aheadEnd: f.local('i32', 'aheadEnd'),
    strips: f.local('i32', 'strips'),
    span: f.local('i32', 'span'),
    spanEnd: f.local('i32', 'spanEnd'),
  };

  f.get(lda).i32Const(4).op('i32.mul').set(ldaBytes);
  f.get(ldc).i32Const(4).op('i32.mul').set(ldcBytes);
  f.get(sweep).i32Const(TILE_COLUMNS).op('i32.mul').set(sweepColumns);
  countStrips(f, prefetch, { m0, m1, rows });
  f.get(batch0).set(item);
  countedLoop(f, item, batch1, 1, () => {
    f.get(a).get(item).get(strideA).op('i32.mul').i32Const(4).op('i32.mul').op('i32.add').set(aItem);
    f.get(b).get(item).get(strideB).op('i32.mul').i32Const(4).op('i32.mul').op('i32.add').set(bItem);
    f.get(c).get(item).get(strideC).op('i32.mul').i32Const(4).op('i32.mul').op('i32.add').set(cItem);
    f.i32Const(0).set(k0);
    // do { ... } while (k0 < k): one pass even when k is 0, so that C still gets its epilogue.
    f.loop(null, (nextBlock) => {
      f.get(k).get(k0).op('i32.sub').tee(depth).get(kBlock).op('i32.gt_u');
      f.if(null, () => f.get(kBlock).set(depth));
      f.get(addC).get(k0).op('i32.or').i32Const(0).op('i32.ne');
      f.get(k0).get(depth).op('i32.add').get(k).op('i32.eq').i32Const(MODE_EPILOGUE).op('i32.mul');
      f.op('i32.or').set(mode);
      f.get(n0).set(sweepStart);
      countedLoop(f, sweepStart, n1, sweepColumns, () => {
        f.get(sweepStart).get(sweepColumns).op('i32.add').tee(sweepEnd).get(n1).op('i32.gt_s');
        f.if(null, () => f.get(n1).set(sweepEnd));
        aimAtNextSweep(f, prefetch, { sweepEnd, sweepColumns, n1, bItem, k, k0, depth });
        const setPanel = () => {
          f.get(n1).get(j).op('i32.sub').tee(cols).i32Const(TILE_COLUMNS).op('i32.gt_u');
          f.if(null, () => f.i32Const(TILE_COLUMNS).set(cols));
          // Panel j/8 starts j·k floats in; this block's rows k0.. of it, 8 floats per row.
          f.get(bItem).get(j).get(k).op('i32.mul').get(k0).i32Const(TILE_COLUMNS).op('i32.mul').op('i32.add');
          f.i32Const(4).op('i32.mul').op('i32.add').set(panel);
        };
        const callTile = (tile: FunctionBuilder) => {
          f.get(aItem)
            .get(i)
            .get(lda)
            .op('i32.mul')
            .get(k0)
            .op('i32.add')
            .i32Const(4)
            .op('i32.mul')
            .op('i32.add');
          f.get(ldaBytes).get(panel);
          f.get(cItem)
            .get(i)
            .get(ldc)
            .op('i32.mul')
            .get(j)
            .op('i32.add')
            .i32Const(4)
            .op('i32.mul')
            .op('i32.add');
          f.get(ldcBytes).get(depth);
          if (spec.bias === 'none') f.i32Const(0);
          else
            f.get(bias)
              .get(spec.bias === 'row' ? i : j)
              .i32Const(4)
              .op('i32.mul')
              .op('i32.add');
          f.get(cols).get(mode).call(tile);
        };
        const sweepPanels = (tile: FunctionBuilder) => {
          f.get(sweepStart).set(j);
          countedLoop(f, j, sweepEnd, TILE_COLUMNS, () => {
            setPanel();
            callTile(tile);
          });
        };
        f.get(m0).set(i);
        f.block(null, (rowsDone) => {
          f.loop(null, (nextRows) => {
            f.get(m1).get(i).op('i32.sub').tee(left).i32Const(rows).op('i32.lt_s').brIf(rowsDone);
            touchNextSweep(f, prefetch);
            sweepPanels(tiles[rows - 1]!);
            f.get(i).i32Const(rows).op('i32.add').set(i);
            f.br(nextRows);
          });
        });
        for (let r = rows - 1; r >= 1; r--) {
          f.get(left).i32Const(r).op('i32.eq');
          f.if(null, () => sweepPanels(tiles[r - 1]!));
        }
      });
      f.get(k0).get(depth).op('i32.add').tee(k0).get(k).op('i32.lt_u').brIf(nextBlock);
    });
  });
  return f;
}

/**
 * A panel's block of B is read from memory only by its first row strip; the hardware prefetchers
 * see that burst too late (its pages are new, and it lasts a fraction of the panel's time), and a
 * B that outgrows the caches (an LM head's 50 MB) stalls on it. Wasm has no prefetch instruction,
 * but a plain load whose value is dropped brings its line in all the same — V8 keeps it, as it
 * may trap. So each row strip of a sweep first touches its share of the next sweep's panels, and
 * by the time the next sweep starts they wait in the cache: the misses overlap with arithmetic
 * instead of stalling a strip. Where B already sits in the caches the touches are a few cache hits
 * per strip. `ahead` is the next line to touch, `aheadEnd` the end of the next sweep's blocks (0:
 * nothing to touch after the tile's last sweep), `span` the bytes one strip touches.
 */
interface NextSweepTouches {
  ahead: Local;
  aheadEnd: Local;
  strips: Local;
  span: Local;
  spanEnd: Local;
}

const CACHE_LINE_BYTES = 64;

/** Per call: the full row strips of the tile, at least one (the next sweep is shared out over them). */
function countStrips(
  f: FunctionBuilder,
  touches: NextSweepTouches,
  { m0, m1, rows }: { m0: Local; m1: Local; rows: number },
): void {
  f.get(m1)
    .get(m0)
    .op('i32.sub')
    .i32Const(rows)
    .op('i32.div_s')
    .tee(touches.strips)
    .i32Const(1)
    .op('i32.lt_s');
  f.if(null, () => f.i32Const(1).set(touches.strips));
}

/**
 * Per sweep: from this K block of the next sweep's first panel to the end of its last panel's
 * (with a K split, a sweep of several panels touches their other K blocks in between too), and the
 * span that shares it out over the strips; nothing after the tile's last sweep.
 */
function aimAtNextSweep(
  f: FunctionBuilder,
  touches: NextSweepTouches,
  at: { sweepEnd: Local; sweepColumns: Local; n1: Local; bItem: Local; k: Local; k0: Local; depth: Local },
): void {
  const { ahead, aheadEnd, strips, span } = touches;
  const blockAt = (column: () => void, row: () => void) => {
    f.get(at.bItem);
    column();
    f.get(at.k).op('i32.mul');
    row();
    f.i32Const(TILE_COLUMNS).op('i32.mul').op('i32.add').i32Const(4).op('i32.mul').op('i32.add');
  };
  f.i32Const(0).set(ahead);
  f.i32Const(0).set(aheadEnd);
  f.get(at.sweepEnd).get(at.n1).op('i32.lt_s');
  f.if(null, () => {
    blockAt(
      () => f.get(at.sweepEnd),
      () => f.get(at.k0),
    );
    f.set(ahead);
    // The next sweep's last panel starts at the multiple of 8 below its end.
    f.get(at.sweepEnd).get(at.sweepColumns).op('i32.add').tee(aheadEnd).get(at.n1).op('i32.gt_s');
    f.if(null, () => f.get(at.n1).set(aheadEnd));
    blockAt(
      () =>
        f
          .get(aheadEnd)
          .i32Const(TILE_COLUMNS - 1)
          .op('i32.add')
          .i32Const(-TILE_COLUMNS)
          .op('i32.and')
          .i32Const(TILE_COLUMNS)
          .op('i32.sub'),
      () => f.get(at.k0).get(at.depth).op('i32.add'),
    );
    f.set(aheadEnd);
  });
  f.get(aheadEnd).get(ahead).op('i32.sub').get(strips).op('i32.add').i32Const(1).op('i32.sub');
  f.get(strips).op('i32.div_u');
  f.i32Const(CACHE_LINE_BYTES - 1)
    .op('i32.add')
    .i32Const(-CACHE_LINE_BYTES)
    .op('i32.and')
    .set(span);
}

/** Per row strip: one load per line of the strip's span of the next sweep, values dropped. */
function touchNextSweep(f: FunctionBuilder, touches: NextSweepTouches): void {
  const { ahead, aheadEnd, span, spanEnd } = touches;
  f.get(ahead).get(span).op('i32.add').set(spanEnd);
  f.block(null, (done) => {
    f.loop(null, (next) => {
      f.get(ahead).get(spanEnd).op('i32.ge_u').brIf(done);
      f.get(ahead).get(aheadEnd).op('i32.ge_u').brIf(done);
      f.get(ahead).mem('i32.load').drop();
      f.get(ahead).i32Const(CACHE_LINE_BYTES).op('i32.add').set(ahead);
      f.br(next);
    });
  });
}

/** for (; counter < end; counter += step) body(), with `counter` set by the caller. */
function countedLoop(
  f: FunctionBuilder,
  counter: Local,
  end: Local,
  step: number | Local,
  body: () => void,
): void {
  f.block(null, (done) => {
    f.loop(null, (next) => {
      f.get(counter).get(end).op('i32.ge_s').brIf(done);
      body();
      f.get(counter);
      if (typeof step === 'number') f.i32Const(step);
      else f.get(step);
      f.op('i32.add').set(counter);
      f.br(next);
    });
  });
}

/**
 * Adds the run-time packing of B to `module`, as tiled loops over panels:
 * `pack_kn(thread, p0, p1, source, k, n, ld, target)` for B with element (p, j) at
 * source + 4·(p·ld + j), and `pack_nk(...)` for B given transposed, (p, j) at source + 4·(j·ld + p).
 * Panel p goes to target + 4·p·k·8; columns past n are zeros.
 */
export function emitPackB(module: ModuleBuilder): void {
  emitPackKn(i32Function(module, 'pack_kn', PACK_PARAMS));
  emitPackNk(i32Function(module, 'pack_nk', PACK_PARAMS));
}

const PACK_PARAMS = ['thread', 'p0', 'p1', 'source', 'k', 'n', 'ld', 'target'] as const;

/** A packing function and its parameters. */
type PackFunction = ReturnType<typeof i32Function<typeof PACK_PARAMS>>;

interface PackLocals {
  panel: Local;
  cols: Local;
  from: Local;
  to: Local;
  end: Local;
}

/** For each panel of [p0, p1): `cols` (≤ 8) and `to`, `end` (the panel's bounds in target) set, then body. */
function forEachPanel({ f, params }: PackFunction, body: (locals: PackLocals) => void): void {
  const [, p0, p1, , k, n, , target] = params;
  const locals: PackLocals = {
    panel: f.local('i32', 'panel'),
    cols: f.local('i32', 'cols'),
    from: f.local('i32', 'from'),
    to: f.local('i32', 'to'),
    end: f.local('i32', 'end'),
  };
  const { panel, cols, to, end } = locals;
  f.get(p0).set(panel);
  countedLoop(f, panel, p1, 1, () => {
    f.get(n).get(panel).i32Const(TILE_COLUMNS).op('i32.mul').op('i32.sub').tee(cols);
    f.i32Const(TILE_COLUMNS).op('i32.gt_u');
    f.if(null, () => f.i32Const(TILE_COLUMNS).set(cols));
    f.get(target)
      .get(panel)
      .get(k)
      .op('i32.mul')
      .i32Const(4 * TILE_COLUMNS)
      .op('i32.mul')
      .op('i32.add')
      .tee(to);
    f.get(k)
      .i32Const(4 * TILE_COLUMNS)
      .op('i32.mul')
      .op('i32.add')
      .set(end);
    body(locals);
  });
}

/** Rows of B are contiguous: two vector copies per row of a full panel, lanes for the last one. */
function emitPackKn(pack: PackFunction): void {
  const { f } = pack;
  const [, , , source, , , ld] = pack.params;
  const low = f.local('v128', 'low');
  const high = f.local('v128', 'high');
  const ldBytes = f.local('i32', 'ldBytes');
  f.get(ld).i32Const(4).op('i32.mul').set(ldBytes);
  forEachPanel(pack, ({ panel, cols, from, to, end }) => {
    f.get(source)
      .get(panel)
      .i32Const(4 * TILE_COLUMNS)
      .op('i32.mul')
      .op('i32.add')
      .set(from);
    const rowLoop = (copyRow: () => void) =>
      f.block(null, (done) => {
        f.loop(null, (next) => {
          f.get(to).get(end).op('i32.ge_u').brIf(done);
          copyRow();
          f.get(from).get(ldBytes).op('i32.add').set(from);
          f.get(to)
            .i32Const(4 * TILE_COLUMNS)
            .op('i32.add')
            .set(to);
          f.br(next);
        });
      });
    ifFullPanel(
      f,
      cols,
      () =>
        rowLoop(() => {
          f.get(to).get(from).mem('v128.load', { align: 4 }).mem('v128.store');
          f.get(to).get(from).mem('v128.load', { offset: 16, align: 4 }).mem('v128.store', { offset: 16 });
        }),
      () =>
        rowLoop(() => {
          loadPartial(f, cols, () => f.get(from), low, high);
          f.get(to).get(low).mem('v128.store');
          f.get(to).get(high).mem('v128.store', { offset: 16 });
        }),
    );
  });
}

/**
 * B transposed: the panel's columns are rows of the source. Four k steps at a time, the 8×4
 * block is loaded as eight vectors and transposed with shuffles; the last k steps and a partial
 * panel go float by float.
 */
function emitPackNk(pack: PackFunction): void {
  const { f } = pack;
  const [, , , source, , , ld] = pack.params;
  const ldBytes = f.local('i32', 'ldBytes');
  const rowsIn = Array.from({ length: TILE_COLUMNS }, (_, q) => f.local('v128', `r${q}`));
  const t = Array.from({ length: 4 }, (_, q) => f.local('v128', `t${q}`));
  f.get(ld).i32Const(4).op('i32.mul').set(ldBytes);
  forEachPanel(pack, ({ panel, cols, from, to, end }) => {
    f.get(source)
      .get(panel)
      .i32Const(TILE_COLUMNS)
      .op('i32.mul')
      .get(ldBytes)
      .op('i32.mul')
      .op('i32.add')
      .set(from);
    // Full panels: blocks of four k steps (128 bytes of target) while they last.
    f.get(cols).i32Const(TILE_COLUMNS).op('i32.eq');
    f.if(null, () =>
      f.block(null, (done) => {
        f.loop(null, (next) => {
          f.get(to)
            .i32Const(4 * 4 * TILE_COLUMNS)
            .op('i32.add')
            .get(end)
            .op('i32.gt_u')
            .brIf(done);
          for (let q = 0; q < TILE_COLUMNS; q++) {
            f.get(from);
            if (q > 0) f.get(ldBytes).i32Const(q).op('i32.mul').op('i32.add');
            f.mem('v128.load', { align: 4 }).set(rowsIn[q]!);
          }
          for (let half = 0; half < 2; half++) {
            storeTransposed4x4(
              f,
              rowsIn.slice(4 * half),
              t,
              () => f.get(to),
              (step) => 4 * TILE_COLUMNS * step + 16 * half,
            );
          }
          f.get(from).i32Const(16).op('i32.add').set(from);
          f.get(to)
            .i32Const(4 * 4 * TILE_COLUMNS)
            .op('i32.add')
            .set(to);
          f.br(next);
        });
      }),
    );
    // The rest, float by float, zeros past the panel's columns.
    f.block(null, (done) => {
      f.loop(null, (next) => {
        f.get(to).get(end).op('i32.ge_u').brIf(done);
        for (let q = 0; q < TILE_COLUMNS; q++) {
          f.get(to);
          f.get(cols).i32Const(q).op('i32.gt_u');
          f.if(
            { params: [], results: ['f32'] },
            () => {
              f.get(from);
              if (q > 0) f.get(ldBytes).i32Const(q).op('i32.mul').op('i32.add');
              f.mem('f32.load');
            },
            () => f.f32Const(0),
          );
          f.mem('f32.store', { offset: 4 * q });
        }
        f.get(from).i32Const(4).op('i32.add').set(from);
        f.get(to)
          .i32Const(4 * TILE_COLUMNS)
          .op('i32.add')
          .set(to);
        f.br(next);
      });
    });
  });
}

/**
 * Scaled dot-product attention as one generated kernel, flash-style: a tile is one (batch, head)
 * pair and a run of query rows, and every block of up to four rows goes through the whole chain
 * while its scores are in L1 — S = Q·Kᵀ·scale + mask (or, with a bool keep mask, Q·Kᵀ·scale where
 * it is true and a fill value elsewhere) into a per-thread row buffer (the row maxima kept on the
 * way), one pass that exponentiates and sums, then P·V with the division by the sum folded into
 * the stores. Neither the scores nor the probabilities go to memory beyond four rows.
 *
 * K is first copied into a per-thread buffer as Kᵀ in panels of eight keys (D rows of 8 floats
 * each, the layout of a packed GEMM operand), so the scores use the same broadcast-A register tile
 * as a GEMM; a thread keeps its copy while its consecutive tiles stay on one head. V is read where
 * it is, row by row. Score lanes past Nk are set to -Infinity, so they neither raise the maximum
 * nor add to the sum, and P·V runs over the first Nk keys only.
 *
 * The static facts (Nk, D, Dv, K's layout, the mask's shape and mode) are baked in; the query
 * count, the fill value, the pairs and their addresses come at run time, through a table of
 * per-pair addresses that the caller fills (so any numpy broadcasting of the batch axes costs
 * nothing here).
 */

import type { FunctionBuilder, Local, ModuleBuilder } from '../assembler/index.js';
import {
  emitExp,
  foldAccumulators,
  multiplyAdd,
  namedLocal,
  splat,
  storeLanes,
  storeTransposed4x4,
} from './math.js';

/** Columns of the register tile (two vectors) and rows of a query block. */
const TILE_COLUMNS = 8;
const BLOCK_ROWS = 4;
/** Bytes per entry of the pair table: addresses of Q, K, V, the mask and the output. */
export const PAIR_ENTRY_BYTES = 20;
/**
 * The per-thread buffer opens with a header: the tag of the pair whose Kᵀ it holds, 1/Σ per row
 * of the block, and per row a vector of running maxima. Then Kᵀ, then the block's score rows.
 */
const HEADER_BYTES = 128;
const INVERSE_SUMS_OFFSET = 16;
const MAXIMA_OFFSET = 64;
/**
 * Steps per iteration of the products' loops: one, as TurboFan issues all of an iteration's loads
 * before its multiply-adds, and the loads of more steps would not fit the registers beside the
 * accumulators (unrolled by 8, the kernel runs at two thirds of the speed). The exponentials'
 * loop keeps nothing live across steps and is unrolled.
 */
const PRODUCT_UNROLL = 1;
const EXPONENTIAL_UNROLL = 4;
/**
 * Where x - max is below this, e^(x - max) is taken as 0: from here on it is a float32 subnormal
 * (e^-87.34 is the smallest normal), and subnormal operands cost x86 a microcode assist in every
 * multiply-add of P·V — masked scores (-Infinity, -1e9) made the kernel twice as slow. The terms
 * dropped are below 1.2e-38 of the row's largest, which is 1.
 */
const EXP_ARGUMENT_FLOOR = -87.3;

export type MaskKind = 'none' | 'per-key' | 'per-row';
/** 'add': a float32 mask added to the scores; 'select': a bool (byte) mask keeping them where true. */
export type MaskMode = 'add' | 'select';

/** Bytes per mask element in each mode. */
export const MASK_ELEMENT_BYTES: Readonly<Record<MaskMode, number>> = { add: 4, select: 1 };

export interface AttentionSpec {
  /** Nk: keys (and value rows). */
  keys: number;
  /** D: the depth of Q and K. */
  depth: number;
  /** Dv: the width of V and of the output. */
  valueWidth: number;
  /** K stored as [Nk, D] (transpose_k = 1) rather than [D, Nk]. */
  keyRows: boolean;
  /** 'per-key': a mask value per score; 'per-row': one per query row (the mask's last axis is 1). */
  mask: MaskKind;
  /** The mask has a row per query (otherwise one row serves every query). */
  maskPerQuery: boolean;
  maskMode: MaskMode;
  relaxedSimd: boolean;
  /**
   * Floats between consecutive rows of Q, of K (its key rows, or with keyRows false its depth
   * rows), of V and of the output, when they are not the dense [rows, width] matrices: the heads
   * of a [batch, sequence, heads, depth] tensor, or of a packed QKV projection, are read in place.
   */
  rowStrides?: RowStrides;
}

export interface RowStrides {
  query: number;
  key: number;
  value: number;
  output: number;
}

/** The row strides of dense matrices. */
function denseRowStrides(spec: AttentionSpec): RowStrides {
  return {
    query: spec.depth,
    key: spec.keyRows ? spec.depth : spec.keys,
    value: spec.valueWidth,
    output: spec.valueWidth,
  };
}

function rowStridesOf(spec: AttentionSpec): RowStrides {
  return spec.rowStrides ?? denseRowStrides(spec);
}

/**
 * What traces show: `attention_f32_k128_d64_v64_kt_maskkey_relaxedsimd`, `..._selectkey_perquery_...`,
 * and with row strides other than the dense ones `..._rows_q768_k768_v768_o256_...`.
 */
export function attentionKernelName(spec: AttentionSpec): string {
  const kind = spec.maskMode === 'select' ? 'select' : 'mask';
  const mask = { none: 'nomask', 'per-key': `${kind}key`, 'per-row': `${kind}row` }[spec.mask];
  const strides = rowStridesOf(spec);
  const dense = denseRowStrides(spec);
  const strided = (Object.keys(dense) as (keyof RowStrides)[]).some((name) => strides[name] !== dense[name]);
  return [
    'attention_f32',
    `k${spec.keys}`,
    `d${spec.depth}`,
    `v${spec.valueWidth}`,
    spec.keyRows ? 'kt' : 'kn',
    spec.mask !== 'none' && spec.maskPerQuery ? `${mask}_perquery` : mask,
    ...(strided ? [`rows_q${strides.query}_k${strides.key}_v${strides.value}_o${strides.output}`] : []),
    spec.relaxedSimd ? 'relaxedsimd' : 'simd128',
  ].join('_');
}

/** Keys rounded up to whole register tiles: the row length of the score buffer. */
function paddedKeys(keys: number): number {
  return Math.ceil(keys / TILE_COLUMNS) * TILE_COLUMNS;
}

/** Bytes of one thread's buffer: header, Kᵀ and a block of score rows. */
export function threadScratchBytes(spec: AttentionSpec): number {
  const row = paddedKeys(spec.keys) * 4;
  return HEADER_BYTES + spec.depth * row + BLOCK_ROWS * row;
}

/**
 * Adds `attention(thread, pair0, pair1, row0, row1, table, scratch, scratchStride, scale, fill)`
 * to `module`: the output rows [row0, row1) of pairs [pair0, pair1). `fill` is the score of the
 * positions a 'select' mask drops (unused otherwise). `table` holds PAIR_ENTRY_BYTES per pair;
 * thread t's buffer is at scratch + t·scratchStride, and its first i32 must be 0 before the run
 * (no Kᵀ held).
 */
export function emitAttention(module: ModuleBuilder, spec: AttentionSpec): void {
  const params = PARAMS.map((name) => [name, name === 'scale' || name === 'fill' ? 'f32' : 'i32'] as const);
  const f = module.function('attention', { params, export: true });
  new AttentionEmitter(f, spec).emit();
}

const PARAMS = [
  'thread',
  'pair0',
  'pair1',
  'row0',
  'row1',
  'table',
  'scratch',
  'scratchStride',
  'scale',
  'fill',
] as const;
type Params = Record<(typeof PARAMS)[number], Local>;

/** The i32 locals: the pair, its addresses, and the pointers and counter the loops walk. */
const POINTERS = ['pair', 'entry', 'header', 'keysT', 'scores', 'row', 'q', 'k', 'v', 'mask', 'out'] as const;
const WALKERS = ['a', 'b', 'c', 'm', 'count'] as const;
type Pointers = Record<(typeof POINTERS)[number] | (typeof WALKERS)[number], Local>;

/** One emission of the kernel: its locals, and the pieces of code that share them. */
class AttentionEmitter {
  private readonly rowBytes: number;
  /** Bytes of one panel of Kᵀ: D rows of eight keys. */
  private readonly panelBytes: number;
  private readonly maskBytes: number;
  /** Bytes between consecutive rows of Q, K, V and the output. */
  private readonly rowBytesOf: RowStrides;
  private readonly p: Params;
  private readonly l: Pointers;

  constructor(
    private readonly f: FunctionBuilder,
    private readonly spec: AttentionSpec,
  ) {
    this.rowBytes = paddedKeys(spec.keys) * 4;
    this.panelBytes = spec.depth * TILE_COLUMNS * 4;
    this.maskBytes = MASK_ELEMENT_BYTES[spec.maskMode];
    const strides = rowStridesOf(spec);
    this.rowBytesOf = {
      query: 4 * strides.query,
      key: 4 * strides.key,
      value: 4 * strides.value,
      output: 4 * strides.output,
    };
    this.p = Object.fromEntries(PARAMS.map((name, i) => [name, f.params[i]!])) as Params;
    this.l = Object.fromEntries(
      [...POINTERS, ...WALKERS].map((name) => [name, f.local('i32', name)]),
    ) as Pointers;
  }

  emit(): void {
    const { f, p, l } = this;
    f.get(p.scratch).get(p.thread).get(p.scratchStride).op('i32.mul').op('i32.add').tee(l.header);
    f.i32Const(HEADER_BYTES).op('i32.add').tee(l.keysT);
    f.i32Const(paddedKeys(this.spec.keys) * this.spec.depth * 4)
      .op('i32.add')
      .set(l.scores);
    f.get(p.pair0).set(l.pair);
    f.block(null, (done) => {
      f.loop(null, (nextPair) => {
        f.get(l.pair).get(p.pair1).op('i32.ge_u').brIf(done);
        this.emitPairSetup();
        this.emitRowBlocks();
        f.get(l.pair).i32Const(1).op('i32.add').set(l.pair);
        f.br(nextPair);
      });
    });
  }

  /** Reads the pair's addresses and makes sure the thread's buffer holds its Kᵀ. */
  private emitPairSetup(): void {
    const { f, p, l } = this;
    f.get(p.table).get(l.pair).i32Const(PAIR_ENTRY_BYTES).op('i32.mul').op('i32.add').set(l.entry);
    const fields = [l.q, l.k, l.v, l.mask, l.out];
    fields.forEach((local, i) =>
      f
        .get(l.entry)
        .mem('i32.load', { offset: 4 * i })
        .set(local),
    );
    // Tags are pair + 1, so the 0 the caller writes means "nothing held".
    f.get(l.header).mem('i32.load').get(l.pair).i32Const(1).op('i32.add').op('i32.ne');
    f.if(null, () => {
      if (this.spec.keyRows) this.emitTransposeKeys();
      else this.emitPanelKeys();
      f.get(l.header).get(l.pair).i32Const(1).op('i32.add').mem('i32.store');
    });
  }

  /**
   * K as [Nk, D]: each key's row becomes a column of its panel. Four keys at a time, their rows
   * are transposed in registers four depths per step (four stores where lane stores would take
   * sixteen); depths past the last four, and keys past the last four, go one float at a time.
   */
  private emitTransposeKeys(): void {
    const { f, l, spec } = this;
    const key = this.i32('transpose.key');
    const quads = Math.floor(spec.keys / 4);
    f.get(l.k).set(l.a);
    f.i32Const(0).set(key);
    const keyLoop = (end: number, step: number, body: () => void) => {
      f.loop(null, (nextKeys) => {
        // b = the key's column: its panel, then its lane in the panel's rows.
        f.get(l.keysT).get(key).i32Const(3).op('i32.shr_u').i32Const(this.panelBytes).op('i32.mul');
        f.op('i32.add').get(key).i32Const(7).op('i32.and').i32Const(4).op('i32.mul').op('i32.add').set(l.b);
        body();
        f.get(l.a)
          .i32Const(step * this.rowBytesOf.key)
          .op('i32.add')
          .set(l.a);
        f.get(key).i32Const(step).op('i32.add').tee(key).i32Const(end).op('i32.lt_u').brIf(nextKeys);
      });
    };
    if (quads > 0) keyLoop(quads * 4, 4, () => this.emitTransposeQuad());
    if (spec.keys % 4 > 0) keyLoop(spec.keys, 1, () => this.emitCopyColumn(0, 0));
  }

  /** Four keys' rows from l.a into four lanes of their panel's rows at l.b. */
  private emitTransposeQuad(): void {
    const { f, l, spec } = this;
    const rows = [0, 1, 2, 3].map((q) => this.v128(`transpose.row${q}`));
    const pairs = [0, 1, 2, 3].map((q) => this.v128(`transpose.pair${q}`));
    let d = 0;
    for (; d + 4 <= spec.depth; d += 4) {
      rows.forEach((row, q) =>
        f
          .get(l.a)
          .mem('v128.load', { offset: q * this.rowBytesOf.key + d * 4, align: 4 })
          .set(row),
      );
      // Each depth's four keys, one per row of the quad: the 4×4 transpose.
      storeTransposed4x4(
        f,
        rows,
        pairs,
        () => f.get(l.b),
        (i) => (d + i) * TILE_COLUMNS * 4,
      );
    }
    for (let q = 0; q < 4; q++) this.emitCopyColumn(q, d);
  }

  /** Depths [from, D) of key l.a + q rows on into its lane (q) of the panel rows at l.b. */
  private emitCopyColumn(q: number, from: number): void {
    const { f, l, spec } = this;
    for (let d = from; d < spec.depth; d++) {
      f.get(l.b)
        .get(l.a)
        .mem('f32.load', { offset: q * this.rowBytesOf.key + d * 4 });
      f.mem('f32.store', { offset: d * TILE_COLUMNS * 4 + q * 4 });
    }
  }

  /** K as [D, Nk]: each depth row is cut into the panels' rows, eight keys at a time. */
  private emitPanelKeys(): void {
    const { f, l, spec } = this;
    const panels = Math.floor(spec.keys / TILE_COLUMNS);
    const tail = spec.keys % TILE_COLUMNS;
    const depthRow = this.i32('panels.depth');
    const vector = this.v128('panels.v');
    f.get(l.k).set(l.a);
    f.i32Const(0).set(depthRow);
    f.loop(null, (nextDepth) => {
      f.get(l.keysT)
        .get(depthRow)
        .i32Const(TILE_COLUMNS * 4)
        .op('i32.mul')
        .op('i32.add')
        .set(l.b);
      const copy = (lanes: number[]) =>
        lanes.forEach((n, h) => {
          this.loadLanes(l.a, h * 16, n);
          f.set(vector);
          storeLanes(f, () => f.get(l.b), h * 16, 4, vector);
        });
      if (panels > 0) {
        f.i32Const(panels).set(l.count);
        f.loop(null, (nextPanel) => {
          copy([4, 4]);
          f.get(l.a)
            .i32Const(TILE_COLUMNS * 4)
            .op('i32.add')
            .set(l.a);
          f.get(l.b).i32Const(this.panelBytes).op('i32.add').set(l.b);
          f.get(l.count).i32Const(1).op('i32.sub').tee(l.count).brIf(nextPanel);
        });
      }
      if (tail > 0) copy(laneCounts(tail));
      // a walked the row's whole panels; the next depth row starts a row stride after this one.
      f.get(l.a)
        .i32Const(this.rowBytesOf.key - panels * TILE_COLUMNS * 4)
        .op('i32.add')
        .set(l.a);
      f.get(depthRow)
        .i32Const(1)
        .op('i32.add')
        .tee(depthRow)
        .i32Const(spec.depth)
        .op('i32.lt_u')
        .brIf(nextDepth);
    });
  }

  /** Blocks of four query rows, then one block of the one to three left. */
  private emitRowBlocks(): void {
    const { f, p, l } = this;
    f.get(p.row0).set(l.row);
    f.block(null, (done) => {
      f.loop(null, (nextBlock) => {
        f.get(p.row1).get(l.row).op('i32.sub').i32Const(BLOCK_ROWS).op('i32.lt_s').brIf(done);
        this.emitBlock(BLOCK_ROWS);
        f.get(l.row).i32Const(BLOCK_ROWS).op('i32.add').set(l.row);
        f.br(nextBlock);
      });
    });
    for (let rows = 1; rows < BLOCK_ROWS; rows++) {
      f.get(p.row1).get(l.row).op('i32.sub').i32Const(rows).op('i32.eq');
      f.if(null, () => this.emitBlock(rows));
    }
  }

  /** Scores, softmax and P·V for `rows` query rows starting at `row`. */
  private emitBlock(rows: number): void {
    this.emitScores(rows);
    for (let r = 0; r < rows; r++) this.emitExponentials(r);
    this.emitWeightedValues(rows);
  }

  /** The bytes between the mask values of consecutive query rows. */
  private maskRowBytes(): number {
    const { spec } = this;
    if (!spec.maskPerQuery) return 0;
    return spec.mask === 'per-key' ? spec.keys * this.maskBytes : this.maskBytes;
  }

  /** S[r][·] = Q[row + r]·Kᵀ·scale, masked, panel by panel; lanes past Nk -Infinity. */
  private emitScores(rows: number): void {
    const { f, l, spec } = this;
    for (let r = 0; r < rows; r++)
      splat(f.get(l.header), -Infinity).mem('v128.store', { offset: MAXIMA_OFFSET + 16 * r });
    f.get(l.keysT).set(l.b);
    f.get(l.scores).set(l.c);
    if (spec.mask !== 'none') {
      f.get(l.mask).get(l.row).i32Const(this.maskRowBytes()).op('i32.mul').op('i32.add').set(l.m);
    }
    const panels = Math.floor(spec.keys / TILE_COLUMNS);
    const tail = spec.keys % TILE_COLUMNS;
    if (panels > 0) {
      f.i32Const(panels).set(l.count);
      f.loop(null, (nextPanel) => {
        this.emitScorePanel(rows, TILE_COLUMNS);
        f.get(l.count).i32Const(1).op('i32.sub').tee(l.count).brIf(nextPanel);
      });
    }
    if (tail > 0) this.emitScorePanel(rows, tail);
  }

  /** One panel of scores (`keys` of its eight are real); moves b, c and m to the next panel. */
  private emitScorePanel(rows: number, keys: number): void {
    const { f, l, p, spec } = this;
    const accumulators = this.accumulators(rows, 2);
    const queryRowBytes = this.rowBytesOf.query;
    f.get(l.q).get(l.row).i32Const(queryRowBytes).op('i32.mul').op('i32.add').set(l.a);
    this.zero(accumulators);
    const advanced = this.emitUnrolled(
      spec.depth,
      PRODUCT_UNROLL,
      (d) => {
        const [b0, b1] = [this.v128('b0'), this.v128('b1')];
        f.get(l.b)
          .mem('v128.load', { offset: d * 32 })
          .set(b0);
        f.get(l.b)
          .mem('v128.load', { offset: d * 32 + 16 })
          .set(b1);
        for (let r = 0; r < rows; r++) {
          const a = this.v128('broadcast');
          f.get(l.a)
            .mem('v128.load32_splat', { offset: r * queryRowBytes + d * 4 })
            .set(a);
          this.madd(a, b0, accumulators[r]![0]!);
          this.madd(a, b1, accumulators[r]![1]!);
        }
      },
      (steps) => {
        f.get(l.a)
          .i32Const(steps * 4)
          .op('i32.add')
          .set(l.a);
        f.get(l.b)
          .i32Const(steps * 32)
          .op('i32.add')
          .set(l.b);
      },
    );
    const scale = this.v128('scale.splat');
    f.get(p.scale).op('f32x4.splat').set(scale);
    if (spec.maskMode === 'select') f.get(p.fill).op('f32x4.splat').set(this.v128('fill.splat'));
    const lanes = laneCounts(keys);
    for (let r = 0; r < rows; r++) {
      const x = this.v128('x');
      const maximum = this.v128('maximum');
      f.get(l.header)
        .mem('v128.load', { offset: MAXIMA_OFFSET + 16 * r })
        .set(maximum);
      for (let h = 0; h < 2; h++) {
        const n = lanes[h] ?? 0;
        f.get(accumulators[r]![h]!).get(scale).op('f32x4.mul');
        if (n > 0) this.emitMask(r, h, n);
        if (n < 4) {
          const keep = [0, 1, 2, 3].map((lane) => (lane < n ? -1 : 0));
          splat(f, -Infinity).v128Const('i32x4', keep).op('v128.bitselect');
        }
        f.set(x);
        f.get(l.c)
          .get(x)
          .mem('v128.store', { offset: r * this.rowBytes + h * 16 });
        f.get(maximum).get(x).op('f32x4.pmax').set(maximum);
      }
      f.get(l.header)
        .get(maximum)
        .mem('v128.store', { offset: MAXIMA_OFFSET + 16 * r });
    }
    // The depth loop left b `advanced` rows into the panel; the next panel starts after its last row.
    f.get(l.b)
      .i32Const(this.panelBytes - advanced * 32)
      .op('i32.add')
      .set(l.b);
    f.get(l.c)
      .i32Const(TILE_COLUMNS * 4)
      .op('i32.add')
      .set(l.c);
    if (spec.mask === 'per-key')
      f.get(l.m)
        .i32Const(TILE_COLUMNS * this.maskBytes)
        .op('i32.add')
        .set(l.m);
  }

  /**
   * Masks the scores on the stack, lanes [4h, 4h + n) of the panel in row r: adds the float mask,
   * or keeps them where the bool mask is true and takes the fill value elsewhere.
   */
  private emitMask(r: number, h: number, n: number): void {
    const { f, l, spec } = this;
    if (spec.mask === 'none') return;
    const row = r * this.maskRowBytes();
    if (spec.maskMode === 'add') {
      if (spec.mask === 'per-key') this.loadLanes(l.m, row + h * 16, n);
      else f.get(l.m).mem('v128.load32_splat', { offset: row });
      f.op('f32x4.add');
      return;
    }
    f.get(this.v128('fill.splat'));
    if (spec.mask === 'per-key') this.loadKeepLanes(row + h * 4, n);
    else {
      // One byte splat to all sixteen: each i32 lane is 0 exactly when the byte is.
      f.get(l.m).mem('v128.load8_splat', { offset: row });
      f.v128Const('i32x4', [0, 0, 0, 0]).op('i32x4.ne');
    }
    f.op('v128.bitselect');
  }

  /**
   * Pushes the keep mask of `lanes` bool bytes at m + offset as i32 lanes of all ones (byte not 0)
   * or zeros, lanes past them zero; never reads past the bytes.
   */
  private loadKeepLanes(offset: number, lanes: number): void {
    const { f, l } = this;
    if (lanes === 4) f.get(l.m).mem('v128.load32_zero', { offset, align: 1 });
    else {
      const bytes = this.v128('keep.bytes');
      f.v128Const('i32x4', [0, 0, 0, 0]).set(bytes);
      for (let lane = 0; lane < lanes; lane++) {
        f.get(l.m)
          .get(bytes)
          .memLane('v128.load8_lane', lane, { offset: offset + lane })
          .set(bytes);
      }
      f.get(bytes);
    }
    f.v128Const('i32x4', [0, 0, 0, 0]).op('i8x16.ne');
    f.op('i16x8.extend_low_i8x16_s').op('i32x4.extend_low_i16x8_s');
  }

  /**
   * Score row r becomes e^(x - max), left unnormalised; 1/Σ goes to the header for P·V. A NaN
   * score makes its exponential and so the sum NaN, which spreads over the row as the reference's
   * NaN maximum does, and a row of -Infinity is NaN throughout as there. Below EXP_ARGUMENT_FLOOR
   * the exponential is 0 (see there).
   */
  private emitExponentials(r: number): void {
    const { f, l, spec } = this;
    const maximum = this.v128('maximum');
    const sum = this.v128('sum');
    const e = this.v128('e');
    const shifted = this.v128('shifted');
    f.get(l.header)
      .mem('v128.load', { offset: MAXIMA_OFFSET + 16 * r })
      .set(maximum);
    foldAccumulators(f, [maximum], 'f32x4.pmax');
    f.get(l.scores)
      .i32Const(r * this.rowBytes)
      .op('i32.add')
      .set(l.a);
    splat(f, 0).set(sum);
    this.emitUnrolled(
      Math.ceil(spec.keys / 4),
      EXPONENTIAL_UNROLL,
      (vector) => {
        f.get(l.a)
          .get(l.a)
          .mem('v128.load', { offset: vector * 16 })
          .get(maximum)
          .op('f32x4.sub')
          .tee(shifted);
        // pmax keeps a NaN argument (its comparison fails), so NaN still spreads over the row.
        splat(f, EXP_ARGUMENT_FLOOR).op('f32x4.pmax');
        emitExp(f);
        splat(f.get(shifted), EXP_ARGUMENT_FLOOR).op('f32x4.lt').op('v128.andnot');
        f.tee(e).mem('v128.store', { offset: vector * 16 });
        f.get(sum).get(e).op('f32x4.add').set(sum);
      },
      (steps) =>
        f
          .get(l.a)
          .i32Const(steps * 16)
          .op('i32.add')
          .set(l.a),
    );
    foldAccumulators(f, [sum], 'f32x4.add');
    f.get(l.header);
    splat(f, 1).get(sum).op('f32x4.div').lane('f32x4.extract_lane', 0);
    f.mem('f32.store', { offset: INVERSE_SUMS_OFFSET + 4 * r });
  }

  /** out[row + r] = (Σ_k P[r][k]·V[k]) / Σ_r, eight output columns at a time (fewer at the end). */
  private emitWeightedValues(rows: number): void {
    const { f, l, spec } = this;
    const width = spec.valueWidth;
    const valueRowBytes = this.rowBytesOf.value;
    const outputRowBytes = this.rowBytesOf.output;
    for (let column = 0; column < width; column += TILE_COLUMNS) {
      const lanes = laneCounts(Math.min(TILE_COLUMNS, width - column));
      const accumulators = this.accumulators(rows, lanes.length);
      this.zero(accumulators);
      f.get(l.v)
        .i32Const(column * 4)
        .op('i32.add')
        .set(l.b);
      f.get(l.scores).set(l.a);
      this.emitUnrolled(
        spec.keys,
        PRODUCT_UNROLL,
        (k) => {
          const b = lanes.map((_, h) => this.v128(`b${h}`));
          lanes.forEach((n, h) => {
            this.loadLanes(l.b, k * valueRowBytes + h * 16, n);
            f.set(b[h]!);
          });
          for (let r = 0; r < rows; r++) {
            const a = this.v128('broadcast');
            f.get(l.a)
              .mem('v128.load32_splat', { offset: r * this.rowBytes + k * 4 })
              .set(a);
            lanes.forEach((_, h) => this.madd(a, b[h]!, accumulators[r]![h]!));
          }
        },
        (steps) => {
          f.get(l.a)
            .i32Const(steps * 4)
            .op('i32.add')
            .set(l.a);
          f.get(l.b)
            .i32Const(steps * valueRowBytes)
            .op('i32.add')
            .set(l.b);
        },
      );
      f.get(l.out).get(l.row).i32Const(outputRowBytes).op('i32.mul').op('i32.add').set(l.c);
      for (let r = 0; r < rows; r++) {
        const inverse = this.v128('inverse');
        f.get(l.header)
          .mem('v128.load32_splat', { offset: INVERSE_SUMS_OFFSET + 4 * r })
          .set(inverse);
        lanes.forEach((n, h) => {
          f.get(accumulators[r]![h]!).get(inverse).op('f32x4.mul').set(accumulators[r]![h]!);
          storeLanes(f, () => f.get(l.c), r * outputRowBytes + (column + h * 4) * 4, n, accumulators[r]![h]!);
        });
      }
    }
  }

  /**
   * `count` steps of `body(i)` with i the step's offset from the running pointers: unrolled
   * `unroll` at a time in a loop that calls `advance(unroll)` after each round, the rest after.
   * Returns the steps the pointers were advanced by when the code has run.
   */
  private emitUnrolled(
    count: number,
    unroll: number,
    body: (i: number) => void,
    advance: (steps: number) => void,
  ): number {
    const { f } = this;
    if (count <= unroll) {
      for (let i = 0; i < count; i++) body(i);
      return 0;
    }
    const counter = this.i32('unrolled.counter');
    f.i32Const(Math.floor(count / unroll)).set(counter);
    f.loop(null, (next) => {
      for (let i = 0; i < unroll; i++) body(i);
      advance(unroll);
      f.get(counter).i32Const(1).op('i32.sub').tee(counter).brIf(next);
    });
    for (let i = 0; i < count % unroll; i++) body(i);
    return count - (count % unroll);
  }

  /** Pushes `lanes` floats from base + offset (zeros in the others), never reading past them. */
  private loadLanes(base: Local, offset: number, lanes: number): void {
    const { f } = this;
    f.get(base);
    if (lanes === 4) f.mem('v128.load', { offset, align: 4 });
    else if (lanes === 1) f.mem('v128.load32_zero', { offset, align: 4 });
    else {
      f.mem('v128.load64_zero', { offset, align: 4 });
      if (lanes === 3) {
        const low = this.v128('lanes.low');
        f.set(low)
          .get(base)
          .get(low)
          .memLane('v128.load32_lane', 2, { offset: offset + 8, align: 4 });
      }
    }
  }

  private madd(a: Local, b: Local, accumulator: Local): void {
    multiplyAdd(this.f, this.spec.relaxedSimd, a, b, accumulator);
  }

  private accumulators(rows: number, columns: number): Local[][] {
    return Array.from({ length: rows }, (_, r) =>
      Array.from({ length: columns }, (_, h) => this.v128(`acc${r}_${h}`)),
    );
  }

  private zero(accumulators: Local[][]): void {
    for (const row of accumulators) for (const acc of row) this.f.v128Const('i32x4', [0, 0, 0, 0]).set(acc);
  }

  private v128(name: string): Local {
    return namedLocal(this.f, 'v128', name);
  }

  private i32(name: string): Local {
    return namedLocal(this.f, 'i32', name);
  }
}

/** The lanes of each vector covering `count` (1..8) floats: 5 → [4, 1]. */
function laneCounts(count: number): number[] {
  return [count, count - 4].filter((n) => n > 0).map((n) => Math.min(n, 4));
}

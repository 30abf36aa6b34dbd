/**
 * Transcendental functions as generated f32x4 code: exp, expm1, log, tanh, sigmoid, softplus, erf
 * and the two GELUs, each replacing the vector on top of the stack with the function of its four
 * lanes. They are reduced to a small interval and a polynomial there (coefficients fitted for
 * these intervals as minimax approximations in float64, then rounded to float32), give results
 * within a few ulp of the correctly rounded float32 value over the whole range, and treat NaN, ±0
 * and ±Infinity as `Math.*` does. Each needs only SIMD128 (no relaxed instructions), so the same
 * input gives the same bits on every host and thread.
 *
 * Temporaries are v128 locals named per function (`exp.x`, `erf.a`, ...), made on first use and
 * reused by every later emission in the same function: a function's value is dead once the
 * emission that set it has left its result on the stack, and functions that call one another
 * (sigmoid calls exp) use different names. The generators of larger kernels (attention, the
 * recurrence) keep their own named locals in the same registry (`namedLocal`), and share the
 * multiply-add of their dot products (`multiplyAdd`) and the making of their exported functions,
 * whose parameters are all i32 addresses, sizes and tile bounds (`i32Function`), their shuffles'
 * lane lists (`floatLanes`), the folding of a row's accumulators into one value
 * (`foldAccumulators`), their partial-vector stores (`storeLanes`) and transposes
 * (`storeTransposed4x4`).
 */

import type { FunctionBuilder, Local, ModuleBuilder } from '../assembler/index.js';

const LOG2E = Math.LOG2E;
/** ln 2 split so that n·LN2_HIGH is exact for the exponents of float32 (Cody and Waite). */
const LN2_HIGH = 0.693359375;
const LN2_LOW = -2.1219444005469057e-4;
/** 1.5·2^23: a float below 2^22 in magnitude added to it is rounded to an integer, kept in its low bits. */
const ROUNDING_MAGIC = 12582912;
const ROUNDING_MAGIC_BITS = 0x4b400000;
/** exp overflows above this and underflows to 0 below EXP_LOWEST; clamping keeps 2^n in range. */
const EXP_HIGHEST = 89;
const EXP_LOWEST = -104;
/** e^r = 1 + r + r²·P(r) for |r| ≤ ln2/2; P lowest degree first. */
const EXP_POLYNOMIAL = [
  0.4999999341100954, 0.1666652008769936, 0.04166839450040316, 0.008368782893134974, 0.0013814458469489782,
];
/** log(1 + f) = f - f²/2 + f³·P(f) for f in [√½ - 1, √2 - 1]. */
const LOG_POLYNOMIAL = [
  0.3333333170433025, -0.2500082117683555, 0.2000122735743595, -0.16623352232141647, 0.14201741932741185,
  -0.13160219115775282, 0.12761719074895578, -0.07634579707887015,
];
/** The bits of √½: subtracting them from a float's bits splits it as 2^e·m with m in [√½, √2). */
const SQRT_HALF_BITS = 0x3f3504f3;
const SMALLEST_NORMAL = 1.1754943508222875e-38;
/** tanh(x) = x + x³·P(x²) for |x| < TANH_SERIES_LIMIT; beyond it, 1 - 2/(e^(2|x|) + 1) loses nothing. */
const TANH_SERIES_LIMIT = 0.625;
const TANH_POLYNOMIAL = [
  -0.33333281934687137, 0.1333144198522254, -0.05373969620268826, 0.02063902225487761, -0.005704910835942425,
];
/**
 * erf(a) = a·P(a²) for a < ERF_SERIES_LIMIT; above it erfc(a) = t·e^(Q(t) - a²) with
 * t = 1/(1 + a/2), accurate in relative terms out to where it underflows (a ≈ 10).
 */
const ERF_SERIES_LIMIT = 0.875;
const ERF_POLYNOMIAL = [
  1.128379166869342, -0.37612636065407556, 0.11283732996752394, -0.026861584334068003, 0.005206746395302997,
  -0.0008211090731849446, 8.675329004047966e-5,
];
const ERFC_POLYNOMIAL = [
  -1.2654876165553404, 0.9994253722892659, 0.38049045478569876, 0.05648219251945699, -0.020702317824270344,
  -0.1770247305760628, -0.30649898833432837, 0.5412895318262555, -0.2088719841401916,
];
/** Above this exponent e^x - 1 is e^x in float32, and the split form of expm1 could overflow early. */
const EXPM1_EXP_ABOVE = 24;

const locals = new WeakMap<FunctionBuilder, Map<string, Local>>();

/** The function's local called `name`, made (of `type`) on first use. */
export function namedLocal(f: FunctionBuilder, type: 'v128' | 'i32', name: string): Local {
  let named = locals.get(f);
  if (!named) locals.set(f, (named = new Map()));
  let local = named.get(name);
  if (!local) named.set(name, (local = f.local(type, name)));
  return local;
}

/** The function's v128 temporary called `name`, made on first use. */
export function v128Temp(f: FunctionBuilder, name: string): Local {
  return namedLocal(f, 'v128', name);
}

/**
 * Adds function `name` to `module`, exported unless told otherwise, its parameters the i32s
 * `params`; returns it with its parameters as a tuple of the names' length, for destructuring.
 */
export function i32Function<const Names extends readonly string[]>(
  module: ModuleBuilder,
  name: string,
  params: Names,
  { exported = true }: { exported?: boolean } = {},
): { f: FunctionBuilder; params: { readonly [P in keyof Names]: Local } } {
  const f = module.function(name, {
    params: params.map((param) => [param, 'i32'] as const),
    export: exported,
  });
  return { f, params: f.params as { readonly [P in keyof Names]: Local } };
}

/** accumulator += a·b, fused where relaxed SIMD allows. */
export function multiplyAdd(
  f: FunctionBuilder,
  relaxed: boolean,
  a: Local,
  b: Local,
  accumulator: Local,
): void {
  if (relaxed) f.get(a).get(b).get(accumulator).op('f32x4.relaxed_madd').set(accumulator);
  else f.get(a).get(b).op('f32x4.mul').get(accumulator).op('f32x4.add').set(accumulator);
}

/** i8x16.shuffle's byte indices for f32 lanes `lanes` (0-3 from the first vector, 4-7 from the second). */
export function floatLanes(lanes: readonly number[]): number[] {
  return lanes.flatMap((lane) => [4 * lane, 4 * lane + 1, 4 * lane + 2, 4 * lane + 3]);
}

/**
 * Folds `accumulators` into the first with `op`, then the first's four lanes into every lane of it:
 * the reduction of a row (`forEachInRow` in elementwise.ts visits one).
 */
export function foldAccumulators(
  f: FunctionBuilder,
  accumulators: readonly Local[],
  op: 'f32x4.add' | 'f32x4.max' | 'f32x4.min' | 'f32x4.mul' | 'f32x4.pmax',
): void {
  const [first, ...others] = accumulators as [Local, ...Local[]];
  for (const other of others) f.get(first).get(other).op(op).set(first);
  for (const swap of [
    [2, 3, 0, 1],
    [1, 0, 3, 2],
  ]) {
    f.get(first).get(first).get(first).shuffle(floatLanes(swap)).op(op).set(first);
  }
}

/** Stores the first `lanes` (1-4) floats of `vector` at the address `address` pushes, plus `offset`. */
export function storeLanes(
  f: FunctionBuilder,
  address: () => void,
  offset: number,
  lanes: number,
  vector: Local,
): void {
  address();
  if (lanes === 4) f.get(vector).mem('v128.store', { offset, align: 4 });
  else if (lanes === 1) f.get(vector).memLane('v128.store32_lane', 0, { offset, align: 4 });
  else {
    f.get(vector).memLane('v128.store64_lane', 0, { offset, align: 4 });
    if (lanes === 3) {
      address();
      f.get(vector).memLane('v128.store32_lane', 2, { offset: offset + 8, align: 4 });
    }
  }
}

/**
 * A 4×4 transpose of f32 lanes in two rounds of shuffles, each step (first vector, second vector,
 * lanes picked from the pair, 4-7 being the second's): rows 0-3 → interleaved pairs → columns.
 */
const TRANSPOSE_INTERLEAVE = [
  [0, 1, [0, 4, 1, 5]],
  [0, 1, [2, 6, 3, 7]],
  [2, 3, [0, 4, 1, 5]],
  [2, 3, [2, 6, 3, 7]],
] as const;
const TRANSPOSE_GATHER = [
  [0, 2, [0, 1, 4, 5]],
  [0, 2, [2, 3, 6, 7]],
  [1, 3, [0, 1, 4, 5]],
  [1, 3, [2, 3, 6, 7]],
] as const;

/**
 * Stores the transpose of the four f32x4 `rows`: column i (lane i of each row) at the address
 * `address` pushes plus `offsetOf(i)`. `pairs` are four v128 locals it may overwrite.
 */
export function storeTransposed4x4(
  f: FunctionBuilder,
  rows: readonly Local[],
  pairs: readonly Local[],
  address: () => void,
  offsetOf: (column: number) => number,
): void {
  TRANSPOSE_INTERLEAVE.forEach(([x, y, picks], i) => {
    f.get(rows[x]!).get(rows[y]!).shuffle(floatLanes(picks)).set(pairs[i]!);
  });
  TRANSPOSE_GATHER.forEach(([x, y, picks], i) => {
    address();
    f.get(pairs[x]!)
      .get(pairs[y]!)
      .shuffle(floatLanes(picks))
      .mem('v128.store', { offset: offsetOf(i) });
  });
}

/** Pushes `value` in all four f32 lanes. */
export function splat(f: FunctionBuilder, value: number): FunctionBuilder {
  return f.v128Const('f32x4', [value, value, value, value]);
}

function splatInt(f: FunctionBuilder, value: number): FunctionBuilder {
  return f.v128Const('i32x4', [value, value, value, value]);
}

/** Pushes P(t), coefficients lowest degree first (Horner's rule). */
function polynomial(f: FunctionBuilder, t: Local, coefficients: readonly number[]): FunctionBuilder {
  splat(f, coefficients[coefficients.length - 1]!);
  for (let k = coefficients.length - 2; k >= 0; k--)
    splat(f.get(t).op('f32x4.mul'), coefficients[k]!).op('f32x4.add');
  return f;
}

/** Replaces `result` (v128) where lanes of the mask on the stack are set by `value`. */
function replaceWhere(f: FunctionBuilder, result: Local, value: number): void {
  const mask = v128Temp(f, 'math.mask');
  f.set(mask);
  splat(f, value).get(result).get(mask).op('v128.bitselect').set(result);
}

/**
 * The shared part of exp and expm1: x (on the stack) = n·ln2 + r with |r| ≤ ln2/2; sets `n`
 * (n as floats), `p` = e^r - 1 and the two factors `s1`·`s2` = 2^n (two, so that neither leaves
 * the normal range while their product may overflow or be subnormal).
 */
function expParts(f: FunctionBuilder): { n: Local; p: Local; s1: Local; s2: Local } {
  const x = v128Temp(f, 'exp.x');
  const n = v128Temp(f, 'exp.n');
  const r = v128Temp(f, 'exp.r');
  const p = v128Temp(f, 'exp.p');
  const s1 = v128Temp(f, 'exp.s1');
  const s2 = v128Temp(f, 'exp.s2');
  // pmax/pmin keep a NaN in their first operand, so NaN flows through to the result.
  splat(splat(f, EXP_LOWEST).op('f32x4.pmax'), EXP_HIGHEST).op('f32x4.pmin').tee(x);
  // n = round(x·log2e): adding 1.5·2^23 rounds to an integer in the low mantissa bits, which are
  // then n as an integer too (cheaper than f32x4.nearest and i32x4.trunc_sat).
  splat(f, LOG2E).op('f32x4.mul');
  splat(f, ROUNDING_MAGIC).op('f32x4.add').tee(s2);
  splat(f, ROUNDING_MAGIC).op('f32x4.sub').set(n);
  splat(f.get(x).get(n), LN2_HIGH).op('f32x4.mul').op('f32x4.sub');
  splat(f.get(n), LN2_LOW).op('f32x4.mul').op('f32x4.sub').set(r);
  polynomial(f, r, EXP_POLYNOMIAL)
    .get(r)
    .get(r)
    .op('f32x4.mul')
    .op('f32x4.mul')
    .get(r)
    .op('f32x4.add')
    .set(p);
  splatInt(f.get(s2), ROUNDING_MAGIC_BITS).op('i32x4.sub').tee(s2).i32Const(1).op('i32x4.shr_s').set(s1);
  f.get(s2).get(s1).op('i32x4.sub').set(s2);
  splatInt(f.get(s1), 127).op('i32x4.add').i32Const(23).op('i32x4.shl').set(s1);
  splatInt(f.get(s2), 127).op('i32x4.add').i32Const(23).op('i32x4.shl').set(s2);
  return { n, p, s1, s2 };
}

/** e^x. */
export function emitExp(f: FunctionBuilder): void {
  const { p, s1, s2 } = expParts(f);
  splat(f.get(p), 1).op('f32x4.add').get(s1).op('f32x4.mul').get(s2).op('f32x4.mul');
}

/**
 * e^x - 1 as 2^n·(e^r - 1) + (2^n - 1), which keeps the digits that e^x - 1 cancels near 0; for
 * large x, where 2^n alone may overflow before the result does, e^x itself.
 */
export function emitExpm1(f: FunctionBuilder): void {
  const { n, p, s1, s2 } = expParts(f);
  const scale = v128Temp(f, 'expm1.scale');
  f.get(s1).get(s2).op('f32x4.mul').set(scale);
  splat(f.get(p).get(scale).op('f32x4.mul').get(scale), 1).op('f32x4.sub').op('f32x4.add');
  splat(f.get(p), 1).op('f32x4.add').get(s1).op('f32x4.mul').get(s2).op('f32x4.mul');
  splat(f.get(n), EXPM1_EXP_ABOVE).op('f32x4.le').op('v128.bitselect');
}

/** log(x): NaN below 0 and for NaN, -Infinity at ±0, Infinity at Infinity. */
export function emitLog(f: FunctionBuilder): void {
  const x = v128Temp(f, 'log.x');
  const subnormal = v128Temp(f, 'log.subnormal');
  const e = v128Temp(f, 'log.e');
  const m = v128Temp(f, 'log.m');
  const z = v128Temp(f, 'log.z');
  splat(f.tee(x), SMALLEST_NORMAL).op('f32x4.lt').set(subnormal);
  // Subnormals are scaled into the normal range first (by 2^23), their exponent corrected after.
  splat(f.get(x), 2 ** 23)
    .op('f32x4.mul')
    .get(x)
    .get(subnormal)
    .op('v128.bitselect')
    .tee(m);
  splatInt(f, SQRT_HALF_BITS).op('i32x4.sub').i32Const(23).op('i32x4.shr_s').set(e);
  splat(f.get(m).get(e).i32Const(23).op('i32x4.shl').op('i32x4.sub'), 1).op('f32x4.sub').set(m);
  splatInt(f.get(e).get(subnormal), 23).op('v128.and').op('i32x4.sub').op('f32x4.convert_i32x4_s').set(e);
  f.get(m).get(m).op('f32x4.mul').set(z);
  polynomial(f, m, LOG_POLYNOMIAL).get(m).op('f32x4.mul').get(z).op('f32x4.mul');
  splat(f.get(e), LN2_LOW).op('f32x4.mul').op('f32x4.add');
  splat(f.get(z), 0.5).op('f32x4.mul').op('f32x4.sub');
  f.get(m).op('f32x4.add');
  splat(f.get(e), LN2_HIGH).op('f32x4.mul').op('f32x4.add').set(z);
  replaceWhere(splat(f.get(x), Infinity).op('f32x4.eq'), z, Infinity);
  replaceWhere(splat(f.get(x), 0).op('f32x4.eq'), z, -Infinity);
  f.get(z);
  splat(f, NaN).get(x);
  splat(f, 0).op('f32x4.ge').op('v128.bitselect');
}

/** tanh(x): an odd polynomial near 0, elsewhere 1 - 2/(e^(2|x|) + 1) with x's sign. */
export function emitTanh(f: FunctionBuilder): void {
  const x = v128Temp(f, 'tanh.x');
  const z = v128Temp(f, 'tanh.z');
  const far = v128Temp(f, 'tanh.far');
  f.tee(x).op('f32x4.abs').tee(far).get(far).op('f32x4.add');
  emitExp(f);
  splat(f, 1).op('f32x4.add').set(far);
  splat(f, 1);
  splat(f, 2).get(far).op('f32x4.div').op('f32x4.sub');
  withSignOf(f, x).set(far);
  f.get(x).get(x).op('f32x4.mul').set(z);
  polynomial(f, z, TANH_POLYNOMIAL).get(z).op('f32x4.mul').get(x).op('f32x4.mul').get(x).op('f32x4.add');
  splat(f.get(far).get(x).op('f32x4.abs'), TANH_SERIES_LIMIT).op('f32x4.lt').op('v128.bitselect');
}

/** Gives the non-negative vector on the stack the signs of `x`. */
function withSignOf(f: FunctionBuilder, x: Local): FunctionBuilder {
  return splat(f.get(x), -0).op('v128.and').op('v128.or');
}

/**
 * 1/(1 + e^-x), as e^x/(1 + e^x) for negative x: both from e^-|x|, which never overflows, so the
 * result keeps its relative accuracy down to the subnormals.
 */
export function emitSigmoid(f: FunctionBuilder): void {
  const x = v128Temp(f, 'sigmoid.x');
  const e = v128Temp(f, 'sigmoid.e');
  const s = v128Temp(f, 'sigmoid.s');
  f.tee(x).op('f32x4.abs').op('f32x4.neg');
  emitExp(f);
  f.set(e);
  splat(f, 1).get(e);
  splat(f, 1).op('f32x4.add').op('f32x4.div').tee(s);
  f.get(e).get(s).op('f32x4.mul').get(x);
  splat(f, 0).op('f32x4.ge').op('v128.bitselect');
}

/**
 * log(1 + e^x) as max(x, 0) + log1p(e^-|x|), with log1p(u) = log(w) + (u - (w - 1))/w for
 * w = 1 + u: the correction restores what rounding w lost (all of u when u is tiny).
 */
export function emitSoftplus(f: FunctionBuilder): void {
  const x = v128Temp(f, 'softplus.x');
  const u = v128Temp(f, 'softplus.u');
  const w = v128Temp(f, 'softplus.w');
  f.tee(x).op('f32x4.abs').op('f32x4.neg');
  emitExp(f);
  splat(f.tee(u), 1).op('f32x4.add').tee(w);
  emitLog(f);
  splat(f.get(u).get(w), 1).op('f32x4.sub').op('f32x4.sub').get(w).op('f32x4.div').op('f32x4.add');
  splat(f.get(x), 0).op('f32x4.pmax').op('f32x4.add');
}

/**
 * The pieces erf is made of, for a = |x| (x on the stack): `series` = erf(a) near 0, `tail` =
 * erfc(a) away from it, and `near`, the mask of the lanes where the series applies.
 */
function erfParts(f: FunctionBuilder): { series: Local; tail: Local; near: Local } {
  const a = v128Temp(f, 'erf.a');
  const z = v128Temp(f, 'erf.z');
  const t = v128Temp(f, 'erf.t');
  const series = v128Temp(f, 'erf.series');
  const tail = v128Temp(f, 'erf.tail');
  const near = v128Temp(f, 'erf.near');
  f.op('f32x4.abs').tee(a).get(a).op('f32x4.mul').set(z);
  polynomial(f, z, ERF_POLYNOMIAL).get(a).op('f32x4.mul').set(series);
  splat(f, 1).get(a);
  splat(f, 0.5).op('f32x4.mul');
  splat(f, 1).op('f32x4.add').op('f32x4.div').set(t);
  polynomial(f, t, ERFC_POLYNOMIAL).get(z).op('f32x4.sub');
  emitExp(f);
  f.get(t).op('f32x4.mul').set(tail);
  splat(f.get(a), ERF_SERIES_LIMIT).op('f32x4.lt').set(near);
  return { series, tail, near };
}

/** erf(x). */
export function emitErf(f: FunctionBuilder): void {
  const x = v128Temp(f, 'erf.x');
  const { series, tail, near } = erfParts(f.tee(x));
  f.get(series);
  splat(f, 1).get(tail).op('f32x4.sub').get(near).op('v128.bitselect');
  withSignOf(f, x);
}

/**
 * GELU, erf form: x·Φ(x) with Φ(x) = (1 + erf(x/√2))/2 from a rational approximation of erf: one
 * division and two short polynomials, a third of the cost of the accurate erf, because GELU runs on
 * every element of the transformers' widest activations (often in a GEMM's epilogue). Φ is within
 * 2.5e-7 of the exact value (about 2 ulp of x·Φ for x > 0; for x below -3 the tiny outputs are
 * correct only to that absolute error), never negative, so the sign of x is kept.
 */
export function emitGelu(f: FunctionBuilder): void {
  const x = v128Temp(f, 'gelu.x');
  const c = v128Temp(f, 'gelu.c');
  const z = v128Temp(f, 'gelu.z');
  splat(f.tee(x), -GELU_CLAMP).op('f32x4.pmax');
  splat(f, GELU_CLAMP).op('f32x4.pmin').tee(c).get(c).op('f32x4.mul').set(z);
  polynomial(f, z, GELU_NUMERATOR).get(c).op('f32x4.mul');
  polynomial(f, z, GELU_DENOMINATOR).op('f32x4.div');
  splat(f, 0.5).op('f32x4.add');
  splat(f, 0).op('f32x4.pmax');
  // Below the clamp Φ is under 1e-8: exactly 0 there, so x·Φ is -0 for huge negative x (not the
  // approximation's error times x) and NaN for -∞, as the exact formula gives.
  splat(f.get(x), -GELU_CLAMP).op('f32x4.lt').op('v128.andnot');
  f.get(x).op('f32x4.mul');
}

/**
 * erf(u) ≈ u·P(u²)/Q(u²) for |u| ≤ 4 (a rational minimax fit, absolute error below 4e-7 in
 * float32; erf(4) is 1 in float32): GELU's Φ(x) = 1/2 + erf(x/√2)/2 with the scalings of x
 * folded into the coefficients.
 */
const ERF_RATIONAL_NUMERATOR = [
  1.1283791896668893, 0.18422263487049703, 0.05439799724081807, 0.0038365418164201526, 0.0003879717029003848,
  4.932303956069542e-6, -1.4412805643404525e-8,
];
const ERF_RATIONAL_DENOMINATOR = [
  1.0, 0.49659669794534655, 0.11373986132550942, 0.015465921958370415, 0.0013160787440645656,
  6.544887950992936e-5,
];
const GELU_CLAMP = 4 * Math.SQRT2;
const GELU_NUMERATOR = ERF_RATIONAL_NUMERATOR.map((c, k) => c / (2 * Math.SQRT2 * 2 ** k));
const GELU_DENOMINATOR = ERF_RATIONAL_DENOMINATOR.map((c, k) => c / 2 ** k);

/**
 * GELU, tanh form: x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³))), computed as x·sigmoid(2·(...)),
 * the same value without the cancellation of 1 + tanh for negative x.
 */
export function emitFastGelu(f: FunctionBuilder): void {
  const x = v128Temp(f, 'fastgelu.x');
  const scale = 2 * Math.sqrt(2 / Math.PI);
  f.tee(x).get(x).op('f32x4.mul');
  splat(f, scale * 0.044715).op('f32x4.mul');
  splat(f, scale).op('f32x4.add').get(x).op('f32x4.mul');
  emitSigmoid(f);
  f.get(x).op('f32x4.mul');
}

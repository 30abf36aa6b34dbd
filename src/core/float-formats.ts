/**
 * Conversions between JS numbers and the bit patterns of the narrow float formats that Heddle
 * stores as integers: float16, bfloat16, the four float8 formats of ONNX (e4m3fn, e4m3fnuz, e5m2,
 * e5m2fnuz), float8e8m0 (a bare power of two) and float4e2m1. Rounding is to nearest, ties to even,
 * as IEEE 754 and ONNX's Cast specify; float8e8m0 has its own rounding modes.
 *
 * Out-of-range values follow ONNX's `saturate` rules: by default they clamp to the largest finite
 * value; the non-saturating encoders turn them into infinity where the format has one, NaN otherwise.
 */

import type { DataType } from './dtype.js';

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

export function float32Bits(value: number): number {
  f32Scratch[0] = value;
  return u32Scratch[0]!;
}

export function float32FromBits(bits: number): number {
  u32Scratch[0] = bits;
  return f32Scratch[0]!;
}

export function float16ToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Rounds a number (first to float32, as every runtime does) to the nearest float16. */
export function numberToFloat16(value: number): number {
  const x = float32Bits(value);
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const unbiased = exponent - 127;
  if (unbiased > 15) return sign | 0x7c00;
  if (unbiased >= -14) {
    // Normal half: keep 10 mantissa bits, round the 13 dropped bits to nearest even.
    let half = ((unbiased + 15) << 10) | (mantissa >> 13);
    const dropped = mantissa & 0x1fff;
    if (dropped > 0x1000 || (dropped === 0x1000 && half & 1)) half += 1;
    return sign | half;
  }
  if (unbiased < -25) return sign;
  // Subnormal half: shift the implicit bit in, then round.
  mantissa |= 0x800000;
  const shift = -unbiased - 14 + 13;
  let half = mantissa >> shift;
  const droppedMask = (1 << shift) - 1;
  const dropped = mantissa & droppedMask;
  const halfway = 1 << (shift - 1);
  if (dropped > halfway || (dropped === halfway && half & 1)) half += 1;
  return sign | half;
}

export function bfloat16ToNumber(bits: number): number {
  return float32FromBits(bits << 16);
}

export function numberToBfloat16(value: number): number {
  const x = float32Bits(value);
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff;
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

/**
 * How a small float format spends its top bit patterns. 'ieee': an all-ones exponent holds the
 * infinities and NaNs. 'fn' (finite): no infinities, only S.1111.111 is NaN. 'fnuz' (finite,
 * unsigned zero): no infinities and no negative zero; the pattern of -0 is the one NaN. 'finite':
 * neither infinities nor NaN.
 */
type SpecialValues = 'ieee' | 'fn' | 'fnuz' | 'finite';

interface MinifloatLayout {
  readonly exponentBits: number;
  readonly mantissaBits: number;
  readonly bias: number;
  readonly special: SpecialValues;
}

const E4M3FN: MinifloatLayout = { exponentBits: 4, mantissaBits: 3, bias: 7, special: 'fn' };
const E4M3FNUZ: MinifloatLayout = { exponentBits: 4, mantissaBits: 3, bias: 8, special: 'fnuz' };
const E5M2: MinifloatLayout = { exponentBits: 5, mantissaBits: 2, bias: 15, special: 'ieee' };
const E5M2FNUZ: MinifloatLayout = { exponentBits: 5, mantissaBits: 2, bias: 16, special: 'fnuz' };
const E2M1: MinifloatLayout = { exponentBits: 2, mantissaBits: 1, bias: 1, special: 'finite' };

function signBitOf(layout: MinifloatLayout): number {
  return 1 << (layout.exponentBits + layout.mantissaBits);
}

/** The magnitude bits (sign excluded) of the largest finite value. */
function maxFiniteBits(layout: MinifloatLayout): number {
  const allOnes = signBitOf(layout) - 1;
  switch (layout.special) {
    case 'ieee':
      return allOnes - (1 << layout.mantissaBits);
    case 'fn':
      return allOnes - 1;
    default:
      return allOnes;
  }
}

function isNaNBits(layout: MinifloatLayout, bits: number): boolean {
  const signBit = signBitOf(layout);
  const magnitude = bits & (signBit - 1);
  switch (layout.special) {
    case 'ieee':
      return magnitude > maxFiniteBits(layout) + 1;
    case 'fn':
      return magnitude === signBit - 1;
    case 'fnuz':
      return bits === signBit;
    case 'finite':
      return false;
  }
}

function decodeMinifloat(layout: MinifloatLayout, bits: number): number {
  if (isNaNBits(layout, bits)) return NaN;
  const signBit = signBitOf(layout);
  const sign = bits & signBit ? -1 : 1;
  const magnitude = bits & (signBit - 1);
  if (layout.special === 'ieee' && magnitude === maxFiniteBits(layout) + 1) return sign * Infinity;
  const exponent = magnitude >> layout.mantissaBits;
  const mantissa = magnitude & ((1 << layout.mantissaBits) - 1);
  const fraction = mantissa / (1 << layout.mantissaBits);
  if (exponent === 0) return sign * fraction * 2 ** (1 - layout.bias);
  return sign * (1 + fraction) * 2 ** (exponent - layout.bias);
}

/** Every value of a format, indexed by bit pattern: decoding is a table look-up. */
function decodeTable(layout: MinifloatLayout): Float64Array {
  const table = new Float64Array(signBitOf(layout) * 2);
  for (let bits = 0; bits < table.length; bits++) table[bits] = decodeMinifloat(layout, bits);
  return table;
}

function roundHalfToEven(x: number): number {
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest > 0.5 || (rest === 0.5 && floor % 2 === 1)) return floor + 1;
  return floor;
}

/** The exponent e with 2^e <= x < 2^(e+1), for a positive finite x. */
function binaryExponent(x: number): number {
  let e = Math.floor(Math.log2(x));
  // log2 may land one off next to a power of two.
  if (2 ** e > x) e--;
  else if (2 ** (e + 1) <= x) e++;
  return e;
}

/**
 * Rounds `value` (exactly, from its double) to the nearest value of the format, ties to even.
 * Out of range it saturates to the largest finite value, or (saturate=false) becomes infinity
 * where the format has it and NaN where it does not. A 'finite' format always saturates.
 */
function encodeMinifloat(layout: MinifloatLayout, value: number, saturate: boolean): number {
  const signBit = signBitOf(layout);
  const maxBits = maxFiniteBits(layout);
  const nanBits = nanBitsOf(layout);
  if (Number.isNaN(value)) return nanBits;
  const sign = value < 0 || Object.is(value, -0) ? signBit : 0;
  const overflowBits =
    saturate || layout.special === 'finite' ? sign | maxBits : overflowBitsOf(layout, sign);
  const magnitude = Math.abs(value);
  if (magnitude === Infinity) return overflowBits;
  if (magnitude === 0) return layout.special === 'fnuz' ? 0 : sign;
  // Values below the smallest normal share its quantum: they become subnormals.
  const exponent = Math.max(binaryExponent(magnitude), 1 - layout.bias);
  const implicitOne = 1 << layout.mantissaBits;
  const scaled = roundHalfToEven(magnitude / 2 ** (exponent - layout.mantissaBits));
  // A mantissa that rounded up to 2^(M+1) carries into the exponent; the bit layout absorbs it.
  const bits =
    scaled >= implicitOne ? ((exponent + layout.bias) << layout.mantissaBits) + scaled - implicitOne : scaled;
  if (bits > maxBits) return overflowBits;
  if (bits === 0 && layout.special === 'fnuz') return 0;
  return sign | bits;
}

function nanBitsOf(layout: MinifloatLayout): number {
  const signBit = signBitOf(layout);
  switch (layout.special) {
    case 'ieee':
      // The quiet NaN: all-ones exponent, top mantissa bit set.
      return (signBit - 1) ^ ((1 << (layout.mantissaBits - 1)) - 1);
    case 'fn':
      return signBit - 1;
    case 'fnuz':
      return signBit;
    case 'finite':
      // No NaN to give: ONNX's reference (ml_dtypes) writes the pattern of -0.
      return signBit;
  }
}

/** What a non-saturating cast gives for an out-of-range value. */
function overflowBitsOf(layout: MinifloatLayout, sign: number): number {
  switch (layout.special) {
    case 'ieee':
      return sign | (maxFiniteBits(layout) + 1);
    case 'fn':
      return sign | nanBitsOf(layout);
    default:
      return nanBitsOf(layout);
  }
}

function minifloatCodec(layout: MinifloatLayout): {
  decode: (bits: number) => number;
  saturating: (value: number) => number;
  nonSaturating: (value: number) => number;
} {
  const table = decodeTable(layout);
  return {
    // The mask keeps a stray high bit (a 4-bit value held in a byte) from reading past the table.
    decode: (bits) => table[bits & (table.length - 1)]!,
    saturating: (value) => encodeMinifloat(layout, value, true),
    nonSaturating: (value) => encodeMinifloat(layout, value, false),
  };
}

const float8e4m3fn = minifloatCodec(E4M3FN);
const float8e4m3fnuz = minifloatCodec(E4M3FNUZ);
const float8e5m2 = minifloatCodec(E5M2);
const float8e5m2fnuz = minifloatCodec(E5M2FNUZ);
const float4e2m1 = minifloatCodec(E2M1);

export const float8e4m3fnToNumber = float8e4m3fn.decode;
export const float8e4m3fnuzToNumber = float8e4m3fnuz.decode;
export const float8e5m2ToNumber = float8e5m2.decode;
export const float8e5m2fnuzToNumber = float8e5m2fnuz.decode;
export const float4e2m1ToNumber = float4e2m1.decode;

/** Encoders that clamp out-of-range values to the largest finite value (ONNX's default). */
export const numberToFloat8e4m3fn = float8e4m3fn.saturating;
export const numberToFloat8e4m3fnuz = float8e4m3fnuz.saturating;
export const numberToFloat8e5m2 = float8e5m2.saturating;
export const numberToFloat8e5m2fnuz = float8e5m2fnuz.saturating;
export const numberToFloat4e2m1 = float4e2m1.saturating;

/** float8e8m0 is 2^(bits - 127) with no sign, no zero and no mantissa; 0xff is NaN. */
export function float8e8m0ToNumber(bits: number): number {
  return bits === 0xff ? NaN : 2 ** (bits - 127);
}

/** float8e8m0's rounding modes: up and down move away from and towards zero, nearest ties up. */
export type E8m0RoundMode = 'up' | 'down' | 'nearest';

/**
 * Rounds a number (first to float32, as ONNX's reference does) to a power of two. The sign is
 * dropped: the format has none. Infinity and NaN become NaN; a value that rounds past the largest
 * power, 2^127, saturates to it or (saturate=false) becomes NaN.
 */
export function numberToFloat8e8m0(value: number, roundMode: E8m0RoundMode = 'up', saturate = true): number {
  const x = float32Bits(value);
  const exponent = (x >>> 23) & 0xff;
  if (exponent === 0xff) return 0xff;
  const fraction = x & 0x7fffff;
  const roundsUp = e8m0RoundsUp(exponent, fraction, roundMode);
  if (!roundsUp) return exponent;
  if (exponent === 0xfe) return saturate ? 0xfe : 0xff;
  return exponent + 1;
}

function e8m0RoundsUp(exponent: number, fraction: number, roundMode: E8m0RoundMode): boolean {
  switch (roundMode) {
    case 'up':
      return fraction !== 0;
    case 'down':
      return false;
    case 'nearest':
      // A normal 2^e·(1 + f) is nearer 2^(e+1) from f = 1/2 on. A float32 subnormal f·2^-126 lies
      // between 2^-127 (code 0) and 2^-126 (code 1), whose midpoint is f = 3/4.
      return exponent > 0 ? fraction >= 0x400000 : fraction >= 0x600000;
  }
}

export interface NarrowFloatCodec {
  /** Bit pattern → value. */
  decode: (bits: number) => number;
  /** Value → bit pattern, rounded to nearest even (and saturated where the format says so). */
  encode: (value: number) => number;
}

/** The codec of each narrow float format Heddle stores as bits. */
export const NARROW_FLOAT_CODECS: Partial<Record<DataType, NarrowFloatCodec>> = {
  float16: { decode: float16ToNumber, encode: numberToFloat16 },
  bfloat16: { decode: bfloat16ToNumber, encode: numberToBfloat16 },
  float8e4m3fn: { decode: float8e4m3fnToNumber, encode: numberToFloat8e4m3fn },
  float8e4m3fnuz: { decode: float8e4m3fnuzToNumber, encode: numberToFloat8e4m3fnuz },
  float8e5m2: { decode: float8e5m2ToNumber, encode: numberToFloat8e5m2 },
  float8e5m2fnuz: { decode: float8e5m2fnuzToNumber, encode: numberToFloat8e5m2fnuz },
  float8e8m0: { decode: float8e8m0ToNumber, encode: (value) => numberToFloat8e8m0(value) },
  float4e2m1: { decode: float4e2m1ToNumber, encode: numberToFloat4e2m1 },
};

/**
 * Encoders for Cast with saturate=0: out-of-range values become infinity or NaN. Only the float8
 * formats have one; float4e2m1, which can hold neither, always saturates.
 */
export const NON_SATURATING_ENCODERS: Partial<Record<DataType, (value: number) => number>> = {
  float8e4m3fn: float8e4m3fn.nonSaturating,
  float8e4m3fnuz: float8e4m3fnuz.nonSaturating,
  float8e5m2: float8e5m2.nonSaturating,
  float8e5m2fnuz: float8e5m2fnuz.nonSaturating,
  float8e8m0: (value) => numberToFloat8e8m0(value, 'up', false),
};

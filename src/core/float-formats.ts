/**
 * Conversions between JS numbers and the bit patterns of the narrow float formats that Heddle
 * stores as integers. Rounding is to nearest, ties to even, as IEEE 754 and ONNX's Cast specify.
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
};

/** The narrow float codecs: exact values, ties to even, subnormals, saturation, NaN and zeros. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  NARROW_FLOAT_CODECS,
  NON_SATURATING_ENCODERS,
  float8e8m0ToNumber,
  numberToFloat8e8m0,
} from '../src/core/float-formats.js';
import type { DataType } from '../src/core/dtype.js';

function codec(type: DataType): { decode: (bits: number) => number; encode: (value: number) => number } {
  const found = NARROW_FLOAT_CODECS[type];
  assert.ok(found, `${type} has a codec`);
  return found;
}

function nonSaturating(type: DataType): (value: number) => number {
  const found = NON_SATURATING_ENCODERS[type];
  assert.ok(found, `${type} has a non-saturating encoder`);
  return found;
}

const SMALL_FORMATS: [DataType, number][] = [
  ['float8e4m3fn', 256],
  ['float8e4m3fnuz', 256],
  ['float8e5m2', 256],
  ['float8e5m2fnuz', 256],
  ['float4e2m1', 16],
];

test('every value of a small format encodes back to its own bit pattern', () => {
  for (const [type, count] of SMALL_FORMATS) {
    const { decode, encode } = codec(type);
    for (let bits = 0; bits < count; bits++) {
      const value = decode(bits);
      if (Number.isNaN(value)) continue;
      if (Math.abs(value) === Infinity) continue;
      assert.equal(encode(value), bits, `${type} 0x${bits.toString(16)} = ${value}`);
    }
  }
});

test('float8e4m3fn: range, NaN, negative zero and subnormals', () => {
  const { decode, encode } = codec('float8e4m3fn');
  assert.equal(decode(0x7e), 448);
  assert.ok(Number.isNaN(decode(0x7f)) && Number.isNaN(decode(0xff)));
  assert.ok(Object.is(decode(0x80), -0));
  assert.equal(decode(0x01), 2 ** -9, 'smallest subnormal');
  assert.equal(decode(0x08), 2 ** -6, 'smallest normal');
  assert.equal(encode(NaN), 0x7f);
  assert.equal(encode(-0), 0x80);
  assert.equal(encode(-1e-7), 0x80, 'underflow keeps the sign');
});

test('float8e4m3fn rounds ties to even, in normals and subnormals', () => {
  const { encode } = codec('float8e4m3fn');
  assert.equal(encode(1 + 1 / 16), 0x38, '1.0625 lies between 1 and 1.125: even is 1');
  assert.equal(encode(1 + 3 / 16), 0x3a, '1.1875 lies between 1.125 and 1.25: even is 1.25');
  assert.equal(encode(1 + 1 / 16 + 1e-9), 0x39, 'just above the tie rounds up');
  assert.equal(encode(2 ** -10), 0x00, 'half the smallest subnormal rounds to zero');
  assert.equal(encode(1.5 * 2 ** -10), 0x01);
  assert.equal(encode(3 * 2 ** -10), 0x02, 'tie between subnormals 1 and 2 goes to 2');
  assert.equal(encode(15.5 * 2 ** -10), 0x08, 'the largest subnormals round up into the smallest normal');
});

test('float8e4m3fn saturates by default and becomes NaN without saturation', () => {
  const { encode } = codec('float8e4m3fn');
  const exact = nonSaturating('float8e4m3fn');
  assert.equal(encode(1e6), 0x7e);
  assert.equal(encode(-1e6), 0xfe);
  assert.equal(encode(Infinity), 0x7e);
  assert.equal(encode(-Infinity), 0xfe);
  assert.equal(exact(464), 0x7e, '464 ties between 448 and the NaN slot: even is 448');
  assert.equal(exact(465), 0x7f);
  assert.equal(exact(-1e6), 0xff);
  assert.equal(exact(Infinity), 0x7f);
});

test('float8e4m3fnuz: one NaN, no negative zero', () => {
  const { decode, encode } = codec('float8e4m3fnuz');
  const exact = nonSaturating('float8e4m3fnuz');
  assert.equal(decode(0x7f), 240);
  assert.ok(Number.isNaN(decode(0x80)));
  assert.equal(decode(0xff), -240);
  assert.equal(decode(0x01), 2 ** -10);
  assert.equal(encode(-0), 0x00);
  assert.equal(encode(-1e-7), 0x00, 'a negative underflow must not produce the NaN pattern');
  assert.equal(encode(NaN), 0x80);
  assert.equal(encode(Infinity), 0x7f);
  assert.equal(encode(-Infinity), 0xff);
  assert.equal(exact(Infinity), 0x80);
  assert.equal(exact(-1e6), 0x80);
});

test('float8e5m2 has infinities', () => {
  const { decode, encode } = codec('float8e5m2');
  const exact = nonSaturating('float8e5m2');
  assert.equal(decode(0x7b), 57344);
  assert.equal(decode(0x7c), Infinity);
  assert.equal(decode(0xfc), -Infinity);
  assert.ok(Number.isNaN(decode(0x7d)) && Number.isNaN(decode(0xff)));
  assert.equal(decode(0x01), 2 ** -16);
  assert.equal(encode(Infinity), 0x7b);
  assert.equal(encode(-Infinity), 0xfb);
  assert.equal(encode(61440), 0x7b);
  assert.equal(exact(61440), 0x7c, '61440 ties between 57344 (odd) and infinity (even)');
  assert.equal(exact(-Infinity), 0xfc);
  assert.equal(exact(60000), 0x7b);
  assert.equal(encode(NaN), 0x7e, 'the quiet NaN');
});

test('float8e5m2fnuz', () => {
  const { decode, encode } = codec('float8e5m2fnuz');
  const exact = nonSaturating('float8e5m2fnuz');
  assert.equal(decode(0x7f), 57344);
  assert.ok(Number.isNaN(decode(0x80)));
  assert.equal(decode(0x01), 2 ** -17);
  assert.equal(encode(-0), 0x00);
  assert.equal(encode(1e9), 0x7f);
  assert.equal(exact(1e9), 0x80);
});

test('float4e2m1 always saturates and has no NaN', () => {
  const { decode, encode } = codec('float4e2m1');
  assert.deepEqual(
    Array.from({ length: 8 }, (_, bits) => decode(bits)),
    [0, 0.5, 1, 1.5, 2, 3, 4, 6],
  );
  assert.ok(Object.is(decode(0x8), -0));
  assert.equal(decode(0xf), -6);
  assert.equal(encode(0.25), 0x0, 'tie between 0 and 0.5');
  assert.equal(encode(0.75), 0x2, 'tie between 0.5 and 1');
  assert.equal(encode(5), 0x6, 'tie between 4 and 6');
  assert.equal(encode(-3.5), 0xe, 'tie between -3 and -4');
  assert.equal(encode(100), 0x7);
  assert.equal(encode(-Infinity), 0xf);
  assert.equal(encode(NaN), 0x8, 'NaN becomes the pattern of -0, as in ONNX reference data');
  assert.equal(NON_SATURATING_ENCODERS.float4e2m1, undefined);
});

test('float8e8m0: powers of two, rounding modes and saturation', () => {
  assert.equal(float8e8m0ToNumber(127), 1);
  assert.equal(float8e8m0ToNumber(0), 2 ** -127);
  assert.equal(float8e8m0ToNumber(0xfe), 2 ** 127);
  assert.ok(Number.isNaN(float8e8m0ToNumber(0xff)));
  assert.equal(numberToFloat8e8m0(1), 127);
  assert.equal(numberToFloat8e8m0(1.1), 128, 'up is the default');
  assert.equal(numberToFloat8e8m0(1.9, 'down'), 127);
  assert.equal(numberToFloat8e8m0(1.49, 'nearest'), 127);
  assert.equal(numberToFloat8e8m0(1.5, 'nearest'), 128, 'nearest ties go up');
  assert.equal(numberToFloat8e8m0(0), 0, 'zero has no code: the smallest power stands in');
  assert.equal(numberToFloat8e8m0(-4), 129, 'the sign is dropped');
  assert.equal(numberToFloat8e8m0(3 * 2 ** 126), 0xfe, 'saturates at 2^127');
  assert.equal(numberToFloat8e8m0(3 * 2 ** 126, 'up', false), 0xff);
  assert.equal(numberToFloat8e8m0(Infinity), 0xff);
  assert.equal(numberToFloat8e8m0(NaN), 0xff);
  assert.equal(codec('float8e8m0').encode(0.124), 124);
});

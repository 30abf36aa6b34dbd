/**
 * Type conversion: Cast, CastLike and BitCast. Cast converts between every pair of element types:
 * numbers, bool, strings both ways (parsed and printed as numpy does, since ONNX's expected data
 * comes from numpy), the float8/float4 formats with ONNX's `saturate` rules (and `round_mode` for
 * float8e8m0), and the 4- and 2-bit integers, which wrap like every integer target. 64-bit integers
 * go through BigInt so that values beyond 2^53 survive. BitCast reinterprets bit patterns.
 */

import {
  bitsOf,
  dataTypeFromOnnx,
  dataTypeFromOnnxName,
  isBigIntType,
  isComplexType,
  isIntegerType,
  isSignedInteger,
  type DataType,
  type TensorData,
} from '../../../core/dtype.js';
import {
  NON_SATURATING_ENCODERS,
  numberToFloat8e8m0,
  type E8m0RoundMode,
} from '../../../core/float-formats.js';
import type { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { narrowDecoder, narrowEncoder, toNumbers } from '../util.js';

interface CastOptions {
  /** Out-of-range values clamp to the largest finite float8 value (else become inf/NaN). */
  saturate: boolean;
  roundMode: E8m0RoundMode;
}

type Fail = (reason: string) => never;

function targetType(ctx: KernelContext): DataType {
  const attribute = ctx.attribute('to');
  if (attribute?.type === 'string') {
    return (
      dataTypeFromOnnxName(attribute.value) ?? ctx.fail(`'to' names an unknown type '${attribute.value}'`)
    );
  }
  const code = ctx.int('to');
  return dataTypeFromOnnx(code) ?? ctx.fail(`'to' is ${code}, which is not a known data type`);
}

function castOptions(ctx: KernelContext): CastOptions {
  const roundMode = ctx.string('round_mode', 'up');
  if (roundMode !== 'up' && roundMode !== 'down' && roundMode !== 'nearest') {
    ctx.fail(`round_mode must be 'up', 'down' or 'nearest', got '${roundMode}'`);
  }
  return { saturate: ctx.int('saturate', 1) !== 0, roundMode };
}

/** Cast and CastLike: `input` converted to `to`, written into the node's output. */
function cast(ctx: KernelContext, input: Tensor, to: DataType, options: CastOptions): Tensor {
  if (input.type !== to && (isComplexType(input.type) || isComplexType(to))) {
    ctx.fail(`Cast does not convert ${input.type} to ${to}`);
  }
  const out = ctx.output(0, to, input.dims);
  if (input.type === to) copyElements(input.data, out.data);
  else convertInto(input, out, options, (reason) => ctx.fail(reason));
  return out;
}

/** Copies storage of one kind into another of the same kind and length. */
function copyElements(source: TensorData, target: TensorData): void {
  if (Array.isArray(source)) {
    for (let i = 0; i < source.length; i++) (target as string[])[i] = source[i]!;
  } else {
    (target as Uint8Array).set(source as Uint8Array);
  }
}

function convertInto(input: Tensor, out: Tensor, options: CastOptions, fail: Fail): void {
  if (out.type === 'string') copyElements(formatElements(input), out.data);
  else if (input.type === 'string') parseStrings(input.data as string[], out, options, fail);
  else if (isBigIntType(out.type)) toBigInts(input, out);
  else if (isBigIntType(input.type)) fromBigInts(input.data as BigInt64Array, out, options);
  else numbersInto(out, toNumbers(input), options);
}

/** Numbers into the storage of a non-64-bit, non-string type, with wrapping or rounding. */
function numbersInto(out: Tensor, values: ArrayLike<number>, options: CastOptions): void {
  const to = out.type;
  const n = values.length;
  switch (to) {
    case 'bool': {
      const bools = out.data as Uint8Array;
      // NaN is truthy, as in numpy.
      for (let i = 0; i < n; i++) bools[i] = values[i] !== 0 ? 1 : 0;
      return;
    }
    case 'int4':
    case 'uint4':
    case 'int2':
    case 'uint2': {
      const ints = out.data as Int8Array;
      for (let i = 0; i < n; i++) ints[i] = wrapToSubByte(to, values[i]!);
      return;
    }
    case 'float32':
    case 'float64':
    case 'int8':
    case 'int16':
    case 'int32':
    case 'uint8':
    case 'uint16':
    case 'uint32':
      // Typed-array stores round to float32, or truncate and wrap modulo 2^bits (NaN and ±inf to 0).
      (out.data as Float64Array).set(values);
      return;
    default: {
      const encode = castEncoder(to, options);
      const bits = out.data as Uint8Array;
      for (let i = 0; i < n; i++) bits[i] = encode(values[i]!);
    }
  }
}

function castEncoder(to: DataType, options: CastOptions): (value: number) => number {
  if (to === 'float8e8m0') return (value) => numberToFloat8e8m0(value, options.roundMode, options.saturate);
  return (!options.saturate && NON_SATURATING_ENCODERS[to]) || narrowEncoder(to);
}

function wrapToSubByte(to: DataType, value: number): number {
  if (!Number.isFinite(value)) return 0;
  const bits = bitsOf(to);
  const modulus = 2 ** bits;
  let wrapped = ((Math.trunc(value) % modulus) + modulus) % modulus;
  if (isSignedInteger(to) && wrapped >= modulus / 2) wrapped -= modulus;
  return wrapped;
}

function toBigInts(input: Tensor, out: Tensor): void {
  const target = out.data as BigInt64Array;
  const wrap = out.type === 'int64' ? BigInt.asIntN : BigInt.asUintN;
  if (isBigIntType(input.type)) {
    const source = input.data as BigInt64Array;
    for (let i = 0; i < source.length; i++) target[i] = wrap(64, source[i]!);
    return;
  }
  const values = toNumbers(input);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    target[i] = Number.isFinite(v) ? wrap(64, BigInt(Math.trunc(v))) : 0n;
  }
}

function fromBigInts(source: BigInt64Array | BigUint64Array, out: Tensor, options: CastOptions): void {
  if (isIntegerType(out.type)) {
    // Wrap in BigInt first: a Number conversion would round away the low bits.
    const bits = bitsOf(out.type);
    const wrap = isSignedInteger(out.type) ? BigInt.asIntN : BigInt.asUintN;
    numbersInto(
      out,
      Array.from(source, (v) => Number(wrap(bits, v))),
      options,
    );
    return;
  }
  numbersInto(out, Array.from(source, Number), options);
}

// Strings → numbers.

const SPECIAL_FLOATS: Readonly<Record<string, number>> = {
  inf: Infinity,
  '+inf': Infinity,
  '-inf': -Infinity,
  infinity: Infinity,
  '+infinity': Infinity,
  '-infinity': -Infinity,
  nan: NaN,
  '+nan': NaN,
  '-nan': NaN,
};

const DECIMAL_LITERAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const INTEGER_LITERAL = /^[+-]?\d+$/;

/** Parses a string as Python's float() does (surrounding spaces allowed, INF/NaN in any case). */
function parseFloatString(text: string, fail: Fail): number {
  const trimmed = text.trim();
  const special = SPECIAL_FLOATS[trimmed.toLowerCase()];
  if (special !== undefined) return special;
  if (!DECIMAL_LITERAL.test(trimmed)) fail(`cannot convert the string '${text}' to a number`);
  return Number(trimmed);
}

function parseStrings(strings: readonly string[], out: Tensor, options: CastOptions, fail: Fail): void {
  if (isBigIntType(out.type)) {
    const wrap = out.type === 'int64' ? BigInt.asIntN : BigInt.asUintN;
    const target = out.data as BigInt64Array;
    strings.forEach((text, i) => {
      const trimmed = text.trim();
      // Integer literals are parsed exactly; others (like "100.5") are truncated.
      if (INTEGER_LITERAL.test(trimmed)) target[i] = wrap(64, BigInt(trimmed));
      else {
        const v = parseFloatString(text, fail);
        target[i] = Number.isFinite(v) ? wrap(64, BigInt(Math.trunc(v))) : 0n;
      }
    });
    return;
  }
  if (out.type === 'bool') {
    // numpy reads any non-empty string as true.
    const bools = out.data as Uint8Array;
    strings.forEach((text, i) => (bools[i] = text.length > 0 ? 1 : 0));
    return;
  }
  numbersInto(
    out,
    strings.map((text) => parseFloatString(text, fail)),
    options,
  );
}

// Numbers → strings.

function formatElements(input: Tensor): string[] {
  const data = input.data;
  switch (input.type) {
    case 'bool':
      return Array.from(data as Uint8Array, (v) => (v ? 'True' : 'False'));
    case 'int64':
    case 'uint64':
      return Array.from(data as BigInt64Array, String);
    case 'float32':
      return Array.from(data as Float32Array, (v) => formatFloat(v, FLOAT32_STYLE));
    case 'float64':
      return Array.from(data as Float64Array, (v) => formatFloat(v, FLOAT64_STYLE));
    default:
      if (isIntegerType(input.type)) return Array.from(toNumbers(input), String);
      return Array.from(toNumbers(input), (v) => formatFloat(v, narrowStyle(input.type)));
  }
}

interface FloatStyle {
  /** True when a decimal string reads back as the same value of the format. */
  roundTrips: (candidate: number, value: number) => boolean;
  /** Magnitudes from here up are printed in scientific notation (numpy 2's threshold for the type). */
  positionalLimit: number;
}

const FLOAT32_STYLE: FloatStyle = { roundTrips: (c, v) => Math.fround(c) === v, positionalLimit: 1e6 };
const FLOAT64_STYLE: FloatStyle = { roundTrips: (c, v) => c === v, positionalLimit: 1e16 };

/** The formats narrower than float32 print as numpy prints float16. */
function narrowStyle(type: DataType): FloatStyle {
  const decode = narrowDecoder(type);
  // Round-tripping needs nearest rounding: float8e8m0's default 'up' would reject decimals a hair
  // above a power of two.
  const encode =
    type === 'float8e8m0' ? (v: number) => numberToFloat8e8m0(v, 'nearest') : narrowEncoder(type);
  return { roundTrips: (c, v) => decode(encode(c)) === v, positionalLimit: 1e3 };
}

/**
 * numpy's str() of a float: the shortest digits that read back as the same value, positional for
 * magnitudes in [1e-4, limit) ("1.0", "0.0001"), scientific otherwise ("1e+16", "1.5e-05").
 */
function formatFloat(value: number, style: FloatStyle): string {
  if (Number.isNaN(value)) return 'nan';
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const { digits, exponent } = shortestDigits(value, style);
  const sign = value < 0 ? '-' : '';
  const magnitude = Math.abs(value);
  if (magnitude >= 1e-4 && magnitude < style.positionalLimit) return sign + positional(digits, exponent);
  const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const exponentText = String(Math.abs(exponent)).padStart(2, '0');
  return `${sign}${mantissa}e${exponent < 0 ? '-' : '+'}${exponentText}`;
}

/** The fewest significant digits (and the decimal exponent of the first) that round-trip. */
function shortestDigits(value: number, style: FloatStyle): { digits: string; exponent: number } {
  const magnitude = Math.abs(value);
  // 17 significant digits always read back as the same double.
  let text = magnitude.toExponential(16);
  for (let precision = 1; precision < 17; precision++) {
    const candidate = magnitude.toExponential(precision - 1);
    if (style.roundTrips(Number(candidate), magnitude)) {
      text = candidate;
      break;
    }
  }
  const [mantissa, exponent] = text.split('e') as [string, string];
  return { digits: mantissa.replace('.', '').replace(/0+$/, '') || '0', exponent: Number(exponent) };
}

function positional(digits: string, exponent: number): string {
  if (exponent < 0) return `0.${'0'.repeat(-exponent - 1)}${digits}`;
  const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
  const fraction = digits.slice(exponent + 1);
  return `${whole}.${fraction || '0'}`;
}

// BitCast.

function bitCast(ctx: KernelContext, input: Tensor, to: DataType): Tensor {
  if (input.type === 'string' || to === 'string') ctx.fail('BitCast does not take strings');
  const bits = bitsOf(input.type);
  if (bitsOf(to) !== bits) {
    ctx.fail(`BitCast needs types of one bit width: ${input.type} has ${bits}, ${to} ${bitsOf(to)}`);
  }
  const out = ctx.output(0, to, input.dims);
  if (bits < 8) {
    reinterpretSubByte(input, out);
    return out;
  }
  // Typed arrays hold the host's byte order, little-endian wherever Node runs, as ONNX requires.
  const bytes = bytesOf(out.data);
  bytes.set(bytesOf(input.data));
  if (to === 'bool' && bytes.some((byte) => byte > 1)) {
    ctx.fail('BitCast to bool met a byte other than 0 and 1');
  }
  return out;
}

/** The bytes of numeric storage, which may be a view into a larger buffer (the memory plan's arena). */
function bytesOf(data: TensorData): Uint8Array {
  const view = data as Uint8Array;
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** 4- and 2-bit elements are held one per slot: move their low bits, sign-extending for int4/int2. */
function reinterpretSubByte(input: Tensor, out: Tensor): void {
  const bits = bitsOf(out.type);
  const mask = (1 << bits) - 1;
  const signed = out.type === 'int4' || out.type === 'int2';
  const source = input.data as Int8Array;
  const target = out.data as Int8Array;
  for (let i = 0; i < source.length; i++) {
    const pattern = source[i]! & mask;
    target[i] = signed && pattern >> (bits - 1) ? pattern - (mask + 1) : pattern;
  }
}

export const kernels: KernelDef[] = [
  {
    op: 'Cast',
    since: 1,
    run: (ctx) => [cast(ctx, ctx.input(0), targetType(ctx), castOptions(ctx))],
  },
  {
    op: 'CastLike',
    since: 15,
    run: (ctx) => [cast(ctx, ctx.input(0), ctx.input(1).type, castOptions(ctx))],
  },
  {
    op: 'BitCast',
    since: 26,
    run: (ctx) => [bitCast(ctx, ctx.input(0), targetType(ctx))],
  },
];

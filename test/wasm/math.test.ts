/**
 * The generated f32x4 transcendentals (codegen/math.ts) and activations (codegen/activation.ts)
 * against float64 `Math.*` rounded to float32: the error in ulp over wide ranges of inputs
 * (dense near 0, logarithmically spaced out to the overflow limits, subnormals), and the special
 * values (NaN, ±0, ±Infinity) exactly as `Math.*` gives them.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ModuleBuilder, type FunctionBuilder } from '../../src/backends/wasm/assembler/index.js';
import { webAssembly } from '../../src/core/webassembly.js';
import { emitActivation, type Activation } from '../../src/backends/wasm/codegen/activation.js';
import {
  emitErf,
  emitExp,
  emitExpm1,
  emitFastGelu,
  emitGelu,
  emitLog,
  emitSigmoid,
  emitSoftplus,
  emitTanh,
} from '../../src/backends/wasm/codegen/math.js';
import { erf } from '../../src/backends/reference/kernels/unary.js';

/** Compiles `emit` into a function applying it to `n` floats (n a multiple of 4) at address 0. */
function vectorFunction(emit: (f: FunctionBuilder) => void): (values: Float32Array) => Float32Array {
  const module = new ModuleBuilder().defineMemory({ initial: 16, maximum: 16 }).exportMemory('memory');
  const f = module.function('apply', { params: [['bytes', 'i32']], export: true });
  const [bytes] = f.params as [FunctionBuilder['params'][number]];
  const address = f.local('i32', 'address');
  f.block(null, (done) => {
    f.loop(null, (next) => {
      f.get(address).get(bytes).op('i32.ge_u').brIf(done);
      f.get(address).get(address).mem('v128.load');
      emit(f);
      f.mem('v128.store');
      f.get(address).i32Const(16).op('i32.add').set(address).br(next);
    });
  });
  const instance = new webAssembly.Instance(new webAssembly.Module(module.encode()), {});
  const memory = instance.exports.memory as { buffer: ArrayBuffer };
  const apply = instance.exports.apply as (bytes: number) => void;
  return (values) => {
    const padded = Math.ceil(values.length / 4) * 4;
    const view = new Float32Array(memory.buffer, 0, padded);
    view.fill(0).set(values);
    apply(padded * 4);
    return view.slice(0, values.length);
  };
}

/**
 * Whether `got` is within `ulps` float32 steps of `expected`, or differs from it by less than the
 * smallest normal float (what intermediate results in the subnormal range may lose).
 */
function close(got: number, expected: number, ulps: number): boolean {
  return ulpDistance(got, expected) <= ulps || Math.abs(got - expected) < 2 ** -126;
}

/** The distance in float32 steps between two floats (0 for equal values and for two NaNs). */
function ulpDistance(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  if (a === b) return 0;
  const bits = new Int32Array(new Float32Array([a, b]).buffer);
  const ordered = (i: number): number => (bits[i]! < 0 ? -(bits[i]! & 0x7fffffff) : bits[i]!);
  return Math.abs(ordered(0) - ordered(1));
}

/** Inputs from lo to hi: uniform, plus magnitudes spread logarithmically down to the subnormals. */
function inputs(lo: number, hi: number): Float32Array {
  const values: number[] = [];
  for (let i = 0; i <= 20000; i++) values.push(lo + ((hi - lo) * i) / 20000);
  for (let e = -149; e <= 128; e += 0.01) {
    const magnitude = 2 ** e;
    if (magnitude <= hi) values.push(magnitude);
    if (-magnitude >= lo) values.push(-magnitude);
  }
  return new Float32Array(values);
}

const SPECIALS = new Float32Array([
  NaN,
  Infinity,
  -Infinity,
  0,
  -0,
  1,
  -1,
  1e-45,
  -1e-45,
  3.4028234e38,
  -3.4028234e38,
]);

interface Case {
  name: string;
  emit: (f: FunctionBuilder) => void;
  exact: (x: number) => number;
  lo: number;
  hi: number;
  /** The largest error allowed, in ulp of the float32 result. */
  ulps: number;
  /**
   * Extra ulp at x for functions whose result is e^(-v(x)) for a large v: the ulp or two of
   * rounding that float32 arithmetic leaves in v are v times as many ulp of the result.
   */
  exponent?: (x: number) => number;
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** GELU's erf form in float64. */
function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

/** The generated GELU's error bound: Φ within 2.5e-7 (a rational erf), plus the rounding of x·Φ. */
function geluClose(got: number, x: number): boolean {
  const expected = Math.fround(gelu(x));
  return close(got, expected, 2) || Math.abs(got - expected) <= 2.5e-7 * Math.abs(x);
}

/**
 * The ulp that rounding the exponent of GELU's tanh form's sigmoid (three roundings) costs its
 * negative outputs.
 */
function fastGeluExponent(x: number): number {
  return x < 0 ? 6 * Math.sqrt(2 / Math.PI) * Math.abs(x + 0.044715 * x ** 3) : 0;
}

/** GELU's tanh form as x·sigmoid(2y), which is 0.5·x·(1 + tanh(y)) without its cancellation. */
function fastGelu(x: number): number {
  return x * sigmoid(2 * Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3));
}

const CASES: Case[] = [
  { name: 'exp', emit: emitExp, exact: Math.exp, lo: -110, hi: 90, ulps: 2 },
  { name: 'expm1', emit: emitExpm1, exact: Math.expm1, lo: -110, hi: 90, ulps: 3 },
  { name: 'log', emit: emitLog, exact: Math.log, lo: -10, hi: 3.4e38, ulps: 2 },
  { name: 'tanh', emit: emitTanh, exact: Math.tanh, lo: -20, hi: 20, ulps: 3 },
  { name: 'sigmoid', emit: emitSigmoid, exact: sigmoid, lo: -120, hi: 120, ulps: 3 },
  {
    name: 'softplus',
    emit: emitSoftplus,
    exact: (x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))),
    lo: -120,
    hi: 120,
    ulps: 3,
  },
  { name: 'erf', emit: emitErf, exact: erf, lo: -8, hi: 8, ulps: 3 },
  {
    name: 'fastgelu',
    emit: emitFastGelu,
    exact: fastGelu,
    lo: -12,
    hi: 12,
    ulps: 3,
    exponent: fastGeluExponent,
  },
];

for (const { name, emit, exact, lo, hi, ulps, exponent = () => 0 } of CASES) {
  test(`${name} is within ${ulps} ulp over [${lo}, ${hi}] and treats special values like Math`, () => {
    const apply = vectorFunction(emit);
    const xs = inputs(lo, hi);
    const got = apply(xs);
    let worst = 0;
    let worstAt = 0;
    xs.forEach((x, i) => {
      const expected = Math.fround(exact(x));
      const error = close(got[i]!, expected, 0) ? 0 : ulpDistance(got[i]!, expected) - exponent(x);
      if (error > worst) [worst, worstAt] = [error, x];
    });
    assert.ok(worst <= ulps, `${name}: ${worst} ulp at x = ${worstAt} (got ${got[xs.indexOf(worstAt)]})`);
    const special = apply(SPECIALS);
    SPECIALS.forEach((x, i) => {
      assert.ok(
        Object.is(special[i], Math.fround(exact(x))) || close(special[i]!, Math.fround(exact(x)), ulps),
        `${name}(${x}) = ${special[i]}, expected ${Math.fround(exact(x))}`,
      );
    });
  });
}

test('gelu is within 2.5e-7·|x| (or 2 ulp) of exact, keeps the sign of x and treats special values', () => {
  const apply = vectorFunction(emitGelu);
  const xs = inputs(-1e4, 1e4);
  const got = apply(xs);
  xs.forEach((x, i) => {
    assert.ok(geluClose(got[i]!, x), `gelu(${x}) = ${got[i]}, expected ${gelu(x)}`);
    assert.ok(x >= 0 ? got[i]! >= 0 : got[i]! <= 0, `gelu(${x}) = ${got[i]} has the wrong sign`);
  });
  const special = apply(new Float32Array([NaN, Infinity, -0]));
  assert.ok(Number.isNaN(special[0]) && special[1] === Infinity && Object.is(special[2], -0));
});

const ACTIVATIONS: {
  activation: Activation;
  exact: (x: number) => number;
  ulps: number;
  exponent?: (x: number) => number;
}[] = [
  { activation: { kind: 'Relu', params: [] }, exact: (x) => (x < 0 ? 0 : x), ulps: 0 },
  {
    activation: { kind: 'LeakyRelu', params: [0.1] },
    exact: (x) => (x < 0 ? Math.fround(0.1) * x : x),
    ulps: 1,
  },
  { activation: { kind: 'Clip', params: [-1, 2] }, exact: (x) => Math.min(Math.max(x, -1), 2), ulps: 0 },
  { activation: { kind: 'Sigmoid', params: [] }, exact: sigmoid, ulps: 3 },
  { activation: { kind: 'Tanh', params: [] }, exact: Math.tanh, ulps: 3 },
  { activation: { kind: 'FastGelu', params: [] }, exact: fastGelu, ulps: 3, exponent: fastGeluExponent },
  { activation: { kind: 'SiLU', params: [] }, exact: (x) => x * sigmoid(x), ulps: 4 },
];

for (const { activation, exact, ulps, exponent = () => 0 } of ACTIVATIONS) {
  test(`activation ${activation.kind} matches its definition within ${ulps} ulp`, () => {
    const apply = vectorFunction((f) => emitActivation(f, activation));
    const xs = inputs(-30, 30);
    const got = apply(xs);
    xs.forEach((x, i) => {
      const expected = Math.fround(exact(x));
      assert.ok(
        close(got[i]!, expected, ulps + exponent(x)),
        `${activation.kind}(${x}) = ${got[i]}, expected ${expected}`,
      );
    });
    assert.ok(Number.isNaN(apply(new Float32Array([NaN]))[0]), `${activation.kind} keeps NaN`);
  });
}

test('activation Gelu is the generated GELU', () => {
  const apply = vectorFunction((f) => emitActivation(f, { kind: 'Gelu', params: [] }));
  const xs = inputs(-30, 30);
  const got = apply(xs);
  xs.forEach((x, i) => assert.ok(geluClose(got[i]!, x), `Gelu(${x}) = ${got[i]}, expected ${gelu(x)}`));
});

/**
 * Activations as generated code: the epilogues of the GEMM and convolution kernels and the
 * elementwise kernels all apply them to four floats at a time, in registers, with no pass over
 * memory of their own. `activationOf` reads a fused node's `activation`/`activation_params`
 * attributes (see the reference backend's fused-conv.ts for their meaning); `emitActivation`
 * replaces the f32x4 on top of the stack with the activation of it.
 *
 * Sigmoid, Tanh, FastGelu (the tanh form) and SiLU come from the approximations of math.ts, a few
 * ulp from the exact values; Gelu (the erf form) from its rational erf, within 2.5e-7·|x|.
 *
 * Comparisons keep NaN: `pmax(x, 0)` is `x < 0 ? 0 : x`, so a NaN input stays NaN as ONNX's
 * Relu and Clip require (the NaN-propagating `f32x4.max` costs several instructions on x86).
 */

import type { Node } from '../../../ir/graph.js';
import type { FunctionBuilder } from '../assembler/index.js';
import { emitFastGelu, emitGelu, emitSigmoid, emitTanh, splat, v128Temp } from './math.js';

export type ActivationKind =
  | 'Relu'
  | 'LeakyRelu'
  | 'Clip'
  | 'HardSigmoid'
  | 'HardSwish'
  | 'Sigmoid'
  | 'Tanh'
  | 'Gelu'
  | 'FastGelu'
  | 'SiLU';

export interface Activation {
  readonly kind: ActivationKind;
  /** LeakyRelu [alpha], HardSigmoid [alpha, beta], Clip [min, max]; none for the others. */
  readonly params: readonly number[];
}

const KINDS: ReadonlySet<string> = new Set<ActivationKind>([
  'Relu',
  'LeakyRelu',
  'Clip',
  'HardSigmoid',
  'HardSwish',
  'Sigmoid',
  'Tanh',
  'Gelu',
  'FastGelu',
  'SiLU',
]);

/** The activation a fused node applies (undefined for none), or the reason it cannot be generated. */
export function activationOf(node: Node): Activation | undefined | string {
  const attribute = node.attributes.get('activation');
  if (attribute === undefined) return undefined;
  if (attribute.type !== 'string') return `attribute 'activation' must be a string`;
  const kind = attribute.value;
  if (!KINDS.has(kind)) return `activation '${kind}' has no generated form`;
  const params = node.attributes.get('activation_params');
  const values = params?.type === 'floats' ? params.value : [];
  return { kind: kind as ActivationKind, params: values };
}

/** A short name for kernel names: `relu`, `clip`, ... */
export function activationName(activation: Activation | undefined): string {
  return activation === undefined ? 'linear' : activation.kind.toLowerCase();
}

/** Replaces the f32x4 on top of the stack with `activation` of it. */
export function emitActivation(f: FunctionBuilder, activation: Activation | undefined): void {
  if (activation === undefined) return;
  const [p0 = 0, p1 = 0] = activation.params;
  switch (activation.kind) {
    case 'Relu':
      splat(f, 0).op('f32x4.pmax');
      return;
    case 'Clip':
      clamp(f, activation.params[0] ?? -Infinity, activation.params[1] ?? Infinity);
      return;
    case 'LeakyRelu': {
      // x < 0 ? alpha·x : x
      const x = v128Temp(f, 'activation.x');
      splat(f.tee(x), p0).op('f32x4.mul').get(x).get(x);
      splat(f, 0).op('f32x4.lt').op('v128.bitselect');
      return;
    }
    case 'HardSigmoid':
      splat(splat(f, p0).op('f32x4.mul'), p1).op('f32x4.add');
      clamp(f, 0, 1);
      return;
    case 'HardSwish': {
      const x = v128Temp(f, 'activation.x');
      splat(splat(f.tee(x), 1 / 6).op('f32x4.mul'), 0.5).op('f32x4.add');
      clamp(f, 0, 1);
      f.get(x).op('f32x4.mul');
      return;
    }
    case 'Sigmoid':
      emitSigmoid(f);
      return;
    case 'Tanh':
      emitTanh(f);
      return;
    case 'Gelu':
      emitGelu(f);
      return;
    case 'FastGelu':
      emitFastGelu(f);
      return;
    case 'SiLU': {
      const x = v128Temp(f, 'activation.x');
      f.tee(x);
      emitSigmoid(f);
      f.get(x).op('f32x4.mul');
      return;
    }
  }
}

/** min(max(x, lo), hi), NaN kept. */
function clamp(f: FunctionBuilder, lo: number, hi: number): void {
  if (lo > -Infinity) splat(f, lo).op('f32x4.pmax');
  if (hi < Infinity) splat(f, hi).op('f32x4.pmin');
}

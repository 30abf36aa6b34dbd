/**
 * Sliding-window arithmetic shared by convolutions and pools: the output size along each spatial
 * axis from kernel, strides, dilations, pads or auto_pad, and ceil_mode, as the ONNX spec words it.
 */

import type { Dim } from '../graph.js';
import { unknownDims } from './dims.js';
import type { RuleContext } from './rule.js';

export interface Window {
  kernel: (number | undefined)[];
  strides: number[];
  dilations: number[];
  /** Begin pads of every axis, then end pads. */
  pads: number[];
  autoPad: string;
  ceilMode: boolean;
}

/** Reads the window attributes of a node with `spatialRank` spatial axes; `kernel` when the node has no kernel_shape. */
export function readWindow(ctx: RuleContext, spatialRank: number, kernel?: Dim[]): Window {
  const ones = new Array<number>(spatialRank).fill(1);
  const kernelOfWeights = (kernel ?? unknownDims(spatialRank)).map((d) =>
    typeof d === 'number' ? d : undefined,
  );
  const window: Window = {
    kernel: ctx.ints('kernel_shape') ?? kernelOfWeights,
    strides: ctx.ints('strides') ?? ones,
    dilations: ctx.ints('dilations') ?? ones,
    pads: ctx.ints('pads') ?? new Array<number>(2 * spatialRank).fill(0),
    autoPad: ctx.string('auto_pad', 'NOTSET'),
    ceilMode: ctx.int('ceil_mode', 0) !== 0,
  };
  const lengths: [string, number, number][] = [
    ['kernel_shape', window.kernel.length, spatialRank],
    ['strides', window.strides.length, spatialRank],
    ['dilations', window.dilations.length, spatialRank],
    ['pads', window.pads.length, 2 * spatialRank],
  ];
  for (const [name, actual, expected] of lengths) {
    if (actual !== expected) {
      ctx.fail(`attribute '${name}' has ${actual} values, the input needs ${expected}`);
    }
  }
  return window;
}

/** The output size of each spatial axis of `input` (the spatial dims only). */
export function windowOutput(ctx: RuleContext, input: Dim[], window: Window): Dim[] {
  return input.map((size, axis) => {
    const kernel = window.kernel[axis];
    const stride = window.strides[axis]!;
    if (typeof size !== 'number') return null;
    if (window.autoPad === 'SAME_UPPER' || window.autoPad === 'SAME_LOWER') return Math.ceil(size / stride);
    if (kernel === undefined) return null;
    const span = (kernel - 1) * window.dilations[axis]! + 1;
    const padBegin = window.autoPad === 'VALID' ? 0 : window.pads[axis]!;
    const padded = window.autoPad === 'VALID' ? size : size + padBegin + window.pads[axis + input.length]!;
    if (padded < span) {
      ctx.fail(`the window (${span}) is larger than the padded input (${padded}) on spatial axis ${axis}`);
    }
    if (!window.ceilMode) return Math.floor((padded - span) / stride) + 1;
    const count = Math.ceil((padded - span) / stride) + 1;
    // The last window must start inside the input or its begin padding, not in the end padding.
    return (count - 1) * stride >= size + padBegin ? count - 1 : count;
  });
}

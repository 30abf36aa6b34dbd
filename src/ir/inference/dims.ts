/**
 * Arithmetic on dimensions that may be known sizes, symbolic names or unknown: broadcasting,
 * products, sums and axis handling, written once for every rule. A symbolic dim survives only
 * where the result provably equals it (`batch * 1`, `batch` broadcast with 1); anything else
 * that involves an unknown becomes null rather than a guess.
 */

import type { DataType } from '../../core/dtype.js';
import type { Dim } from '../graph.js';
import type { TensorType } from './rule.js';

type Fail = (reason: string) => never;

export function tensorType(elemType: DataType | undefined, shape?: Dim[]): TensorType | undefined {
  if (elemType === undefined) return undefined;
  return shape ? { kind: 'tensor', elemType, shape } : { kind: 'tensor', elemType };
}

export function isStaticShape(shape: readonly Dim[] | undefined): shape is number[] {
  return shape !== undefined && shape.every((d) => typeof d === 'number');
}

export function unknownDims(rank: number): Dim[] {
  return new Array<Dim>(rank).fill(null);
}

/** A copy of `shape` with the dim at `axis` replaced. */
export function withDim(shape: readonly Dim[], axis: number, dim: Dim): Dim[] {
  const out = [...shape];
  out[axis] = dim;
  return out;
}

/** A copy of `shape` without the dim at `axis`. */
export function withoutAxis(shape: readonly Dim[], axis: number): Dim[] {
  return shape.filter((_, i) => i !== axis);
}

export function formatShape(shape: readonly Dim[]): string {
  return `[${shape.map((d) => (d === null ? '?' : d)).join(', ')}]`;
}

/** Multidirectional (numpy) broadcasting; undefined when any shape is unknown. */
export function broadcastShapes(shapes: (Dim[] | undefined)[], fail: Fail): Dim[] | undefined {
  if (shapes.some((s) => s === undefined)) return undefined;
  const known = shapes as Dim[][];
  const rank = Math.max(0, ...known.map((s) => s.length));
  const out: Dim[] = [];
  for (let axis = 0; axis < rank; axis++) {
    let dim: Dim = 1;
    for (const shape of known) {
      const index = axis - (rank - shape.length);
      if (index >= 0) dim = broadcastDim(dim, shape[index]!, known, fail);
    }
    out.push(dim);
  }
  return out;
}

function broadcastDim(a: Dim, b: Dim, shapes: Dim[][], fail: Fail): Dim {
  if (a === b) return a;
  if (a === 1) return b;
  if (b === 1) return a;
  if (typeof a === 'number' && typeof b === 'number') {
    fail(`shapes ${shapes.map(formatShape).join(' and ')} cannot be broadcast (${a} against ${b})`);
  }
  // A valid model broadcasts a symbolic or unknown dim against a known n > 1 only when it is n.
  if (typeof a === 'number') return a;
  if (typeof b === 'number') return b;
  return null;
}

export function multiplyDims(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a * b;
  if (a === 0 || b === 0) return 0;
  if (a === 1) return b;
  if (b === 1) return a;
  return null;
}

export function dimProduct(dims: readonly Dim[]): Dim {
  return dims.reduce<Dim>((product, d) => multiplyDims(product, d), 1);
}

export function addDims(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (a === 0) return b;
  if (b === 0) return a;
  return null;
}

/** `dim / divisor` when the division is exact and known. */
export function divideDim(dim: Dim, divisor: number): Dim {
  if (divisor === 1) return dim;
  if (typeof dim === 'number' && dim % divisor === 0) return dim / divisor;
  return null;
}

/** Applies `fn` to a dim when it is a known size; null otherwise. */
export function mapDim(dim: Dim, fn: (n: number) => number): Dim {
  return typeof dim === 'number' ? fn(dim) : null;
}

/** Whether two dims may be the same size: false only when both are known and differ. */
export function dimsCompatible(a: Dim, b: Dim): boolean {
  return typeof a !== 'number' || typeof b !== 'number' || a === b;
}

/** The more precise of two dims that must be equal (the model says so): known over symbolic over unknown. */
export function unifyDims(a: Dim, b: Dim): Dim {
  if (typeof a === 'number') return a;
  if (typeof b === 'number') return b;
  return a ?? b;
}

/** The dim both of two alternatives have (If branches, loop iterations), or null when they differ. */
export function commonDim(a: Dim, b: Dim): Dim {
  return a === b ? a : null;
}

/**
 * Resolves a possibly negative axis; fails outside [-rank, rank), or outside [-rank, rank] when
 * `inclusive` (axes that may also name the position after the last, as Flatten's does).
 */
export function normalizeAxis(axis: number, rank: number, fail: Fail, inclusive = false): number {
  const high = inclusive ? rank : rank - 1;
  if (axis < -rank || axis > high) fail(`axis ${axis} is out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

export function normalizeAxes(axes: readonly number[], rank: number, fail: Fail): number[] {
  const out = axes.map((a) => normalizeAxis(a, rank, fail));
  if (new Set(out).size !== out.length) fail(`axes [${axes.join(', ')}] repeat an axis`);
  return out;
}

/**
 * Test helpers for tensors: reading a model's saved .npy values, and measuring how far an output
 * is from a reference one relative to the reference's scale.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { readNpy } from '../../src/cli/npy.js';
import type { Tensor } from '../../src/index.js';
import { toNumbers } from '../../src/backends/reference/util.js';

/** Reads `folder/<name>.npy` for each name. */
export function readNpyFiles(folder: string, names: readonly string[]): Record<string, Tensor> {
  const tensors: Record<string, Tensor> = {};
  for (const name of names) {
    const file = path.join(folder, `${name}.npy`);
    tensors[name] = readNpy(fs.readFileSync(file), file);
  }
  return tensors;
}

export interface Deviation {
  /** max |actual - expected| over all elements; NaN when either side holds a NaN. */
  maxError: number;
  /** max |expected|: the scale errors are judged against. */
  scale: number;
}

/** Compares two tensors of the same type and dims; a type or shape mismatch throws. */
export function deviation(actual: Tensor, expected: Tensor): Deviation {
  if (actual.type !== expected.type)
    throw new Error(`type ${actual.type} differs from expected ${expected.type}`);
  if (actual.dims.join() !== expected.dims.join()) {
    throw new Error(`dims [${actual.dims.join(', ')}] differ from expected [${expected.dims.join(', ')}]`);
  }
  const got = toNumbers(actual);
  const want = toNumbers(expected);
  let maxError = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    // Math.max propagates NaN, so a NaN anywhere fails every tolerance check.
    maxError = Math.max(maxError, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return { maxError, scale };
}

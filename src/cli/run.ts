/**
 * `heddle run MODEL`: one run, with inputs from .npy files or random from a fixed seed; prints
 * each output's type, shape, first values and checksum, and the time taken.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { HeddleError } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import type { OptimizationLevel } from '../passes/index.js';
import { InferenceSession, type FeedsType, type OnnxValue } from '../runtime/session.js';
import { toNumbers } from '../backends/reference/util.js';
import { readNpy, writeNpy } from './npy.js';
import { seededRandom } from '../core/random.js';
import { randomFeed } from './random-inputs.js';

export interface RunCommandOptions {
  input: string[];
  dim: string[];
  seed: string;
  saveOutputs?: string;
  backends: string;
  threads?: string;
  tune: boolean;
  optimization: OptimizationLevel;
}

export function parseAssignments(items: readonly string[], what: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new HeddleError(`${what} '${item}' must look like NAME=VALUE`);
    map.set(item.slice(0, eq), item.slice(eq + 1));
  }
  return map;
}

export function parseDims(items: readonly string[]): Record<string, number> {
  const dims: Record<string, number> = {};
  for (const [name, text] of parseAssignments(items, '--dim')) {
    const value = Number(text);
    if (!Number.isInteger(value) || value < 0)
      throw new HeddleError(`--dim ${name} must be a non-negative integer, got '${text}'`);
    dims[name] = value;
  }
  return dims;
}

/** `--threads N` as a session's intraOpNumThreads: undefined leaves the backend its default. */
export function parseThreads(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const threads = Number(text);
  if (!Number.isInteger(threads) || threads < 1)
    throw new HeddleError(`--threads must be a positive integer, got '${text}'`);
  return threads;
}

export async function runCommand(model: string, options: RunCommandOptions): Promise<number> {
  const createStart = performance.now();
  const session = await InferenceSession.create(model, {
    executionProviders: options.backends.split(','),
    intraOpNumThreads: parseThreads(options.threads),
    tuning: options.tune,
    graphOptimizationLevel: options.optimization,
  });
  const createMs = performance.now() - createStart;
  const files = parseAssignments(options.input, '--input');
  const dims = parseDims(options.dim);
  const random = seededRandom(Number(options.seed));
  const feeds: FeedsType = {};
  for (const [name] of files) {
    if (!session.inputNames.includes(name))
      throw new HeddleError(`--input names '${name}', which is not an input of the model`);
  }
  for (const meta of session.inputMetadata) {
    const file = files.get(meta.name);
    feeds[meta.name] = file ? readNpy(fs.readFileSync(file), file) : randomFeed(meta, dims, random);
  }
  const runStart = performance.now();
  const outputs = await session.run(feeds);
  const runMs = performance.now() - runStart;
  for (const [name, value] of Object.entries(outputs)) console.log(describeOutput(name, value));
  console.log(`session created in ${createMs.toFixed(1)} ms, run took ${runMs.toFixed(1)} ms`);
  if (options.saveOutputs) {
    fs.mkdirSync(options.saveOutputs, { recursive: true });
    for (const [name, value] of Object.entries(outputs)) {
      if (!(value instanceof Tensor)) continue;
      const file = path.join(options.saveOutputs, `${name.replace(/[^\w.-]/g, '_')}.npy`);
      fs.writeFileSync(file, writeNpy(value));
      console.log(`wrote ${file}`);
    }
  }
  return 0;
}

function describeOutput(name: string, value: OnnxValue): string {
  if (value === null) return `${name}: empty optional`;
  if (Array.isArray(value)) return `${name}: sequence of ${value.length} tensors`;
  const head = `${name}: ${value.type}[${value.dims.join(', ')}]`;
  if (value.type === 'string')
    return `${head} first: ${JSON.stringify((value.data as string[]).slice(0, 6))}`;
  const numbers = value.type.startsWith('complex') ? (value.data as Float32Array) : toNumbers(value);
  const first = Array.from(numbers.slice(0, 6), (v) => formatNumber(v)).join(', ');
  let sum = 0;
  for (let i = 0; i < numbers.length; i++) sum += numbers[i]!;
  return `${head} first: [${first}${numbers.length > 6 ? ', ...' : ''}] checksum: ${formatNumber(sum)}`;
}

function formatNumber(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(6);
}

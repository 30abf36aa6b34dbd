/**
 * Text featurization: TfIdfVectorizer, which counts the n-grams of a pool (of strings or integers)
 * that occur in each row of its input, optionally skipping items between the members of an n-gram,
 * and turns the counts into term frequencies, inverse-document-frequency weights or their product.
 */

import type { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';

/** The settings of one TfIdfVectorizer node, read and checked once. */
interface Vectorizer {
  mode: 'TF' | 'IDF' | 'TFIDF';
  minGram: number;
  maxGram: number;
  maxSkip: number;
  /** For each gram length in [minGram, maxGram], the output column of each pooled n-gram, by key. */
  columns: Map<number, Map<string, number>>;
  outputSize: number;
  /** Weight per output column; empty when the model gives none (every weight is 1). */
  weights: readonly number[];
}

/** A row item or an n-gram as a map key: strings and integers must not collide. */
function gramKey(items: readonly (string | number)[]): string {
  return JSON.stringify(items);
}

/**
 * Splits the pool into n-grams: `ngram_counts[i]` is where the (i + 1)-grams start, so the n-th
 * segment holds (segment length / n) n-grams. Pooled n-gram j, counted across all lengths, lands
 * in output column `ngram_indexes[j]`.
 */
function readVectorizer(ctx: KernelContext, isStringInput: boolean): Vectorizer {
  const mode = ctx.string('mode');
  if (mode !== 'TF' && mode !== 'IDF' && mode !== 'TFIDF') {
    ctx.fail(`mode must be TF, IDF or TFIDF, got '${mode}'`);
  }
  const minGram = ctx.int('min_gram_length');
  const maxGram = ctx.int('max_gram_length');
  const maxSkip = ctx.int('max_skip_count');
  if (minGram < 1 || maxGram < minGram) {
    ctx.fail(
      `gram lengths must satisfy 1 <= min_gram_length <= max_gram_length, got ${minGram} and ${maxGram}`,
    );
  }
  if (maxSkip < 0) ctx.fail(`max_skip_count must not be negative, got ${maxSkip}`);
  const pool = readPool(ctx, isStringInput);
  const counts = ctx.ints('ngram_counts');
  const indexes = ctx.ints('ngram_indexes');
  if (indexes.length === 0) ctx.fail('ngram_indexes must not be empty');
  if (indexes.some((i) => i < 0)) ctx.fail('ngram_indexes must not be negative');
  const outputSize = Math.max(...indexes) + 1;

  const columns = new Map<number, Map<string, number>>();
  let gramNumber = 0;
  for (let n = 1; n <= counts.length; n++) {
    const start = counts[n - 1]!;
    const end = n < counts.length ? counts[n]! : pool.length;
    if (start < 0 || end < start || end > pool.length) {
      ctx.fail(`ngram_counts [${counts.join(', ')}] does not split a pool of ${pool.length} items`);
    }
    if ((end - start) % n !== 0)
      ctx.fail(`the pool's ${n}-grams take ${end - start} items, not a multiple of ${n}`);
    const byKey = new Map<string, number>();
    for (let at = start; at < end; at += n, gramNumber++) {
      const column = indexes[gramNumber];
      if (column === undefined) {
        ctx.fail(`ngram_indexes has ${indexes.length} entries but the pool holds more n-grams`);
      }
      byKey.set(gramKey(pool.slice(at, at + n)), column);
    }
    if (n >= minGram && n <= maxGram) columns.set(n, byKey);
  }

  const weights = ctx.floats('weights', []);
  if (weights.length > 0 && weights.length < outputSize) {
    ctx.fail(`weights has ${weights.length} entries, fewer than the ${outputSize} output columns`);
  }
  return { mode, minGram, maxGram, maxSkip, columns, outputSize, weights };
}

function readPool(ctx: KernelContext, isStringInput: boolean): readonly (string | number)[] {
  const strings = ctx.strings('pool_strings', []);
  const ints = ctx.ints('pool_int64s', []);
  if (strings.length > 0 === ints.length > 0) {
    ctx.fail('exactly one of pool_strings and pool_int64s must be given');
  }
  if (isStringInput !== strings.length > 0) {
    ctx.fail(isStringInput ? 'string input needs pool_strings' : 'integer input needs pool_int64s');
  }
  return strings.length > 0 ? strings : ints;
}

/**
 * Counts, into `counts`, every pooled n-gram of the row: n consecutive items taken every
 * `skip + 1` positions, for each allowed skip. Unigrams do not depend on the skip, so they are
 * counted once.
 */
function countRow(v: Vectorizer, row: readonly (string | number)[], counts: Float32Array): void {
  for (const [n, byKey] of v.columns) {
    const skips = n === 1 ? 0 : v.maxSkip;
    for (let skip = 0; skip <= skips; skip++) {
      const stride = skip + 1;
      for (let start = 0; start + (n - 1) * stride < row.length; start++) {
        const gram: (string | number)[] = [];
        for (let k = 0; k < n; k++) gram.push(row[start + k * stride]!);
        const column = byKey.get(gramKey(gram));
        if (column !== undefined) counts[column]!++;
      }
    }
  }
}

/**
 * Turns counts into the mode's values. As in ONNX's reference implementation and onnxruntime,
 * weights are indexed by output column (the same as by pooled n-gram when ngram_indexes is the
 * identity, the case the spec's wording assumes).
 */
function weigh(v: Vectorizer, counts: Float32Array): void {
  for (let i = 0; i < counts.length; i++) {
    const weight = v.weights.length > 0 ? v.weights[i % v.outputSize]! : 1;
    if (v.mode === 'IDF') counts[i] = counts[i]! > 0 ? weight : 0;
    else if (v.mode === 'TFIDF') counts[i] = counts[i]! * weight;
  }
}

function rowItems(x: Tensor): (string | number)[] {
  if (x.type === 'string') return x.data as string[];
  if (x.type === 'int64') return Array.from(x.data as BigInt64Array, Number);
  return Array.from(x.data as Int32Array);
}

/** Input [C] or [N, C] of strings, int32 or int64; output [outputSize] or [N, outputSize] float. */
function tfIdfVectorizer(ctx: KernelContext): Tensor {
  const x = ctx.input(0);
  if (x.type !== 'string' && x.type !== 'int32' && x.type !== 'int64') {
    ctx.fail(`input must be a string, int32 or int64 tensor, got ${x.type}`);
  }
  if (x.dims.length !== 1 && x.dims.length !== 2) {
    ctx.fail(`input must be [C] or [N, C], got dims [${x.dims.join(', ')}]`);
  }
  const v = readVectorizer(ctx, x.type === 'string');
  const rows = x.dims.length === 2 ? x.dims[0]! : 1;
  const rowLength = x.dims[x.dims.length - 1]!;
  const items = rowItems(x);
  const out = ctx.output(0, 'float32', x.dims.length === 2 ? [rows, v.outputSize] : [v.outputSize]);
  // Counts are whole numbers, exact in float32; weighing rounds each value once.
  const counts = (out.data as Float32Array).fill(0);
  for (let r = 0; r < rows; r++) {
    const row = items.slice(r * rowLength, (r + 1) * rowLength);
    countRow(v, row, counts.subarray(r * v.outputSize, (r + 1) * v.outputSize));
  }
  weigh(v, counts);
  return out;
}

export const kernels: KernelDef[] = [
  { op: 'TfIdfVectorizer', since: 9, run: (ctx) => [tfIdfVectorizer(ctx)] },
];

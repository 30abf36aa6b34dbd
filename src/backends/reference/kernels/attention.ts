/**
 * Transformer building blocks: scaled dot-product Attention (opset 23, with opset 24's
 * nonpad_kv_seqlen), RotaryEmbedding and SwiGLU. Attention handles 3-D (heads packed in the last
 * axis) and 4-D inputs, grouped-query heads, a key/value cache, boolean or additive masks, causal
 * masking, softcap and the four qk_matmul_output modes. Inputs are read where they lie, through
 * strides; arithmetic is in float64, each result rounded to the output type once, as it is written
 * into the output.
 */

import { allocateStorage } from '../../../core/dtype.js';
import { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { floatSink, readInts, shapeSize, toNumbers } from '../util.js';

/**
 * A tensor seen as [batch, heads, sequence, size], whatever its stored layout: element
 * (b, h, s, d) is `values[b * batchStride + h * headStride + s * positionStride + d]`.
 */
interface Heads {
  values: ArrayLike<number>;
  batch: number;
  heads: number;
  sequence: number;
  size: number;
  batchStride: number;
  headStride: number;
  positionStride: number;
}

/** Where element (b, h, s, 0) of `t` lies. */
function offsetOf(t: Heads, b: number, h: number, s: number): number {
  return b * t.batchStride + h * t.headStride + s * t.positionStride;
}

/** A [batch, heads, sequence, size] view of values stored in that order. */
function headsFirst(
  values: ArrayLike<number>,
  batch: number,
  heads: number,
  sequence: number,
  size: number,
): Heads {
  const positionStride = size;
  const headStride = sequence * positionStride;
  return {
    values,
    batch,
    heads,
    sequence,
    size,
    batchStride: heads * headStride,
    headStride,
    positionStride,
  };
}

/**
 * Views a 4-D [batch, heads, sequence, size] tensor, or a 3-D [batch, sequence, heads * size] one
 * split into `heads` heads, as [batch, heads, sequence, size].
 */
function readHeads(ctx: KernelContext, t: Tensor, name: string, heads: number | undefined): Heads {
  const values = toNumbers(t);
  if (t.dims.length === 4) {
    const [batch, count, sequence, size] = t.dims as [number, number, number, number];
    if (heads !== undefined && heads !== count) {
      ctx.fail(`${name} has ${count} heads, the attributes say ${heads}`);
    }
    return headsFirst(values, batch, count, sequence, size);
  }
  if (t.dims.length !== 3) ctx.fail(`${name} must have rank 3 or 4, got dims [${t.dims.join(', ')}]`);
  if (heads === undefined) ctx.fail('3-D inputs need the q_num_heads and kv_num_heads attributes');
  const [batch, sequence, hidden] = t.dims as [number, number, number];
  if (heads <= 0 || hidden % heads !== 0) {
    ctx.fail(`${name}'s hidden size ${hidden} does not split into ${heads} heads`);
  }
  const size = hidden / heads;
  return {
    values,
    batch,
    heads,
    sequence,
    size,
    batchStride: sequence * hidden,
    headStride: size,
    positionStride: hidden,
  };
}

/** The keys or values attended to, and the present cache output when the model asks for it. */
interface Cache {
  attended: Heads;
  present: Tensor | undefined;
}

/**
 * The present cache: `past` followed by the new entries `current` (read from `source`, K or V)
 * along the sequence axis, [batch, heads, past + new, size] of the source's type. It is built in
 * output `index` when the model asks for it, else (when there is a past to join) in scratch memory;
 * without either, the new entries alone are attended to.
 */
function presentCache(
  ctx: KernelContext,
  index: number,
  past: Tensor | undefined,
  current: Heads,
  source: Tensor,
  name: string,
): Cache {
  const wanted = ctx.wantsOutput(index);
  if (!past && !wanted) return { attended: current, present: undefined };
  const { batch, heads, size } = current;
  const pastLength = past ? past.dims[2]! : 0;
  if (past) {
    if (past.dims.length !== 4 || past.dims[0] !== batch || past.dims[1] !== heads || past.dims[3] !== size) {
      ctx.fail(
        `${name} must have dims [${batch}, ${heads}, past length, ${size}], got [${past.dims.join(', ')}]`,
      );
    }
    if (past.type !== source.type) {
      ctx.fail(`${name} must be ${source.type} like its input, got ${past.type}`);
    }
  }
  const sequence = pastLength + current.sequence;
  const dims = [batch, heads, sequence, size];
  const present = wanted
    ? ctx.output(index, source.type, dims)
    : new Tensor(source.type, allocateStorage(source.type, shapeSize(dims)), dims);
  const target = present.data as Float32Array;
  const from = source.data as Float32Array;
  for (let bh = 0; bh < batch * heads; bh++) {
    if (past) {
      const block = pastLength * size;
      target.set((past.data as Float32Array).subarray(bh * block, (bh + 1) * block), bh * sequence * size);
    }
    const b = Math.floor(bh / heads);
    const h = bh % heads;
    for (let s = 0; s < current.sequence; s++) {
      const at = offsetOf(current, b, h, s);
      target.set(from.subarray(at, at + size), (bh * sequence + pastLength + s) * size);
    }
  }
  return {
    attended: headsFirst(toNumbers(present), batch, heads, sequence, size),
    present: wanted ? present : undefined,
  };
}

/**
 * The additive attention bias for one query row: the mask (boolean false → -inf, a float mask
 * added as is, a mask shorter than the keys padded with -inf), causal masking and the padding
 * given by nonpad_kv_seqlen.
 */
type BiasRow = (b: number, h: number, i: number, out: Float64Array) => void;

function attentionBias(
  ctx: KernelContext,
  dims: { batch: number; heads: number; queries: number; keys: number },
  causalOffsets: number[] | undefined,
  validKeys: number[] | undefined,
): BiasRow {
  const mask = ctx.optionalInput(3);
  const maskValues = mask && toNumbers(mask);
  const target = [dims.batch, dims.heads, dims.queries];
  let maskStrides: number[] = [];
  let maskLength = 0;
  if (mask) {
    if (mask.dims.length < 2 || mask.dims.length > 4) {
      ctx.fail(`attn_mask must have rank 2 to 4, got [${mask.dims.join(', ')}]`);
    }
    const padded = [...new Array<number>(4 - mask.dims.length).fill(1), ...mask.dims];
    maskLength = padded[3]!;
    if (maskLength > dims.keys) ctx.fail(`attn_mask covers ${maskLength} keys, there are only ${dims.keys}`);
    padded.slice(0, 3).forEach((d, axis) => {
      if (d !== 1 && d !== target[axis]) {
        ctx.fail(
          `attn_mask dims [${mask.dims.join(', ')}] do not broadcast to [${[...target, dims.keys].join(', ')}]`,
        );
      }
    });
    const strides = [padded[1]! * padded[2]! * maskLength, padded[2]! * maskLength, maskLength];
    maskStrides = strides.map((s, axis) => (padded[axis] === 1 ? 0 : s));
  }
  const booleanMask = mask?.type === 'bool';
  return (b, h, i, out) => {
    out.fill(0);
    if (maskValues) {
      const base = b * maskStrides[0]! + h * maskStrides[1]! + i * maskStrides[2]!;
      for (let j = 0; j < dims.keys; j++) {
        if (j >= maskLength) out[j] = -Infinity;
        else if (booleanMask) out[j] = maskValues[base + j] ? 0 : -Infinity;
        else out[j] = maskValues[base + j]!;
      }
    }
    if (causalOffsets) {
      const last = i + causalOffsets[b]!;
      for (let j = Math.max(0, last + 1); j < dims.keys; j++) out[j] = -Infinity;
    }
    if (validKeys) {
      for (let j = validKeys[b]!; j < dims.keys; j++) out[j] = -Infinity;
    }
  };
}

/** What qk_matmul_output holds, by qk_matmul_output_mode. */
const QK_OUTPUT_STAGES = ['scores', 'softcapped', 'biased', 'probabilities'] as const;

function runAttention(ctx: KernelContext): (Tensor | undefined)[] {
  const q = ctx.input(0);
  const k = ctx.input(1);
  const v = ctx.input(2);
  if (q.dims.length !== k.dims.length || q.dims.length !== v.dims.length) {
    ctx.fail(
      `Q, K and V must have one rank, got [${q.dims.join(', ')}], [${k.dims.join(', ')}], [${v.dims.join(', ')}]`,
    );
  }
  const qHeadsAttr = ctx.has('q_num_heads') ? ctx.int('q_num_heads') : undefined;
  const kvHeadsAttr = ctx.has('kv_num_heads') ? ctx.int('kv_num_heads') : undefined;
  const query = readHeads(ctx, q, 'Q', qHeadsAttr);
  const keyCache = presentCache(
    ctx,
    1,
    ctx.optionalInput(4),
    readHeads(ctx, k, 'K', kvHeadsAttr),
    k,
    'past_key',
  );
  const valueCache = presentCache(
    ctx,
    2,
    ctx.optionalInput(5),
    readHeads(ctx, v, 'V', kvHeadsAttr),
    v,
    'past_value',
  );
  const keys = keyCache.attended;
  const values = valueCache.attended;
  const { batch, heads, sequence: queries } = query;
  if (keys.batch !== batch || values.batch !== batch) ctx.fail('Q, K and V must have one batch size');
  if (keys.size !== query.size) ctx.fail(`Q's head size ${query.size} differs from K's ${keys.size}`);
  if (keys.heads !== values.heads || keys.sequence !== values.sequence) {
    ctx.fail('K and V (with their caches) must have the same heads and sequence length');
  }
  if (heads % keys.heads !== 0) {
    ctx.fail(`${heads} query heads cannot be grouped over ${keys.heads} key/value heads`);
  }
  const group = heads / keys.heads;
  const total = keys.sequence;

  const pastLength = total - (k.dims.length === 4 ? k.dims[2]! : k.dims[1]!);
  const nonpadInput = ctx.opset >= 24 ? ctx.optionalInput(6) : undefined;
  const validKeys = nonpadInput && readInts(nonpadInput);
  if (validKeys) {
    if (validKeys.length !== batch) {
      ctx.fail(`nonpad_kv_seqlen must have ${batch} entries, got ${validKeys.length}`);
    }
    for (const n of validKeys) {
      if (n < 0 || n > total) ctx.fail(`nonpad_kv_seqlen ${n} is out of range [0, ${total}]`);
    }
  }
  // Causal masking is aligned bottom-right: a query sees the keys that precede its block plus its own position.
  const causalOffsets =
    ctx.int('is_causal', 0) === 1
      ? Array.from({ length: batch }, (_, b) =>
          ctx.optionalInput(4) === undefined && validKeys ? validKeys[b]! - queries : pastLength,
        )
      : undefined;
  const biasRow = attentionBias(ctx, { batch, heads, queries, keys: total }, causalOffsets, validKeys);

  const scale = ctx.has('scale') ? ctx.float('scale') : 1 / Math.sqrt(query.size);
  const softcap = ctx.float('softcap', 0);
  const mode = ctx.int('qk_matmul_output_mode', 0);
  const stage = QK_OUTPUT_STAGES[mode];
  if (stage === undefined) ctx.fail(`qk_matmul_output_mode must be 0 to 3, got ${mode}`);

  const valueSize = values.size;
  // A 3-D output packs the heads back into the last axis: [batch, queries, heads * value size].
  const packed = q.dims.length === 3;
  const y = floatSink(
    ctx.output(0, q.type, packed ? [batch, queries, heads * valueSize] : [batch, heads, queries, valueSize]),
  );
  const qkOutput = ctx.wantsOutput(3)
    ? floatSink(ctx.output(3, q.type, [batch, heads, queries, total]))
    : undefined;
  const stages = {
    scores: new Float64Array(total),
    softcapped: new Float64Array(total),
    biased: new Float64Array(total),
    probabilities: new Float64Array(total),
  };
  const probabilities = stages.probabilities;
  const bias = new Float64Array(total);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const kvHead = Math.floor(h / group);
      const keysAt = offsetOf(keys, b, kvHead, 0);
      const valuesAt = offsetOf(values, b, kvHead, 0);
      for (let i = 0; i < queries; i++) {
        const row = (b * heads + h) * queries + i;
        const qAt = offsetOf(query, b, h, i);
        for (let j = 0; j < total; j++) {
          let dot = 0;
          const kAt = keysAt + j * keys.positionStride;
          for (let d = 0; d < query.size; d++) dot += query.values[qAt + d]! * keys.values[kAt + d]!;
          stages.scores[j] = dot * scale;
          stages.softcapped[j] =
            softcap > 0 ? softcap * Math.tanh(stages.scores[j]! / softcap) : stages.scores[j]!;
        }
        biasRow(b, h, i, bias);
        for (let j = 0; j < total; j++) stages.biased[j] = stages.softcapped[j]! + bias[j]!;
        // A row with every key masked attends to nothing: its probabilities are all zero, not NaN.
        if (bias.every((x) => x === -Infinity)) probabilities.fill(0);
        else softmaxInto(stages.biased, probabilities);
        qkOutput?.values.set(stages[stage], row * total);
        const yAt = packed ? ((b * queries + i) * heads + h) * valueSize : row * valueSize;
        for (let d = 0; d < valueSize; d++) {
          let sum = 0;
          for (let j = 0; j < total; j++) {
            // Masked keys take no part, even where their values are infinite or NaN.
            const p = probabilities[j]!;
            if (p !== 0) sum += p * values.values[valuesAt + j * values.positionStride + d]!;
          }
          y.values[yAt + d] = sum;
        }
      }
    }
  }
  return [y.finish(), keyCache.present, valueCache.present, qkOutput?.finish()];
}

function softmaxInto(x: Float64Array, out: Float64Array): void {
  let max = -Infinity;
  for (const v of x) if (v > max) max = v;
  let sum = 0;
  for (let j = 0; j < x.length; j++) {
    out[j] = Math.exp(x[j]! - max);
    sum += out[j]!;
  }
  for (let j = 0; j < x.length; j++) out[j] /= sum;
}

/**
 * RotaryEmbedding: rotates pairs of each head's first `rotary_embedding_dim` features by the
 * angle whose cosine and sine the caches hold for the token's position. Pairs are (i, i + dim/2),
 * or adjacent (2i, 2i + 1) when interleaved.
 */
function runRotaryEmbedding(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  const cosCache = ctx.input(1);
  const sinCache = ctx.input(2);
  const positionIds = ctx.optionalInput(3);
  const heads = x.dims.length === 3 ? ctx.int('num_heads') : x.dims[1]!;
  const input = readHeads(ctx, x, 'input', heads);
  const { batch, sequence, size } = input;
  const rotaryDim = ctx.int('rotary_embedding_dim', 0) || size;
  if (rotaryDim > size || rotaryDim % 2 !== 0) {
    ctx.fail(`rotary_embedding_dim ${rotaryDim} must be even and at most ${size}`);
  }
  const half = rotaryDim / 2;
  const interleaved = ctx.int('interleaved', 0) === 1;
  if (cosCache.dims.join() !== sinCache.dims.join()) {
    ctx.fail('cos_cache and sin_cache must have the same dims');
  }
  if (cosCache.dims[cosCache.dims.length - 1] !== half) {
    ctx.fail(
      `the caches' last axis must be rotary_embedding_dim / 2 = ${half}, got [${cosCache.dims.join(', ')}]`,
    );
  }
  const cos = toNumbers(cosCache);
  const sin = toNumbers(sinCache);
  const cacheRow = cacheRowLookup(ctx, cosCache, positionIds, batch, sequence);

  const out = floatSink(ctx.output(0, x.type, x.dims));
  // Features past rotary_embedding_dim pass through unrotated.
  out.values.set(input.values);
  for (let b = 0; b < batch; b++) {
    for (let s = 0; s < sequence; s++) {
      const cacheOffset = cacheRow(b, s) * half;
      for (let h = 0; h < heads; h++) {
        const base = offsetOf(input, b, h, s);
        for (let i = 0; i < half; i++) {
          const [first, second] = interleaved
            ? [base + 2 * i, base + 2 * i + 1]
            : [base + i, base + half + i];
          const c = cos[cacheOffset + i]!;
          const n = sin[cacheOffset + i]!;
          const x1 = input.values[first]!;
          const x2 = input.values[second]!;
          out.values[first] = c * x1 - n * x2;
          out.values[second] = n * x1 + c * x2;
        }
      }
    }
  }
  return [out.finish()];
}

/** Which cache row serves token (b, s): the position id's row, or the token's own [b, s] row. */
function cacheRowLookup(
  ctx: KernelContext,
  cache: Tensor,
  positionIds: Tensor | undefined,
  batch: number,
  sequence: number,
): (b: number, s: number) => number {
  if (!positionIds) {
    if (cache.dims.length !== 3 || cache.dims[0] !== batch || cache.dims[1] !== sequence) {
      ctx.fail(
        `without position_ids the caches must have dims [${batch}, ${sequence}, dim / 2], got [${cache.dims.join(', ')}]`,
      );
    }
    return (b, s) => b * sequence + s;
  }
  if (cache.dims.length !== 2) {
    ctx.fail(`with position_ids the caches must be 2-D, got [${cache.dims.join(', ')}]`);
  }
  if (positionIds.dims.length !== 2 || positionIds.dims[0] !== batch || positionIds.dims[1] !== sequence) {
    ctx.fail(`position_ids must have dims [${batch}, ${sequence}], got [${positionIds.dims.join(', ')}]`);
  }
  const positions = readInts(positionIds);
  const rows = cache.dims[0]!;
  for (const p of positions) {
    if (p < 0 || p >= rows) ctx.fail(`position id ${p} is out of range for caches of ${rows} positions`);
  }
  return (b, s) => positions[b * sequence + s]!;
}

/** SwiGLU: Swish(A) · B, with Swish(a) = a · sigmoid(alpha · a); A and B have identical shapes. */
function runSwiGLU(ctx: KernelContext): Tensor[] {
  const gate = ctx.input(0);
  const linear = ctx.input(1);
  if (gate.type !== linear.type) ctx.fail(`A and B must have one type, got ${gate.type} and ${linear.type}`);
  if (gate.dims.join() !== linear.dims.join() || gate.dims.length !== linear.dims.length) {
    ctx.fail(
      `A and B must have identical dims, got [${gate.dims.join(', ')}] and [${linear.dims.join(', ')}]`,
    );
  }
  const alpha = ctx.float('alpha', 1);
  const a = toNumbers(gate);
  const b = toNumbers(linear);
  const out = floatSink(ctx.output(0, gate.type, gate.dims));
  for (let i = 0; i < gate.size; i++) out.values[i] = (a[i]! * b[i]!) / (1 + Math.exp(-alpha * a[i]!));
  return [out.finish()];
}

export const kernels: KernelDef[] = [
  { op: 'Attention', since: 23, run: runAttention },
  { op: 'RotaryEmbedding', since: 23, run: runRotaryEmbedding },
  { op: 'SwiGLU', since: 28, run: runSwiGLU },
];

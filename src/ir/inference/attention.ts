/**
 * Rules for the attention operators of opset 23: Attention (4-D inputs [batch, heads, sequence,
 * head size], or 3-D ones with the heads folded into the last axis; the key/value cache grows by
 * the new keys) and RotaryEmbedding (shaped like its input).
 */

import type { Dim } from '../graph.js';
import { addDims, divideDim, multiplyDims, tensorType } from './dims.js';
import type { InferenceRule, InferredTypes, RuleContext } from './rule.js';

interface Heads {
  batch: Dim;
  heads: Dim;
  sequence: Dim;
  size: Dim;
}

/** Reads a Q, K or V input as heads, unfolding the 3-D layout with the head count `headsAttribute`. */
function headsOf(ctx: RuleContext, input: number, headsAttribute: string): Heads | undefined {
  const shape = ctx.shape(input);
  if (!shape) return undefined;
  if (shape.length === 4) return { batch: shape[0]!, heads: shape[1]!, sequence: shape[2]!, size: shape[3]! };
  if (shape.length !== 3) {
    ctx.fail(`attention inputs are 3-D or 4-D, input ${input} has rank ${shape.length}`);
  }
  const heads = ctx.has(headsAttribute) ? ctx.int(headsAttribute, 0) : null;
  if (heads === null) ctx.fail(`3-D attention inputs need attribute '${headsAttribute}'`);
  return { batch: shape[0]!, heads, sequence: shape[1]!, size: divideDim(shape[2]!, heads) };
}

function attention(ctx: RuleContext): InferredTypes {
  const elemType = ctx.elemType(0);
  const q = headsOf(ctx, 0, 'q_num_heads');
  const k = headsOf(ctx, 1, 'kv_num_heads');
  const v = headsOf(ctx, 2, 'kv_num_heads');
  const folded = ctx.shape(0)?.length === 3;
  const past = ctx.shape(4);
  const pastLength = ctx.hasInput(4) ? (past?.[2] ?? null) : 0;
  const total = k ? addDims(pastLength, k.sequence) : null;
  const output = (query: Heads, values: Heads) =>
    folded
      ? [query.batch, query.sequence, multiplyDims(query.heads, values.size)]
      : [query.batch, query.heads, query.sequence, values.size];
  const y = q && v ? output(q, v) : undefined;
  const present = (cache: Heads | undefined) => cache && [cache.batch, cache.heads, total, cache.size];
  const scores = q && [q.batch, q.heads, q.sequence, total];
  return [
    tensorType(elemType, y),
    tensorType(ctx.elemType(1), present(k)),
    tensorType(ctx.elemType(2), present(v)),
    tensorType(elemType, scores),
  ];
}

export const rules: InferenceRule[] = [
  { op: 'Attention', infer: attention },
  { op: 'RotaryEmbedding', infer: (ctx) => [ctx.tensor(0)] },
];

/**
 * Heddle's fused operators (domain com.heddle), which the passes make from ONNX patterns: a fused
 * node's output is typed as the pattern it replaced would type it, so a model saved after
 * optimization (`inspect --save-optimized`) still gets static shapes and a full memory plan.
 */

import { HEDDLE_DOMAIN } from '../graph.js';
import { sameAsInput } from './common.js';
import { broadcastShapes, tensorType } from './dims.js';
import { rules as convRules } from './conv.js';
import { rules as matmulRules } from './matmul.js';
import type { InferenceRule, InferredTypes, RuleContext } from './rule.js';

/** Conv, Gemm and MatMul keep their attributes and leading inputs when fused with a bias and activation. */
function asOnnx(op: string): (ctx: RuleContext) => InferredTypes {
  const rule = [...convRules, ...matmulRules].find((r) => r.op === op && !r.domain)!;
  return (ctx) => rule.infer(ctx);
}

/** Elementwise chains and normalizations with broadcast parameters: every input broadcast together. */
function broadcastOfInputs(ctx: RuleContext): InferredTypes {
  const shapes = Array.from({ length: ctx.inputCount }, (_, i) => (ctx.hasInput(i) ? ctx.shape(i) : []));
  return [tensorType(ctx.elemType(0), broadcastShapes(shapes, ctx.fail))];
}

/** softmax(Q·Kᵀ·scale + mask)·V: the batch dims of all four broadcast, then Q's rows and V's columns. */
function attention(ctx: RuleContext): InferredTypes {
  const [q, k, v] = [ctx.shape(0), ctx.shape(1), ctx.shape(2)];
  if (!q || !k || !v) return [tensorType(ctx.elemType(0))];
  const batchOf = (shape: typeof q) => shape.slice(0, -2);
  const mask = ctx.hasInput(3) ? ctx.shape(3) : [];
  const batch = broadcastShapes([batchOf(q), batchOf(k), batchOf(v), mask && batchOf(mask)], ctx.fail);
  return [tensorType(ctx.elemType(0), batch && [...batch, q[q.length - 2]!, v[v.length - 1]!])];
}

export const rules: InferenceRule[] = [
  { domain: HEDDLE_DOMAIN, op: 'FusedConv', infer: asOnnx('Conv') },
  { domain: HEDDLE_DOMAIN, op: 'FusedGemm', infer: asOnnx('Gemm') },
  { domain: HEDDLE_DOMAIN, op: 'FusedMatMul', infer: asOnnx('MatMul') },
  { domain: HEDDLE_DOMAIN, op: 'ElementwiseChain', infer: broadcastOfInputs },
  { domain: HEDDLE_DOMAIN, op: 'LayerNormalization', infer: broadcastOfInputs },
  { domain: HEDDLE_DOMAIN, op: 'RMSNormalization', infer: broadcastOfInputs },
  { domain: HEDDLE_DOMAIN, op: 'Gelu', infer: (ctx) => sameAsInput(ctx) },
  { domain: HEDDLE_DOMAIN, op: 'Attention', infer: attention },
];

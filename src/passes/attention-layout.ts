/**
 * Where the fused Attention node reads its heads. GPT- and BERT-style exports split the heads off
 * a projection with Reshape [B, S, H, D] → Transpose [0, 2, 1, 3], and merge them back after the
 * attention with Transpose [0, 2, 1, 3] → Reshape; each Transpose copies its tensor. With
 * qkv_layout 'BSNH' the Attention node takes the split Transposes' inputs and gives the merge
 * Transpose's output itself, reading and writing the heads in place (rows H·D apart), so the four
 * Transposes go. Where Q, K and V are then the three equal parts of one Split along the last axis
 * of a fused QKV projection, each reshaped to [B, S, H, D], the node takes the projection whole
 * (packed_heads H) and the Split, which copies too, goes as well.
 *
 * The fused node's semantics are the reference's (backends/reference/kernels/fused-transformer.ts).
 */

import { readInts } from '../backends/reference/util.js';
import {
  HEDDLE_DOMAIN,
  intAttribute,
  intsAttribute,
  stringAttribute,
  type Dim,
  type Node,
} from '../ir/graph.js';
import { isOp, rewriteEach, sameKnownDims, type GraphEditor } from './graph-edit.js';
import type { GraphPass, PassContext } from './pass.js';

/** [B, S, H, D] ↔ [B, H, S, D], the head split and merge. */
const HEADS_SWAP = [0, 2, 1, 3];
/** [B, S, H, D] → [B, H, D, S]: K split off and transposed for Q·Kᵀ in one Transpose. */
const HEADS_SWAP_KEYS_LAST = [0, 2, 3, 1];

function isAttention(node: Node): boolean {
  return node.domain === HEDDLE_DOMAIN && node.opType === 'Attention';
}

function layoutOf(node: Node): string {
  return stringAttribute(node, 'qkv_layout', 'BNSH');
}

function isTransposeBy(node: Node | undefined, perm: readonly number[]): node is Node {
  return isOp(node, 'Transpose') && intsAttribute(node, 'perm')?.join() === perm.join();
}

/** The input of `value`'s producer when that is a Transpose by `perm`. */
function transposedFrom(editor: GraphEditor, value: string, perm: readonly number[]): string | undefined {
  const producer = editor.producer(value);
  return isTransposeBy(producer, perm) ? producer.inputs[0] : undefined;
}

/** Attention(Transpose(Q), Transpose(K), Transpose(V)) → Transpose, made one 'BSNH' Attention. */
function readHeadsInPlace(ctx: PassContext, attention: Node): boolean {
  const { editor } = ctx;
  if (layoutOf(attention) !== 'BNSH') return false;
  const [q, k, v] = attention.inputs as [string, string, string];
  const keyRows = intAttribute(attention, 'transpose_k', 0) !== 0;
  const sources = [
    transposedFrom(editor, q, HEADS_SWAP),
    transposedFrom(editor, k, keyRows ? HEADS_SWAP : HEADS_SWAP_KEYS_LAST),
    transposedFrom(editor, v, HEADS_SWAP),
  ];
  const output = attention.outputs[0]!;
  const [merge, ...others] = editor.consumers(output);
  if (sources.some((s) => s === undefined) || others.length > 0 || editor.isGraphOutput(output)) return false;
  if (!isTransposeBy(merge, HEADS_SWAP)) return false;

  const attributes = new Map(attention.attributes);
  attributes.set('qkv_layout', { name: 'qkv_layout', type: 'string', value: 'BSNH' });
  attributes.set('transpose_k', { name: 'transpose_k', type: 'int', value: 1 });
  const inPlace: Node = {
    ...attention,
    inputs: [...(sources as string[]), ...attention.inputs.slice(3)],
    outputs: [merge.outputs[0]!],
    attributes,
  };
  // The split Transposes, unread now unless something else reads them, go with dead code.
  editor.replace([attention, merge], inPlace);
  ctx.record(
    `Attention '${attention.name}' reads Q, K and V as [B, S, H, D] and writes its output so (qkv_layout 'BSNH'): ` +
      `the head Transposes and Transpose '${merge.name}' go`,
    [attention, merge],
  );
  return true;
}

/** The Reshape → Split part behind a 'BSNH' operand: the Split, which output it is, and the operand's dims. */
interface SplitPart {
  split: Node;
  index: number;
  dims: Dim[];
}

function splitPartOf(editor: GraphEditor, operand: string, attention: Node): SplitPart | undefined {
  const reshape = editor.producer(operand);
  if (!isOp(reshape, 'Reshape') || !editor.onlyFeeds(operand, attention)) return undefined;
  const part = reshape.inputs[0]!;
  const split = editor.producer(part);
  const dims = editor.shape(operand);
  if (!isOp(split, 'Split') || !editor.onlyFeeds(part, reshape) || dims?.length !== 4) return undefined;
  return { split, index: split.outputs.indexOf(part), dims };
}

/** Whether `split` cuts the last axis of its rank-3 input into three equal parts. */
function splitsLastAxisInThirds(editor: GraphEditor, split: Node): boolean {
  const dims = editor.shape(split.inputs[0]!);
  if (dims?.length !== 3 || split.outputs.length !== 3) return false;
  const axis = intAttribute(split, 'axis', 0);
  if (axis !== -1 && axis !== 2) return false;
  const sizes = splitSizes(editor, split);
  return sizes !== undefined && (sizes.length === 0 || sizes.every((size) => size === sizes[0]));
}

/** The Split's sizes (an input from opset 13, an attribute before): [] for equal parts, undefined when not constant. */
function splitSizes(editor: GraphEditor, split: Node): number[] | undefined {
  if (split.opset < 13) return intsAttribute(split, 'split') ?? [];
  const sizes = split.inputs[1] ?? '';
  if (sizes === '') return [];
  const constant = editor.constant(sizes);
  return constant && readInts(constant);
}

/** A 'BSNH' Attention over Reshape(Split(P)) × 3 takes P whole (packed_heads). */
function readPackedProjection(ctx: PassContext, attention: Node): boolean {
  const { editor } = ctx;
  if (layoutOf(attention) !== 'BSNH' || intAttribute(attention, 'packed_heads', 0) !== 0) return false;
  const parts = attention.inputs.slice(0, 3).map((operand) => splitPartOf(editor, operand, attention));
  if (parts.some((p) => p === undefined)) return false;
  const [q, k, v] = parts as [SplitPart, SplitPart, SplitPart];
  if (k.split !== q.split || v.split !== q.split || [q.index, k.index, v.index].join() !== '0,1,2')
    return false;
  if (!splitsLastAxisInThirds(editor, q.split)) return false;
  const packed = q.split.inputs[0]!;
  const packedDims = editor.shape(packed)!;
  const [, , heads, depth] = q.dims;
  const sameOperandDims = [k, v].every((part) => sameKnownDims(part.dims, q.dims));
  const leadingMatch = q.dims[0] === packedDims[0] && q.dims[1] === packedDims[1];
  if (typeof heads !== 'number' || typeof depth !== 'number' || !sameOperandDims || !leadingMatch)
    return false;
  if (packedDims[2] !== 3 * heads * depth) return false;

  const attributes = new Map(attention.attributes);
  attributes.set('packed_heads', { name: 'packed_heads', type: 'int', value: heads });
  const reshapes = attention.inputs.slice(0, 3).map((operand) => editor.producer(operand)!);
  const packedAttention: Node = {
    ...attention,
    inputs: [packed, '', '', ...attention.inputs.slice(3)],
    attributes,
  };
  editor.replace([...reshapes, q.split, attention], packedAttention);
  ctx.record(
    `Attention '${attention.name}' reads Q, K and V from the QKV projection '${packed}' (packed_heads ${heads}): ` +
      `Split '${q.split.name}' and its Reshapes go`,
    [q.split, ...reshapes, attention],
  );
  return true;
}

export const passes: GraphPass[] = [
  {
    name: 'attention-heads-in-place',
    level: 'extended',
    run: (ctx) => rewriteEach(ctx.editor, isAttention, (node) => readHeadsInPlace(ctx, node)),
  },
  {
    name: 'attention-packed-qkv',
    level: 'extended',
    run: (ctx) => rewriteEach(ctx.editor, isAttention, (node) => readPackedProjection(ctx, node)),
  },
];

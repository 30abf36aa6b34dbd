/**
 * com.heddle::Attention(Q, K, V, mask?) — softmax(Q·K'·scale + mask)·V, or with mask_mode 'select'
 * softmax(where(mask, Q·K'·scale, mask_fill))·V, the fused scaled dot-product attention the
 * fuse-transformer pass makes (exact semantics: the reference's fused-transformer.ts) — on the
 * generated flash-style kernel of codegen/attention.ts. The batch
 * and head axes of Q, K, V and the mask broadcast numpy-style; each (batch, head) pair of the
 * output gets a row of the address table the kernel walks, so broadcasting costs nothing per
 * element. The mask may vary along both of the scores' axes or be constant along either.
 *
 * With qkv_layout 'BSNH' the heads are read in place, rows H·D apart (and 3·H·D apart in a packed
 * QKV input), so no Transpose or Split has to make them contiguous first.
 *
 * Claimed when every shape is known and Q, K, V and the output are float32, the mask float32 to
 * add or bool to select (plans are specialised to input shapes); a run with other shapes or types
 * than the plan's goes to the reference kernel.
 */

import type { DataType } from '../../../core/dtype.js';
import {
  HEDDLE_DOMAIN,
  intAttribute,
  type Node,
  stringAttribute,
  type ValueType,
} from '../../../ir/graph.js';
import type { KernelArgs, KernelOutputs, PreparedKernel } from '../../backend.js';
import { broadcastIndex, broadcastShapes, sameDims, shapeSize } from '../../reference/util.js';
import { generatedKernel } from '../codegen/compile.js';
import { HeapOperands } from '../codegen/elementwise.js';
import {
  attentionKernelName,
  emitAttention,
  MASK_ELEMENT_BYTES,
  PAIR_ENTRY_BYTES,
  threadScratchBytes,
  type AttentionSpec,
  type MaskMode,
  type RowStrides,
} from '../codegen/attention.js';
import { HEAP_ALIGNMENT } from '../heap.js';
import { claimsFloat32, shapeOf, tensorInput, typeOf, type WasmEnv, type WasmKernelDef } from '../kernel.js';

/** Tiles per thread the query rows are cut into, for the stealing to even out. */
const TILES_PER_THREAD = 6;
/** Query rows per block of the generated kernel: row tiles are multiples of it. */
const BLOCK_ROWS = 4;

/** The element type each mask mode takes. */
const MASK_TYPES: Readonly<Record<MaskMode, DataType>> = { add: 'float32', select: 'bool' };

/** Everything a run needs that follows from the shapes. */
interface AttentionLayout {
  spec: AttentionSpec;
  /** Per input slot (Q, K, V, mask), its dims, or undefined for an empty slot. */
  inputDims: (readonly number[] | undefined)[];
  /** The element type of each input slot. */
  inputTypes: DataType[];
  outputDims: number[];
  queries: number;
  /** Per output (batch, head) pair, the element offset of its matrix in Q, K, V, the mask and the output. */
  offsets: Int32Array[];
}

/** How the node lays out Q, K, V and its output (the reference's fused-transformer.ts says what each means). */
interface OperandLayout {
  keyRows: boolean;
  maskMode: MaskMode;
  /** qkv_layout 'BSNH': [batch, sequence, heads, depth] operands, read in place with row strides. */
  sequenceFirst: boolean;
  /** packed_heads: Q, K and V are the thirds of input 0's last axis, this many heads each. */
  packedHeads: number;
}

class ShapeError extends Error {}

function fail(reason: string): never {
  throw new ShapeError(reason);
}

/** The layout for these input dims, or throws a ShapeError naming what does not fit. */
function layoutFor(
  dims: readonly (readonly number[] | undefined)[],
  operands: OperandLayout,
  relaxedSimd: boolean,
): AttentionLayout {
  const shapes = operands.sequenceFirst
    ? sequenceFirstShapes(dims, operands)
    : headsFirstShapes(dims, operands);
  const { queries, keys, depth, valueWidth, batch, offsets, rowStrides } = shapes;
  const maskDims = dims[3];
  const maskFull = maskDims && [...new Array<number>(Math.max(0, 2 - maskDims.length)).fill(1), ...maskDims];
  const [maskRows, maskKeys] = maskFull ? (maskFull.slice(-2) as [number, number]) : [1, 1];
  if ((maskRows !== 1 && maskRows !== queries) || (maskKeys !== 1 && maskKeys !== keys)) {
    fail(`a mask of dims [${maskDims!.join(', ')}] would broadcast the scores [${queries}, ${keys}]`);
  }
  const maskBatch = maskFull ? maskFull.slice(0, -2) : [];
  if (!fitsBatch(maskBatch, batch)) {
    fail(
      `a mask of dims [${maskDims!.join(', ')}] would broadcast the batch and heads [${batch.join(', ')}]`,
    );
  }
  const pairs = shapeSize(batch);
  const maskOffsets = maskFull
    ? broadcastIndex(maskBatch, batch).map((at) => at * maskRows * maskKeys)
    : new Int32Array(pairs);
  const spec: AttentionSpec = {
    keys,
    depth,
    valueWidth,
    keyRows: operands.keyRows,
    mask: !maskFull ? 'none' : maskKeys === 1 && keys > 1 ? 'per-row' : 'per-key',
    maskPerQuery: maskRows > 1,
    maskMode: operands.maskMode,
    relaxedSimd,
    rowStrides,
  };
  return {
    spec,
    inputDims: [...dims],
    inputTypes: ['float32', 'float32', 'float32', MASK_TYPES[operands.maskMode]],
    outputDims: shapes.outputDims,
    queries,
    offsets: [...offsets.slice(0, 3), maskOffsets, offsets[3]!],
  };
}

/** Whether every axis of `dims` is 1 or the batch's (the mask's batch axes, right-aligned). */
function fitsBatch(dims: readonly number[], batch: readonly number[]): boolean {
  const skip = batch.length - dims.length;
  return skip >= 0 && dims.every((d, i) => d === 1 || d === batch[skip + i]);
}

/** What the two operand layouts resolve to: sizes, the (batch, head) axes, offsets of Q, K, V and the output per pair. */
interface OperandShapes {
  queries: number;
  keys: number;
  depth: number;
  valueWidth: number;
  batch: number[];
  outputDims: number[];
  offsets: Int32Array[];
  rowStrides?: RowStrides;
}

/** Heads first: [..., rows, columns] matrices whose leading axes (the mask's too) broadcast numpy-style. */
function headsFirstShapes(
  dims: readonly (readonly number[] | undefined)[],
  operands: OperandLayout,
): OperandShapes {
  const [qDims, kDims, vDims] = dims as [number[] | undefined, number[] | undefined, number[] | undefined];
  if (!qDims || !kDims || !vDims) fail('Q, K and V are all needed');
  if (qDims.length < 2 || kDims.length < 2 || vDims.length < 2) fail('Q, K and V need rank 2 or more');
  const [queries, depth] = qDims.slice(-2) as [number, number];
  const [kFirst, kSecond] = kDims.slice(-2) as [number, number];
  const [keys, kDepth] = operands.keyRows ? [kFirst, kSecond] : [kSecond, kFirst];
  const [valueRows, valueWidth] = vDims.slice(-2) as [number, number];
  checkSizes(keys, depth, kDepth, valueRows, valueWidth);
  const batchOf = (d: readonly number[]) => d.slice(0, -2);
  // The mask's leading axes broadcast with the others' (a [2, 1, S, S] mask over one batch makes two).
  const mask = dims[3] && dims[3].length > 2 ? [dims[3]] : [];
  const batch = broadcastShapes([qDims, kDims, vDims, ...mask].map(batchOf), fail);
  const pairs = shapeSize(batch);
  const offsetsIn = (d: readonly number[], matrixSize: number) =>
    broadcastIndex(batchOf(d), batch).map((at) => at * matrixSize);
  return {
    queries,
    keys,
    depth,
    valueWidth,
    batch,
    outputDims: [...batch, queries, valueWidth],
    offsets: [
      offsetsIn(qDims, queries * depth),
      offsetsIn(kDims, keys * depth),
      offsetsIn(vDims, keys * valueWidth),
      Int32Array.from({ length: pairs }, (_, i) => i * queries * valueWidth),
    ],
  };
}

/**
 * Sequence first ('BSNH'): Q [B, Sq, H, D], K [B, Nk, H, D], V [B, Nk, H, Dv] and the output
 * [B, Sq, H, Dv], or Q, K and V packed side by side in input 0 [B, S, 3·H·D]; a pair (b, h) reads
 * its rows H·D (or 3·H·D) floats apart. No broadcasting of B or H here (the reference has it).
 */
function sequenceFirstShapes(
  dims: readonly (readonly number[] | undefined)[],
  operands: OperandLayout,
): OperandShapes {
  if (!operands.keyRows) fail(`qkv_layout 'BSNH' takes K as key rows`);
  const operandDims =
    operands.packedHeads > 0 ? unpackedDims(dims[0], operands.packedHeads) : dims.slice(0, 3);
  const [qDims, kDims, vDims] = operandDims as [
    number[] | undefined,
    number[] | undefined,
    number[] | undefined,
  ];
  if (!qDims || !kDims || !vDims) fail('Q, K and V are all needed');
  if (qDims.length !== 4 || kDims.length !== 4 || vDims.length !== 4) fail(`'BSNH' operands have rank 4`);
  const [batchSize, queries, heads, depth] = qDims as [number, number, number, number];
  const [kBatch, keys, kHeads, kDepth] = kDims as [number, number, number, number];
  const [vBatch, valueRows, vHeads, valueWidth] = vDims as [number, number, number, number];
  if (kBatch !== batchSize || vBatch !== batchSize || kHeads !== heads || vHeads !== heads) {
    fail(`the wasm attention does not broadcast 'BSNH' batches or heads`);
  }
  checkSizes(keys, depth, kDepth, valueRows, valueWidth);
  const packed = operands.packedHeads > 0;
  const strideOf = (width: number) => (packed ? heads * (2 * depth + valueWidth) : heads * width);
  const rowStrides = {
    query: strideOf(depth),
    key: strideOf(depth),
    value: strideOf(valueWidth),
    output: heads * valueWidth,
  };
  // Where each operand starts in its tensor: packed, K and V follow Q's heads along the row.
  const starts = packed ? [0, heads * depth, 2 * heads * depth] : [0, 0, 0];
  const pairOffsets = (start: number, rows: number, stride: number, width: number) =>
    Int32Array.from(
      { length: batchSize * heads },
      (_, pair) => start + Math.floor(pair / heads) * rows * stride + (pair % heads) * width,
    );
  return {
    queries,
    keys,
    depth,
    valueWidth,
    batch: [batchSize, heads],
    outputDims: [batchSize, queries, heads, valueWidth],
    offsets: [
      pairOffsets(starts[0]!, queries, rowStrides.query, depth),
      pairOffsets(starts[1]!, keys, rowStrides.key, depth),
      pairOffsets(starts[2]!, keys, rowStrides.value, valueWidth),
      pairOffsets(0, queries, rowStrides.output, valueWidth),
    ],
    rowStrides,
  };
}

/** The dims of Q, K and V as a packed [B, S, 3·H·D] input holds them. */
function unpackedDims(packed: readonly number[] | undefined, heads: number): number[][] {
  if (!packed || packed.length !== 3 || packed[2]! % (3 * heads) !== 0) {
    fail(`a packed QKV input of dims [${packed?.join(', ')}] does not split into 3 × ${heads} heads`);
  }
  const [batch, sequence, width] = packed as [number, number, number];
  const operand = [batch, sequence, heads, width / (3 * heads)];
  return [operand, operand, operand];
}

/** Fails unless K's depth is Q's, V has a row per key, and none of the sizes is 0. */
function checkSizes(
  keys: number,
  depth: number,
  kDepth: number,
  valueRows: number,
  valueWidth: number,
): void {
  if (kDepth !== depth) fail(`Q's depth ${depth} and K's ${kDepth} differ`);
  if (valueRows !== keys) fail(`V has ${valueRows} rows for ${keys} keys`);
  if (keys < 1 || depth < 1 || valueWidth < 1)
    fail('the kernel needs keys, depth and value width of 1 or more');
}

/** The node's operand layout, or a reason the wasm kernel cannot read its attributes. */
function operandLayoutOf(node: Node): OperandLayout | string {
  const maskMode = maskModeOf(node);
  if (maskMode === undefined) return `attribute 'mask_mode' must be 'add' or 'select'`;
  const layoutName = stringAttribute(node, 'qkv_layout', 'BNSH');
  if (layoutName !== 'BNSH' && layoutName !== 'BSNH')
    return `attribute 'qkv_layout' must be 'BNSH' or 'BSNH'`;
  const packedHeads = intAttribute(node, 'packed_heads', 0);
  if (packedHeads < 0 || (packedHeads > 0 && layoutName !== 'BSNH'))
    return `packed_heads needs qkv_layout 'BSNH'`;
  return {
    keyRows: intAttribute(node, 'transpose_k', 0) !== 0,
    maskMode,
    sequenceFirst: layoutName === 'BSNH',
    packedHeads,
  };
}

/** The node's input slots Q, K, V and the mask: '' where empty or absent. */
function inputSlots(node: Node): string[] {
  return [0, 1, 2, 3].map((i) => node.inputs[i] ?? '');
}

function floatOf(node: Node, name: string): number | undefined {
  const attribute = node.attributes.get(name);
  return attribute?.type === 'float' ? attribute.value : undefined;
}

/** The mask mode, or undefined when the attribute names none (the reference kernel says why). */
function maskModeOf(node: Node): MaskMode | undefined {
  const attribute = node.attributes.get('mask_mode');
  if (!attribute) return 'add';
  return attribute.type === 'string' && (attribute.value === 'add' || attribute.value === 'select')
    ? attribute.value
    : undefined;
}

function claims(node: Node, types: ReadonlyMap<string, ValueType>): true | string {
  const float = claimsFloat32(node, types, [0, 1, 2]);
  if (float !== true) return float;
  if (floatOf(node, 'scale') === undefined) return `attribute 'scale' must be a float`;
  const operands = operandLayoutOf(node);
  if (typeof operands === 'string') return operands;
  const slots = inputSlots(node);
  const mask = slots[3]!;
  const maskType = mask === '' ? undefined : typeOf(types, mask);
  if (maskType !== undefined && maskType !== MASK_TYPES[operands.maskMode]) {
    return `a '${operands.maskMode}' mask must be ${MASK_TYPES[operands.maskMode]}, '${mask}' is ${maskType}`;
  }
  const dims = slots.map((name) => (name === '' ? undefined : shapeOf(types, name)));
  if (slots.some((name, i) => name !== '' && dims[i] === undefined))
    return 'the wasm attention needs static shapes';
  try {
    layoutFor(dims, operands, false);
    return true;
  } catch (error) {
    if (error instanceof ShapeError) return error.message;
    throw error;
  }
}

function prepare(node: Node, env: WasmEnv): PreparedKernel {
  const slots = inputSlots(node);
  const layout = layoutFor(
    slots.map((name) => (name === '' ? undefined : shapeOf(env.types, name))),
    operandLayoutOf(node) as OperandLayout,
    env.features.relaxedSimd,
  );
  const { spec, queries, offsets, outputDims } = layout;
  const name = attentionKernelName(spec);
  const kernel = generatedKernel(env.runtime, name, 'attention', (module) => emitAttention(module, spec));
  const reference = env.reference(node);
  const operands = new HeapOperands(env, node);
  const pairs = offsets[0]!.length;
  const threads = env.threads;
  const scratchStride = Math.ceil(threadScratchBytes(spec) / HEAP_ALIGNMENT) * HEAP_ALIGNMENT;
  const rowsPerTile = rowsPerTileFor(queries, pairs, threads);
  const scale = floatOf(node, 'scale')!;
  const fill = floatOf(node, 'mask_fill') ?? -Infinity;
  const elementBytes = [4, 4, 4, MASK_ELEMENT_BYTES[spec.maskMode], 4];
  const work = pairs * queries * spec.keys * (spec.depth + spec.valueWidth);
  const present = layout.inputDims.map((dims) => dims !== undefined);

  const run = (args: KernelArgs): KernelOutputs | Promise<KernelOutputs> => {
    const inputs = present.map((given, i) => (given ? tensorInput(args, i, node) : undefined));
    const fits = inputs.every(
      (t, i) =>
        t === undefined || (t.type === layout.inputTypes[i] && sameDims(t.dims, layout.inputDims[i]!)),
    );
    if (!fits) return reference.run(args);
    const output = args.allocateOutput(0, 'float32', outputDims);
    if (output.size === 0) return [output];
    // A packed QKV input is staged once and serves as Q, K and V.
    const staged = inputs.map((t, i) => (t === undefined ? undefined : operands.input(t, i, i)));
    const addresses = [0, 1, 2].map((i) => staged[i] ?? staged[0]!);
    addresses.push(staged[3] ?? 0, operands.output(output, 4));
    const table = operands.scratch(5, pairs * PAIR_ENTRY_BYTES);
    const scratch = operands.scratch(6, threads * scratchStride);
    writePairTable(env, table, addresses, offsets, elementBytes);
    clearTags(env, scratch, scratchStride, threads);
    const done = env.runtime.parallel(
      kernel,
      { dims: [pairs, queries], tile: [1, rowsPerTile] },
      [table, scratch, scratchStride, scale, fill],
      work,
    );
    return operands.finish(done, [output]);
  };
  return { name, run };
}

/** Query rows per tile: whole blocks, about TILES_PER_THREAD tiles per thread over all pairs. */
function rowsPerTileFor(queries: number, pairs: number, threads: number): number {
  if (threads === 1) return Math.max(queries, 1);
  const tilesPerPair = Math.ceil((threads * TILES_PER_THREAD) / pairs);
  const rows = Math.ceil(queries / tilesPerPair / BLOCK_ROWS) * BLOCK_ROWS;
  return Math.max(rows, BLOCK_ROWS);
}

/** Byte addresses of each pair's Q, K, V, mask and output matrices. */
function writePairTable(
  env: WasmEnv,
  table: number,
  addresses: number[],
  offsets: Int32Array[],
  elementBytes: readonly number[],
): void {
  const pairs = offsets[0]!.length;
  const view = env.heap.view('int32', table, pairs * 5) as Int32Array;
  for (let pair = 0; pair < pairs; pair++) {
    for (let operand = 0; operand < 5; operand++) {
      view[pair * 5 + operand] = addresses[operand]! + elementBytes[operand]! * offsets[operand]![pair]!;
    }
  }
}

/** The threads' buffers hold no Kᵀ yet: K may have changed since the last run. */
function clearTags(env: WasmEnv, scratch: number, stride: number, threads: number): void {
  const view = env.heap.view('int32', scratch, (threads * stride) / 4) as Int32Array;
  for (let thread = 0; thread < threads; thread++) view[(thread * stride) / 4] = 0;
}

export const kernels: WasmKernelDef[] = [
  {
    domain: HEDDLE_DOMAIN,
    op: 'Attention',
    since: 1,
    claims,
    prepare,
  },
];

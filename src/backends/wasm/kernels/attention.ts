/**
 * com.heddle::Attention(Q, K, V, mask?) — softmax(Q·K'·scale + mask)·V, or with mask_mode 'select'
 * softmax(where(mask, Q·K'·scale, mask_fill))·V, the fused scaled dot-product attention the
 * fuse-transformer pass makes (exact semantics: the reference's fused-transformer.ts) — on the
 * generated flash-style kernel of codegen/attention.ts. The batch
 * and head axes of Q, K, V and the mask broadcast numpy-style; each (batch, head) pair of the
 * output gets a row of the address table the kernel walks, so broadcasting costs nothing per
 * element. The mask may vary along both of the scores' axes or be constant along either.
 *
 * Claimed when every shape is known and Q, K, V and the output are float32, the mask float32 to
 * add or bool to select (plans are specialised to input shapes); a run with other shapes or types
 * than the plan's goes to the reference kernel.
 */

import type { DataType } from '../../../core/dtype.js';
import { HEDDLE_DOMAIN, type Node, type ValueType } from '../../../ir/graph.js';
import type { KernelArgs, KernelOutputs, PreparedKernel } from '../../backend.js';
import { broadcastIndex, broadcastShapes, shapeSize } from '../../reference/util.js';
import { generatedKernel } from '../codegen/compile.js';
import { finishStaged } from '../codegen/elementwise.js';
import {
  attentionKernelName,
  emitAttention,
  MASK_ELEMENT_BYTES,
  PAIR_ENTRY_BYTES,
  threadScratchBytes,
  type AttentionSpec,
  type MaskMode,
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
  inputDims: (readonly number[])[];
  /** The element type of each input. */
  inputTypes: DataType[];
  outputDims: number[];
  queries: number;
  /** Per output (batch, head) pair, the element offset of its matrix in Q, K, V, the mask and the output. */
  offsets: Int32Array[];
}

class ShapeError extends Error {}

function fail(reason: string): never {
  throw new ShapeError(reason);
}

/** The layout for these input dims, or throws a ShapeError naming what does not fit. */
function layoutFor(
  dims: readonly (readonly number[] | undefined)[],
  keyRows: boolean,
  maskMode: MaskMode,
  relaxedSimd: boolean,
): AttentionLayout {
  const [qDims, kDims, vDims, maskDims] = dims as [number[], number[], number[], number[] | undefined];
  if (qDims.length < 2 || kDims.length < 2 || vDims.length < 2) fail('Q, K and V need rank 2 or more');
  const [queries, depth] = qDims.slice(-2) as [number, number];
  const [kFirst, kSecond] = kDims.slice(-2) as [number, number];
  const [keys, kDepth] = keyRows ? [kFirst, kSecond] : [kSecond, kFirst];
  const [valueRows, valueWidth] = vDims.slice(-2) as [number, number];
  if (kDepth !== depth) fail(`Q's depth ${depth} and K's ${kDepth} differ`);
  if (valueRows !== keys) fail(`V has ${valueRows} rows for ${keys} keys`);
  if (keys < 1 || depth < 1 || valueWidth < 1)
    fail('the kernel needs keys, depth and value width of 1 or more');
  const maskFull = maskDims && [...new Array<number>(Math.max(0, 2 - maskDims.length)).fill(1), ...maskDims];
  const [maskRows, maskKeys] = maskFull ? (maskFull.slice(-2) as [number, number]) : [1, 1];
  if ((maskRows !== 1 && maskRows !== queries) || (maskKeys !== 1 && maskKeys !== keys)) {
    fail(`a mask of dims [${maskDims!.join(', ')}] would broadcast the scores [${queries}, ${keys}]`);
  }
  const batchOf = (d: readonly number[]) => d.slice(0, -2);
  const batch = broadcastShapes([qDims, kDims, vDims, ...(maskFull ? [maskFull] : [])].map(batchOf), fail);
  const pairs = shapeSize(batch);
  const offsetsIn = (d: readonly number[], matrixSize: number) =>
    broadcastIndex(batchOf(d), batch).map((at) => at * matrixSize);
  const offsets = [
    offsetsIn(qDims, queries * depth),
    offsetsIn(kDims, keys * depth),
    offsetsIn(vDims, keys * valueWidth),
    maskFull ? offsetsIn(maskFull, maskRows * maskKeys) : new Int32Array(pairs),
    Int32Array.from({ length: pairs }, (_, i) => i * queries * valueWidth),
  ];
  const spec: AttentionSpec = {
    keys,
    depth,
    valueWidth,
    keyRows,
    mask: !maskFull ? 'none' : maskKeys === 1 && keys > 1 ? 'per-row' : 'per-key',
    maskPerQuery: maskRows > 1,
    maskMode,
    relaxedSimd,
  };
  const inputDims = dims.filter((d): d is number[] => d !== undefined);
  return {
    spec,
    inputDims,
    inputTypes: inputDims.map((_, i) => (i === 3 ? MASK_TYPES[maskMode] : 'float32')),
    outputDims: [...batch, queries, valueWidth],
    queries,
    offsets,
  };
}

function keyRowsOf(node: Node): boolean {
  const attribute = node.attributes.get('transpose_k');
  return attribute?.type === 'int' && attribute.value !== 0;
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
  const maskMode = maskModeOf(node);
  if (maskMode === undefined) return `attribute 'mask_mode' must be 'add' or 'select'`;
  const mask = node.inputs[3] ?? '';
  const maskType = mask === '' ? undefined : typeOf(types, mask);
  if (maskType !== undefined && maskType !== MASK_TYPES[maskMode]) {
    return `a '${maskMode}' mask must be ${MASK_TYPES[maskMode]}, '${mask}' is ${maskType}`;
  }
  const names = node.inputs.slice(0, 4).filter((name) => name !== '');
  const dims = names.map((name) => shapeOf(types, name));
  if (names.length < 3 || dims.some((d) => d === undefined)) return 'the wasm attention needs static shapes';
  try {
    layoutFor(dims, keyRowsOf(node), maskMode, false);
    return true;
  } catch (error) {
    if (error instanceof ShapeError) return error.message;
    throw error;
  }
}

function prepare(node: Node, env: WasmEnv): PreparedKernel {
  const names = node.inputs.slice(0, 4).filter((name) => name !== '');
  const layout = layoutFor(
    names.map((name) => shapeOf(env.types, name)),
    keyRowsOf(node),
    maskModeOf(node)!,
    env.features.relaxedSimd,
  );
  const { spec, queries, offsets, outputDims } = layout;
  const name = attentionKernelName(spec);
  const kernel = generatedKernel(env.runtime, name, 'attention', (module) => emitAttention(module, spec));
  const reference = env.reference(node);
  const staging = env.staging();
  const pairs = offsets[0]!.length;
  const threads = env.threads;
  const scratchStride = Math.ceil(threadScratchBytes(spec) / HEAP_ALIGNMENT) * HEAP_ALIGNMENT;
  const rowsPerTile = rowsPerTileFor(queries, pairs, threads);
  const scale = floatOf(node, 'scale')!;
  const fill = floatOf(node, 'mask_fill') ?? -Infinity;
  const elementBytes = [4, 4, 4, MASK_ELEMENT_BYTES[spec.maskMode], 4];
  const work = pairs * queries * spec.keys * (spec.depth + spec.valueWidth);

  const run = (args: KernelArgs): KernelOutputs | Promise<KernelOutputs> => {
    const inputs = layout.inputDims.map((_, i) => tensorInput(args, i, node));
    if (!inputs.every((t, i) => t.type === layout.inputTypes[i] && sameDims(t.dims, layout.inputDims[i]!))) {
      return reference.run(args);
    }
    const output = args.allocateOutput(0, 'float32', outputDims);
    if (output.size === 0) return [output];
    const addresses = inputs.map((t, i) => staging.input(t, i));
    addresses[3] ??= 0;
    addresses.push(staging.output(output, 4));
    const table = staging.block(5, pairs * PAIR_ENTRY_BYTES);
    const scratch = staging.block(6, threads * scratchStride);
    writePairTable(env, table, addresses, offsets, elementBytes);
    clearTags(env, scratch, scratchStride, threads);
    const done = env.runtime.parallel(
      kernel,
      { dims: [pairs, queries], tile: [1, rowsPerTile] },
      [table, scratch, scratchStride, scale, fill],
      work,
    );
    return finishStaged(staging, done, [output]);
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

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
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

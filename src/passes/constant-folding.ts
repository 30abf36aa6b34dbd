/**
 * Constant folding: a node whose inputs are all constants is run once, now, with the reference
 * backend's kernel, and its outputs become initializers under the same names, so nothing that
 * reads them changes. Constant nodes become initializers the same way, and Shape and Size fold
 * when the type of their input records a fully static shape (once inference has run with the
 * shapes of actual inputs, whole shape computations fold this way). Nodes with subgraphs, nodes
 * that draw random numbers, nodes the reference backend cannot run and nodes whose kernel fails
 * are left for run time, where their errors surface with the model's context.
 *
 * Also exports the constant and shape lookups the elimination passes share.
 */

import { bytesPerElement, type DataType } from '../core/dtype.js';
import { Tensor } from '../core/tensor.js';
import { evaluateNode, referenceRegistry } from '../backends/reference/backend.js';
import { readInts, scalarNumber, shapeSize } from '../backends/reference/util.js';
import { intAttribute, type Node } from '../ir/graph.js';
import { hasSubgraphs, isRandom } from './graph-edit.js';
import type { GraphPass, PassContext } from './pass.js';

/**
 * Folding trades run time for bytes in the model. A node stays when its outputs would pass
 * LARGE_OUTPUT_BYTES and more than GROWTH_FACTOR times the bytes of its constant inputs: such a
 * node (ConstantOfShape, Expand, Tile, Range, an outer product...) costs less to compute at run
 * time than its result costs to hold. Outputs no bigger than the inputs (a transposed weight)
 * always fold.
 */
const LARGE_OUTPUT_BYTES = 64 * 1024;
const GROWTH_FACTOR = 2;

export const passes: GraphPass[] = [{ name: 'constant-folding', level: 'basic', run: foldConstants }];

function foldConstants(ctx: PassContext): boolean {
  let changed = false;
  for (const node of [...ctx.graph.nodes]) {
    if (node.domain === '' && (node.opType === 'Shape' || node.opType === 'Size')) {
      if (foldStaticShape(ctx, node)) {
        changed = true;
        continue;
      }
    }
    if (foldNode(ctx, node)) changed = true;
  }
  return changed;
}

/** The value's dims when every one of them is a known size. */
function knownDims(ctx: PassContext, value: string): number[] | undefined {
  const shape = ctx.editor.shape(value);
  return shape?.every((d): d is number => typeof d === 'number') ? shape : undefined;
}

function foldStaticShape(ctx: PassContext, node: Node): boolean {
  const dims = knownDims(ctx, node.inputs[0] ?? '');
  const output = node.outputs[0] ?? '';
  if (!dims || output === '') return false;
  const values = node.opType === 'Size' ? [shapeSize(dims)] : shapeSlice(node, dims);
  const tensor = new Tensor('int64', values.map(BigInt), node.opType === 'Size' ? [] : [values.length]);
  ctx.editor.remove(node);
  ctx.graph.initializers.set(output, tensor);
  ctx.record(
    `folded ${node.opType} '${node.name}' of '${node.inputs[0]}' (static shape [${dims.join(', ')}]) ` +
      `into initializer '${output}'`,
    [node],
  );
  return true;
}

/** The dims Shape returns: all of them, or from opset 15 the [start, end) range its attributes name. */
function shapeSlice(node: Node, dims: number[]): number[] {
  const rank = dims.length;
  const bound = (name: string, fallback: number) => {
    const at = node.opset >= 15 ? intAttribute(node, name, fallback) : fallback;
    return Math.min(Math.max(at < 0 ? at + rank : at, 0), rank);
  };
  return dims.slice(bound('start', 0), bound('end', rank));
}

function foldNode(ctx: PassContext, node: Node): boolean {
  if (hasSubgraphs(node) || isRandom(node)) return false;
  if (typeof referenceRegistry.find(node) === 'string') return false;
  const inputs = node.inputs.map((name) => (name === '' ? undefined : ctx.editor.constant(name)));
  if (inputs.some((t, i) => t === undefined && node.inputs[i] !== '')) return false;
  const isConstantNode = node.opType === 'Constant' && node.domain === '';
  const inputBytes = inputs.reduce((sum, t) => sum + (t ? tensorBytes(t) : 0), 0);
  const predicted = isConstantNode ? undefined : predictedOutputBytes(node, inputs);
  if (predicted !== undefined && bloats(predicted, inputBytes)) return false;
  const outputs = evaluate(node, inputs);
  if (!outputs) return false;
  const outputBytes = [...outputs.values()].reduce((sum, t) => sum + tensorBytes(t), 0);
  if (!isConstantNode && bloats(outputBytes, inputBytes)) return false;
  ctx.editor.remove(node);
  for (const [name, tensor] of outputs) ctx.graph.initializers.set(name, tensor);
  const names = [...outputs.keys()].map((n) => `'${n}'`).join(', ');
  ctx.record(
    isConstantNode
      ? `turned Constant '${node.name}' into initializer ${names}`
      : `folded ${node.opType} '${node.name}' on constant inputs into initializer ${names}`,
    [node],
  );
  return true;
}

function bloats(outputBytes: number, inputBytes: number): boolean {
  return outputBytes > LARGE_OUTPUT_BYTES && outputBytes > GROWTH_FACTOR * inputBytes;
}

/** The node's named outputs by name, or undefined when its kernel fails or yields a non-tensor. */
function evaluate(node: Node, inputs: (Tensor | undefined)[]): Map<string, Tensor> | undefined {
  let results;
  try {
    results = evaluateNode(node, inputs);
  } catch {
    // Left in the graph, the node fails again at run time, where the error names the model.
    return undefined;
  }
  const outputs = new Map<string, Tensor>();
  for (const [i, name] of node.outputs.entries()) {
    if (name === '') continue;
    const value = results[i];
    if (!(value instanceof Tensor)) return undefined;
    outputs.set(name, value);
  }
  return outputs;
}

function tensorBytes(t: Tensor): number {
  if (t.type === 'string') return (t.data as string[]).reduce((sum, s) => sum + s.length, 0);
  return t.size * bytesPerElement(t.type);
}

/**
 * The output bytes of the operators that generate a tensor from a shape, computed from their
 * inputs before running them, so that a huge ConstantOfShape or Range is never even allocated.
 */
function predictedOutputBytes(node: Node, inputs: (Tensor | undefined)[]): number | undefined {
  if (node.domain !== '') return undefined;
  const [first, second] = inputs;
  try {
    switch (node.opType) {
      case 'ConstantOfShape': {
        const value = node.attributes.get('value');
        const type: DataType = value?.type === 'tensor' ? value.value.type : 'float32';
        return first && shapeSize(readInts(first)) * bytesPerElement(type);
      }
      case 'Expand':
        return first && second && broadcastSize(first.dims, readInts(second)) * bytesPerElement(first.type);
      case 'Tile':
        return first && second && tiledSize(first.dims, readInts(second)) * bytesPerElement(first.type);
      case 'Range':
        return first && rangeLength(inputs) * bytesPerElement(first.type);
    }
  } catch {
    // Inputs the prediction cannot read are the kernel's to reject.
  }
  return undefined;
}

function broadcastSize(dims: readonly number[], shape: number[]): number {
  const rank = Math.max(dims.length, shape.length);
  let size = 1;
  for (let i = 0; i < rank; i++) {
    const a = dims[dims.length - rank + i] ?? 1;
    const b = shape[shape.length - rank + i] ?? 1;
    size *= Math.max(a, b);
  }
  return size;
}

function tiledSize(dims: readonly number[], repeats: number[]): number {
  return dims.reduce((size, d, i) => size * d * Math.max(repeats[i] ?? 1, 0), 1);
}

function rangeLength(inputs: (Tensor | undefined)[]): number {
  const [start, limit, delta] = inputs.map((t) => (t ? scalarNumber(t) : NaN));
  const length = Math.ceil((limit! - start!) / delta!);
  return Number.isFinite(length) ? Math.max(length, 0) : 0;
}

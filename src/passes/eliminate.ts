/**
 * Elimination: nodes that return their input unchanged are bypassed (Identity, Dropout in
 * inference, Cast to the type it has, Reshape or Expand to the shape it has, a Slice of
 * everything, a Pad of nothing, a Concat of one input, Squeeze and Unsqueeze undoing each other,
 * Transposes that cancel; Transposes that do not cancel compose into one); identical nodes and
 * small identical constants are merged (common-subexpression elimination); nodes and
 * initializers that nothing reads are removed (dead-code elimination). Every rewrite keeps the
 * graph's output names, and a rewrite that needs a type or shape nobody knows is not made.
 */

import { dataTypeFromOnnx, type DataType } from '../core/dtype.js';
import { Tensor } from '../core/tensor.js';
import { readInts, toNumbers } from '../backends/reference/util.js';
import { intAttribute, intsAttribute, readsOf, type Dim, type Node } from '../ir/graph.js';
import { hasSubgraphs, isRandom } from './graph-edit.js';
import type { GraphPass, PassContext } from './pass.js';

export const passes: GraphPass[] = [
  { name: 'no-op-elimination', level: 'basic', run: removeNoOps },
  { name: 'common-subexpression-elimination', level: 'basic', run: mergeDuplicates },
  { name: 'dead-code-elimination', level: 'basic', run: removeDeadCode },
];

/** Constants compared byte for byte when merging duplicates: the scalars and short lists exporters repeat. */
const SHARED_CONSTANT_BYTES = 1024;

/** The value a no-op node's first output always equals, and why, for the record. */
interface Bypass {
  source: string;
  why: string;
}

type NoOpRule = (ctx: PassContext, node: Node) => Bypass | undefined;

const NO_OP_RULES = new Map<string, NoOpRule>([
  ['Identity', (_, node) => ({ source: node.inputs[0] ?? '', why: 'copies its input' })],
  ['Dropout', inferenceDropout],
  ['Cast', sameTypeCast],
  ['CastLike', sameTypeCastLike],
  ['Reshape', sameShapeReshape],
  ['Expand', sameShapeExpand],
  ['Transpose', identityTranspose],
  ['Squeeze', undoes('Unsqueeze')],
  ['Unsqueeze', undoes('Squeeze')],
  ['Slice', wholeSlice],
  ['Pad', zeroPad],
  ['Concat', singleInputConcat],
]);

function removeNoOps(ctx: PassContext): boolean {
  const present = new Set(ctx.graph.nodes);
  let changed = false;
  for (const node of [...ctx.graph.nodes]) {
    if (node.domain !== '' || !present.has(node)) continue;
    const bypass = NO_OP_RULES.get(node.opType)?.(ctx, node);
    if (bypass && bypassNode(ctx, node, bypass)) {
      changed = true;
    } else if (node.opType === 'Transpose') {
      const removed = composeTransposes(ctx, node);
      removed.forEach((n) => present.delete(n));
      if (removed.length > 0) changed = true;
    }
  }
  return changed;
}

/** Removes `node`, pointing the readers of its first output at `source`; false when it may not. */
function bypassNode(ctx: PassContext, node: Node, { source, why }: Bypass): boolean {
  const [output = '', ...others] = node.outputs;
  if (output === '' || source === '') return false;
  if (others.some((o) => o !== '' && isRead(ctx, o))) return false;
  if (!canStandIn(ctx, output, source)) return false;
  ctx.editor.remove(node);
  ctx.editor.replaceUses(output, source);
  ctx.record(`removed ${node.opType} '${node.name}': it ${why}`, [node]);
  return true;
}

function isRead(ctx: PassContext, value: string): boolean {
  return ctx.editor.isGraphOutput(value) || ctx.editor.consumers(value).length > 0;
}

/**
 * Whether `source` can take the place of `value`. A graph output keeps its name, so `source`
 * must be a value this graph computes and may rename; any other `source` (a graph input, a
 * constant, another output, an outer-scope value) would need an Identity in the bypassed node's
 * place, and the passes would remove and restore it forever.
 */
function canStandIn(ctx: PassContext, value: string, source: string): boolean {
  if (!ctx.editor.isGraphOutput(value)) return true;
  return (
    ctx.editor.producer(source) !== undefined &&
    !ctx.editor.isGraphOutput(source) &&
    !ctx.graph.initializers.has(source)
  );
}

function inferenceDropout(ctx: PassContext, node: Node): Bypass | undefined {
  // Before opset 12 training was the runtime's choice, and Heddle runs models for inference.
  const trainingMode = node.opset >= 12 ? (node.inputs[2] ?? '') : '';
  if (trainingMode !== '') {
    const flag = ctx.editor.constant(trainingMode);
    if (!flag || flag.size !== 1 || toNumbers(flag)[0] !== 0) return undefined;
  }
  return { source: node.inputs[0] ?? '', why: 'is a Dropout in inference mode' };
}

function sameTypeCast(ctx: PassContext, node: Node): Bypass | undefined {
  const from = elementType(ctx, node.inputs[0] ?? '');
  if (from === undefined || from !== castTarget(node)) return undefined;
  return { source: node.inputs[0]!, why: `casts ${from} to ${from}` };
}

function sameTypeCastLike(ctx: PassContext, node: Node): Bypass | undefined {
  const from = elementType(ctx, node.inputs[0] ?? '');
  if (from === undefined || from !== elementType(ctx, node.inputs[1] ?? '')) return undefined;
  return { source: node.inputs[0]!, why: `casts ${from} to ${from}` };
}

/** The value's element type from a constant, its recorded type, or the Cast that produces it. */
function elementType(ctx: PassContext, value: string): DataType | undefined {
  if (value === '') return undefined;
  const constant = ctx.editor.constant(value);
  if (constant) return constant.type;
  const type = ctx.graph.valueTypes.get(value);
  if (type?.kind === 'tensor') return type.elemType;
  const producer = ctx.editor.producer(value);
  return producer?.opType === 'Cast' && producer.domain === '' ? castTarget(producer) : undefined;
}

/** The target of a Cast; opset 1 named it with a string, which is left alone. */
function castTarget(node: Node): DataType | undefined {
  const to = intAttribute(node, 'to');
  return to === undefined ? undefined : dataTypeFromOnnx(to);
}

function sameShapeReshape(ctx: PassContext, node: Node): Bypass | undefined {
  const shape = ctx.editor.shape(node.inputs[0] ?? '');
  const target = node.opset >= 5 ? constantInts(ctx, node.inputs[1] ?? '') : intsAttribute(node, 'shape');
  const allowZero = node.opset >= 14 && intAttribute(node, 'allowzero', 0) !== 0;
  if (!shape || !target || !reshapeKeepsShape(shape, target, allowZero)) return undefined;
  return { source: node.inputs[0]!, why: 'reshapes to the shape it has' };
}

/** Whether Reshape to `target` returns every input of shape `shape` as it is. */
function reshapeKeepsShape(shape: Dim[], target: number[], allowZero: boolean): boolean {
  if (target.length !== shape.length) return false;
  const inferred = target.indexOf(-1);
  if (inferred !== target.lastIndexOf(-1)) return false;
  return target.every((size, axis) => {
    if (size === 0 && !allowZero) return true;
    // -1 takes what the other dims leave, which is this dim only when none of them is zero.
    if (axis === inferred) return shape.every((d, j) => j === axis || (typeof d === 'number' && d > 0));
    return size === shape[axis];
  });
}

function sameShapeExpand(ctx: PassContext, node: Node): Bypass | undefined {
  const shape = ctx.editor.shape(node.inputs[0] ?? '');
  const target = constantInts(ctx, node.inputs[1] ?? '');
  if (!shape || !target || target.length > shape.length) return undefined;
  const offset = shape.length - target.length;
  const keeps = target.every((size, i) => size === 1 || size === shape[offset + i]);
  return keeps ? { source: node.inputs[0]!, why: 'expands to the shape it has' } : undefined;
}

function identityTranspose(_: PassContext, node: Node): Bypass | undefined {
  const perm = intsAttribute(node, 'perm');
  if (!perm?.every((axis, i) => axis === i)) return undefined;
  return { source: node.inputs[0] ?? '', why: 'keeps every axis in place' };
}

/**
 * A Transpose of a Transpose: bypassed when the two cancel, else replaced (with the first, if
 * nothing else reads it) by one Transpose by the composed permutation. Returns the nodes removed.
 */
function composeTransposes(ctx: PassContext, second: Node): Node[] {
  const first = ctx.editor.producer(second.inputs[0] ?? '');
  if (first?.opType !== 'Transpose' || first.domain !== '') return [];
  const perm = composePermutations(intsAttribute(first, 'perm'), intsAttribute(second, 'perm'));
  if (!perm) return [];
  const source = first.inputs[0] ?? '';
  if (perm.every((axis, i) => axis === i)) {
    return bypassNode(ctx, second, { source, why: `undoes Transpose '${first.name}'` }) ? [second] : [];
  }
  const merged: Node = {
    ...second,
    inputs: [source],
    outputs: [...second.outputs],
    attributes: new Map([['perm', { name: 'perm', type: 'ints', value: perm }]]),
  };
  if (ctx.editor.onlyFeeds(second.inputs[0]!, second)) {
    ctx.editor.replace([first, second], merged);
    ctx.record(`merged Transpose '${first.name}' and Transpose '${second.name}' into one`, [first, second]);
    return [first, second];
  }
  ctx.editor.replace([second], merged);
  ctx.record(
    `Transpose '${second.name}' now reads past Transpose '${first.name}' (read elsewhere), ` +
      'by the composed permutation',
    [second],
  );
  return [second];
}

/**
 * The permutation of transposing by `first` and then by `second` (a missing perm reverses the
 * axes). Two reversals cancel at any rank, which the empty permutation stands for.
 */
function composePermutations(first?: number[], second?: number[]): number[] | undefined {
  if (!first && !second) return [];
  const p1 = first ?? reversedAxes(second!.length);
  const p2 = second ?? reversedAxes(p1.length);
  if (p1.length !== p2.length || !isPermutation(p1) || !isPermutation(p2)) return undefined;
  return p2.map((axis) => p1[axis]!);
}

function reversedAxes(rank: number): number[] {
  return Array.from({ length: rank }, (_, i) => rank - 1 - i);
}

function isPermutation(perm: number[]): boolean {
  return (
    perm.every((axis) => Number.isInteger(axis) && axis >= 0 && axis < perm.length) &&
    new Set(perm).size === perm.length
  );
}

/**
 * Squeeze of an Unsqueeze (or the reverse) on the same axes returns the Unsqueeze's input. Both
 * count their axes in the same rank (the larger one), so equal lists mean equal axes even when
 * the rank is unknown. Unsqueeze of a Squeeze is bypassed only when those dims are known to be 1,
 * so that a Squeeze that would fail still does.
 */
function undoes(inverse: 'Squeeze' | 'Unsqueeze'): NoOpRule {
  return (ctx, node) => {
    const inner = ctx.editor.producer(node.inputs[0] ?? '');
    if (inner?.opType !== inverse || inner.domain !== '') return undefined;
    const source = inner.inputs[0] ?? '';
    const axes = axesOf(ctx, node);
    const innerAxes = axesOf(ctx, inner);
    if (!axes || !innerAxes || !sameAxisSet(axes, innerAxes)) return undefined;
    if (inverse === 'Squeeze') {
      const shape = ctx.editor.shape(source);
      if (!shape || !axes.every((axis) => shape[axis < 0 ? axis + shape.length : axis] === 1))
        return undefined;
    }
    return { source, why: `undoes ${inverse} '${inner.name}'` };
  };
}

function axesOf(ctx: PassContext, node: Node): number[] | undefined {
  return node.opset >= 13 ? constantInts(ctx, node.inputs[1] ?? '') : intsAttribute(node, 'axes');
}

function sameAxisSet(a: number[], b: number[]): boolean {
  const set = new Set(a);
  return set.size === a.length && a.length === b.length && b.every((axis) => set.has(axis));
}

function wholeSlice(ctx: PassContext, node: Node): Bypass | undefined {
  const args = sliceArguments(ctx, node);
  if (!args) return undefined;
  const { starts, ends, axes = starts.map((_, i) => i), steps } = args;
  const count = starts.length;
  if (ends.length !== count || axes.length !== count || (steps && steps.length !== count)) return undefined;
  const shape = ctx.editor.shape(node.inputs[0] ?? '');
  const rank = shape?.length;
  const normalized = axes.map((axis) => (axis < 0 && rank !== undefined ? axis + rank : axis));
  if (normalized.some((axis) => axis < 0 || (rank !== undefined && axis >= rank))) return undefined;
  if (new Set(normalized).size !== count) return undefined;
  const whole = normalized.every(
    (axis, k) => (steps?.[k] ?? 1) === 1 && coversAxis(starts[k]!, ends[k]!, shape?.[axis]),
  );
  return whole ? { source: node.inputs[0]!, why: 'takes the whole input' } : undefined;
}

interface SliceArguments {
  starts: number[];
  ends: number[];
  axes?: number[];
  steps?: number[];
}

/**
 * Slice's arguments: attributes before opset 10, constant inputs from it; undefined when any of
 * them is not a constant.
 */
function sliceArguments(ctx: PassContext, node: Node): SliceArguments | undefined {
  if (node.opset < 10) {
    const starts = intsAttribute(node, 'starts');
    const ends = intsAttribute(node, 'ends');
    return starts && ends ? { starts, ends, axes: intsAttribute(node, 'axes') } : undefined;
  }
  const [starts, ends, axes, steps] = [1, 2, 3, 4].map((i) =>
    optionalConstantInts(ctx, node.inputs[i] ?? ''),
  );
  if (!starts || !ends || axes === undefined || steps === undefined) return undefined;
  return { starts, ends, axes: axes ?? undefined, steps: steps ?? undefined };
}

/**
 * Whether [start, end) with step 1 spans an axis of `dim`. With the dim unknown, only an end
 * no dim can reach (the INT64_MAX exporters write) is sure to.
 */
function coversAxis(start: number, end: number, dim: Dim | undefined): boolean {
  if (typeof dim !== 'number') return start === 0 && end >= Number.MAX_SAFE_INTEGER;
  const clamp = (at: number) => Math.min(Math.max(at < 0 ? at + dim : at, 0), dim);
  return clamp(start) === 0 && clamp(end) === dim;
}

function zeroPad(ctx: PassContext, node: Node): Bypass | undefined {
  const pads =
    node.opset >= 11
      ? constantInts(ctx, node.inputs[1] ?? '')
      : intsAttribute(node, node.opset < 2 ? 'paddings' : 'pads');
  return pads?.every((p) => p === 0) ? { source: node.inputs[0] ?? '', why: 'pads nothing' } : undefined;
}

function singleInputConcat(_: PassContext, node: Node): Bypass | undefined {
  return node.inputs.length === 1
    ? { source: node.inputs[0]!, why: 'concatenates a single input' }
    : undefined;
}

function constantInts(ctx: PassContext, value: string): number[] | undefined {
  return optionalConstantInts(ctx, value) ?? undefined;
}

/** The integers of a constant int32/int64 input; null for an omitted input, undefined for any other. */
function optionalConstantInts(ctx: PassContext, value: string): number[] | null | undefined {
  if (value === '') return null;
  const tensor = ctx.editor.constant(value);
  return tensor && (tensor.type === 'int64' || tensor.type === 'int32') ? readInts(tensor) : undefined;
}

function mergeDuplicates(ctx: PassContext): boolean {
  const mergedNodes = mergeDuplicateNodes(ctx);
  const mergedConstants = mergeDuplicateInitializers(ctx);
  return mergedNodes || mergedConstants;
}

/**
 * Nodes with the same operator, version, inputs and attributes compute the same outputs, so the
 * later one's readers may read the earlier one's. Random operators differ from draw to draw, and
 * nodes with subgraphs are never compared.
 */
function mergeDuplicateNodes(ctx: PassContext): boolean {
  const seen = new Map<string, Node[]>();
  let changed = false;
  for (const node of [...ctx.graph.nodes]) {
    if (hasSubgraphs(node) || isRandom(node) || node.outputs.every((o) => o === '')) continue;
    const key = [node.domain, node.opType, node.opset, outputPattern(node), ...node.inputs].join('\u0000');
    const twins = seen.get(key) ?? [];
    const original = twins.find((twin) => sameAttributes(twin, node));
    if (original) {
      ctx.editor.remove(node);
      node.outputs.forEach((output, i) => {
        if (output !== '') ctx.editor.replaceUses(output, original.outputs[i]!);
      });
      ctx.record(`merged ${node.opType} '${node.name}' into the identical '${original.name}'`, [node]);
      changed = true;
    } else {
      seen.set(key, [...twins, node]);
    }
  }
  return changed;
}

/** Which outputs a node names: a merged node's named outputs must all exist on the one kept. */
function outputPattern(node: Node): string {
  return node.outputs.map((o) => (o === '' ? '-' : '+')).join('');
}

function sameAttributes(a: Node, b: Node): boolean {
  if (a.attributes.size !== b.attributes.size) return false;
  for (const [name, attr] of a.attributes) {
    const other = b.attributes.get(name);
    if (!other || other.type !== attr.type || !sameValue(attr.value, other.value)) return false;
  }
  return true;
}

/** Deep equality of attribute values; numbers by Object.is, so NaN equals NaN and -0 differs from 0. */
function sameValue(a: unknown, b: unknown): boolean {
  if (a instanceof Tensor || b instanceof Tensor) {
    return a instanceof Tensor && b instanceof Tensor && sameTensor(a, b);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => sameValue(v, b[i]))
    );
  }
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length &&
      keys.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
    );
  }
  return Object.is(a, b);
}

function sameTensor(a: Tensor, b: Tensor): boolean {
  if (a.type !== b.type || a.dims.join() !== b.dims.join()) return false;
  if (Array.isArray(a.data) || Array.isArray(b.data)) return sameValue(a.data, b.data);
  const bytesA = bytesOf(a.data);
  const bytesB = bytesOf(b.data);
  return bytesA.length === bytesB.length && bytesA.every((byte, i) => byte === bytesB[i]);
}

function bytesOf(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Identical small initializers (same type, dims and bytes) become one. */
function mergeDuplicateInitializers(ctx: PassContext): boolean {
  const overridable = new Set(ctx.graph.overridableInitializers.map((vi) => vi.name));
  const firstByContent = new Map<string, string>();
  const merged: string[] = [];
  for (const [name, tensor] of [...ctx.graph.initializers]) {
    const shareable = !overridable.has(name) && !ctx.editor.isGraphOutput(name);
    if (!shareable || byteLength(tensor) > SHARED_CONSTANT_BYTES) continue;
    const key = contentKey(tensor);
    const original = firstByContent.get(key);
    if (original === undefined) {
      firstByContent.set(key, name);
      continue;
    }
    ctx.editor.replaceUses(name, original);
    ctx.graph.initializers.delete(name);
    merged.push(`'${name}' into '${original}'`);
  }
  if (merged.length === 0) return false;
  ctx.record(`merged ${merged.length} initializers into identical ones: ${listed(merged)}`, []);
  return true;
}

/** A list for a record, cut short after a few items. */
function listed(items: string[]): string {
  const shown = items.slice(0, 5).join(', ');
  return items.length > 5 ? `${shown} and ${items.length - 5} more` : shown;
}

function byteLength(t: Tensor): number {
  const data = t.data;
  return Array.isArray(data) ? data.reduce((sum: number, s: string) => sum + s.length, 0) : data.byteLength;
}

/** Type, dims and exact bytes (strings by value) as one string. */
function contentKey(t: Tensor): string {
  const data = t.data;
  const content = Array.isArray(data) ? JSON.stringify(data) : bytesOf(data).join(',');
  return `${t.type}|${t.dims.join(',')}|${content}`;
}

/** Removes nodes none of whose outputs is read or returned, then initializers nothing reads. */
function removeDeadCode(ctx: PassContext): boolean {
  const present = new Set(ctx.graph.nodes);
  // Readers come after what they read, so popping from the end frees producers as it goes.
  const pending = [...ctx.graph.nodes];
  let changed = false;
  while (pending.length > 0) {
    const node = pending.pop()!;
    if (!present.has(node) || node.outputs.some((o) => o !== '' && isRead(ctx, o))) continue;
    present.delete(node);
    ctx.editor.remove(node);
    ctx.record(`removed ${node.opType} '${node.name}': nothing reads its outputs`, [node]);
    changed = true;
    for (const input of readsOf(node)) {
      const producer = ctx.editor.producer(input);
      if (producer) pending.push(producer);
    }
  }
  return removeUnusedInitializers(ctx) || changed;
}

function removeUnusedInitializers(ctx: PassContext): boolean {
  const overridable = new Set(ctx.graph.overridableInitializers.map((vi) => vi.name));
  const unused = [...ctx.graph.initializers.keys()].filter(
    (name) => !overridable.has(name) && !isRead(ctx, name),
  );
  if (unused.length === 0) return false;
  for (const name of unused) ctx.graph.initializers.delete(name);
  ctx.record(`removed ${unused.length} unused initializers: ${listed(unused.map((n) => `'${n}'`))}`, []);
  return true;
}

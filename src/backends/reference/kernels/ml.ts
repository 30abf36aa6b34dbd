/**
 * Operators of the ai.onnx.ml domain: LabelEncoder (all versions: classes_strings, typed key/value
 * lists, key/value tensors), Binarizer, ArrayFeatureExtractor and TreeEnsemble (the opset-5 tree
 * model that replaced TreeEnsembleRegressor and TreeEnsembleClassifier).
 */

import {
  allocateStorage,
  isFloatType,
  slotsPerElement,
  type DataType,
  type TensorData,
} from '../../../core/dtype.js';
import { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { fromNumbers, readInts, toNumbers } from '../util.js';

const ML_DOMAIN = 'ai.onnx.ml';

type Fail = (reason: string) => never;

// LabelEncoder.

type Key = string | number;

/** A lookup key for an element: strings as they are, numbers (int64 included) as doubles. */
function keysOf(t: Tensor): Key[] {
  if (t.type === 'string') return t.data as string[];
  if (t.type === 'int64' || t.type === 'uint64') return Array.from(t.data as BigInt64Array, Number);
  return Array.from(toNumbers(t));
}

interface LabelMapping {
  keys: Key[];
  values: Tensor;
  fallback: Tensor;
}

/** The default a LabelEncoder gives unknown keys: '_Unused', -1 or -0 by value type, as ONNX specifies. */
function defaultFor(ctx: KernelContext, valueType: DataType): Tensor {
  if (ctx.has('default_tensor')) return ctx.tensor('default_tensor');
  switch (valueType) {
    case 'string':
      return new Tensor('string', [ctx.string('default_string', '_Unused')], []);
    case 'int64':
      return new Tensor('int64', [BigInt(ctx.int('default_int64', -1))], []);
    case 'float32':
      return new Tensor('float32', [ctx.float('default_float', -0)], []);
    default:
      return fromNumbers(valueType, [isFloatType(valueType) ? -0 : -1], []);
  }
}

/** Version 1 maps strings to their index in classes_strings, or indices back to strings. */
function classesMapping(ctx: KernelContext, inputType: DataType): LabelMapping {
  const classes = ctx.strings('classes_strings', []);
  const indices = classes.map((_, i) => BigInt(i));
  if (inputType === 'string') {
    return {
      keys: classes,
      values: new Tensor('int64', indices, [classes.length]),
      fallback: new Tensor('int64', [BigInt(ctx.int('default_int64', -1))], []),
    };
  }
  return {
    keys: indices.map(Number),
    values: new Tensor('string', classes, [classes.length]),
    fallback: new Tensor('string', [ctx.string('default_string', '_Unused')], []),
  };
}

function listedKeys(ctx: KernelContext): Key[] {
  if (ctx.has('keys_tensor')) return keysOf(ctx.tensor('keys_tensor'));
  if (ctx.has('keys_strings')) return ctx.strings('keys_strings');
  if (ctx.has('keys_int64s')) return ctx.ints('keys_int64s');
  if (ctx.has('keys_floats')) return ctx.floats('keys_floats');
  return ctx.fail('LabelEncoder needs keys: keys_tensor, keys_strings, keys_int64s or keys_floats');
}

function listedValues(ctx: KernelContext): Tensor {
  if (ctx.has('values_tensor')) return ctx.tensor('values_tensor');
  if (ctx.has('values_strings')) return new Tensor('string', ctx.strings('values_strings'));
  if (ctx.has('values_int64s')) return new Tensor('int64', ctx.ints('values_int64s').map(BigInt));
  if (ctx.has('values_floats')) return new Tensor('float32', ctx.floats('values_floats'));
  return ctx.fail('LabelEncoder needs values: values_tensor, values_strings, values_int64s or values_floats');
}

function labelEncoder(ctx: KernelContext): Tensor {
  const x = ctx.input(0);
  let mapping: LabelMapping;
  if (ctx.opset < 2) mapping = classesMapping(ctx, x.type);
  else {
    const values = listedValues(ctx);
    mapping = { keys: listedKeys(ctx), values, fallback: defaultFor(ctx, values.type) };
  }
  const { keys, values, fallback } = mapping;
  if (keys.length !== values.size) ctx.fail(`LabelEncoder has ${keys.length} keys but ${values.size} values`);
  if (fallback.size !== 1 || fallback.type !== values.type) {
    ctx.fail(
      `the default value must be a single ${values.type}, got a ${fallback.type} tensor of ${fallback.size}`,
    );
  }
  // A Map compares keys with SameValueZero: NaN finds a NaN key, and -0 finds 0.
  const indexOf = new Map<Key, number>();
  keys.forEach((key, i) => {
    if (!indexOf.has(key)) indexOf.set(key, i);
  });
  const unknown = values.size;
  const source = concatStorage(values, fallback);
  const picks = keysOf(x).map((key) => indexOf.get(key) ?? unknown);
  return gatherInto(ctx.output(0, values.type, x.dims), source, picks);
}

/** Fills `out` with the elements of `data` (storage of out's type) at `indices`. */
function gatherInto(out: Tensor, data: TensorData, indices: ArrayLike<number>): Tensor {
  const slots = slotsPerElement(out.type);
  const from = data as unknown as ArrayLike<unknown>;
  const to = out.data as unknown as unknown[];
  for (let i = 0; i < indices.length; i++) {
    for (let s = 0; s < slots; s++) to[i * slots + s] = from[indices[i]! * slots + s];
  }
  return out;
}

/** The values followed by the default, so that one gather serves known and unknown keys. */
function concatStorage(values: Tensor, fallback: Tensor): TensorData {
  const out = allocateStorage(values.type, values.size + 1);
  const slots = out as unknown as unknown[];
  const from = values.data as unknown as ArrayLike<unknown>;
  for (let i = 0; i < values.size; i++) slots[i] = from[i];
  slots[values.size] = (fallback.data as unknown as ArrayLike<unknown>)[0];
  return out;
}

// Binarizer and ArrayFeatureExtractor.

function binarizer(ctx: KernelContext): Tensor {
  const x = ctx.input(0);
  const threshold = ctx.float('threshold', 0);
  return ctx.outputFromNumbers(
    0,
    x.type,
    Array.from(toNumbers(x), (v) => (v > threshold ? 1 : 0)),
    x.dims,
  );
}

/** Picks the given indices along the last axis; a 1-D input is read as one row, as onnxruntime does. */
function arrayFeatureExtractor(ctx: KernelContext): Tensor {
  const x = ctx.input(0);
  const picked = readInts(ctx.input(1));
  if (x.dims.length === 0) ctx.fail('ArrayFeatureExtractor needs an input of rank 1 or more');
  const width = x.dims[x.dims.length - 1]!;
  for (const index of picked) {
    if (!Number.isInteger(index) || index < 0 || index >= width) {
      ctx.fail(`index ${index} is out of range for the last axis of size ${width}`);
    }
  }
  const rows = x.size / width || 0;
  const indices = new Int32Array(rows * picked.length);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < picked.length; j++) indices[r * picked.length + j] = r * width + picked[j]!;
  }
  const dims = x.dims.length === 1 ? [1, picked.length] : [...x.dims.slice(0, -1), picked.length];
  return gatherInto(ctx.output(0, x.type, dims), x.data, indices);
}

// TreeEnsemble.

/** Node comparison modes, by their code in nodes_modes. */
const BRANCH_TESTS: readonly ((x: number, split: number) => boolean)[] = [
  (x, split) => x <= split,
  (x, split) => x < split,
  (x, split) => x >= split,
  (x, split) => x > split,
  (x, split) => x === split,
  (x, split) => x !== split,
];
const BRANCH_MEMBER = 6;

interface TreeModel {
  modes: number[];
  splits: ArrayLike<number>;
  features: number[];
  trueIds: number[];
  falseIds: number[];
  trueLeafs: number[];
  falseLeafs: number[];
  missingTracksTrue: number[];
  /** For each BRANCH_MEMBER node, the set it tests. */
  members: Map<number, Set<number>>;
  leafTargets: number[];
  leafWeights: ArrayLike<number>;
  roots: number[];
}

function readTreeModel(ctx: KernelContext): TreeModel {
  const modes = readInts(ctx.tensor('nodes_modes'));
  const model: TreeModel = {
    modes,
    splits: toNumbers(ctx.tensor('nodes_splits')),
    features: ctx.ints('nodes_featureids'),
    trueIds: ctx.ints('nodes_truenodeids'),
    falseIds: ctx.ints('nodes_falsenodeids'),
    trueLeafs: ctx.ints('nodes_trueleafs'),
    falseLeafs: ctx.ints('nodes_falseleafs'),
    missingTracksTrue: ctx.ints('nodes_missing_value_tracks_true', []),
    members: memberSets(ctx, modes),
    leafTargets: ctx.ints('leaf_targetids'),
    leafWeights: toNumbers(ctx.tensor('leaf_weights')),
    roots: ctx.ints('tree_roots'),
  };
  const nodeCount = modes.length;
  const nodeLists = [
    model.splits,
    model.features,
    model.trueIds,
    model.falseIds,
    model.trueLeafs,
    model.falseLeafs,
  ];
  if (nodeLists.some((list) => list.length !== nodeCount)) {
    ctx.fail('the nodes_* attributes differ in length');
  }
  if (model.leafTargets.length !== model.leafWeights.length) {
    ctx.fail('leaf_targetids and leaf_weights differ in length');
  }
  return model;
}

/** membership_values lists each BRANCH_MEMBER node's set, in node order, each ended by a NaN. */
function memberSets(ctx: KernelContext, modes: readonly number[]): Map<number, Set<number>> {
  const sets = new Map<number, Set<number>>();
  const memberNodes = modes.flatMap((mode, node) => (mode === BRANCH_MEMBER ? [node] : []));
  if (memberNodes.length === 0) return sets;
  if (!ctx.has('membership_values')) ctx.fail('set-membership nodes need membership_values');
  const values = toNumbers(ctx.tensor('membership_values'));
  let current = new Set<number>();
  for (const value of values) {
    if (!Number.isNaN(value)) {
      current.add(value);
      continue;
    }
    const node = memberNodes[sets.size];
    if (node === undefined) ctx.fail('membership_values holds more sets than there are set-membership nodes');
    sets.set(node, current);
    current = new Set<number>();
  }
  if (current.size > 0) ctx.fail('membership_values must end every set with a NaN');
  if (sets.size !== memberNodes.length) {
    ctx.fail('membership_values holds fewer sets than set-membership nodes');
  }
  return sets;
}

/** Walks one tree for one row; returns the index of the leaf reached. */
function findLeaf(model: TreeModel, root: number, row: ArrayLike<number>, fail: Fail): number {
  const { modes, trueIds, falseIds, trueLeafs, falseLeafs } = model;
  // A root whose branches both name the same leaf is a tree made of one leaf, stored at the root's index.
  if (trueLeafs[root] && falseLeafs[root] && trueIds[root] === falseIds[root]) return root;
  let node = root;
  // A well-formed tree reaches a leaf in fewer steps than it has nodes; more means a cycle.
  for (let steps = 0; steps <= modes.length; steps++) {
    if (node < 0 || node >= modes.length) fail(`tree node ${node} does not exist`);
    const feature = model.features[node]!;
    if (feature < 0 || feature >= row.length) {
      fail(`node ${node} tests feature ${feature}, but rows have ${row.length}`);
    }
    const x = row[feature]!;
    const goesTrue =
      branchTest(model, node, x, fail) || (Number.isNaN(x) && model.missingTracksTrue[node] === 1);
    const next = goesTrue ? trueIds[node]! : falseIds[node]!;
    if (goesTrue ? trueLeafs[node] : falseLeafs[node]) return next;
    node = next;
  }
  return fail(`the tree at root ${root} has a cycle`);
}

function branchTest(model: TreeModel, node: number, x: number, fail: Fail): boolean {
  const mode = model.modes[node]!;
  if (mode === BRANCH_MEMBER) return model.members.get(node)!.has(x);
  const test = BRANCH_TESTS[mode] ?? fail(`node ${node} has an unknown mode ${mode}`);
  return test(x, model.splits[node]!);
}

const AGGREGATES = ['AVERAGE', 'SUM', 'MIN', 'MAX'] as const;

function treeEnsemble(ctx: KernelContext): Tensor {
  const x = ctx.input(0);
  const fail: Fail = (r) => ctx.fail(r);
  if (x.dims.length !== 2) ctx.fail(`TreeEnsemble takes a [N, F] input, got dims [${x.dims.join(', ')}]`);
  const [rows, features] = x.dims as [number, number];
  const model = readTreeModel(ctx);
  const targets = ctx.int('n_targets');
  const aggregate = AGGREGATES[ctx.int('aggregate_function', 1)] ?? ctx.fail('unknown aggregate_function');
  const xs = toNumbers(x);
  const out = new Float64Array(rows * targets);
  // MIN and MAX start from the extremes of the output type, as the reference does.
  const start =
    aggregate === 'MIN' ? largestFinite(x.type) : aggregate === 'MAX' ? -largestFinite(x.type) : 0;
  out.fill(start);
  for (let r = 0; r < rows; r++) {
    const row = xs.subarray(r * features, (r + 1) * features);
    for (const root of model.roots) {
      const leaf = findLeaf(model, root, row, fail);
      const target = model.leafTargets[leaf];
      if (target === undefined || target < 0 || target >= targets) fail(`leaf ${leaf} has no valid target`);
      const weight = model.leafWeights[leaf]!;
      const at = r * targets + target;
      if (aggregate === 'SUM') out[at]! += weight;
      else if (aggregate === 'AVERAGE') out[at]! += weight / model.roots.length;
      else if (aggregate === 'MIN') out[at] = Math.min(out[at]!, weight);
      else out[at] = Math.max(out[at]!, weight);
    }
  }
  postTransform(ctx, out, targets);
  return ctx.outputFromNumbers(0, x.type, out, [rows, targets]);
}

function largestFinite(type: DataType): number {
  if (type === 'float64') return Number.MAX_VALUE;
  if (type === 'float16') return 65504;
  return 3.4028234663852886e38;
}

/** Applies post_transform to each row of scores in place. */
function postTransform(ctx: KernelContext, scores: Float64Array, width: number): void {
  const transform = ctx.int('post_transform', 0);
  for (let start = 0; start < scores.length; start += width) {
    const row = scores.subarray(start, start + width);
    switch (transform) {
      case 0:
        return;
      case 1:
        softmax(row, false);
        break;
      case 2:
        row.forEach((v, i) => (row[i] = 1 / (1 + Math.exp(-v))));
        break;
      case 3:
        softmax(row, true);
        break;
      case 4:
        row.forEach((v, i) => (row[i] = Math.SQRT2 * inverseErf(2 * v - 1)));
        break;
      default:
        ctx.fail(`unknown post_transform ${transform}`);
    }
  }
}

/** Softmax of a row; with `skipZeros`, zero scores stay zero and take no share (SOFTMAX_ZERO). */
function softmax(row: Float64Array, skipZeros: boolean): void {
  let max = -Infinity;
  for (const v of row) if (!(skipZeros && v === 0)) max = Math.max(max, v);
  let sum = 0;
  row.forEach((v, i) => {
    row[i] = skipZeros && v === 0 ? 0 : Math.exp(v - max);
    sum += row[i]!;
  });
  if (sum > 0) row.forEach((v, i) => (row[i] = v / sum));
}

/** erf⁻¹ by Giles' single-precision polynomials ("Approximating the erfinv function", 2010). */
function inverseErf(x: number): number {
  let w = -Math.log((1 - x) * (1 + x));
  let coefficients: readonly number[];
  if (w < 5) {
    w -= 2.5;
    coefficients = [
      2.81022636e-8, 3.43273939e-7, -3.5233877e-6, -4.39150654e-6, 0.00021858087, -0.00125372503,
      -0.00417768164, 0.246640727, 1.50140941,
    ];
  } else {
    w = Math.sqrt(w) - 3;
    coefficients = [
      -0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
      0.00943887047, 1.00167406, 2.83297682,
    ];
  }
  const p = coefficients.reduce((acc, c) => acc * w + c, 0);
  return p * x;
}

export const kernels: KernelDef[] = [
  { domain: ML_DOMAIN, op: 'LabelEncoder', since: 1, run: (ctx) => [labelEncoder(ctx)] },
  { domain: ML_DOMAIN, op: 'Binarizer', since: 1, run: (ctx) => [binarizer(ctx)] },
  { domain: ML_DOMAIN, op: 'ArrayFeatureExtractor', since: 1, run: (ctx) => [arrayFeatureExtractor(ctx)] },
  { domain: ML_DOMAIN, op: 'TreeEnsemble', since: 5, run: (ctx) => [treeEnsemble(ctx)] },
];

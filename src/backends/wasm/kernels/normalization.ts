/**
 * Row normalizations on float32 as generated loops: LayerNormalization (ai.onnx from opset 17 and
 * com.heddle), com.heddle::AddLayerNormalization (the residual sum, written out, then normalized),
 * RMSNormalization (com.heddle and ai.onnx from opset 23), InstanceNormalization, and
 * BatchNormalization in inference mode.
 *
 * A row (everything from `axis` on; for InstanceNormalization one channel of one sample) is
 * contiguous and normalized in three passes that keep it in cache: the mean (LayerNormalization
 * and InstanceNormalization), the mean of squared deviations, then (x - mean)·invStdDev·scale +
 * bias. Statistics are two-pass like the reference kernel's, summed in four lanes. Scale and bias
 * apply per position of the row (one value per element of a row) or per row (InstanceNormalization's
 * per-channel ones); other broadcasts of them go to the reference kernel. Rows are spread over
 * the threads.
 *
 * BatchNormalization in inference is elementwise per channel: (x - mean)·factor + B with
 * factor = scale/√(var + ε) computed once per run for the C channels, run by the elementwise
 * generator with the channel vectors broadcast along rows.
 */

import { Tensor } from '../../../core/tensor.js';
import { floatAttribute, HEDDLE_DOMAIN, intAttribute, type Node } from '../../../ir/graph.js';
import type { KernelArgs, KernelOutputs, PreparedKernel } from '../../backend.js';
import type { FunctionBuilder, Local, ModuleBuilder } from '../assembler/index.js';
import { generatedKernel } from '../codegen/compile.js';
import {
  elementwiseLayout,
  forEachInRow,
  HeapOperands,
  ROW_ACCUMULATORS,
  planElementwise,
  runElementwise,
  ShapeMemo,
  tileTarget,
  type ElementwisePlan,
  type ElementwiseProgram,
} from '../codegen/elementwise.js';
import { foldAccumulators, i32Function, splat } from '../codegen/math.js';
import { claimsFloat32, type WasmEnv, type WasmKernelDef } from '../kernel.js';
import type { TiledRange } from '../pool/index.js';
import type { ModuleKernel, WasmRuntime } from '../runtime.js';
import { sameDims, shapeSize } from '../../reference/util.js';

/** How scale or bias applies: absent, one value per position of a row, or one value per row (channel). */
type Affine = 'none' | 'position' | 'row';

interface NormalizeSpec {
  /** Elements per row. */
  readonly length: number;
  /** Subtract the mean first (LayerNormalization, InstanceNormalization) or not (RMSNormalization). */
  readonly centre: boolean;
  readonly epsilon: number;
  readonly scale: Affine;
  readonly bias: Affine;
  /** Rows per sample when scale or bias apply per row (the channels of InstanceNormalization). */
  readonly channels: number;
  /** Also write each row's mean and invStdDev. */
  readonly statistics: boolean;
  /** Normalize x + skip, writing the sum out first (AddLayerNormalization). */
  readonly residual: boolean;
}

function specKey(spec: NormalizeSpec): string {
  const { length, centre, epsilon, scale, bias, channels, statistics, residual } = spec;
  const kind = `${residual ? 'add_' : ''}${centre ? 'layer' : 'rms'}`;
  return `normalize_f32_${kind}_${length}_${epsilon}_${scale}_${bias}_${channels}_${statistics}`;
}

// ---------------------------------------------------------------------------------------------
// Code generation

/** The kernel normalizing rows [begin, end): see the file's comment. */
function buildNormalize(module: ModuleBuilder, spec: NormalizeSpec): void {
  const { f, params } = i32Function(module, 'normalize', [
    'thread',
    'begin',
    'end',
    'x',
    'scale',
    'bias',
    'y',
    'meanOut',
    'invStdDevOut',
    'skip',
    'sum',
  ]);
  const [, begin, end, x, scale, bias, y, meanOut, invOut, skip, sum] = params;
  // The rows normalized: x's, or with a residual the sums written out in its first pass.
  const source = spec.residual ? sum : x;
  const row = f.local('i32', 'row');
  const rowStart = f.local('i32', 'rowStart');
  const p = f.local('i32', 'p');
  const q = f.local('i32', 'q');
  const ps = f.local('i32', 'ps');
  const pk = f.local('i32', 'pk');
  const pb = f.local('i32', 'pb');
  const counter = f.local('i32', 'i');
  const accumulators = Array.from({ length: ROW_ACCUMULATORS }, (_, k) => f.local('v128', `acc${k}`));
  const mean = f.local('v128', 'mean');
  const inv = f.local('v128', 'inv');
  const deviation = f.local('v128', 'deviation');
  const rowScale = f.local('v128', 'rowScale');
  const rowBias = f.local('v128', 'rowBias');
  const { length } = spec;

  const load = (lanes: 4 | 1, base: Local, offset: number): FunctionBuilder =>
    f.get(base).mem(lanes === 4 ? 'v128.load' : 'v128.load32_splat', { offset, align: 4 });
  /** Pushes x - mean (x itself for RMS) of the element(s) at `offset`. */
  const centred = (lanes: 4 | 1, offset: number): void => {
    load(lanes, p, offset);
    if (spec.centre) f.get(mean).op('f32x4.sub');
  };
  /** Sums `value` of every element of the row into the accumulators, then all into the first. */
  const sumRow = (value: (lanes: 4 | 1, offset: number) => void): void => {
    for (const accumulator of accumulators) splat(f, 0).set(accumulator);
    f.get(rowStart).get(source).op('i32.add').set(p);
    forEachInRow(f, length, [p], counter, (lanes, offset, slot) => {
      f.get(accumulators[slot]!);
      value(lanes, offset);
      addToAccumulator(lanes, slot);
    });
    foldAccumulators(f, accumulators, 'f32x4.add');
  };
  /** Adds the value on the stack to accumulator `slot` (whose own value is below it). */
  const addToAccumulator = (lanes: 4 | 1, slot: number): void => {
    // A single element is splat in every lane; it counts in lane 0 only.
    if (lanes === 1) f.v128Const('i32x4', [-1, 0, 0, 0]).op('v128.and');
    f.op('f32x4.add').set(accumulators[slot]!);
  };
  const store = (lanes: 4 | 1, offset: number): void => {
    if (lanes === 4) f.mem('v128.store', { offset, align: 4 });
    else f.memLane('v128.store32_lane', 0, { offset });
  };
  /** The residual pass: sum = x + skip written out, and summed for the mean. */
  const sumResidualRow = (): void => {
    for (const accumulator of accumulators) splat(f, 0).set(accumulator);
    f.get(rowStart).get(x).op('i32.add').set(p);
    f.get(rowStart).get(skip).op('i32.add').set(pk);
    f.get(rowStart).get(sum).op('i32.add').set(q);
    forEachInRow(f, length, [p, pk, q], counter, (lanes, offset, slot) => {
      f.get(q);
      load(lanes, p, offset);
      load(lanes, pk, offset).op('f32x4.add').tee(deviation);
      store(lanes, offset);
      f.get(accumulators[slot]!).get(deviation);
      addToAccumulator(lanes, slot);
    });
    foldAccumulators(f, accumulators, 'f32x4.add');
  };

  f.get(begin).set(row);
  f.loop(null, (nextRow) => {
    f.get(row)
      .i32Const(length * 4)
      .op('i32.mul')
      .set(rowStart);
    if (spec.residual) sumResidualRow();
    else if (spec.centre) sumRow((lanes, offset) => load(lanes, p, offset));
    if (spec.centre) {
      f.get(accumulators[0]!);
      splat(f, length).op('f32x4.div').set(mean);
    }
    sumRow((lanes, offset) => {
      centred(lanes, offset);
      f.tee(deviation).get(deviation).op('f32x4.mul');
    });
    splat(f, 1).get(accumulators[0]!);
    splat(f, length).op('f32x4.div');
    splat(f, spec.epsilon).op('f32x4.add').op('f32x4.sqrt').op('f32x4.div').set(inv);
    if (spec.statistics) {
      for (const [out, value] of [
        [meanOut, mean],
        [invOut, inv],
      ] as const) {
        f.get(row)
          .i32Const(4)
          .op('i32.mul')
          .get(out)
          .op('i32.add')
          .get(value)
          .memLane('v128.store32_lane', 0);
      }
    }
    // Per-row scale and bias: the channel's value, splat once.
    const channelValue = (base: Local, target: Local): void => {
      f.get(row).i32Const(spec.channels).op('i32.rem_u').i32Const(4).op('i32.mul').get(base).op('i32.add');
      f.mem('v128.load32_splat').set(target);
    };
    if (spec.scale === 'row') channelValue(scale, rowScale);
    if (spec.bias === 'row') channelValue(bias, rowBias);
    f.get(rowStart).get(source).op('i32.add').set(p);
    f.get(rowStart).get(y).op('i32.add').set(q);
    const cursors = [p, q];
    if (spec.scale === 'position') {
      f.get(scale).set(ps);
      cursors.push(ps);
    }
    if (spec.bias === 'position') {
      f.get(bias).set(pb);
      cursors.push(pb);
    }
    forEachInRow(f, length, cursors, counter, (lanes, offset) => {
      f.get(q);
      centred(lanes, offset);
      f.get(inv).op('f32x4.mul');
      if (spec.scale === 'position') load(lanes, ps, offset).op('f32x4.mul');
      if (spec.scale === 'row') f.get(rowScale).op('f32x4.mul');
      if (spec.bias === 'position') load(lanes, pb, offset).op('f32x4.add');
      if (spec.bias === 'row') f.get(rowBias).op('f32x4.add');
      store(lanes, offset);
    });
    f.get(row).i32Const(1).op('i32.add').tee(row).get(end).op('i32.lt_u').brIf(nextRow);
  });
}

// ---------------------------------------------------------------------------------------------
// Kernels

/** Rows of fewer elements than this go in one tile together. */
const MIN_TILE_ELEMENTS = 2048;
/** Vector operations per element over the three passes. */
const COST_PER_ELEMENT = 3;

/**
 * Whether `t` applies per position of rows made of `x`'s axes from `axis` on: broadcast to x, it
 * varies along those axes only, with all of them (its size is the row's).
 */
function perPosition(t: Tensor, x: Tensor, axis: number, length: number): boolean {
  const offset = x.dims.length - t.dims.length;
  return (
    offset >= 0 &&
    t.size === length &&
    t.dims.every((d, a) => a + offset >= axis || d === 1) &&
    t.dims.every((d, a) => d === 1 || d === x.dims[a + offset])
  );
}

/** What a row normalization node reads: which inputs are scale and bias, and how rows are formed. */
interface RowNormalization {
  readonly centre: boolean;
  readonly scaleInput?: number;
  readonly biasInput?: number;
  /** InstanceNormalization: a row is one channel of one sample; scale and bias apply per channel. */
  readonly instance?: boolean;
  /** AddLayerNormalization: input 1 is added to X first, and the sum is output 1. */
  readonly residual?: boolean;
}

function optionalTensor(
  args: KernelArgs,
  node: Node,
  index: number | undefined,
): Tensor | undefined | 'absent' {
  if (index === undefined || (node.inputs[index] ?? '') === '') return 'absent';
  const value = args.inputs[index];
  return value instanceof Tensor && value.type === 'float32' ? value : undefined;
}

/** How a row normalization runs over one set of input shapes. */
interface RowsPlan {
  readonly rows: number;
  /** The dims of the mean and inverse standard deviation outputs: x's, 1 along a row's axes. */
  readonly statisticsDims: readonly number[];
  /** Undefined when there are no elements to normalize. */
  readonly kernel: ModuleKernel | undefined;
  readonly range: TiledRange;
  readonly work: number;
}

/** What a node of `form` reads, fixed when it is prepared. */
interface RowsNode {
  readonly form: RowNormalization;
  readonly requestedAxis: number;
  readonly epsilon: number;
  readonly wantsStatistics: boolean;
}

/** The plan over x, scale and bias, or undefined when the rows or the affine ones are not the kernel's. */
function planRows(
  runtime: WasmRuntime,
  { form, requestedAxis, epsilon, wantsStatistics }: RowsNode,
  x: Tensor,
  scale: Tensor | 'absent',
  bias: Tensor | 'absent',
): RowsPlan | undefined {
  const rank = x.dims.length;
  let axis: number;
  let channels = 1;
  if (form.instance) {
    if (rank < 2) return undefined;
    axis = 2;
    channels = x.dims[1]!;
  } else {
    axis = requestedAxis < 0 ? requestedAxis + rank : requestedAxis;
    if (axis < 0 || axis >= rank) return undefined;
  }
  const rows = shapeSize(x.dims.slice(0, axis));
  const length = shapeSize(x.dims.slice(axis));
  const affine = (t: Tensor | 'absent'): Affine | undefined => {
    if (t === 'absent') return 'none';
    if (form.instance) return t.size === channels && t.dims.length === 1 ? 'row' : undefined;
    return perPosition(t, x, axis, length) ? 'position' : undefined;
  };
  const scaleMode = affine(scale);
  const biasMode = affine(bias);
  if (!scaleMode || !biasMode) return undefined;
  const spec: NormalizeSpec = {
    length,
    centre: form.centre,
    epsilon,
    scale: scaleMode,
    bias: biasMode,
    channels,
    statistics: wantsStatistics,
    residual: form.residual === true,
  };
  const elements = rows * length;
  const kernel =
    elements === 0
      ? undefined
      : generatedKernel(runtime, specKey(spec), 'normalize', (module) => buildNormalize(module, spec));
  const tiles = tileTarget(runtime.threads, elements, MIN_TILE_ELEMENTS);
  const range = { dims: [rows], tile: [Math.ceil(rows / tiles)] };
  const statisticsDims = x.dims.map((d, a) => (a < axis ? d : 1));
  return { rows, statisticsDims, kernel, range, work: elements * COST_PER_ELEMENT };
}

function prepareRows(node: Node, env: WasmEnv, form: RowNormalization): PreparedKernel {
  const operands = new HeapOperands(env, node);
  const rowsNode: RowsNode = {
    form,
    requestedAxis: intAttribute(node, 'axis', -1),
    epsilon: floatAttribute(node, 'epsilon', 1e-5),
    wantsStatistics: !form.residual && ((node.outputs[1] ?? '') !== '' || (node.outputs[2] ?? '') !== ''),
  };
  const plans = new ShapeMemo<RowsPlan | undefined>();
  let reference: PreparedKernel | undefined;
  const inputCount = node.inputs.length;
  const dimsOf = (t: Tensor | 'absent'): readonly number[] => (t === 'absent' ? [] : t.dims);
  return {
    name: `${form.instance ? 'instancenorm' : form.residual ? 'add_layernorm' : form.centre ? 'layernorm' : 'rmsnorm'}_f32`,
    run(args: KernelArgs): KernelOutputs | Promise<KernelOutputs> {
      const referenceRun = (): KernelOutputs | Promise<KernelOutputs> => {
        reference ??= env.reference(node);
        return reference.run(args);
      };
      const x = args.inputs[0];
      const scale = optionalTensor(args, node, form.scaleInput);
      const bias = optionalTensor(args, node, form.biasInput);
      if (!(x instanceof Tensor) || x.type !== 'float32' || !scale || !bias) return referenceRun();
      const skip = form.residual ? args.inputs[1] : undefined;
      const skipFits = skip instanceof Tensor && skip.type === 'float32' && sameDims(skip.dims, x.dims);
      if (form.residual && !skipFits) return referenceRun();
      const plan = plans.get([x.dims, dimsOf(scale), dimsOf(bias)], () =>
        planRows(env.runtime, rowsNode, x, scale, bias),
      );
      if (!plan) return referenceRun();
      const { rows } = plan;
      const y = args.allocateOutput(0, 'float32', x.dims);
      const outputs: KernelOutputs = [y];
      const statistics = [0, 0];
      if (rowsNode.wantsStatistics) {
        for (const k of [1, 2]) {
          const wanted = (node.outputs[k] ?? '') !== '';
          const tensor = wanted ? args.allocateOutput(k, 'float32', plan.statisticsDims) : undefined;
          outputs.push(tensor);
          statistics[k - 1] = tensor
            ? operands.output(tensor, inputCount + k)
            : operands.scratch(inputCount + 3 + k, rows * 4);
        }
      }
      const address = (t: Tensor | 'absent', index: number | undefined): number =>
        t === 'absent' ? 0 : operands.input(t, index!, index!);
      const residual = [0, 0];
      if (form.residual) {
        const wanted = (node.outputs[1] ?? '') !== '';
        const sum = wanted ? args.allocateOutput(1, 'float32', x.dims) : undefined;
        outputs.push(sum);
        residual[0] = operands.input(skip as Tensor, 1, 1);
        residual[1] = sum
          ? operands.output(sum, inputCount + 1)
          : operands.scratch(inputCount + 1, x.size * 4);
      }
      const addresses = [
        operands.input(x, 0, 0),
        address(scale, form.scaleInput),
        address(bias, form.biasInput),
        operands.output(y, inputCount),
        ...statistics,
        ...residual,
      ];
      const pending = plan.kernel && env.runtime.parallel(plan.kernel, plan.range, addresses, plan.work);
      return operands.finish(pending, outputs);
    },
  };
}

function rowKernel(
  domain: string,
  op: string,
  since: number,
  form: RowNormalization,
  claims: (node: Node) => true | string = () => true,
): WasmKernelDef {
  return {
    domain,
    op,
    since,
    claims: (node, types) => {
      const reason = claims(node);
      return reason === true ? claimsFloat32(node, types) : reason;
    },
    prepare: (node, env) => prepareRows(node, env, form),
  };
}

/** Statistics outputs in float32 only (the stash type). */
function float32Stash(node: Node): true | string {
  const stash = intAttribute(node, 'stash_type', 1);
  return stash === 1 ? true : `stash_type ${stash} is not float32`;
}

// ---------------------------------------------------------------------------------------------
// BatchNormalization

/**
 * (x - mean)·factor + B per channel, with factor = scale/√(var + ε): the inputs broadcast as
 * [C, 1, ...] against X = [N, C, ...].
 */
const BATCH_NORM_PROGRAM: ElementwiseProgram = {
  inputs: ['float32', 'float32', 'float32', 'float32'],
  instructions: [
    {
      op: 'Sub',
      operands: [
        { kind: 'input', index: 0 },
        { kind: 'input', index: 1 },
      ],
      params: [],
    },
    {
      op: 'Mul',
      operands: [
        { kind: 'result', index: 0 },
        { kind: 'input', index: 2 },
      ],
      params: [],
    },
    {
      op: 'Add',
      operands: [
        { kind: 'result', index: 1 },
        { kind: 'input', index: 3 },
      ],
      params: [],
    },
  ],
};

/** Inference unless training_mode (opset 14) or, before it, more outputs than Y are asked for. */
function batchNormInference(node: Node): true | string {
  if (node.opset < 9 && intAttribute(node, 'spatial', 1) === 0) return 'BatchNormalization with spatial = 0';
  const training =
    node.opset >= 14
      ? intAttribute(node, 'training_mode', 0) !== 0
      : node.outputs.filter((o) => o !== '').length > 1;
  return training ? 'BatchNormalization in training mode' : true;
}

function prepareBatchNorm(node: Node, env: WasmEnv): PreparedKernel {
  const operands = new HeapOperands(env, node);
  const epsilon = floatAttribute(node, 'epsilon', 1e-5);
  const plans = new ShapeMemo<ElementwisePlan | undefined>();
  let reference: PreparedKernel | undefined;
  return {
    name: 'batchnorm_f32',
    run(args: KernelArgs): KernelOutputs | Promise<KernelOutputs> {
      const tensors = [0, 1, 2, 3, 4].map((i) => args.inputs[i]);
      const x = tensors[0];
      const channels = x instanceof Tensor ? x.dims[1] : undefined;
      const valid =
        x instanceof Tensor &&
        channels !== undefined &&
        tensors.every(
          (t, i) => t instanceof Tensor && t.type === 'float32' && (i === 0 || t.size === channels),
        );
      if (!valid) {
        reference ??= env.reference(node);
        return reference.run(args);
      }
      const [, scale, bias, mean, variance] = tensors as Tensor[];
      const factorAddress = operands.scratch(5, channels * 4);
      const factor = env.heap.view('float32', factorAddress, channels) as Float32Array;
      const scales = scale!.data as Float32Array;
      const variances = variance!.data as Float32Array;
      for (let c = 0; c < channels; c++) factor[c] = scales[c]! / Math.sqrt(variances[c]! + epsilon);
      const y = args.allocateOutput(0, 'float32', x.dims);
      const plan = plans.get([x.dims], () => {
        const channelDims = [channels, ...x.dims.slice(2).map(() => 1)];
        const layout = elementwiseLayout(x.dims, [x.dims, channelDims, channelDims, channelDims]);
        return planElementwise(env.runtime, BATCH_NORM_PROGRAM, layout);
      });
      const pending = runElementwise(
        env.runtime,
        plan,
        [operands.input(x, 0, 0), operands.input(mean!, 3, 3), factorAddress, operands.input(bias!, 2, 2)],
        operands.output(y, 6),
      );
      return operands.finish(pending, [y]);
    },
  };
}

export const kernels: WasmKernelDef[] = [
  rowKernel('', 'LayerNormalization', 17, { centre: true, scaleInput: 1, biasInput: 2 }, float32Stash),
  rowKernel(HEDDLE_DOMAIN, 'LayerNormalization', 1, { centre: true, scaleInput: 1, biasInput: 2 }),
  rowKernel(HEDDLE_DOMAIN, 'AddLayerNormalization', 1, {
    centre: true,
    scaleInput: 2,
    biasInput: 3,
    residual: true,
  }),
  rowKernel('', 'RMSNormalization', 23, { centre: false, scaleInput: 1 }, float32Stash),
  rowKernel(HEDDLE_DOMAIN, 'RMSNormalization', 1, { centre: false, scaleInput: 1 }),
  rowKernel('', 'InstanceNormalization', 1, { centre: true, scaleInput: 1, biasInput: 2, instance: true }),
  {
    op: 'BatchNormalization',
    since: 1,
    claims: (node, types) => {
      const reason = batchNormInference(node);
      return reason === true ? claimsFloat32(node, types, [0, 1, 2, 3, 4]) : reason;
    },
    prepare: prepareBatchNorm,
  },
];

/**
 * MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool on float32 NCHW data. The windowed
 * pools (one or two spatial axes, any strides, dilations, pads, auto_pad, ceil_mode and
 * count_include_pad) run the sliding-window kernel the depthwise convolutions use, four outputs
 * of a row per vector; MaxPool is claimed only when its Indices output is not wanted. The global
 * pools reduce each plane (of any number of spatial axes) to one float.
 */

import { HeddleError } from '../../../core/errors.js';
import type { Tensor } from '../../../core/tensor.js';
import { intAttribute, type Node, type ValueType } from '../../../ir/graph.js';
import type { KernelArgs, KernelOutputs, PreparedKernel } from '../../backend.js';
import { generatedKernel } from '../codegen/compile.js';
import { finishStaged } from '../codegen/elementwise.js';
import {
  buildWindowKernel,
  windowKernelKey,
  windowKernelName,
  type PlaneWindow,
  type WindowKernelSpec,
} from '../codegen/conv.js';
import {
  buildGlobalPoolKernel,
  globalPoolKernelKey,
  globalPoolKernelName,
  type GlobalReduction,
} from '../codegen/pool.js';
import { claimsFloat32, shapeOf, tensorInput, type WasmEnv, type WasmKernelDef } from '../kernel.js';
import type { ModuleKernel } from '../runtime.js';
import { constantRow, planeTiles, planeWindow } from './conv.js';
import { sameDims } from '../../reference/util.js';

const TILES_PER_THREAD = 4;

/** The input's static dims when it is [N, C, spatial...] with non-empty planes, or the reason. */
function poolInput(node: Node, types: ReadonlyMap<string, ValueType>): number[] | string {
  const dims = shapeOf(types, node.inputs[0] ?? '');
  if (!dims) return 'the wasm pools need a static input shape';
  if (dims.length < 3) return 'the input must be [N, C, spatial...]';
  if (dims.some((d) => d < 1)) return 'empty tensors';
  return dims;
}

/** What a pooling node computes, once its shapes are known. */
interface PoolPlan {
  dims: number[];
  outDims: number[];
  kernel: ModuleKernel;
  name: string;
  range: { dims: number[]; tile: number[] };
  /** Arguments after x and y. */
  extra: number[];
  work: number;
}

type Planner = (node: Node, env: WasmEnv) => PoolPlan | string;

/** The input dims and the window of a MaxPool or AveragePool, or why the wasm kernels do not take it. */
function poolWindow(
  node: Node,
  types: ReadonlyMap<string, ValueType>,
): { dims: number[]; window: PlaneWindow } | string {
  const dims = poolInput(node, types);
  if (typeof dims === 'string') return dims;
  const kernelShape = node.attributes.get('kernel_shape');
  if (kernelShape?.type !== 'ints') return 'kernel_shape is required';
  const window = planeWindow(
    node,
    dims.slice(2),
    kernelShape.value,
    intAttribute(node, 'ceil_mode', 0) !== 0,
  );
  return typeof window === 'string' ? window : { dims, window };
}

function windowedPlan(node: Node, env: WasmEnv): PoolPlan | string {
  const shape = poolWindow(node, env.types);
  if (typeof shape === 'string') return shape;
  const { dims, window } = shape;
  const max = node.opType === 'MaxPool';
  const spec: WindowKernelSpec = {
    window,
    reduction: max
      ? { kind: 'max' }
      : { kind: 'average', countIncludePad: intAttribute(node, 'count_include_pad', 0) !== 0 },
    relaxedSimd: env.features.relaxedSimd,
  };
  const name = windowKernelName(spec);
  const kernel = generatedKernel(env.runtime, windowKernelKey(spec), name, (module) =>
    buildWindowKernel(module, name, spec),
  );
  const planes = dims[0]! * dims[1]!;
  const outSpatial = dims.length === 4 ? [window.outHeight, window.outWidth] : [window.outWidth];
  return {
    dims,
    outDims: [dims[0]!, dims[1]!, ...outSpatial],
    kernel,
    name,
    range: planeTiles(planes, window.outHeight, env.threads),
    extra: [constantRow(env, max ? NaN : 0, window.inWidth)],
    work: planes * window.outHeight * window.outWidth * window.kernel[0] * window.kernel[1],
  };
}

function globalPlan(reduction: GlobalReduction, node: Node, env: WasmEnv): PoolPlan | string {
  const dims = poolInput(node, env.types);
  if (typeof dims === 'string') return dims;
  const planes = dims[0]! * dims[1]!;
  const planeSize = dims.slice(2).reduce((n, d) => n * d, 1);
  const name = globalPoolKernelName(reduction);
  const kernel = generatedKernel(env.runtime, globalPoolKernelKey(reduction, planeSize), name, (module) =>
    buildGlobalPoolKernel(module, name, reduction, planeSize),
  );
  const tile = Math.max(1, Math.ceil(planes / (TILES_PER_THREAD * env.threads)));
  return {
    dims,
    outDims: [dims[0]!, dims[1]!, ...dims.slice(2).map(() => 1)],
    kernel,
    name,
    range: { dims: [planes], tile: [tile] },
    extra: [],
    work: planes * planeSize,
  };
}

function preparePool(node: Node, env: WasmEnv, plan: PoolPlan): PreparedKernel {
  const staging = env.staging();
  const reference = env.reference(node);
  return {
    name: plan.name,
    run: (args: KernelArgs): KernelOutputs | Promise<KernelOutputs> => {
      const x: Tensor = tensorInput(args, 0, node);
      if (x.type !== 'float32' || !sameDims(x.dims, plan.dims)) return reference.run(args);
      const output = args.allocateOutput(0, 'float32', plan.outDims);
      const xAddress = staging.input(x, 0);
      const yAddress = staging.output(output, 1);
      const pending = env.runtime.parallel(
        plan.kernel,
        plan.range,
        [xAddress, yAddress, ...plan.extra],
        plan.work,
      );
      return finishStaged(staging, pending, [output]);
    },
  };
}

function poolDef(
  op: string,
  since: number,
  planner: Planner,
  claims: WasmKernelDef['claims'],
): WasmKernelDef {
  return {
    op,
    since,
    claims,
    prepare: (node, env) => {
      const plan = planner(node, env);
      if (typeof plan === 'string') throw new HeddleError(plan, { node: node.name, opType: node.opType });
      return preparePool(node, env, plan);
    },
  };
}

function claimsWindowed(node: Node, types: ReadonlyMap<string, ValueType>): true | string {
  const float = claimsFloat32(node, types);
  if (float !== true) return float;
  if (node.opType === 'MaxPool' && (node.outputs[1] ?? '') !== '')
    return 'the wasm MaxPool has no Indices output';
  const shape = poolWindow(node, types);
  return typeof shape === 'string' ? shape : true;
}

function claimsGlobal(node: Node, types: ReadonlyMap<string, ValueType>): true | string {
  const float = claimsFloat32(node, types);
  if (float !== true) return float;
  const dims = poolInput(node, types);
  return typeof dims === 'string' ? dims : true;
}

export const kernels: WasmKernelDef[] = [
  poolDef('MaxPool', 1, windowedPlan, claimsWindowed),
  poolDef('AveragePool', 1, windowedPlan, claimsWindowed),
  poolDef('GlobalAveragePool', 1, (node, env) => globalPlan('average', node, env), claimsGlobal),
  poolDef('GlobalMaxPool', 1, (node, env) => globalPlan('max', node, env), claimsGlobal),
];

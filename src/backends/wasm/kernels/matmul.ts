/**
 * Matrix products on the wasm GEMM (../gemm.ts): MatMul (numpy semantics: 1-D operands promoted,
 * batch axes broadcast), Gemm (alpha·A·B' + beta·C, C broadcast) and the fused com.heddle
 * FusedMatMul and FusedGemm (the same, plus a bias along the last axis and an activation).
 *
 * A constant B is packed into panels once per backend (alpha folded in); any other B is packed
 * at run time. Whatever of C and the fused bias lies along the rows or the columns of the result
 * becomes the GEMM's bias, added in registers; a C of any other broadcast is written into the
 * result first and the product added to it. Gemm's transA, and alpha on a B that is not constant,
 * take a copy of A (transposed, scaled) into scratch. Float32 only.
 */

import type { Tensor } from '../../../core/tensor.js';
import { HEDDLE_DOMAIN, type Node, type ValueType } from '../../../ir/graph.js';
import type { KernelArgs, PreparedKernel } from '../../backend.js';
import { matmulShapes } from '../../reference/kernels/matmul.js';
import { broadcastIndex, shapeSize } from '../../reference/util.js';
import { ModuleBuilder } from '../assembler/index.js';
import { activationOf, emitActivation, type Activation } from '../codegen/activation.js';
import { finishStaged, ShapeMemo, unlessFails } from '../codegen/elementwise.js';
import { Gemm, packedPanelFloats, packPanels, type GemmOptions } from '../gemm.js';
import {
  claimsFloat32,
  shapeOf,
  tensorInput,
  type Staging,
  type WasmEnv,
  type WasmKernelDef,
} from '../kernel.js';
import { inOrder, type Pending } from './transpose.js';

/** Staging slots of a product's operands. */
const SLOT_A = 0;
const SLOT_B = 1;
const SLOT_PACKED_B = 2;
const SLOT_BIAS = 3;
const SLOT_OUTPUT = 4;

/** activation_params each activation takes; the others take none. */
const ACTIVATION_PARAMS: Readonly<Record<string, number>> = { LeakyRelu: 1, HardSigmoid: 2, Clip: 2 };

const generatedActivations = new Map<string, true | string>();

/** `true` when emitActivation generates the activation, else why not (asked once per kind). */
function generates(activation: Activation): true | string {
  let verdict = generatedActivations.get(activation.kind);
  if (verdict === undefined) {
    const module = new ModuleBuilder();
    const f = module.function('probe', { params: [['x', 'v128']], results: ['v128'] });
    try {
      emitActivation(f.get(f.params[0]!), activation);
      module.encode();
      verdict = true;
    } catch (error) {
      verdict = `activation ${activation.kind} has no generated form: ${(error as Error).message}`;
    }
    generatedActivations.set(activation.kind, verdict);
  }
  return verdict;
}

/** A fused node's activation when the GEMM epilogue can apply it, or the reason it cannot. */
function fusedActivation(node: Node): Activation | undefined | string {
  const activation = activationOf(node);
  if (activation === undefined || typeof activation === 'string') return activation;
  const wanted = ACTIVATION_PARAMS[activation.kind] ?? 0;
  if (activation.params.length !== wanted) {
    return `activation ${activation.kind} takes ${wanted} activation_params, got ${activation.params.length}`;
  }
  const verdict = generates(activation);
  return verdict === true ? activation : verdict;
}

type Step = () => Pending;

/** The GEMMs of one node's epilogue, made when a run first needs each bias kind. */
class Gemms {
  private readonly made = new Map<string, Gemm>();

  constructor(
    private readonly env: WasmEnv,
    private readonly activation: Activation | undefined,
  ) {}

  get(bias: GemmOptions['bias'], accumulate: boolean): Gemm {
    const key = `${bias}:${accumulate}`;
    let gemm = this.made.get(key);
    if (!gemm) {
      gemm = new Gemm(this.env, { bias, activation: this.activation, accumulate });
      this.made.set(key, gemm);
    }
    return gemm;
  }
}

/**
 * The name traces show: that of the GEMM a run of the node usually takes (made now, so its module
 * compiles at prepare), with a column bias when the node has any bias or C.
 */
function usualName(node: Node, gemms: Gemms, biasInputs: readonly number[]): string {
  const biased = biasInputs.some((i) => (node.inputs[i] ?? '') !== '');
  return gemms.get(biased ? 'column' : 'none', false).name;
}

function allFloat32(tensors: readonly (Tensor | undefined)[]): boolean {
  return tensors.every((tensor) => tensor === undefined || tensor.type === 'float32');
}

/** Input `index`, or undefined when the node omits it. */
function optionalTensor(args: KernelArgs, node: Node, index: number): Tensor | undefined {
  if ((node.inputs[index] ?? '') === '') return undefined;
  return tensorInput(args, index, node);
}

/** The first `count` floats at `address` in the heap, as an array to fill. */
function heapFloats(env: WasmEnv, address: number, count: number): Float32Array {
  return env.heap.view('float32', address, count) as Float32Array;
}

/**
 * A constant B packed once per backend: its matrices (K×N each, N×K with `transposed`; a 1-D B is
 * one K×1 column) scaled by `scale`. Undefined when B is not float32.
 */
function packedConstant(env: WasmEnv, b: Tensor, transposed: boolean, scale: number): number | undefined {
  if (b.type !== 'float32' || b.dims.length === 0) return undefined;
  const [rows, cols] = b.dims.length === 1 ? [b.dims[0]!, 1] : (b.dims.slice(-2) as [number, number]);
  const [k, n] = transposed ? [cols, rows] : [rows, cols];
  const matrices = shapeSize(b.dims.slice(0, -2));
  return env.memo(b, `gemm-panels-${transposed ? 'nk' : 'kn'}-${scale}`, () => {
    const floats = packedPanelFloats(k, n);
    const address = env.keep(4 * Math.max(1, floats * matrices));
    const source = b.data as Float32Array;
    const scaled = scale === 1 ? source : source.map((value) => value * scale);
    for (let item = 0; item < matrices; item++) {
      const matrix = scaled.subarray(item * k * n, (item + 1) * k * n);
      packPanels(
        matrix,
        k,
        n,
        transposed ? 'nk' : 'kn',
        heapFloats(env, address + 4 * floats * item, floats),
      );
    }
    return address;
  });
}

/** Steps packing the `matrices` B matrices of a run into a staging block; returns its address. */
function packAtRunTime(
  gemm: Gemm,
  staging: Staging,
  b: Tensor,
  matrices: number,
  k: number,
  n: number,
  transposed: boolean,
  steps: Step[],
): number {
  const floats = packedPanelFloats(k, n);
  const target = staging.block(SLOT_PACKED_B, 4 * Math.max(1, floats * matrices));
  const source = staging.input(b, SLOT_B);
  for (let item = 0; item < matrices; item++) {
    steps.push(() =>
      gemm.packB(source + 4 * k * n * item, k, n, transposed ? k : n, transposed, target + 4 * floats * item),
    );
  }
  return target;
}

// MatMul and FusedMatMul.

interface MatMulDims {
  m: number;
  k: number;
  n: number;
  outDims: number[];
  /** Per output matrix: the index of its A and B matrices. */
  aIndex: Int32Array;
  bIndex: Int32Array;
  /** The steps of aIndex and bIndex where each is `step·i` throughout (`linearStep`). */
  strideA: number | undefined;
  strideB: number | undefined;
  bMatrices: number;
}

function matmulDims(aShape: readonly number[], bShape: readonly number[]): MatMulDims | undefined {
  const shapes = unlessFails((fail) => matmulShapes({ dims: aShape }, { dims: bShape }, fail));
  if (!shapes) return undefined;
  const { aDims, bDims, batchDims, rows: m, depth: k, cols: n, outDims } = shapes;
  const aIndex = broadcastIndex(aDims.slice(0, -2), batchDims);
  const bIndex = broadcastIndex(bDims.slice(0, -2), batchDims);
  return {
    m,
    k,
    n,
    outDims,
    aIndex,
    bIndex,
    strideA: linearStep(aIndex),
    strideB: linearStep(bIndex),
    bMatrices: shapeSize(bDims.slice(0, -2)),
  };
}

/** The common step of an index sequence that is `step·i` throughout, or undefined. */
function linearStep(index: Int32Array): number | undefined {
  const step = index.length > 1 ? index[1]! - index[0]! : 0;
  return index.every((value, i) => value === step * i) ? step : undefined;
}

function claimMatMul(node: Node, types: ReadonlyMap<string, ValueType>): true | string {
  const float = claimsFloat32(node, types);
  if (float !== true) return float;
  const a = shapeOf(types, node.inputs[0] ?? '');
  const b = shapeOf(types, node.inputs[1] ?? '');
  if (a && b && !matmulDims(a, b)) return `MatMul cannot multiply [${a.join(', ')}] by [${b.join(', ')}]`;
  return true;
}

function prepareMatMul(node: Node, env: WasmEnv, activation?: Activation): PreparedKernel {
  const reference = env.reference(node);
  const staging = env.staging();
  const gemms = new Gemms(env, activation);
  const constantB = env.constant(node.inputs[1] ?? '');
  const packedB = constantB && packedConstant(env, constantB, false, 1);
  const fused = node.domain === HEDDLE_DOMAIN;
  // The broadcast index tables and their steps are the shapes' alone: made again only when those change.
  const shapes = new ShapeMemo<MatMulDims | undefined>();
  return {
    name: usualName(node, gemms, fused ? [2] : []),
    writesWholeOutputs: true,
    run: (args) => {
      const a = tensorInput(args, 0, node);
      const b = tensorInput(args, 1, node);
      const bias = fused ? optionalTensor(args, node, 2) : undefined;
      const dims = shapes.get([a.dims, b.dims], () => matmulDims(a.dims, b.dims));
      const biasFits = !bias || (bias.dims.length === 1 && (bias.size === 1 || bias.size === dims?.n));
      if (!dims || !allFloat32([a, b, bias]) || !biasFits) return reference.run(args);
      const { m, k, n, aIndex, bIndex, strideA, strideB, bMatrices } = dims;
      const out = args.allocateOutput(0, 'float32', dims.outDims);
      if (out.size === 0) return [out];
      const gemm = gemms.get(bias ? 'column' : 'none', false);
      const steps: Step[] = [];
      const bAddress =
        b === constantB && packedB !== undefined
          ? packedB
          : packAtRunTime(gemm, staging, b, bMatrices, k, n, false, steps);
      const oneProduct = strideA !== undefined && strideB !== undefined;
      // One product (batched or not) copies its output out of scratch itself, tile by tile where
      // that pays; matrix by matrix, staging copies it at the end.
      const c = oneProduct
        ? staging.outputCopiedByKernel(out, SLOT_OUTPUT)
        : { address: staging.output(out, SLOT_OUTPUT) };
      const operands = {
        a: staging.input(a, SLOT_A),
        lda: k,
        b: bAddress,
        c: c.address,
        ldc: n,
        bias: bias ? columnBias(env, staging, bias, n) : undefined,
        copyOut: c.copyOut,
      };
      const panels = packedPanelFloats(k, n);
      if (strideB === 0 && strideA === 1) {
        // One B for every matrix of A: A's matrices are one tall matrix.
        steps.push(() => gemm.run({ m: m * aIndex.length, n, k }, operands));
      } else if (oneProduct) {
        const batch = {
          count: aIndex.length,
          strideA: strideA * m * k,
          strideB: strideB * panels,
          strideC: m * n,
        };
        steps.push(() => gemm.runBatched({ m, n, k }, operands, batch));
      } else {
        aIndex.forEach((aItem, item) => {
          const matrix = {
            ...operands,
            a: operands.a + 4 * m * k * aItem,
            b: operands.b + 4 * panels * bIndex[item]!,
            c: operands.c + 4 * m * n * item,
          };
          steps.push(() => gemm.run({ m, n, k }, matrix));
        });
      }
      return finishStaged(staging, inOrder(steps), [out]);
    },
  };
}

/** The address of `bias` (1-D, of n floats or one) as n floats in the heap. */
function columnBias(env: WasmEnv, staging: Staging, bias: Tensor, n: number): number {
  if (bias.size === n) return staging.input(bias, SLOT_BIAS);
  const address = staging.block(SLOT_BIAS, 4 * n);
  heapFloats(env, address, n).fill((bias.data as Float32Array)[0]!);
  return address;
}

// Gemm and FusedGemm.

interface GemmAttributes {
  transA: boolean;
  transB: boolean;
  alpha: number;
  beta: number;
  /** Before opset 7, C broadcasts only with broadcast=1. */
  broadcast: boolean;
}

/** The fused operators have Gemm's semantics of this opset. */
const FUSED_BASE_OPSET = 13;

function gemmAttributes(node: Node): GemmAttributes {
  const number = (name: string, fallback: number) => {
    const attribute = node.attributes.get(name);
    return attribute?.type === 'int' || attribute?.type === 'float' ? attribute.value : fallback;
  };
  return {
    transA: number('transA', 0) !== 0,
    transB: number('transB', 0) !== 0,
    alpha: number('alpha', 1),
    beta: number('beta', 1),
    broadcast: baseOpset(node) >= 7 || number('broadcast', 0) !== 0,
  };
}

function baseOpset(node: Node): number {
  return node.domain === HEDDLE_DOMAIN ? FUSED_BASE_OPSET : node.opset;
}

function claimGemm(node: Node, types: ReadonlyMap<string, ValueType>): true | string {
  return claimsFloat32(node, types);
}

/**
 * Where beta·C (dims `c`) goes in an M×N result: along the columns or the rows as a GEMM bias
 * (the rows only when there is no column bias to share it with), or written into the result
 * first ('full'); undefined when it does not broadcast to M×N.
 */
function placeC(
  c: readonly number[],
  m: number,
  n: number,
  columnBiasToo: boolean,
): GemmOptions['bias'] | 'full' | undefined {
  if (c.length > 2) return undefined;
  const [rows, cols] = [1, 1, ...c].slice(-2) as [number, number];
  if ((rows !== 1 && rows !== m) || (cols !== 1 && cols !== n)) return undefined;
  if (rows === 1) return 'column';
  if (cols === 1 && !columnBiasToo) return 'row';
  return 'full';
}

function prepareGemm(node: Node, env: WasmEnv, activation?: Activation): PreparedKernel {
  const attributes = gemmAttributes(node);
  const constantB = env.constant(node.inputs[1] ?? '');
  const packedB =
    constantB?.dims.length === 2
      ? packedConstant(env, constantB, attributes.transB, attributes.alpha)
      : undefined;
  const reference = env.reference(node);
  const staging = env.staging();
  const gemms = new Gemms(env, activation);
  const fused = node.domain === HEDDLE_DOMAIN;
  const { transA, transB, alpha, beta } = attributes;
  return {
    name: usualName(node, gemms, fused ? [2, 3] : [2]),
    writesWholeOutputs: true,
    run: (args) => {
      const a = tensorInput(args, 0, node);
      const b = tensorInput(args, 1, node);
      const givenC = optionalTensor(args, node, 2);
      // C was required before opset 11: the reference kernel says so.
      if (!givenC && baseOpset(node) < 11) return reference.run(args);
      const c = beta !== 0 ? givenC : undefined;
      const bias = fused ? optionalTensor(args, node, 3) : undefined;
      if (!allFloat32([a, b, c, bias]) || a.dims.length !== 2 || b.dims.length !== 2)
        return reference.run(args);
      const [m, k] = (transA ? [a.dims[1], a.dims[0]] : a.dims) as [number, number];
      const [bk, n] = (transB ? [b.dims[1], b.dims[0]] : b.dims) as [number, number];
      const biasFits = !bias || (bias.dims.length === 1 && (bias.size === 1 || bias.size === n));
      const cPlace = c ? placeC(c.dims, m, n, bias !== undefined) : 'none';
      const cBroadcasts =
        !c || attributes.broadcast || (c.dims.length === 2 && c.dims[0] === m && c.dims[1] === n);
      if (bk !== k || !biasFits || cPlace === undefined || !cBroadcasts) return reference.run(args);
      const out = args.allocateOutput(0, 'float32', [m, n]);
      if (out.size === 0) return [out];
      const biasKind = cPlace === 'row' ? 'row' : cPlace === 'column' || bias ? 'column' : 'none';
      const gemm = gemms.get(biasKind, cPlace === 'full');
      const steps: Step[] = [];
      const prepacked = b === constantB && packedB !== undefined;
      const bAddress = prepacked ? packedB : packAtRunTime(gemm, staging, b, 1, k, n, transB, steps);
      // alpha is in a constant B's panels; otherwise it scales a copy of A, as transA needs one.
      const scaleA = prepacked ? 1 : alpha;
      const aAddress =
        transA || scaleA !== 1 ? copyA(env, staging, a, m, k, transA, scaleA) : staging.input(a, SLOT_A);
      const output = staging.output(out, SLOT_OUTPUT);
      if (cPlace === 'full') fillBroadcast(heapFloats(env, output, m * n), c!, m, n, beta);
      let biasAddress: number | undefined;
      if (biasKind !== 'none') {
        const length = biasKind === 'row' ? m : n;
        biasAddress = staging.block(SLOT_BIAS, 4 * length);
        const values = heapFloats(env, biasAddress, length).fill(0);
        if (c && cPlace !== 'full') addAlong(values, c, beta);
        if (bias) addAlong(values, bias, 1);
      }
      const operands = {
        a: aAddress,
        lda: k,
        b: bAddress,
        c: output,
        ldc: n,
        bias: biasAddress,
      };
      steps.push(() => gemm.run({ m, n, k }, operands));
      return finishStaged(staging, inOrder(steps), [out]);
    },
  };
}

/** The address of scale·A' (m×k, row-major) in a staging block, A' being A or, with `transposed`, Aᵀ. */
function copyA(
  env: WasmEnv,
  staging: Staging,
  a: Tensor,
  m: number,
  k: number,
  transposed: boolean,
  scale: number,
): number {
  const address = staging.block(SLOT_A, 4 * Math.max(1, m * k));
  const target = heapFloats(env, address, m * k);
  const source = a.data as Float32Array;
  const [rowStep, colStep] = transposed ? [1, m] : [k, 1];
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) target[i * k + p] = scale * source[i * rowStep + p * colStep]!;
  }
  return address;
}

/** values[i] += scale · v[i], `v` holding values.length floats or one. */
function addAlong(values: Float32Array, v: Tensor, scale: number): void {
  const data = v.data as Float32Array;
  for (let i = 0; i < values.length; i++) values[i]! += scale * data[data.length === 1 ? 0 : i]!;
}

/** result = scale · C broadcast to m×n (C of rank ≤ 2 whose dims are 1 or the result's). */
function fillBroadcast(result: Float32Array, c: Tensor, m: number, n: number, scale: number): void {
  const [rows, cols] = [1, 1, ...c.dims].slice(-2) as [number, number];
  const data = c.data as Float32Array;
  for (let i = 0; i < m; i++) {
    const row = rows === 1 ? 0 : i * cols;
    for (let j = 0; j < n; j++) result[i * n + j] = scale * data[row + (cols === 1 ? 0 : j)]!;
  }
}

/** A fused node's claim: the base operator's, and an activation the epilogue generates. */
function claimFused(
  base: (node: Node, types: ReadonlyMap<string, ValueType>) => true | string,
): (node: Node, types: ReadonlyMap<string, ValueType>) => true | string {
  return (node, types) => {
    const activation = fusedActivation(node);
    return typeof activation === 'string' ? activation : base(node, types);
  };
}

/** A fused node's activation, once `claimFused` has accepted it. */
function claimedActivation(node: Node): Activation | undefined {
  const activation = fusedActivation(node);
  if (typeof activation === 'string') throw new Error(activation);
  return activation;
}

export const kernels: WasmKernelDef[] = [
  { op: 'MatMul', since: 1, claims: claimMatMul, prepare: (node, env) => prepareMatMul(node, env) },
  { op: 'Gemm', since: 1, claims: claimGemm, prepare: (node, env) => prepareGemm(node, env) },
  {
    domain: HEDDLE_DOMAIN,
    op: 'FusedMatMul',
    since: 1,
    claims: claimFused(claimMatMul),
    prepare: (node, env) => prepareMatMul(node, env, claimedActivation(node)),
  },
  {
    domain: HEDDLE_DOMAIN,
    op: 'FusedGemm',
    since: 1,
    claims: claimFused(claimGemm),
    prepare: (node, env) => prepareGemm(node, env, claimedActivation(node)),
  },
];

/**
 * LSTM and GRU (every direction and layout, sequence_lens, initial states, LSTM peepholes and
 * input_forget, GRU linear_before_reset) with their default activations and no clip; other
 * configurations stay with the reference backend. The whole node, input projection and every
 * time step, is one run of the generated kernel of codegen/rnn.ts, on every thread at once when
 * the pool takes it.
 *
 * Constant weights are packed once per backend (env.memo): W in the GEMM's panels of eight
 * columns, each gate's units padded to whole panels so the projection's rows line up with the
 * kernel's unit blocks; R per phase in the kernel's block layout; the biases W_b + R_b folded
 * together (except the candidate's R_b under linear_before_reset, which r multiplies); peepholes
 * padded like the units. Weights that are not constant are packed the same way at each run.
 */

import { HeddleError } from '../../../core/errors.js';
import type { Tensor } from '../../../core/tensor.js';
import { intAttribute, type Node, opLabel, stringAttribute, type ValueType } from '../../../ir/graph.js';
import type { KernelArgs, KernelOutputs, PreparedKernel } from '../../backend.js';
import { readInts, sameDims } from '../../reference/util.js';
import { generatedKernel } from '../codegen/compile.js';
import {
  counterBytes,
  DESCRIPTOR_FIELDS,
  emitRecurrence,
  gateCount,
  packedPhaseFloats,
  packRecurrentWeights,
  paddedUnits,
  phasesOf,
  recurrenceKernelName,
  UNIT_BLOCK,
  type DescriptorField,
  type RecurrenceSpec,
  type RecurrentCell,
} from '../codegen/rnn.js';
import { packedPanelFloats, packPanels } from '../gemm.js';
import type { WasmHeap } from '../heap.js';
import { claimsFloat32, shapeOf, tensorInput, typeOf, type WasmEnv, type WasmKernelDef } from '../kernel.js';

/**
 * Chunks of units per thread and step: one, as more would only add synchronisation (the chunk of
 * a thread that is late is taken by the others).
 */
const CHUNKS_PER_THREAD = 1;

const DEFAULT_ACTIVATIONS: Record<RecurrentCell, string[]> = {
  lstm: ['sigmoid', 'tanh', 'tanh'],
  gru: ['sigmoid', 'tanh'],
};

/** Input positions: X, W, R, B, sequence_lens, initial_h, then LSTM's initial_c and P. */
const SEQUENCE_LENS = 4;
const INITIAL_H = 5;
const INITIAL_C = 6;
const PEEPHOLES = 7;

function input(node: Node, index: number): string {
  return node.inputs[index] ?? '';
}

/** The recurrence's static facts, or why the generated kernel does not run this node. */
function specOf(
  node: Node,
  cell: RecurrentCell,
  types: ReadonlyMap<string, ValueType>,
  relaxedSimd: boolean,
) {
  const float = claimsFloat32(node, types, [0, 1, 2, 3, 5, 6, 7]);
  if (float !== true) return float;
  const lensType = typeOf(types, input(node, SEQUENCE_LENS));
  if (input(node, SEQUENCE_LENS) !== '' && lensType !== undefined && lensType !== 'int32') {
    return `sequence_lens must be int32, got ${lensType}`;
  }
  if (node.attributes.get('clip') !== undefined) return 'the wasm recurrence has no clip';
  const direction = stringAttribute(node, 'direction', 'forward');
  if (!['forward', 'reverse', 'bidirectional'].includes(direction)) return `unknown direction '${direction}'`;
  const directions = direction === 'bidirectional' ? 2 : 1;
  const activations = node.attributes.get('activations');
  if (activations !== undefined) {
    const expected = Array.from({ length: directions }, () => DEFAULT_ACTIVATIONS[cell]).flat();
    const given = activations.type === 'strings' ? activations.value.map((a) => a.toLowerCase()) : [];
    if (given.length !== expected.length || given.some((a, i) => a !== expected[i])) {
      return 'the wasm recurrence computes the default activations only';
    }
  }
  const gates = gateCount(cell);
  const w = shapeOf(types, input(node, 1));
  const r = shapeOf(types, input(node, 2));
  if (!w || !r || w.length !== 3 || r.length !== 3)
    return 'the wasm recurrence needs W and R of known rank-3 shapes';
  const hidden = r[2]!;
  if (
    hidden < 1 ||
    r[1] !== gates * hidden ||
    w[1] !== gates * hidden ||
    w[0] !== directions ||
    r[0] !== directions
  ) {
    return `W [${w.join(', ')}] and R [${r.join(', ')}] do not fit ${directions} direction(s) of ${gates} gates`;
  }
  if (intAttribute(node, 'hidden_size', hidden) !== hidden) return `hidden_size differs from R's ${hidden}`;
  const layout = node.opset >= 14 ? intAttribute(node, 'layout', 0) : 0;
  if (layout !== 0 && layout !== 1) return `layout must be 0 or 1, got ${layout}`;
  const spec: RecurrenceSpec = {
    cell,
    hidden,
    directions,
    reverse: direction === 'bidirectional' ? [false, true] : [direction === 'reverse'],
    peepholes: cell === 'lstm' && input(node, PEEPHOLES) !== '',
    inputForget: cell === 'lstm' && intAttribute(node, 'input_forget', 0) !== 0,
    linearBeforeReset: cell === 'gru' && intAttribute(node, 'linear_before_reset', 0) !== 0,
    relaxedSimd,
    inputSize: w[2]!,
  };
  return { spec, batchMajor: layout === 1 };
}

function claimsFor(cell: RecurrentCell) {
  return (node: Node, types: ReadonlyMap<string, ValueType>): true | string => {
    const result = specOf(node, cell, types, false);
    return typeof result === 'string' ? result : true;
  };
}

/** Weights in the layouts the kernel reads, as heap addresses. */
interface PackedWeights {
  /** W of each direction in panels of eight columns (gates·Hp of them), as packPanels packs B. */
  projection: number;
  /** W_b + R_b per direction, gates·Hp floats (zero in the padding). */
  bias: number;
  /** R per phase, directions one after the other. */
  phases: number[];
  /** Peepholes [direction][3][Hp], or GRU's candidate R_b [direction][Hp] under linear_before_reset. */
  extra: number;
}

/** A heap block of `floats` floats for the weights called `what`. */
type Allocate = (floats: number, what: string) => number;

/**
 * Packs the weights into blocks from `allocate`. Every block is allocated before any view of the
 * heap is made: growing a memory that is not shared detaches the views made before.
 */
function packWeights(
  spec: RecurrenceSpec,
  inputSize: number,
  weights: { w: Tensor; r: Tensor; b?: Tensor; p?: Tensor },
  heap: WasmHeap,
  allocate: Allocate,
): PackedWeights {
  const { hidden, directions } = spec;
  const gates = gateCount(spec.cell);
  const units = paddedUnits(hidden);
  const phases = phasesOf(spec);
  const gatePanels = packedPanelFloats(inputSize, hidden);
  const phaseFloats = phases.map((phase) => directions * packedPhaseFloats(spec, phase));
  const sizes = { projection: directions * gates * gatePanels, bias: directions * gates * units };
  const packed: PackedWeights = {
    projection: allocate(sizes.projection, 'projection'),
    bias: allocate(sizes.bias, 'bias'),
    phases: phaseFloats.map((floats, index) => allocate(floats, `phase${index}`)),
    extra: allocate(directions * 3 * units, 'extra'),
  };
  const view = (address: number, floats: number) => heap.view('float32', address, floats) as Float32Array;
  const w = weights.w.data as Float32Array;
  const r = weights.r.data as Float32Array;
  const b = weights.b?.data as Float32Array | undefined;
  const p = weights.p?.data as Float32Array | undefined;

  const projection = view(packed.projection, sizes.projection);
  const bias = view(packed.bias, sizes.bias).fill(0);
  for (let d = 0; d < directions; d++) {
    for (let g = 0; g < gates; g++) {
      const rows = w.subarray((d * gates + g) * hidden * inputSize, (d * gates + g + 1) * hidden * inputSize);
      packPanels(rows, inputSize, hidden, 'nk', projection.subarray((d * gates + g) * gatePanels));
      if (!b) continue;
      // The candidate's R_b stays apart under linear_before_reset: r multiplies it.
      const recurrentBias = !(spec.cell === 'gru' && spec.linearBeforeReset && g === 2);
      for (let j = 0; j < hidden; j++) {
        const at = d * 2 * gates * hidden + g * hidden + j;
        bias[(d * gates + g) * units + j] = b[at]! + (recurrentBias ? b[at + gates * hidden]! : 0);
      }
    }
  }

  phases.forEach((phase, index) => {
    const target = view(packed.phases[index]!, phaseFloats[index]!);
    for (let d = 0; d < directions; d++) {
      const rows = r.subarray(d * gates * hidden * hidden, (d + 1) * gates * hidden * hidden);
      packRecurrentWeights(rows, hidden, phase, target, (d * phaseFloats[index]!) / directions);
    }
  });

  const extra = view(packed.extra, directions * 3 * units).fill(0);
  for (let d = 0; d < directions; d++) {
    for (let j = 0; j < hidden; j++) {
      if (spec.peepholes && p) {
        for (let gate = 0; gate < 3; gate++)
          extra[(d * 3 + gate) * units + j] = p[(d * 3 + gate) * hidden + j]!;
      } else if (spec.linearBeforeReset && b) {
        extra[d * units + j] = b[d * 2 * gates * hidden + (gates + 2) * hidden + j]!;
      }
    }
  }
  return packed;
}

function prepareFor(cell: RecurrentCell) {
  return (node: Node, env: WasmEnv): PreparedKernel => {
    const result = specOf(node, cell, env.types, env.features.relaxedSimd);
    if (typeof result === 'string') throw new HeddleError(result, { node: node.name, opType: opLabel(node) });
    const { spec, batchMajor } = result;
    const { hidden, inputSize, directions } = spec;
    const gates = gateCount(cell);
    const units = paddedUnits(hidden);
    const phases = phasesOf(spec);
    const name = recurrenceKernelName(spec);
    const recurrence = generatedKernel(env.runtime, name, 'recurrence', (module) =>
      emitRecurrence(module, spec),
    );
    const reference = env.reference(node);
    const staging = env.staging();
    const heap = env.heap;
    const slots = new Map<string, number>();
    const slot = (key: string) => {
      if (!slots.has(key)) slots.set(key, slots.size);
      return slots.get(key)!;
    };

    const weightNames = [1, 2, 3, PEEPHOLES].map((i) => input(node, i));
    const [w, r, b, p] = weightNames.map((n) => (n === '' ? undefined : env.constant(n)));
    const allConstant = weightNames.every((n, i) => n === '' || [w, r, b, p][i] !== undefined);
    // Packed once per backend; the kind names every tensor that goes into the packing.
    const constantWeights =
      allConstant && w && r
        ? env.memo(w, `${name}_${inputSize}_${weightNames.join(',')}`, () =>
            packWeights(spec, inputSize, { w, r, b, p }, heap, (floats) => env.keep(floats * 4)),
          )
        : undefined;

    const run = (args: KernelArgs): KernelOutputs | Promise<KernelOutputs> => {
      const x = tensorInput(args, 0, node);
      const w = tensorInput(args, 1, node);
      const r = tensorInput(args, 2, node);
      const optional = (i: number) => (input(node, i) === '' ? undefined : tensorInput(args, i, node));
      const [b, lens, h0, c0, p] = [3, SEQUENCE_LENS, INITIAL_H, INITIAL_C, PEEPHOLES].map((i) =>
        cell === 'gru' && i >= INITIAL_C ? undefined : optional(i),
      );
      const unsupported =
        x.type !== 'float32' ||
        x.dims.length !== 3 ||
        x.dims[2] !== inputSize ||
        [w, r, b, h0, c0, p].some((t) => t !== undefined && t.type !== 'float32') ||
        (lens !== undefined && lens.type !== 'int32') ||
        !sameDims(w.dims, [directions, gates * hidden, inputSize]) ||
        !sameDims(r.dims, [directions, gates * hidden, hidden]);
      if (unsupported) return reference.run(args);
      const [steps, batch] = batchMajor ? [x.dims[1]!, x.dims[0]!] : [x.dims[0]!, x.dims[1]!];
      const stateDims = batchMajor ? [batch, directions, hidden] : [directions, batch, hidden];
      const fail = (reason: string): never => {
        throw new HeddleError(reason, { ...args.site, node: node.name, opType: opLabel(node) });
      };
      if (b && !sameDims(b.dims, [directions, 2 * gates * hidden]))
        fail(`B must have dims [${directions}, ${2 * gates * hidden}], got [${b.dims.join(', ')}]`);
      if (p && !sameDims(p.dims, [directions, 3 * hidden]))
        fail(`P must have dims [${directions}, ${3 * hidden}], got [${p.dims.join(', ')}]`);
      for (const [state, what] of [
        [h0, 'initial_h'],
        [c0, 'initial_c'],
      ] as const) {
        if (state && !sameDims(state.dims, stateDims))
          fail(`${what} must have dims [${stateDims.join(', ')}], got [${state.dims.join(', ')}]`);
      }
      const lengths = lens ? readInts(lens) : new Array<number>(batch).fill(steps);
      if (lengths.length !== batch) fail(`sequence_lens must have ${batch} entries, got ${lengths.length}`);
      for (const length of lengths) {
        if (!Number.isInteger(length) || length < 0 || length > steps)
          fail(`sequence length ${length} is out of range [0, ${steps}]`);
      }

      const wantsOutput = (i: number) => (node.outputs[i] ?? '') !== '';
      const y = wantsOutput(0)
        ? args.allocateOutput(
            0,
            'float32',
            batchMajor ? [batch, steps, directions, hidden] : [steps, directions, batch, hidden],
          )
        : undefined;
      const yH = wantsOutput(1) ? args.allocateOutput(1, 'float32', stateDims) : undefined;
      const yC = cell === 'lstm' && wantsOutput(2) ? args.allocateOutput(2, 'float32', stateDims) : undefined;

      const weights =
        constantWeights ??
        packWeights(spec, inputSize, { w, r, b, p }, heap, (floats, what) =>
          staging.block(slot(what), floats * 4),
        );
      const sequences = directions * batch;
      const rowFloats = gates * units;
      const stateFloats = sequences * units;
      const longest = lengths.reduce((a, l) => Math.max(a, l), 0);
      // Every block first, then the views (see packWeights).
      const blocks = {
        x: staging.input(x, slot('x')),
        y: y ? staging.output(y, slot('y')) : 0,
        projection: staging.block(slot('projected'), Math.max(1, directions * steps * batch * rowFloats * 4)),
        hidden: staging.block(slot('hidden'), 2 * stateFloats * 4),
        cell: staging.block(slot('cell'), stateFloats * (cell === 'lstm' ? 1 : 2) * 4),
        lengths: staging.block(slot('lengths'), batch * 4),
        counters: staging.block(slot('counters'), Math.max(4, counterBytes(spec, longest, env.threads))),
        descriptor: staging.block(slot('descriptor'), DESCRIPTOR_FIELDS.length * 4),
      };
      const floats = (address: number, count: number) => heap.view('float32', address, count) as Float32Array;
      const ints = (address: number, count: number) => heap.view('int32', address, count) as Int32Array;
      const stateRows: StateRows = { batchMajor, directions, batch, hidden, units };
      loadState(floats(blocks.hidden, stateFloats), h0, stateRows);
      if (cell === 'lstm') loadState(floats(blocks.cell, stateFloats), c0, stateRows);
      ints(blocks.lengths, batch).set(lengths);
      ints(blocks.counters, counterBytes(spec, longest, env.threads) / 4).fill(0);
      // Steps past a sequence's length stay zero in Y.
      if (y && lengths.some((length) => length < steps)) floats(blocks.y, y.size).fill(0);

      const { chunksPerSequence, blocksPerChunk } = chunking(units / UNIT_BLOCK, sequences, env.threads);
      const fields: Record<DescriptorField, number> = {
        steps: longest,
        batch,
        chunksPerSequence,
        blocksPerChunk,
        participants: env.threads,
        counters: blocks.counters,
        input: blocks.x,
        rows: steps * batch,
        projectionWeights: weights.projection,
        bias: weights.bias,
        projection: blocks.projection,
        projectionDirection: steps * batch * rowFloats * 4,
        projectionStep: (batchMajor ? 1 : batch) * rowFloats * 4,
        projectionBatch: (batchMajor ? steps : 1) * rowFloats * 4,
        weights0: weights.phases[0]!,
        weights1: weights.phases[1] ?? 0,
        hidden: blocks.hidden,
        hiddenParity: stateFloats * 4,
        cell: blocks.cell,
        lengths: blocks.lengths,
        output: blocks.y,
        outputStep: (batchMajor ? directions : directions * batch) * hidden * 4,
        outputBatch: (batchMajor ? steps * directions : 1) * hidden * 4,
        outputDirection: (batchMajor ? 1 : batch) * hidden * 4,
        extra: weights.extra,
      };
      ints(blocks.descriptor, DESCRIPTOR_FIELDS.length).set(DESCRIPTOR_FIELDS.map((field) => fields[field]));

      const work =
        (steps * sequences * inputSize + longest * sequences * hidden) *
        phases.reduce((n, phase) => n + phase.gates.length, 0) *
        hidden;
      const done = env.runtime.parallel(
        recurrence,
        { dims: [env.threads], tile: [1] },
        [blocks.descriptor],
        work,
      );
      const finish = (): KernelOutputs => {
        const final = floats(blocks.hidden + (longest & 1) * stateFloats * 4, stateFloats);
        if (yH) storeState(yH, final, stateRows);
        if (yC) storeState(yC, floats(blocks.cell, stateFloats), stateRows);
        staging.finish();
        return cell === 'lstm' ? [y, yH, yC] : [y, yH];
      };
      return done ? done.then(finish) : finish();
    };
    return { name, run };
  };
}

/**
 * How a step's unit blocks are cut: into about CHUNKS_PER_THREAD chunks per thread over all
 * sequences (one chunk per sequence on one thread), every chunk starting inside the blocks.
 */
function chunking(blocks: number, sequences: number, threads: number) {
  const wanted = threads === 1 ? 1 : Math.ceil((threads * CHUNKS_PER_THREAD) / sequences);
  const blocksPerChunk = Math.ceil(blocks / Math.min(blocks, wanted));
  return { chunksPerSequence: Math.ceil(blocks / blocksPerChunk), blocksPerChunk };
}

/** How a state's (direction, batch) rows of H lie in a tensor and among the kernel's padded rows. */
interface StateRows {
  /** [batch][direction] rows in the tensor (layout 1) rather than [direction][batch]. */
  batchMajor: boolean;
  directions: number;
  batch: number;
  hidden: number;
  /** Floats per padded row of the kernel. */
  units: number;
}

/** Visits each row of a state: `dense` its start in the tensor, `padded` its start among the kernel's rows. */
function forEachStateRow(rows: StateRows, visit: (dense: number, padded: number) => void): void {
  const { batchMajor, directions, batch, hidden, units } = rows;
  for (let d = 0; d < directions; d++) {
    for (let b = 0; b < batch; b++) {
      visit((batchMajor ? b * directions + d : d * batch + b) * hidden, (d * batch + b) * units);
    }
  }
}

/** Copies an initial state into padded rows, or zeros. */
function loadState(target: Float32Array, state: Tensor | undefined, rows: StateRows): void {
  target.fill(0);
  if (!state) return;
  const data = state.data as Float32Array;
  forEachStateRow(rows, (dense, padded) => target.set(data.subarray(dense, dense + rows.hidden), padded));
}

/** The inverse of loadState: padded rows of the final state into Y_h or Y_c. */
function storeState(output: Tensor, source: Float32Array, rows: StateRows): void {
  const data = output.data as Float32Array;
  forEachStateRow(rows, (dense, padded) => data.set(source.subarray(padded, padded + rows.hidden), dense));
}

export const kernels: WasmKernelDef[] = [
  { op: 'LSTM', since: 1, claims: claimsFor('lstm'), prepare: prepareFor('lstm') },
  { op: 'GRU', since: 1, claims: claimsFor('gru'), prepare: prepareFor('gru') },
];

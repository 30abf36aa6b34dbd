/**
 * The recurrence of LSTM and GRU as one generated kernel that runs every time step inside
 * WebAssembly: per step, the product of the previous hidden state with the recurrent weights and
 * the cell's gate math, fused, for blocks of eight hidden units (the gates of a block are computed
 * together, so their pre-activations never leave registers). The input projection X·Wᵀ + bias of
 * all steps is computed first, in the same kernel (one parallel job, not two: a worker woken for
 * it stays awake for the steps), into a buffer the steps read a row of each.
 *
 * Steps are sequential, but the units of one step are not: each thread that runs the kernel is a
 * participant that takes chunks of (direction, batch entry, unit blocks) from atomic counters
 * (its own share first, then what the others have not started), and waits until all chunks of
 * the step are done before the next. A participant never waits for a chunk nobody has taken: one
 * that arrives late (or never: a single thread) finds the counters run out and the steps done, so
 * the loop is correct whatever the pool's scheduling, and a late thread costs no more than its
 * absence. Hidden states alternate between two buffers by the step's parity, since the chunks of
 * a step read all of the previous state while writing their own units of the next.
 *
 * Weights are packed per block of eight units: for each k, the eight units' rows of every gate of
 * the phase, eight floats each (a GRU without linear_before_reset has two phases per step: z and r
 * first, then the candidate from r⊙h, which needs all of r). Buffers of units (states, the
 * projection's rows, peepholes) are padded to whole blocks, so the gate math loads and stores
 * whole vectors; only the output Y is written lane by lane at the end of a ragged last block.
 */

import type { FunctionBuilder, Local, ModuleBuilder } from '../assembler/index.js';
import { emitSigmoid, emitTanh, i32Function, multiplyAdd, namedLocal, splat, storeLanes } from './math.js';

/** Hidden units per block: two vectors, the register tile's width. */
export const UNIT_BLOCK = 8;
/** Bytes between the counters, so that no two share a cache line. */
const COUNTER_STRIDE = 64;
/** Polls of a step's completion counter before a wait is given up as a dead participant (about a second). */
const WAIT_POLLS = 1 << 28;
/** Rows of X per register tile of the input projection. */
const PROJECTION_ROWS = 4;

export type RecurrentCell = 'lstm' | 'gru';

export interface RecurrenceSpec {
  cell: RecurrentCell;
  hidden: number;
  /** Features of x. */
  inputSize: number;
  directions: number;
  /** Per direction, whether it walks the sequence backwards. */
  reverse: readonly boolean[];
  /** LSTM: peephole weights P are given. */
  peepholes: boolean;
  /** LSTM: input_forget (the forget gate is 1 - input gate). */
  inputForget: boolean;
  /** GRU: linear_before_reset (r multiplies R·h + Rb rather than h). */
  linearBeforeReset: boolean;
  relaxedSimd: boolean;
}

/** One product of a step: which gates' rows (in the ONNX order of W, R and B) it computes. */
export interface RecurrencePhase {
  gates: readonly number[];
  /** What multiplies R: the previous hidden state, or r⊙h (the GRU's second phase). */
  source: 'hidden' | 'reset';
}

/** The products of one step, in order. */
export function phasesOf(spec: RecurrenceSpec): RecurrencePhase[] {
  if (spec.cell === 'lstm') return [{ gates: [0, 1, 2, 3], source: 'hidden' }];
  if (spec.linearBeforeReset) return [{ gates: [0, 1, 2], source: 'hidden' }];
  return [
    { gates: [0, 1], source: 'hidden' },
    { gates: [2], source: 'reset' },
  ];
}

/** Hidden units padded to whole blocks. */
export function paddedUnits(hidden: number): number {
  return Math.ceil(hidden / UNIT_BLOCK) * UNIT_BLOCK;
}

/** Gates of the cell: 4 for LSTM (i, o, f, c), 3 for GRU (z, r, h). */
export function gateCount(cell: RecurrentCell): number {
  return cell === 'lstm' ? 4 : 3;
}

/** Floats of one direction's packed weights for a phase. */
export function packedPhaseFloats(spec: RecurrenceSpec, phase: RecurrencePhase): number {
  return paddedUnits(spec.hidden) * spec.hidden * phase.gates.length;
}

/**
 * Packs R of one direction ([gates·H, H], rows gate-major) for `phase` into `target` at `at`:
 * block by block, for each k the block's eight units of each of the phase's gates (zero past H).
 */
export function packRecurrentWeights(
  r: Float32Array,
  hidden: number,
  phase: RecurrencePhase,
  target: Float32Array,
  at: number,
): void {
  const blocks = paddedUnits(hidden) / UNIT_BLOCK;
  for (let block = 0; block < blocks; block++) {
    for (let k = 0; k < hidden; k++) {
      for (const gate of phase.gates) {
        for (let u = 0; u < UNIT_BLOCK; u++) {
          const unit = block * UNIT_BLOCK + u;
          target[at++] = unit < hidden ? r[(gate * hidden + unit) * hidden + k]! : 0;
        }
      }
    }
  }
}

/** The i32 fields of the descriptor a run writes for the kernel, in order. */
export const DESCRIPTOR_FIELDS = [
  'steps',
  'batch',
  /** Chunks each (direction, batch entry) is cut into per step, and unit blocks per chunk. */
  'chunksPerSequence',
  'blocksPerChunk',
  /** Threads running the kernel (its tiles), and their counters (see counterBytes; zero before). */
  'participants',
  'counters',
  /** X (rows of inputSize floats, steps × batch of them), W packed as the GEMM packs B, the biases. */
  'input',
  'rows',
  'projectionWeights',
  'bias',
  /** The projection X·Wᵀ + bias: rows of gates·Hp floats; bytes per direction, time step, batch entry. */
  'projection',
  'projectionDirection',
  'projectionStep',
  'projectionBatch',
  /** Packed weights per phase (directions one after the other). */
  'weights0',
  'weights1',
  /** Hidden states [parity][direction][batch][Hp]; bytes per parity. */
  'hidden',
  'hiddenParity',
  /** LSTM: cell states [direction][batch][Hp]; GRU: z and r⊙h [direction][batch][2][Hp]. */
  'cell',
  /** Sequence lengths, one i32 per batch entry. */
  'lengths',
  /** Y (0 when not wanted); bytes per time step, batch entry and direction. */
  'output',
  'outputStep',
  'outputBatch',
  'outputDirection',
  /** LSTM peepholes [direction][3][Hp]; GRU with linear_before_reset: Rb of h [direction][Hp]. */
  'extra',
] as const;

export type DescriptorField = (typeof DESCRIPTOR_FIELDS)[number];

/**
 * Bytes of the counters a run of `steps` steps needs: for the projection and then per step and
 * phase, one line counting the chunks done, then one per participant counting those of its share
 * taken.
 */
export function counterBytes(spec: RecurrenceSpec, steps: number, participants: number): number {
  return (1 + steps * phasesOf(spec).length) * (participants + 1) * COUNTER_STRIDE;
}

/** What traces show: `lstm_f32_x64_h128_forward_relaxedsimd`. */
export function recurrenceKernelName(spec: RecurrenceSpec): string {
  const direction = spec.directions === 2 ? 'bidirectional' : spec.reverse[0] ? 'reverse' : 'forward';
  const parts = [`${spec.cell}_f32`, `x${spec.inputSize}`, `h${spec.hidden}`, direction];
  if (spec.peepholes) parts.push('peepholes');
  if (spec.inputForget) parts.push('inputforget');
  if (spec.cell === 'gru' && spec.linearBeforeReset) parts.push('linearbeforereset');
  parts.push(spec.relaxedSimd ? 'relaxedsimd' : 'simd128');
  return parts.join('_');
}

/**
 * Adds `recurrence(thread, participant0, participant1, descriptor)` to `module`: a tiled loop over
 * [participants] in tiles of one, so each thread runs it as one participant.
 */
export function emitRecurrence(module: ModuleBuilder, spec: RecurrenceSpec): void {
  const { f } = i32Function(module, 'recurrence', ['thread', 'participant0', 'participant1', 'descriptor']);
  new RecurrenceEmitter(f, spec).emit();
}

type Fields = Record<DescriptorField, Local>;

/** Per-chunk values the phases' code reads. */
const CHUNK_LOCALS = [
  'biasRow',
  'participant',
  'recordBytes',
  'grab',
  'step',
  'chunks',
  'chunk',
  'counter',
  'sequence',
  'direction',
  'length',
  'time',
  'block',
  'blockEnd',
  'previous',
  'next',
  'row',
  'outputRow',
  'state',
  'weights',
  'source',
  'k',
] as const;
type ChunkLocals = Record<(typeof CHUNK_LOCALS)[number], Local>;

class RecurrenceEmitter {
  private readonly units: number;
  private readonly blocks: number;
  private readonly phases: RecurrencePhase[];
  private readonly d: Fields;
  private readonly l: ChunkLocals;

  constructor(
    private readonly f: FunctionBuilder,
    private readonly spec: RecurrenceSpec,
  ) {
    this.units = paddedUnits(spec.hidden);
    this.blocks = this.units / UNIT_BLOCK;
    this.phases = phasesOf(spec);
    this.d = Object.fromEntries(DESCRIPTOR_FIELDS.map((name) => [name, f.local('i32', name)])) as Fields;
    this.l = Object.fromEntries(CHUNK_LOCALS.map((name) => [name, f.local('i32', name)])) as ChunkLocals;
  }

  emit(): void {
    const { f, d, l } = this;
    const descriptor = f.params[3]!;
    DESCRIPTOR_FIELDS.forEach((name, i) =>
      f
        .get(descriptor)
        .mem('i32.load', { offset: 4 * i })
        .set(d[name]),
    );
    f.get(d.batch).i32Const(this.spec.directions).op('i32.mul').get(d.chunksPerSequence).op('i32.mul');
    f.set(l.chunks);
    f.get(f.params[1]!).set(l.participant);
    f.get(d.participants).i32Const(1).op('i32.add').i32Const(COUNTER_STRIDE).op('i32.mul').set(l.recordBytes);
    this.emitProjection();
    f.i32Const(0).set(l.step);
    f.block(null, (done) => {
      f.loop(null, (nextStep) => {
        f.get(l.step).get(d.steps).op('i32.ge_u').brIf(done);
        this.phases.forEach((phase, index) => this.emitPhase(phase, index));
        f.get(l.step).i32Const(1).op('i32.add').set(l.step);
        f.br(nextStep);
      });
    });
  }

  /** The step's chunks of this phase, every thread at once. */
  private emitPhase(phase: RecurrencePhase, index: number): void {
    const { f, l } = this;
    f.get(l.step)
      .i32Const(this.phases.length)
      .op('i32.mul')
      .i32Const(index + 1)
      .op('i32.add');
    this.emitShared(l.chunks, () => this.emitChunk(phase, index === this.phases.length - 1));
  }

  /**
   * Runs `chunks` chunks (`body` with l.chunk set) with the counters of the record whose index is
   * on the stack, then waits until every chunk is done. Participant p owns the p-th share of the
   * chunks and takes them first, from a counter of its own, so each thread keeps meeting the same
   * weights in its cache; then it takes whatever the others have not yet started.
   */
  private emitShared(chunks: Local, body: () => void): void {
    const { f, d, l } = this;
    const [owner, first, count, turn, share] = ['owner', 'first', 'count', 'turn', 'share'].map((name) =>
      this.i32(name),
    ) as [Local, Local, Local, Local, Local];
    f.get(l.recordBytes).op('i32.mul').get(d.counters).op('i32.add').set(l.counter);
    f.get(chunks).get(d.participants).op('i32.add').i32Const(1).op('i32.sub').get(d.participants);
    f.op('i32.div_u').set(share);
    f.i32Const(0).set(turn);
    f.loop(null, (nextOwner) => {
      f.get(l.participant).get(turn).op('i32.add').tee(owner).get(d.participants).op('i32.ge_u');
      f.if(null, () => f.get(owner).get(d.participants).op('i32.sub').set(owner));
      f.get(owner).get(share).op('i32.mul').set(first);
      f.get(chunks).get(first).op('i32.sub').tee(count).get(share).get(count).get(share).op('i32.lt_s');
      f.select().set(count);
      // counter + 64·(owner + 1): the owner's next chunk; a thief looks before it takes.
      f.get(owner).i32Const(1).op('i32.add').i32Const(COUNTER_STRIDE).op('i32.mul').get(l.counter);
      f.op('i32.add').set(l.grab);
      f.block(null, (taken) => {
        f.get(turn).if(null, () => {
          f.get(l.grab).mem('i32.atomic.load').get(count).op('i32.ge_s').brIf(taken);
        });
        f.loop(null, (nextChunk) => {
          f.get(l.grab).i32Const(1).mem('i32.atomic.rmw.add').tee(l.chunk);
          f.get(count).op('i32.ge_s').brIf(taken);
          f.get(l.chunk).get(first).op('i32.add').set(l.chunk);
          body();
          f.get(l.counter).i32Const(1).mem('i32.atomic.rmw.add').drop();
          f.br(nextChunk);
        });
      });
      f.get(turn).i32Const(1).op('i32.add').tee(turn).get(d.participants).op('i32.lt_u').brIf(nextOwner);
    });
    // A chunk takes microseconds; a wait of about a second means a participant died holding one
    // (its pool job fails when this thread returns), so the wait ends in a trap rather than a hang.
    const patience = this.i32('patience');
    f.i32Const(WAIT_POLLS).set(patience);
    f.loop(null, (spin) => {
      f.get(l.counter).mem('i32.atomic.load').get(chunks).op('i32.lt_u');
      f.if(null, () => {
        f.get(patience).i32Const(1).op('i32.sub').tee(patience).op('i32.eqz');
        f.if(null, () => f.unreachable());
        f.br(spin);
      });
    });
  }

  /**
   * The input projection X·Wᵀ + bias of every step, before the first: chunks of (direction, unit
   * blocks) as the steps' are cut, each over all rows of X, in register tiles of four rows by one
   * gate's eight units (W packed in panels of eight columns per gate, as the GEMM packs B).
   */
  private emitProjection(): void {
    const { f, d, l, spec } = this;
    const gates = gateCount(spec.cell);
    const projectionChunks = this.i32('projectionChunks');
    f.get(d.chunksPerSequence).i32Const(spec.directions).op('i32.mul').set(projectionChunks);
    f.i32Const(0);
    this.emitShared(projectionChunks, () => {
      f.get(l.chunk).get(d.chunksPerSequence).op('i32.div_u').set(l.direction);
      this.emitChunkBlocks(l.chunk);
      f.block(null, (blocksDone) => {
        f.loop(null, (nextBlock) => {
          f.get(l.block).get(l.blockEnd).op('i32.ge_u').brIf(blocksDone);
          for (let gate = 0; gate < gates; gate++) this.emitProjectedGate(gate);
          f.get(l.block).i32Const(1).op('i32.add').set(l.block);
          f.br(nextBlock);
        });
      });
    });
  }

  /** One gate's eight columns of the block for every row, four rows at a time, then the rest. */
  private emitProjectedGate(gate: number): void {
    const { f, d, l, spec } = this;
    const gates = gateCount(spec.cell);
    const panelBytes = spec.inputSize * UNIT_BLOCK * 4;
    const column = this.i32('column');
    // weights: the gate's panel of the block; column: its first unit in the bias and the rows.
    f.get(l.direction).i32Const(gates).op('i32.mul').i32Const(gate).op('i32.add');
    f.i32Const(this.blocks).op('i32.mul').get(l.block).op('i32.add').i32Const(panelBytes).op('i32.mul');
    f.get(d.projectionWeights).op('i32.add').set(l.weights);
    f.get(l.block)
      .i32Const(UNIT_BLOCK * 4)
      .op('i32.mul')
      .i32Const(gate * this.units * 4)
      .op('i32.add');
    f.set(column);
    f.get(d.bias)
      .get(l.direction)
      .i32Const(gates * this.units * 4)
      .op('i32.mul')
      .op('i32.add');
    f.get(column).op('i32.add').set(l.biasRow);
    f.get(d.projection).get(l.direction).get(d.projectionDirection).op('i32.mul').op('i32.add');
    f.get(column).op('i32.add').set(l.outputRow);
    f.get(d.input).set(l.row);
    const rowsLeft = this.i32('rowsLeft');
    f.get(d.rows).set(rowsLeft);
    f.block(null, (done) => {
      f.loop(null, (nextRows) => {
        f.get(rowsLeft).i32Const(PROJECTION_ROWS).op('i32.lt_u').brIf(done);
        this.emitProjectionTile(PROJECTION_ROWS);
        f.get(rowsLeft).i32Const(PROJECTION_ROWS).op('i32.sub').set(rowsLeft);
        f.br(nextRows);
      });
    });
    for (let rows = 1; rows < PROJECTION_ROWS; rows++) {
      f.get(rowsLeft).i32Const(rows).op('i32.eq');
      f.if(null, () => this.emitProjectionTile(rows));
    }
  }

  /**
   * `rows` rows × eight columns of the projection at l.row (X) and l.outputRow, both moved past
   * them after; one k step per iteration, as in the recurrent product.
   */
  private emitProjectionTile(rows: number): void {
    const { f, l, spec } = this;
    const inputBytes = spec.inputSize * 4;
    const rowBytes = gateCount(spec.cell) * this.units * 4;
    const accumulators = Array.from({ length: rows }, (_, r) => [0, 1].map((h) => this.v128(`acc${r}_${h}`)));
    for (const acc of accumulators.flat()) f.v128Const('i32x4', [0, 0, 0, 0]).set(acc);
    const [b0, b1, broadcast] = [this.v128('weight'), this.v128('weight1'), this.v128('broadcast')];
    const [x, panel, depth] = [this.i32('x'), this.i32('panel'), this.i32('depth')];
    f.get(l.row).set(x);
    f.get(l.weights).set(panel);
    f.i32Const(spec.inputSize).set(depth);
    f.loop(null, (next) => {
      f.get(panel).mem('v128.load').set(b0);
      f.get(panel).mem('v128.load', { offset: 16 }).set(b1);
      accumulators.forEach(([low, high], r) => {
        f.get(x)
          .mem('v128.load32_splat', { offset: r * inputBytes })
          .set(broadcast);
        this.madd(broadcast, b0, low!);
        this.madd(broadcast, b1, high!);
      });
      f.get(x).i32Const(4).op('i32.add').set(x);
      f.get(panel)
        .i32Const(UNIT_BLOCK * 4)
        .op('i32.add')
        .set(panel);
      f.get(depth).i32Const(1).op('i32.sub').tee(depth).brIf(next);
    });
    accumulators.forEach((pair, r) =>
      pair.forEach((acc, h) => {
        f.get(l.outputRow)
          .get(acc)
          .get(l.biasRow)
          .mem('v128.load', { offset: h * 16 })
          .op('f32x4.add');
        f.mem('v128.store', { offset: r * rowBytes + h * 16 });
      }),
    );
    f.get(l.row)
      .i32Const(rows * inputBytes)
      .op('i32.add')
      .set(l.row);
    f.get(l.outputRow)
      .i32Const(rows * rowBytes)
      .op('i32.add')
      .set(l.outputRow);
  }

  /** Sets l.block and l.blockEnd to the unit blocks of the chunk whose index is in `chunk`. */
  private emitChunkBlocks(chunk: Local): void {
    const { f, d, l } = this;
    f.get(chunk).get(d.chunksPerSequence).op('i32.rem_u').get(d.blocksPerChunk).op('i32.mul').tee(l.block);
    f.get(d.blocksPerChunk).op('i32.add').set(l.blockEnd);
    f.get(l.blockEnd).i32Const(this.blocks).get(l.blockEnd).i32Const(this.blocks).op('i32.lt_u').select();
    f.set(l.blockEnd);
  }

  /** Locates the chunk's sequence, then runs its blocks, or carries its state over past the end. */
  private emitChunk(phase: RecurrencePhase, last: boolean): void {
    const { f, d, l } = this;
    const unitBytes = this.units * 4;
    f.get(l.chunk).get(d.chunksPerSequence).op('i32.div_u').set(l.sequence);
    this.emitChunkBlocks(l.chunk);
    f.get(l.sequence).get(d.batch).op('i32.div_u').set(l.direction);
    const batchEntry = this.i32('batchEntry');
    f.get(l.sequence).get(d.batch).op('i32.rem_u').set(batchEntry);
    f.get(d.lengths).get(batchEntry).i32Const(4).op('i32.mul').op('i32.add').mem('i32.load').set(l.length);
    const parity = this.i32('parity');
    const base = this.i32('hiddenBase');
    f.get(l.step).i32Const(1).op('i32.and').get(d.hiddenParity).op('i32.mul').set(parity);
    f.get(d.hidden).get(l.sequence).i32Const(unitBytes).op('i32.mul').op('i32.add').set(base);
    f.get(base).get(parity).op('i32.add').set(l.previous);
    f.get(base).get(d.hiddenParity).op('i32.add').get(parity).op('i32.sub').set(l.next);
    f.get(l.step).get(l.length).op('i32.lt_u');
    f.if(
      null,
      () => {
        this.emitTime(batchEntry);
        f.block(null, (blocksDone) => {
          f.loop(null, (nextBlock) => {
            f.get(l.block).get(l.blockEnd).op('i32.ge_u').brIf(blocksDone);
            this.emitBlock(phase, last);
            f.get(l.block).i32Const(1).op('i32.add').set(l.block);
            f.br(nextBlock);
          });
        });
      },
      () => {
        // Past its length a sequence keeps its state: the next buffer gets a copy of it.
        if (!last) return;
        f.get(l.next)
          .get(l.block)
          .i32Const(UNIT_BLOCK * 4)
          .op('i32.mul')
          .op('i32.add');
        f.get(l.previous)
          .get(l.block)
          .i32Const(UNIT_BLOCK * 4)
          .op('i32.mul')
          .op('i32.add');
        f.get(l.blockEnd)
          .get(l.block)
          .op('i32.sub')
          .i32Const(UNIT_BLOCK * 4)
          .op('i32.mul')
          .memoryCopy();
      },
    );
  }

  /** The step's time index and the addresses of its projection row and output row. */
  private emitTime(batchEntry: Local): void {
    const { f, d, l, spec } = this;
    if (spec.reverse.every((backwards) => backwards)) {
      f.get(l.length).i32Const(1).op('i32.sub').get(l.step).op('i32.sub').set(l.time);
    } else if (spec.reverse.some((backwards) => backwards)) {
      // Bidirectional: direction 1 runs backwards.
      f.get(l.length).i32Const(1).op('i32.sub').get(l.step).op('i32.sub').get(l.step).get(l.direction);
      f.select().set(l.time);
    } else {
      f.get(l.step).set(l.time);
    }
    f.get(d.projection).get(l.direction).get(d.projectionDirection).op('i32.mul').op('i32.add');
    f.get(l.time).get(d.projectionStep).op('i32.mul').op('i32.add');
    f.get(batchEntry).get(d.projectionBatch).op('i32.mul').op('i32.add').set(l.row);
    f.get(d.output).get(l.time).get(d.outputStep).op('i32.mul').op('i32.add');
    f.get(batchEntry).get(d.outputBatch).op('i32.mul').op('i32.add');
    f.get(l.direction).get(d.outputDirection).op('i32.mul').op('i32.add').set(l.outputRow);
  }

  /** The phase's product for one block of units, then its gate math. */
  private emitBlock(phase: RecurrencePhase, last: boolean): void {
    const { f, d, l, spec } = this;
    const gates = phase.gates.length;
    const unitBytes = this.units * 4;
    const weights = phase === this.phases[0] ? d.weights0 : d.weights1;
    f.get(weights)
      .get(l.direction)
      .i32Const(this.units * spec.hidden * gates * 4)
      .op('i32.mul')
      .op('i32.add');
    f.get(l.block)
      .i32Const(spec.hidden * gates * UNIT_BLOCK * 4)
      .op('i32.mul')
      .op('i32.add')
      .set(l.weights);
    if (phase.source === 'hidden') f.get(l.previous).set(l.source);
    else this.resetBuffer(1).set(l.source);
    const accumulators = phase.gates.map((gate) => [0, 1].map((h) => this.v128(`acc${gate}_${h}`)));
    for (const pair of accumulators) for (const acc of pair) f.v128Const('i32x4', [0, 0, 0, 0]).set(acc);
    const rowBytes = gates * UNIT_BLOCK * 4;
    // One k step per iteration: TurboFan issues an iteration's loads before its multiply-adds,
    // and those of several steps would not fit the registers beside the accumulators.
    const broadcast = this.v128('broadcast');
    const weight = this.v128('weight');
    f.i32Const(spec.hidden).set(l.k);
    f.loop(null, (next) => {
      f.get(l.source).mem('v128.load32_splat').set(broadcast);
      accumulators.forEach((pair, g) =>
        pair.forEach((acc, h) => {
          f.get(l.weights)
            .mem('v128.load', { offset: g * 32 + h * 16 })
            .set(weight);
          this.madd(broadcast, weight, acc);
        }),
      );
      f.get(l.source).i32Const(4).op('i32.add').set(l.source);
      f.get(l.weights).i32Const(rowBytes).op('i32.add').set(l.weights);
      f.get(l.k).i32Const(1).op('i32.sub').tee(l.k).brIf(next);
    });
    for (let h = 0; h < 2; h++) {
      const unit = this.i32('unit');
      f.get(l.block)
        .i32Const(UNIT_BLOCK * 4)
        .op('i32.mul')
        .i32Const(h * 16)
        .op('i32.add')
        .set(unit);
      const preActivation = (gate: number) => {
        const g = phase.gates.indexOf(gate);
        f.get(l.row)
          .get(unit)
          .op('i32.add')
          .mem('v128.load', { offset: gate * unitBytes });
        f.get(accumulators[g]![h]!).op('f32x4.add');
      };
      if (spec.cell === 'lstm') this.emitLstmGates(unit, preActivation);
      else if (phase.source === 'reset') this.emitCandidate(unit, preActivation);
      else if (spec.linearBeforeReset)
        this.emitGruLinearBeforeReset(unit, preActivation, accumulators[2]![h]!);
      else this.emitUpdateAndReset(unit, preActivation);
      if (last) this.emitOutput(unit, h);
    }
  }

  /**
   * i = σ(·i + Pi⊙c), f = σ(·f + Pf⊙c) (1 - i with input_forget), c' = f⊙c + i⊙tanh(·c),
   * o = σ(·o + Po⊙c'), h = o⊙tanh(c'); gates i, o, f, c are 0..3.
   */
  private emitLstmGates(unit: Local, preActivation: (gate: number) => void): void {
    const { f, l, spec } = this;
    const unitBytes = this.units * 4;
    const [c, input, cell] = [this.v128('c'), this.v128('inputGate'), this.v128('cellGate')];
    f.get(this.d.cell).get(l.sequence).i32Const(unitBytes).op('i32.mul').op('i32.add');
    f.get(unit).op('i32.add').set(l.state);
    f.get(l.state).mem('v128.load').set(c);
    const peephole = (index: number, state: Local) => {
      if (!spec.peepholes) return;
      f.get(this.d.extra)
        .get(l.direction)
        .i32Const(3 * unitBytes)
        .op('i32.mul')
        .op('i32.add');
      f.get(unit)
        .op('i32.add')
        .mem('v128.load', { offset: index * unitBytes });
      f.get(state).op('f32x4.mul').op('f32x4.add');
    };
    preActivation(0);
    peephole(0, c);
    emitSigmoid(f);
    f.set(input);
    if (spec.inputForget) splat(f, 1).get(input).op('f32x4.sub');
    else {
      preActivation(2);
      peephole(2, c);
      emitSigmoid(f);
    }
    f.get(c).op('f32x4.mul');
    preActivation(3);
    emitTanh(f);
    f.set(cell);
    f.get(input).get(cell).op('f32x4.mul').op('f32x4.add').set(c);
    f.get(l.state).get(c).mem('v128.store');
    preActivation(1);
    peephole(1, c);
    emitSigmoid(f);
    f.get(c);
    emitTanh(f);
    f.op('f32x4.mul');
    this.storeHidden(unit);
  }

  /** GRU with linear_before_reset: z, r = σ(·), n = tanh(·h + r⊙(R·h + Rb)), h' = n + z⊙(h - n). */
  private emitGruLinearBeforeReset(
    unit: Local,
    preActivation: (gate: number) => void,
    recurrent: Local,
  ): void {
    const { f, l } = this;
    const unitBytes = this.units * 4;
    const [z, r] = [this.v128('z'), this.v128('r')];
    preActivation(0);
    emitSigmoid(f);
    f.set(z);
    preActivation(1);
    emitSigmoid(f);
    f.set(r);
    f.get(l.row)
      .get(unit)
      .op('i32.add')
      .mem('v128.load', { offset: 2 * unitBytes });
    f.get(recurrent);
    f.get(this.d.extra).get(l.direction).i32Const(unitBytes).op('i32.mul').op('i32.add');
    f.get(unit).op('i32.add').mem('v128.load');
    f.op('f32x4.add').get(r).op('f32x4.mul').op('f32x4.add');
    emitTanh(f);
    this.blend(unit, z);
  }

  /** GRU's first phase: z = σ(·z) and r⊙h go to the sequence's buffer for the second. */
  private emitUpdateAndReset(unit: Local, preActivation: (gate: number) => void): void {
    const { f, l } = this;
    this.resetBuffer(0).get(unit).op('i32.add');
    preActivation(0);
    emitSigmoid(f);
    f.mem('v128.store');
    this.resetBuffer(1).get(unit).op('i32.add');
    preActivation(1);
    emitSigmoid(f);
    f.get(l.previous).get(unit).op('i32.add').mem('v128.load').op('f32x4.mul');
    f.mem('v128.store');
  }

  /** GRU's second phase: n = tanh(·h + R·(r⊙h)), h' = n + z⊙(h - n). */
  private emitCandidate(unit: Local, preActivation: (gate: number) => void): void {
    const z = this.v128('z');
    this.resetBuffer(0).get(unit).op('i32.add').mem('v128.load').set(z);
    preActivation(2);
    emitTanh(this.f);
    this.blend(unit, z);
  }

  /** h' = n + z⊙(h - n) with n on the stack, stored as the next state. */
  private blend(unit: Local, z: Local): void {
    const { f, l } = this;
    const n = this.v128('n');
    f.tee(n).get(l.previous).get(unit).op('i32.add').mem('v128.load').get(n).op('f32x4.sub');
    f.get(z).op('f32x4.mul').op('f32x4.add');
    this.storeHidden(unit);
  }

  /** Pushes the address of the sequence's GRU buffer `index` (0: z, 1: r⊙h). */
  private resetBuffer(index: number): FunctionBuilder {
    const { f, l } = this;
    const unitBytes = this.units * 4;
    f.get(this.d.cell)
      .get(l.sequence)
      .i32Const(2 * unitBytes)
      .op('i32.mul')
      .op('i32.add');
    if (index > 0) f.i32Const(index * unitBytes).op('i32.add');
    return f;
  }

  /** Stores the new hidden units on the stack into the next state buffer. */
  private storeHidden(unit: Local): void {
    const { f, l } = this;
    const h = this.v128('h');
    f.set(h);
    f.get(l.next).get(unit).op('i32.add').get(h).mem('v128.store');
  }

  /** Copies half h of the block's new units to Y, lane by lane where the last block is ragged. */
  private emitOutput(unit: Local, half: number): void {
    const { f, l, d, spec } = this;
    const h = this.v128('h');
    const ragged = spec.hidden % UNIT_BLOCK;
    const lastBlockLanes = Math.max(0, Math.min(4, ragged - half * 4));
    f.get(d.output).if(null, () => {
      f.get(l.next).get(unit).op('i32.add').mem('v128.load').set(h);
      const store = (lanes: number) => {
        if (lanes > 0) storeLanes(f, () => f.get(l.outputRow).get(unit).op('i32.add'), 0, lanes, h);
      };
      if (ragged === 0) store(4);
      else {
        f.get(l.block)
          .i32Const(this.blocks - 1)
          .op('i32.eq');
        f.if(
          null,
          () => store(lastBlockLanes),
          () => store(4),
        );
      }
    });
  }

  private madd(a: Local, b: Local, accumulator: Local): void {
    multiplyAdd(this.f, this.spec.relaxedSimd, a, b, accumulator);
  }

  private v128(name: string): Local {
    return namedLocal(this.f, 'v128', name);
  }

  private i32(name: string): Local {
    return namedLocal(this.f, 'i32', name);
  }
}

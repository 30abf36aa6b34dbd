/**
 * Writes one function's body, one instruction per call, and type-checks each instruction as it is
 * emitted with the validation algorithm of the WebAssembly specification (an operand stack of
 * types and a stack of control frames, with the polymorphic stack after `br`, `return` and
 * `unreachable`). A generator that emits a wrong instruction therefore fails at the line that
 * emitted it, with the function, the instruction and the stack in the message, instead of a byte
 * offset from the engine's validator later.
 *
 * Branch targets are handles given to the body of `block`, `loop` and `if`, so generators never
 * count nesting depths; locals are handles too.
 */

import type { Callee, EncodedMemArg, Global, Instruction, Label, Local, V128Shape } from './instructions.js';
import { OPS, type LaneOp, type MemoryLaneOp, type MemoryOp, type OpInfo, type PlainOp } from './opcodes.js';
import {
  blockSignature,
  formatSignature,
  WasmAssemblyError,
  type BlockType,
  type FuncSignature,
  type MemArg,
  type ValueType,
} from './types.js';

/** How a function is declared: named parameters, results, and whether it is exported. */
export interface FunctionSpec {
  params?: readonly (readonly [name: string, type: ValueType])[];
  results?: readonly ValueType[];
  /** Export under the function's own name (`true`) or under this name. */
  export?: boolean | string;
}

/** The top of a stack whose frame is unreachable holds values of any type. */
type StackValue = ValueType | 'any';

interface ControlFrame {
  kind: 'function' | 'block' | 'loop' | 'if' | 'else';
  signature: FuncSignature;
  label: Label;
  height: number;
  unreachable: boolean;
}

const V128_SHAPES: Readonly<
  Record<V128Shape, { lanes: number; write: (view: DataView, i: number, v: number | bigint) => void }>
> = {
  i8x16: { lanes: 16, write: (view, i, v) => view.setUint8(i, Number(v) & 0xff) },
  i16x8: { lanes: 8, write: (view, i, v) => view.setUint16(i * 2, Number(v) & 0xffff, true) },
  i32x4: { lanes: 4, write: (view, i, v) => view.setUint32(i * 4, Number(v) >>> 0, true) },
  i64x2: { lanes: 2, write: (view, i, v) => view.setBigUint64(i * 8, BigInt.asUintN(64, BigInt(v)), true) },
  f32x4: { lanes: 4, write: (view, i, v) => view.setFloat32(i * 4, Number(v), true) },
  f64x2: { lanes: 2, write: (view, i, v) => view.setFloat64(i * 8, Number(v), true) },
};

export class FunctionBuilder implements Callee {
  readonly signature: FuncSignature;
  /** The parameters, in order, as locals. */
  readonly params: readonly Local[];
  readonly exportName?: string;
  private readonly allLocals: Local[] = [];
  private readonly code: Instruction[] = [];
  private readonly values: StackValue[] = [];
  private readonly frames: ControlFrame[] = [];
  private labelCount = 0;
  private finished = false;
  private memoryUsed = false;

  constructor(
    readonly name: string,
    spec: FunctionSpec,
  ) {
    const params = spec.params ?? [];
    this.signature = { params: params.map(([, type]) => type), results: spec.results ?? [] };
    this.params = params.map(([localName, type]) => this.addLocal(type, localName));
    this.exportName = spec.export === true ? name : spec.export || undefined;
    this.frames.push({
      kind: 'function',
      signature: { params: [], results: this.signature.results },
      label: { name: `${name}_body` },
      height: 0,
      unreachable: false,
    });
  }

  /** Every local, parameters first, in index order. */
  get locals(): readonly Local[] {
    return this.allLocals;
  }

  get instructions(): readonly Instruction[] {
    return this.code;
  }

  /** Whether the body touches linear memory (the module must then have one). */
  get usesMemory(): boolean {
    return this.memoryUsed;
  }

  /** Declares a local (zero-initialised). Names are for the text dump and stack traces. */
  local(type: ValueType, name = `l${this.allLocals.length}`): Local {
    this.assertOpen('declare a local');
    return this.addLocal(type, name);
  }

  // Numeric, SIMD and memory instructions from the opcode tables.

  /** An instruction without immediates: `f.op('f32x4.add')`. */
  op(name: PlainOp): this {
    return this.emitOp(this.lookup(name));
  }

  /** A load, store or atomic access: `f.mem('v128.load', { offset: 16 })`. */
  mem(name: MemoryOp, memarg: MemArg = {}): this {
    const op = this.lookup(name);
    return this.emitOp(op, { memarg: this.encodeMemArg(op, memarg) });
  }

  /** A lane extraction or replacement: `f.lane('f32x4.extract_lane', 3)`. */
  lane(name: LaneOp, lane: number): this {
    const op = this.lookup(name);
    return this.emitOp(op, { lane: this.checkLane(op, lane) });
  }

  /** A load into or store from one lane: `f.memLane('v128.load32_lane', 1, { offset: 4 })`. */
  memLane(name: MemoryLaneOp, lane: number, memarg: MemArg = {}): this {
    const op = this.lookup(name);
    return this.emitOp(op, { memarg: this.encodeMemArg(op, memarg), lane: this.checkLane(op, lane) });
  }

  // Constants.

  i32Const(value: number): this {
    if (!Number.isInteger(value) || value < -0x80000000 || value > 0xffffffff) {
      this.fail('i32.const', `${value} is not a 32-bit integer`);
    }
    return this.emit({ kind: 'i32.const', value: value | 0 }, [], ['i32']);
  }

  i64Const(value: bigint | number): this {
    const big = BigInt(value);
    if (big < -(1n << 63n) || big >= 1n << 64n) this.fail('i64.const', `${value} is not a 64-bit integer`);
    return this.emit({ kind: 'i64.const', value: BigInt.asIntN(64, big) }, [], ['i64']);
  }

  f32Const(value: number): this {
    return this.emit({ kind: 'f32.const', value: Math.fround(value) }, [], ['f32']);
  }

  f64Const(value: number): this {
    return this.emit({ kind: 'f64.const', value }, [], ['f64']);
  }

  /** A 128-bit constant given as lanes: `f.v128Const('f32x4', [1, 2, 3, 4])`. */
  v128Const(shape: V128Shape, values: readonly (number | bigint)[]): this {
    const { lanes, write } = V128_SHAPES[shape];
    if (values.length !== lanes)
      this.fail('v128.const', `${shape} needs ${lanes} lanes, got ${values.length}`);
    const bytes = new Uint8Array(16);
    const view = new DataView(bytes.buffer);
    values.forEach((value, i) => write(view, i, value));
    return this.emit({ kind: 'v128.const', shape, values: [...values], bytes }, [], ['v128']);
  }

  /** Picks 16 bytes from the concatenation of two vectors (lanes 0-31). */
  shuffle(lanes: readonly number[]): this {
    if (lanes.length !== 16 || lanes.some((lane) => !Number.isInteger(lane) || lane < 0 || lane > 31)) {
      this.fail('i8x16.shuffle', `needs 16 lane indices in 0..31, got [${lanes.join(' ')}]`);
    }
    return this.emit({ kind: 'i8x16.shuffle', lanes: [...lanes] }, ['v128', 'v128'], ['v128']);
  }

  // Variables.

  get(local: Local): this {
    this.checkLocal(local, 'local.get');
    return this.emit({ kind: 'local.get', local }, [], [local.type]);
  }

  set(local: Local): this {
    this.checkLocal(local, 'local.set');
    return this.emit({ kind: 'local.set', local }, [local.type], []);
  }

  tee(local: Local): this {
    this.checkLocal(local, 'local.tee');
    return this.emit({ kind: 'local.tee', local }, [local.type], [local.type]);
  }

  globalGet(global: Global): this {
    return this.emit({ kind: 'global.get', global }, [], [global.type]);
  }

  globalSet(global: Global): this {
    if (!global.mutable) this.fail('global.set', `global $${global.name} is immutable`);
    return this.emit({ kind: 'global.set', global }, [global.type], []);
  }

  // Control flow.

  /** A block; branching to its label jumps past its end. */
  block(type: BlockType, body: (exit: Label) => void, name?: string): this {
    return this.structured('block', type, body, name);
  }

  /** A loop; branching to its label jumps back to its start. */
  loop(type: BlockType, body: (start: Label) => void, name?: string): this {
    return this.structured('loop', type, body, name);
  }

  /** Pops an i32 and runs `then` when it is non-zero, else `otherwise`. */
  if(type: BlockType, then: (exit: Label) => void, otherwise?: (exit: Label) => void, name?: string): this {
    this.assertOpen('if');
    this.popValue('if', 'i32');
    const label = this.openFrame('if', type, name);
    then(label);
    if (otherwise) {
      const frame = this.closeFrame('else');
      this.code.push({ kind: 'else' });
      this.frames.push({ ...frame, kind: 'else', height: this.values.length, unreachable: false });
      this.pushValues(frame.signature.params);
      otherwise(label);
    } else {
      const { signature } = this.currentFrame();
      if (!sameTypes(signature.params, signature.results)) {
        this.fail('if', `an if without else must leave what it takes, not ${formatSignature(signature)}`);
      }
    }
    this.endFrame();
    return this;
  }

  br(label: Label): this {
    this.assertOpen('br');
    const frame = this.frameOf(label, 'br');
    this.popValues('br', labelTypes(frame));
    this.code.push({ kind: 'br', depth: this.depthOf(frame), label });
    return this.markUnreachable();
  }

  /** Pops an i32 and branches when it is non-zero. */
  brIf(label: Label): this {
    this.assertOpen('br_if');
    const frame = this.frameOf(label, 'br_if');
    this.popValue('br_if', 'i32');
    const types = labelTypes(frame);
    this.popValues('br_if', types);
    this.pushValues(types);
    this.code.push({ kind: 'br_if', depth: this.depthOf(frame), label });
    return this;
  }

  /** Pops an i32 index and branches to `labels[index]`, or to `fallback` when out of range. */
  brTable(labels: readonly Label[], fallback: Label): this {
    this.assertOpen('br_table');
    this.popValue('br_table', 'i32');
    const fallbackFrame = this.frameOf(fallback, 'br_table');
    const arity = labelTypes(fallbackFrame).length;
    const frames = labels.map((label) => this.frameOf(label, 'br_table'));
    for (const frame of [...frames, fallbackFrame]) {
      const types = labelTypes(frame);
      if (types.length !== arity) this.fail('br_table', `label $${frame.label.name} has a different arity`);
      this.popValues('br_table', types);
      this.pushValues(types);
    }
    this.code.push({
      kind: 'br_table',
      depths: frames.map((frame) => this.depthOf(frame)),
      labels: [...labels],
      defaultDepth: this.depthOf(fallbackFrame),
      defaultLabel: fallback,
    });
    return this.markUnreachable();
  }

  return(): this {
    this.assertOpen('return');
    this.popValues('return', this.signature.results);
    this.code.push({ kind: 'return' });
    return this.markUnreachable();
  }

  unreachable(): this {
    this.assertOpen('unreachable');
    this.code.push({ kind: 'unreachable' });
    return this.markUnreachable();
  }

  nop(): this {
    return this.emit({ kind: 'nop' }, [], []);
  }

  call(callee: Callee): this {
    return this.emit({ kind: 'call', callee }, callee.signature.params, callee.signature.results);
  }

  drop(): this {
    this.assertOpen('drop');
    this.popValue('drop');
    this.code.push({ kind: 'drop' });
    return this;
  }

  /** Pops a condition and two values of one type; keeps the first when the condition is non-zero. */
  select(): this {
    this.assertOpen('select');
    this.popValue('select', 'i32');
    const second = this.popValue('select');
    const first = this.popValue('select', second === 'any' ? undefined : second);
    this.code.push({ kind: 'select' });
    this.values.push(first === 'any' ? second : first);
    return this;
  }

  // Memory as a whole.

  /** The memory's size in pages. */
  memorySize(): this {
    this.memoryUsed = true;
    return this.emit({ kind: 'memory.size' }, [], ['i32']);
  }

  /** Grows the memory by the popped page count; pushes the old size or -1. */
  memoryGrow(): this {
    this.memoryUsed = true;
    return this.emit({ kind: 'memory.grow' }, ['i32'], ['i32']);
  }

  /** Pops destination, source and byte count. */
  memoryCopy(): this {
    this.memoryUsed = true;
    return this.emit({ kind: 'memory.copy' }, ['i32', 'i32', 'i32'], []);
  }

  /** Pops destination, byte value and byte count. */
  memoryFill(): this {
    this.memoryUsed = true;
    return this.emit({ kind: 'memory.fill' }, ['i32', 'i32', 'i32'], []);
  }

  atomicFence(): this {
    return this.emit({ kind: 'atomic.fence' }, [], []);
  }

  /**
   * Ends the body: the function's results must be what is left on the stack. The module calls this
   * when it is encoded; after it no instruction can be added.
   */
  finish(): void {
    if (this.finished) return;
    if (this.frames.length > 1) {
      this.fail('end', `the ${this.currentFrame().kind} $${this.currentFrame().label.name} is still open`);
    }
    this.closeFrame('end of function');
    this.finished = true;
  }

  private addLocal(type: ValueType, name: string): Local {
    const local: Local = { index: this.allLocals.length, type, name };
    this.allLocals.push(local);
    return local;
  }

  private lookup(name: string): OpInfo {
    const op = OPS.get(name);
    if (!op) this.fail(name, 'unknown instruction');
    return op;
  }

  private emitOp(op: OpInfo, immediates: { memarg?: EncodedMemArg; lane?: number } = {}): this {
    if (immediates.memarg) this.memoryUsed = true;
    return this.emit({ kind: 'op', op, ...immediates }, op.signature.params, op.signature.results);
  }

  private encodeMemArg(op: OpInfo, { offset = 0, align = op.accessBytes! }: MemArg): EncodedMemArg {
    const natural = op.accessBytes!;
    if (!Number.isInteger(offset) || offset < 0 || offset > 0xffffffff) {
      this.fail(op.name, `offset ${offset} is not an unsigned 32-bit integer`);
    }
    const alignLog2 = Math.log2(align);
    if (!Number.isInteger(alignLog2) || align > natural) {
      this.fail(op.name, `align=${align} must be a power of two no larger than ${natural}`);
    }
    if (op.atomic && align !== natural) this.fail(op.name, `atomic accesses must have align=${natural}`);
    return { offset, alignLog2 };
  }

  private checkLane(op: OpInfo, lane: number): number {
    if (!Number.isInteger(lane) || lane < 0 || lane >= op.lanes!) {
      this.fail(op.name, `lane ${lane} is out of range 0..${op.lanes! - 1}`);
    }
    return lane;
  }

  private checkLocal(local: Local, what: string): void {
    if (this.allLocals[local.index] !== local) {
      this.fail(what, `local $${local.name} belongs to another function`);
    }
  }

  private emit(instruction: Instruction, pops: readonly ValueType[], pushes: readonly ValueType[]): this {
    const name = instructionName(instruction);
    this.assertOpen(name);
    this.popValues(name, pops);
    this.pushValues(pushes);
    this.code.push(instruction);
    return this;
  }

  private structured(
    kind: 'block' | 'loop',
    type: BlockType,
    body: (label: Label) => void,
    name: string | undefined,
  ): this {
    const label = this.openFrame(kind, type, name);
    body(label);
    this.endFrame();
    return this;
  }

  private openFrame(kind: 'block' | 'loop' | 'if', type: BlockType, name: string | undefined): Label {
    this.assertOpen(kind);
    const signature = blockSignature(type);
    this.popValues(kind, signature.params);
    // Numbered so that nested labels never shadow each other in the text dump.
    const label: Label = { name: `${name ?? kind}${this.labelCount++}` };
    this.frames.push({ kind, signature, label, height: this.values.length, unreachable: false });
    this.pushValues(signature.params);
    this.code.push({ kind, type, label });
    return label;
  }

  /** `end`: the frame's results replace what it held. */
  private endFrame(): void {
    const frame = this.closeFrame('end');
    this.code.push({ kind: 'end' });
    this.pushValues(frame.signature.results);
  }

  private closeFrame(what: string): ControlFrame {
    const frame = this.currentFrame();
    this.popValues(what, frame.signature.results);
    if (this.values.length !== frame.height) {
      this.fail(
        what,
        `${this.values.length - frame.height} value(s) left on the stack: ${this.describeStack()}`,
      );
    }
    this.frames.pop();
    return frame;
  }

  private currentFrame(): ControlFrame {
    return this.frames[this.frames.length - 1];
  }

  private frameOf(label: Label, what: string): ControlFrame {
    const frame = this.frames.find((candidate) => candidate.label === label);
    if (!frame) this.fail(what, `label $${label.name} is not in scope here`);
    return frame;
  }

  private depthOf(frame: ControlFrame): number {
    return this.frames.length - 1 - this.frames.indexOf(frame);
  }

  private markUnreachable(): this {
    const frame = this.currentFrame();
    this.values.length = frame.height;
    frame.unreachable = true;
    return this;
  }

  private pushValues(types: readonly StackValue[]): void {
    this.values.push(...types);
  }

  private popValues(what: string, types: readonly ValueType[]): void {
    for (let i = types.length - 1; i >= 0; i--) this.popValue(what, types[i]);
  }

  private popValue(what: string, expected?: ValueType): StackValue {
    const frame = this.currentFrame();
    if (this.values.length === frame.height) {
      if (frame.unreachable) return expected ?? 'any';
      this.fail(what, `expected ${expected ?? 'a value'} on the stack but it is empty here`);
    }
    const actual = this.values.pop()!;
    if (expected && actual !== 'any' && actual !== expected) {
      this.fail(
        what,
        `expected ${expected} on the stack but found ${actual} (stack: ${this.describeStack()} ${actual})`,
      );
    }
    return actual;
  }

  private describeStack(): string {
    return `[${this.values.join(' ')}]`;
  }

  private assertOpen(what: string): void {
    if (this.finished) this.fail(what, 'the function is already finished');
  }

  private fail(what: string, reason: string): never {
    throw new WasmAssemblyError(
      `function $${this.name}, instruction ${this.code.length} (${what}): ${reason}`,
    );
  }
}

/** What a branch to the frame's label carries: a loop's parameters, any other frame's results. */
function labelTypes(frame: ControlFrame): readonly ValueType[] {
  return frame.kind === 'loop' ? frame.signature.params : frame.signature.results;
}

function sameTypes(a: readonly ValueType[], b: readonly ValueType[]): boolean {
  return a.length === b.length && a.every((type, i) => type === b[i]);
}

function instructionName(instruction: Instruction): string {
  return instruction.kind === 'op' ? instruction.op.name : instruction.kind;
}

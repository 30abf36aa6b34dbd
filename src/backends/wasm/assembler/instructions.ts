/**
 * An emitted instruction, kept as data until the module is written out, so the same record gives
 * the binary encoding and the text dump, and function indices (which depend on how many imports
 * the module ends up with) are resolved only when the module is encoded.
 */

import type { OpInfo } from './opcodes.js';
import type { BlockType, FuncSignature, ValueType } from './types.js';

/** A local variable (parameters come first) of one function. */
export interface Local {
  readonly index: number;
  readonly type: ValueType;
  readonly name: string;
}

/** A global variable of the module. */
export interface Global {
  readonly index: number;
  readonly type: ValueType;
  readonly mutable: boolean;
  readonly name: string;
}

/** What `call` can target: a defined or an imported function. */
export interface Callee {
  readonly name: string;
  readonly signature: FuncSignature;
}

/** A branch target: the block, loop or if that introduced it. */
export interface Label {
  readonly name: string;
}

export type V128Shape = 'i8x16' | 'i16x8' | 'i32x4' | 'i64x2' | 'f32x4' | 'f64x2';

export interface EncodedMemArg {
  offset: number;
  alignLog2: number;
}

export type Instruction =
  | { kind: 'op'; op: OpInfo; memarg?: EncodedMemArg; lane?: number }
  | { kind: 'block' | 'loop' | 'if'; type: BlockType; label: Label }
  | { kind: 'else' | 'end' }
  | { kind: 'br' | 'br_if'; depth: number; label: Label }
  | { kind: 'br_table'; depths: number[]; labels: Label[]; defaultDepth: number; defaultLabel: Label }
  | { kind: 'return' | 'unreachable' | 'nop' | 'drop' | 'select' | 'atomic.fence' }
  | { kind: 'memory.size' | 'memory.grow' | 'memory.copy' | 'memory.fill' }
  | { kind: 'call'; callee: Callee }
  | { kind: 'local.get' | 'local.set' | 'local.tee'; local: Local }
  | { kind: 'global.get' | 'global.set'; global: Global }
  | { kind: 'i32.const'; value: number }
  | { kind: 'i64.const'; value: bigint }
  | { kind: 'f32.const' | 'f64.const'; value: number }
  | { kind: 'v128.const'; shape: V128Shape; values: readonly (number | bigint)[]; bytes: Uint8Array }
  | { kind: 'i8x16.shuffle'; lanes: readonly number[] };

/**
 * A small typed WebAssembly assembler: build a module with `ModuleBuilder`, write each function's
 * body through its `FunctionBuilder` (type-checked as it is emitted), then `encode()` the bytes or
 * `toText()` a readable dump.
 */

export { ModuleBuilder } from './module-builder.js';
export type { ImportedFunction } from './module-builder.js';
export { FunctionBuilder } from './function-builder.js';
export type { FunctionSpec } from './function-builder.js';
export type { Callee, Global, Label, Local, V128Shape } from './instructions.js';
export type { LaneOp, MemoryLaneOp, MemoryOp, PlainOp } from './opcodes.js';
export { OPS } from './opcodes.js';
export { PAGE_BYTES, MAX_PAGES, WasmAssemblyError } from './types.js';
export type { BlockType, FuncSignature, MemArg, MemoryLimits, ValueType } from './types.js';

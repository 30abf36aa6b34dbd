/**
 * Writes a laid-out module in the WebAssembly binary format: the type, import, function, memory,
 * global, export and code sections, then a `name` section so engines show function and local
 * names in stack traces and debuggers.
 */

import { CONTROL } from './opcodes.js';
import { ByteWriter } from './encoding.js';
import type { FunctionBuilder } from './function-builder.js';
import type { Instruction } from './instructions.js';
import { needsTypeIndex, type ModuleLayout } from './module-builder.js';
import { VALUE_TYPE_CODE, type BlockType, type MemoryLimits, type ValueType } from './types.js';

const MAGIC_AND_VERSION = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

const SECTION = { custom: 0, type: 1, import: 2, function: 3, memory: 5, global: 6, export: 7, code: 10 };
const EXTERNAL_KIND = { func: 0x00, memory: 0x02, global: 0x03 };
const FUNCTION_TYPE = 0x60;
const EMPTY_BLOCK = 0x40;

export function encodeModule(layout: ModuleLayout): Uint8Array {
  const out = new ByteWriter().bytes(MAGIC_AND_VERSION);
  section(out, SECTION.type, layout.types.length > 0, (w) =>
    w.vector(layout.types, (signature) => {
      w.byte(FUNCTION_TYPE);
      w.vector(signature.params, (type) => w.byte(VALUE_TYPE_CODE[type]));
      w.vector(signature.results, (type) => w.byte(VALUE_TYPE_CODE[type]));
    }),
  );
  const memoryImport = layout.memory?.imported;
  section(out, SECTION.import, layout.imports.length > 0 || memoryImport !== undefined, (w) => {
    w.u32(layout.imports.length + (memoryImport ? 1 : 0));
    if (memoryImport) {
      w.name(memoryImport.module).name(memoryImport.field).byte(EXTERNAL_KIND.memory);
      limits(w, layout.memory!.limits);
    }
    for (const imported of layout.imports) {
      w.name(imported.module).name(imported.field).byte(EXTERNAL_KIND.func);
      w.u32(layout.typeIndex(imported.signature));
    }
  });
  section(out, SECTION.function, layout.functions.length > 0, (w) =>
    w.vector(layout.functions, (fn) => w.u32(layout.typeIndex(fn.signature))),
  );
  const definedMemory = layout.memory && !layout.memory.imported ? layout.memory : undefined;
  section(out, SECTION.memory, definedMemory !== undefined, (w) => {
    w.u32(1);
    limits(w, definedMemory!.limits);
  });
  section(out, SECTION.global, layout.globals.length > 0, (w) =>
    w.vector(layout.globals, (global) => {
      w.byte(VALUE_TYPE_CODE[global.type]).byte(global.mutable ? 1 : 0);
      constant(w, global.type, global.init);
      w.byte(CONTROL.end);
    }),
  );
  section(out, SECTION.export, layout.exports.length > 0, (w) =>
    w.vector(layout.exports, ({ name, target }) => {
      w.name(name);
      if (target.kind === 'func') w.byte(EXTERNAL_KIND.func).u32(layout.functionIndex(target.callee));
      else if (target.kind === 'memory') w.byte(EXTERNAL_KIND.memory).u32(0);
      else w.byte(EXTERNAL_KIND.global).u32(target.global.index);
    }),
  );
  section(out, SECTION.code, layout.functions.length > 0, (w) =>
    w.vector(layout.functions, (fn) => w.sized((body) => functionBody(body, fn, layout))),
  );
  section(out, SECTION.custom, true, (w) => nameSection(w, layout));
  return out.finish();
}

function section(out: ByteWriter, id: number, present: boolean, write: (w: ByteWriter) => void): void {
  if (!present) return;
  out.byte(id).sized(write);
}

function limits(w: ByteWriter, { initial, maximum, shared }: MemoryLimits): void {
  if (maximum === undefined) w.byte(0x00).u32(initial);
  else
    w.byte(shared ? 0x03 : 0x01)
      .u32(initial)
      .u32(maximum);
}

function constant(w: ByteWriter, type: ValueType, value: number | bigint): void {
  if (type === 'i32') w.byte(CONTROL['i32.const']).s32(Number(value));
  else if (type === 'i64') w.byte(CONTROL['i64.const']).s64(BigInt(value));
  else if (type === 'f32') w.byte(CONTROL['f32.const']).f32(Number(value));
  else w.byte(CONTROL['f64.const']).f64(Number(value));
}

function functionBody(w: ByteWriter, fn: FunctionBuilder, layout: ModuleLayout): void {
  // Locals are declared as runs of one type, in index order after the parameters.
  const runs: { count: number; type: ValueType }[] = [];
  for (const local of fn.locals.slice(fn.params.length)) {
    const last = runs[runs.length - 1];
    if (last && last.type === local.type) last.count++;
    else runs.push({ count: 1, type: local.type });
  }
  w.vector(runs, (run) => w.u32(run.count).byte(VALUE_TYPE_CODE[run.type]));
  for (const instruction of fn.instructions) encodeInstruction(w, instruction, layout);
  w.byte(CONTROL.end);
}

function blockType(w: ByteWriter, type: BlockType, layout: ModuleLayout): void {
  if (type === null) w.byte(EMPTY_BLOCK);
  else if (typeof type === 'string') w.byte(VALUE_TYPE_CODE[type]);
  else if (needsTypeIndex(type)) w.s32(layout.typeIndex(type));
  else if (type.results.length === 1) w.byte(VALUE_TYPE_CODE[type.results[0]]);
  else w.byte(EMPTY_BLOCK);
}

function encodeInstruction(w: ByteWriter, instruction: Instruction, layout: ModuleLayout): void {
  switch (instruction.kind) {
    case 'op': {
      const { op, memarg, lane } = instruction;
      if (op.prefix === undefined) w.byte(op.code);
      else w.byte(op.prefix).u32(op.code);
      if (memarg) w.u32(memarg.alignLog2).u32(memarg.offset);
      if (lane !== undefined) w.byte(lane);
      return;
    }
    case 'block':
    case 'loop':
    case 'if':
      w.byte(CONTROL[instruction.kind]);
      blockType(w, instruction.type, layout);
      return;
    case 'br':
    case 'br_if':
      w.byte(CONTROL[instruction.kind]).u32(instruction.depth);
      return;
    case 'br_table':
      w.byte(CONTROL.br_table);
      w.vector(instruction.depths, (depth) => w.u32(depth));
      w.u32(instruction.defaultDepth);
      return;
    case 'call':
      w.byte(CONTROL.call).u32(layout.functionIndex(instruction.callee));
      return;
    case 'local.get':
    case 'local.set':
    case 'local.tee':
      w.byte(CONTROL[instruction.kind]).u32(instruction.local.index);
      return;
    case 'global.get':
    case 'global.set':
      w.byte(CONTROL[instruction.kind]).u32(instruction.global.index);
      return;
    case 'i32.const':
    case 'i64.const':
    case 'f32.const':
    case 'f64.const':
      constant(w, instruction.kind.slice(0, 3) as ValueType, instruction.value);
      return;
    case 'v128.const':
      w.byte(0xfd).u32(CONTROL['v128.const']).bytes(instruction.bytes);
      return;
    case 'i8x16.shuffle':
      w.byte(0xfd).u32(CONTROL['i8x16.shuffle']).bytes(instruction.lanes);
      return;
    case 'memory.size':
    case 'memory.grow':
      w.byte(CONTROL[instruction.kind]).byte(0x00);
      return;
    case 'memory.copy':
      w.byte(0xfc).u32(CONTROL['memory.copy']).byte(0x00).byte(0x00);
      return;
    case 'memory.fill':
      w.byte(0xfc).u32(CONTROL['memory.fill']).byte(0x00);
      return;
    case 'atomic.fence':
      w.byte(0xfe).u32(CONTROL['atomic.fence']).byte(0x00);
      return;
    default:
      w.byte(CONTROL[instruction.kind]);
  }
}

/** The `name` custom section: function names (subsection 1) and local names (subsection 2). */
function nameSection(w: ByteWriter, layout: ModuleLayout): void {
  w.name('name');
  const callees = [...layout.imports, ...layout.functions];
  w.byte(1).sized((sub) =>
    sub.vector(callees, (callee) => sub.u32(layout.functionIndex(callee)).name(callee.name)),
  );
  w.byte(2).sized((sub) =>
    sub.vector(layout.functions, (fn) => {
      sub.u32(layout.functionIndex(fn));
      sub.vector(fn.locals, (local) => sub.u32(local.index).name(local.name));
    }),
  );
}

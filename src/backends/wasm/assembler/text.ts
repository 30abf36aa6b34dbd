/**
 * The text dump: a laid-out module in the WebAssembly text format, one instruction per line,
 * indented by nesting, with the names of functions, locals and labels. It is meant for reading a
 * generated kernel, and it is valid input for `wat2wasm`, which assembles it to the same code
 * (the tests check this).
 */

import type { FunctionBuilder } from './function-builder.js';
import type { Instruction } from './instructions.js';
import { needsTypeIndex, type ModuleLayout } from './module-builder.js';
import type { BlockType, FuncSignature, MemoryLimits } from './types.js';

export function moduleText(layout: ModuleLayout): string {
  const lines = ['(module'];
  layout.types.forEach((signature, index) =>
    lines.push(`  (type $t${index} (func${signatureText(signature)}))`),
  );
  if (layout.memory?.imported) {
    const { module, field } = layout.memory.imported;
    lines.push(
      `  (import ${quote(module)} ${quote(field)} (memory $${layout.memory.name} ${limitsText(layout.memory.limits)}))`,
    );
  }
  for (const imported of layout.imports) {
    const type = layout.typeIndex(imported.signature);
    lines.push(
      `  (import ${quote(imported.module)} ${quote(imported.field)} (func $${imported.name} (type $t${type})))`,
    );
  }
  if (layout.memory && !layout.memory.imported) {
    lines.push(`  (memory $${layout.memory.name} ${limitsText(layout.memory.limits)})`);
  }
  for (const global of layout.globals) {
    const type = global.mutable ? `(mut ${global.type})` : global.type;
    lines.push(
      `  (global $${global.name} ${type} (${global.type}.const ${numberText(global.type, global.init)}))`,
    );
  }
  for (const { name, target } of layout.exports) {
    const what =
      target.kind === 'func'
        ? `func $${target.callee.name}`
        : target.kind === 'memory'
          ? `memory $${layout.memory!.name}`
          : `global $${target.global.name}`;
    lines.push(`  (export ${quote(name)} (${what}))`);
  }
  for (const fn of layout.functions) lines.push(...functionText(fn, layout));
  lines.push(')');
  return lines.join('\n') + '\n';
}

function functionText(fn: FunctionBuilder, layout: ModuleLayout): string[] {
  const params = fn.params.map((param) => ` (param $${param.name} ${param.type})`).join('');
  const results = fn.signature.results.length ? ` (result ${fn.signature.results.join(' ')})` : '';
  const lines = [`  (func $${fn.name} (type $t${layout.typeIndex(fn.signature)})${params}${results}`];
  for (const local of fn.locals.slice(fn.params.length))
    lines.push(`    (local $${local.name} ${local.type})`);
  let depth = 2;
  for (const instruction of fn.instructions) {
    if (instruction.kind === 'end' || instruction.kind === 'else') depth--;
    lines.push(`${'  '.repeat(depth)}${instructionText(instruction, layout)}`);
    if (instruction.kind === 'block' || instruction.kind === 'loop' || instruction.kind === 'if') depth++;
    if (instruction.kind === 'else') depth++;
  }
  lines.push('  )');
  return lines;
}

function instructionText(instruction: Instruction, layout: ModuleLayout): string {
  switch (instruction.kind) {
    case 'op': {
      const { op, memarg, lane } = instruction;
      const parts = [op.name];
      if (memarg) {
        if (memarg.offset !== 0) parts.push(`offset=${memarg.offset}`);
        if (2 ** memarg.alignLog2 !== op.accessBytes) parts.push(`align=${2 ** memarg.alignLog2}`);
      }
      if (lane !== undefined) parts.push(String(lane));
      return parts.join(' ');
    }
    case 'block':
    case 'loop':
    case 'if':
      return `${instruction.kind} $${instruction.label.name}${blockTypeText(instruction.type, layout)}`;
    case 'br':
    case 'br_if':
      return `${instruction.kind} $${instruction.label.name}`;
    case 'br_table':
      return `br_table ${[...instruction.labels, instruction.defaultLabel].map((label) => `$${label.name}`).join(' ')}`;
    case 'call':
      return `call $${instruction.callee.name}`;
    case 'local.get':
    case 'local.set':
    case 'local.tee':
      return `${instruction.kind} $${instruction.local.name}`;
    case 'global.get':
    case 'global.set':
      return `${instruction.kind} $${instruction.global.name}`;
    case 'i32.const':
    case 'i64.const':
      return `${instruction.kind} ${instruction.value}`;
    case 'f32.const':
    case 'f64.const':
      return `${instruction.kind} ${floatText(instruction.value)}`;
    case 'v128.const': {
      const lanes = instruction.values.map((value) =>
        instruction.shape[0] === 'f' ? floatText(Number(value)) : String(value),
      );
      return `v128.const ${instruction.shape} ${lanes.join(' ')}`;
    }
    case 'i8x16.shuffle':
      return `i8x16.shuffle ${instruction.lanes.join(' ')}`;
    default:
      return instruction.kind;
  }
}

function blockTypeText(type: BlockType, layout: ModuleLayout): string {
  if (type === null) return '';
  if (typeof type === 'string') return ` (result ${type})`;
  if (needsTypeIndex(type)) return ` (type $t${layout.typeIndex(type)})`;
  return type.results.length ? ` (result ${type.results[0]})` : '';
}

function signatureText({ params, results }: FuncSignature): string {
  return (
    (params.length ? ` (param ${params.join(' ')})` : '') +
    (results.length ? ` (result ${results.join(' ')})` : '')
  );
}

function limitsText({ initial, maximum, shared }: MemoryLimits): string {
  return [initial, maximum, shared ? 'shared' : undefined].filter((part) => part !== undefined).join(' ');
}

function numberText(type: string, value: number | bigint): string {
  return type === 'f32' || type === 'f64' ? floatText(Number(value)) : String(value);
}

/** Exact in the text format: JavaScript's shortest round-trip decimal, or the special values. */
function floatText(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  if (Object.is(value, -0)) return '-0';
  return String(value);
}

function quote(text: string): string {
  return JSON.stringify(text);
}

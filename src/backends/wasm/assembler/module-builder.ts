/**
 * A WebAssembly module under construction: its one memory (imported, typically the shared memory
 * all workers use, or defined), imported and defined functions, globals and exports. `encode()`
 * writes the binary module and `toText()` the same module in the text format, for reading and for
 * `wat2wasm`.
 *
 * Functions are declared first and filled in afterwards, in any order, so they can call each
 * other; indices (imports first) and the deduplicated type section are laid out only when the
 * module is written.
 */

import { encodeModule } from './binary.js';
import { FunctionBuilder, type FunctionSpec } from './function-builder.js';
import type { Callee, Global } from './instructions.js';
import { moduleText } from './text.js';
import {
  blockSignature,
  formatSignature,
  MAX_PAGES,
  sameSignature,
  WasmAssemblyError,
  type FuncSignature,
  type MemoryLimits,
  type ValueType,
} from './types.js';

export interface ImportedFunction extends Callee {
  readonly module: string;
  readonly field: string;
}

export interface MemoryDeclaration {
  readonly name: string;
  readonly limits: MemoryLimits;
  readonly imported?: { module: string; field: string };
}

export interface GlobalDeclaration extends Global {
  readonly init: number | bigint;
}

export interface ExportDeclaration {
  readonly name: string;
  readonly target: { kind: 'func'; callee: Callee } | { kind: 'memory' } | { kind: 'global'; global: Global };
}

/** Indices and types as written out: shared by the binary encoder and the text dump. */
export interface ModuleLayout {
  readonly types: readonly FuncSignature[];
  readonly memory?: MemoryDeclaration;
  readonly imports: readonly ImportedFunction[];
  readonly functions: readonly FunctionBuilder[];
  readonly globals: readonly GlobalDeclaration[];
  readonly exports: readonly ExportDeclaration[];
  typeIndex(signature: FuncSignature): number;
  functionIndex(callee: Callee): number;
}

const IDENTIFIER = /^[0-9A-Za-z!#$%&'*+\-./:<=>?@\\^_`|~]+$/;

export class ModuleBuilder {
  private memoryDeclaration?: MemoryDeclaration;
  private readonly imports: ImportedFunction[] = [];
  private readonly functions: FunctionBuilder[] = [];
  private readonly globals: GlobalDeclaration[] = [];
  private readonly exports: ExportDeclaration[] = [];
  private readonly names = new Set<string>();

  /** Imports the module's one memory, e.g. the shared memory every worker instantiates with. */
  importMemory(module: string, field: string, limits: MemoryLimits): this {
    return this.setMemory({ name: 'memory', limits, imported: { module, field } });
  }

  /** Defines the module's one memory. */
  defineMemory(limits: MemoryLimits): this {
    return this.setMemory({ name: 'memory', limits });
  }

  exportMemory(name: string): this {
    if (!this.memoryDeclaration)
      throw new WasmAssemblyError(`cannot export memory as "${name}": there is none`);
    return this.addExport({ name, target: { kind: 'memory' } });
  }

  importFunction(module: string, field: string, signature: FuncSignature, name = field): ImportedFunction {
    this.claimName(name, 'function');
    const imported: ImportedFunction = { name, signature, module, field };
    this.imports.push(imported);
    return imported;
  }

  /** Declares a function; emit its body through the returned builder before encoding. */
  function(name: string, spec: FunctionSpec = {}): FunctionBuilder {
    this.claimName(name, 'function');
    for (const [paramName] of spec.params ?? []) checkIdentifier(paramName, 'parameter');
    const builder = new FunctionBuilder(name, spec);
    this.functions.push(builder);
    if (builder.exportName !== undefined) {
      this.addExport({ name: builder.exportName, target: { kind: 'func', callee: builder } });
    }
    return builder;
  }

  global(
    name: string,
    type: Exclude<ValueType, 'v128'>,
    init: number | bigint,
    options: { mutable?: boolean; export?: string } = {},
  ): Global {
    this.claimName(name, 'global');
    const global: GlobalDeclaration = {
      index: this.globals.length,
      name,
      type,
      init: type === 'i64' ? BigInt(init) : Number(init),
      mutable: options.mutable ?? false,
    };
    this.globals.push(global);
    if (options.export !== undefined)
      this.addExport({ name: options.export, target: { kind: 'global', global } });
    return global;
  }

  /** The module's bytes. Finishes every function body; fails with the reason if anything is invalid. */
  encode(): Uint8Array {
    return encodeModule(this.layout());
  }

  /** The module in the WebAssembly text format (flat instructions, named locals and labels). */
  toText(): string {
    return moduleText(this.layout());
  }

  private layout(): ModuleLayout {
    for (const fn of this.functions) {
      fn.finish();
      this.checkNames(fn);
      if (fn.usesMemory && !this.memoryDeclaration) {
        throw new WasmAssemblyError(`function $${fn.name} accesses memory but the module has none`);
      }
    }
    const types: FuncSignature[] = [];
    const typeIndex = (signature: FuncSignature): number => {
      const found = types.findIndex((candidate) => sameSignature(candidate, signature));
      if (found >= 0) return found;
      types.push(signature);
      return types.length - 1;
    };
    for (const callee of [...this.imports, ...this.functions]) typeIndex(callee.signature);
    for (const fn of this.functions) {
      for (const instruction of fn.instructions) {
        if ('type' in instruction && needsTypeIndex(instruction.type))
          typeIndex(blockSignature(instruction.type));
      }
    }
    const callees: Callee[] = [...this.imports, ...this.functions];
    return {
      types,
      memory: this.memoryDeclaration,
      imports: this.imports,
      functions: this.functions,
      globals: this.globals,
      exports: this.exports,
      typeIndex: (signature) => {
        const index = types.findIndex((candidate) => sameSignature(candidate, signature));
        if (index < 0) throw new WasmAssemblyError(`no type ${formatSignature(signature)} was laid out`);
        return index;
      },
      functionIndex: (callee) => {
        const index = callees.indexOf(callee);
        if (index < 0) throw new WasmAssemblyError(`$${callee.name} is not a function of this module`);
        return index;
      },
    };
  }

  private setMemory(declaration: MemoryDeclaration): this {
    if (this.memoryDeclaration) throw new WasmAssemblyError('a module has at most one memory');
    const { initial, maximum, shared } = declaration.limits;
    const validPages = (pages: number) => Number.isInteger(pages) && pages >= 0 && pages <= MAX_PAGES;
    if (!validPages(initial) || (maximum !== undefined && (!validPages(maximum) || maximum < initial))) {
      throw new WasmAssemblyError(`memory limits ${initial}..${maximum ?? ''} are not valid page counts`);
    }
    if (shared && maximum === undefined)
      throw new WasmAssemblyError('a shared memory must declare its maximum');
    this.memoryDeclaration = declaration;
    return this;
  }

  private addExport(declaration: ExportDeclaration): this {
    if (this.exports.some((existing) => existing.name === declaration.name)) {
      throw new WasmAssemblyError(`export "${declaration.name}" is declared twice`);
    }
    this.exports.push(declaration);
    return this;
  }

  private claimName(name: string, what: string): void {
    checkIdentifier(name, what);
    if (this.names.has(name)) throw new WasmAssemblyError(`${what} $${name}: the name is already taken`);
    this.names.add(name);
  }

  /** The text format names locals and labels, so within a function they must be unique identifiers. */
  private checkNames(fn: FunctionBuilder): void {
    const seen = new Set<string>();
    for (const local of fn.locals) {
      checkIdentifier(local.name, `local of $${fn.name}`);
      if (seen.has(local.name))
        throw new WasmAssemblyError(`function $${fn.name}: two locals are named $${local.name}`);
      seen.add(local.name);
    }
    for (const instruction of fn.instructions) {
      if ('label' in instruction && 'type' in instruction) checkIdentifier(instruction.label.name, 'label');
    }
  }
}

/** Block types other than "nothing" or "one result" are written as an index into the type section. */
export function needsTypeIndex(type: Parameters<typeof blockSignature>[0]): boolean {
  const { params, results } = blockSignature(type);
  return params.length > 0 || results.length > 1;
}

function checkIdentifier(name: string, what: string): void {
  if (!IDENTIFIER.test(name)) throw new WasmAssemblyError(`${what} name "${name}" is not a valid identifier`);
}

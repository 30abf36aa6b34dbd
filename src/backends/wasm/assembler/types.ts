/**
 * The vocabulary of the assembler: value types and their binary codes, function signatures, block
 * types, memory limits and memory-access immediates, and the error the assembler throws when a
 * generator asks for something WebAssembly would reject.
 */

export type ValueType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128';

export const VALUE_TYPE_CODE: Readonly<Record<ValueType, number>> = {
  i32: 0x7f,
  i64: 0x7e,
  f32: 0x7d,
  f64: 0x7c,
  v128: 0x7b,
};

export interface FuncSignature {
  readonly params: readonly ValueType[];
  readonly results: readonly ValueType[];
}

/**
 * What a block, loop or if consumes and leaves: nothing (`null`), one value, or a full signature
 * (multi-value blocks, encoded through the type section).
 */
export type BlockType = null | ValueType | FuncSignature;

export function blockSignature(type: BlockType): FuncSignature {
  if (type === null) return { params: [], results: [] };
  if (typeof type === 'string') return { params: [], results: [type] };
  return type;
}

export function sameSignature(a: FuncSignature, b: FuncSignature): boolean {
  const same = (x: readonly ValueType[], y: readonly ValueType[]) =>
    x.length === y.length && x.every((t, i) => t === y[i]);
  return same(a.params, b.params) && same(a.results, b.results);
}

export function formatSignature(signature: FuncSignature): string {
  return `[${signature.params.join(' ')}] -> [${signature.results.join(' ')}]`;
}

/** A memory's size in 64 KiB pages. Shared memories must say their maximum. */
export interface MemoryLimits {
  initial: number;
  maximum?: number;
  shared?: boolean;
}

export const PAGE_BYTES = 65536;
/** The most pages a 32-bit memory can have (4 GiB). */
export const MAX_PAGES = 65536;

/**
 * The immediate of a memory access. `align` is in bytes, as in the text format (the binary stores
 * its log2); it defaults to the access's natural alignment.
 */
export interface MemArg {
  offset?: number;
  align?: number;
}

/** A generator asked for a module WebAssembly would reject: the message says where and why. */
export class WasmAssemblyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WasmAssemblyError';
  }
}

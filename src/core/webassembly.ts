/**
 * The host's WebAssembly JavaScript API, typed. The project compiles against the ES2022 library
 * without the DOM, which is where TypeScript declares `WebAssembly`; declaring the part Heddle uses
 * here, as a module rather than a global, keeps the rest of the program's types untouched.
 */

export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}

export interface WasmMemoryDescriptor {
  initial: number;
  maximum?: number;
  shared?: boolean;
}

/** A compiled module: opaque, passed back to `Instance` or posted to workers. */
export type WasmModule = object;

export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

export type WasmImports = Record<string, Record<string, unknown>>;

export interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports?: WasmImports) => WasmInstance;
  Memory: new (descriptor: WasmMemoryDescriptor) => WasmMemory;
}

export const webAssembly = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

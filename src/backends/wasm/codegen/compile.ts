/**
 * How a kernel gets its generated code: a module of one generator, built and compiled once per
 * runtime and key (the key names every choice the generator bakes in), and the export it runs.
 */

import type { ModuleBuilder } from '../assembler/index.js';
import type { ModuleKernel, WasmRuntime } from '../runtime.js';

/** Export `exportName` of the module `build` writes, compiled once per runtime and `key`. */
export function generatedKernel(
  runtime: WasmRuntime,
  key: string,
  exportName: string,
  build: (module: ModuleBuilder) => void,
): ModuleKernel {
  return runtime
    .module(key, () => {
      const module = runtime.newModule();
      build(module);
      return module;
    })
    .kernel(exportName);
}

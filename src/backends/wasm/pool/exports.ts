/**
 * A module instance's exported functions in export order: every thread instantiates the same
 * module, so a job names a kernel by its position in this list and each thread finds its own copy.
 */

import type { WasmInstance } from '../../../core/webassembly.js';
import type { TileKernel } from './control.js';

export function functionExports(instance: WasmInstance): TileKernel[] {
  return Object.values(instance.exports).filter((value): value is TileKernel => typeof value === 'function');
}

export function functionExportNames(instance: WasmInstance): string[] {
  return Object.entries(instance.exports)
    .filter(([, value]) => typeof value === 'function')
    .map(([name]) => name);
}

/**
 * The reference backend: plain TypeScript kernels for every operator, dtype and opset version.
 * It is the oracle every other backend is tested against, and the fallback for what they lack.
 */

import { HOST_DEVICE, type Backend, type KernelArgs, type PreparedKernel } from '../backend.js';
import type { NodeCost } from '../../ir/cost.js';
import type { Node } from '../../ir/graph.js';
import { allocateStorage } from '../../core/dtype.js';
import { HeddleError, type ErrorSite } from '../../core/errors.js';
import { Tensor } from '../../core/tensor.js';
import type { RuntimeValue } from '../../core/values.js';
import { shapeSize } from './util.js';
import { opLabel } from '../../ir/graph.js';
import { KernelContext } from './kernel.js';
import { ALL_KERNELS } from './kernels/index.js';
import { KernelRegistry } from './registry.js';

export const referenceRegistry = new KernelRegistry(ALL_KERNELS);

const REFERENCE_FLOPS_PER_SECOND = 1.5e9;
const REFERENCE_BYTES_PER_SECOND = 3e9;

export class ReferenceBackend implements Backend {
  readonly name = 'reference';
  readonly device = HOST_DEVICE;

  /** What prepared kernels still load (their `load`), which `initialize` waits for. */
  private readonly loading = new Set<Promise<void>>();

  /**
   * Plain TypeScript kernels reach about 1.5 GFLOP/s on convolutions and matrix products and move
   * a few GB/s (ResNet-18's profile on a 2-core x86-64); the estimate takes the slower of the two.
   */
  estimateSeconds(_node: Node, cost: NodeCost): number {
    return Math.max(
      cost.flops / REFERENCE_FLOPS_PER_SECOND,
      (cost.bytesRead + cost.bytesWritten) / REFERENCE_BYTES_PER_SECOND,
    );
  }

  async initialize(): Promise<void> {
    await Promise.all(this.loading);
    this.loading.clear();
  }

  supports(node: Node): true | string {
    const found = referenceRegistry.find(node);
    return typeof found === 'string' ? found : true;
  }

  prepare(node: Node): PreparedKernel {
    const def = referenceRegistry.find(node);
    if (typeof def === 'string') throw new HeddleError(def, { node: node.name, opType: opLabel(node) });
    if (def.load) this.loading.add(def.load());
    return {
      name: `${node.opType.toLowerCase()}_reference`,
      run: (args: KernelArgs) => def.run(new KernelContext(node, args)),
    };
  }
}

/**
 * Runs one node's reference kernel outside any plan, its outputs in new memory: how constant
 * folding evaluates nodes whose inputs are all known. Nodes with subgraphs cannot be evaluated so.
 */
export function evaluateNode(
  node: Node,
  inputs: readonly (RuntimeValue | undefined)[],
  site: ErrorSite = {},
): (RuntimeValue | undefined)[] {
  const kernel = new ReferenceBackend().prepare(node);
  const outputs = kernel.run({
    inputs,
    site,
    allocateOutput: (_index, type, dims) => new Tensor(type, allocateStorage(type, shapeSize(dims)), dims),
    runSubgraph: () => {
      throw new HeddleError('nodes with subgraphs cannot be evaluated outside a plan', site);
    },
  });
  if (outputs instanceof Promise) throw new HeddleError('the reference backend runs synchronously', site);
  return outputs;
}

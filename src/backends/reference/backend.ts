/**
 * The reference backend: plain TypeScript kernels for every operator, dtype and opset version.
 * It is the oracle every other backend is tested against, and the fallback for what they lack.
 */

import type { Backend, KernelArgs, PreparedKernel } from '../backend.js';
import type { Node } from '../../ir/graph.js';
import { HeddleError } from '../../core/errors.js';
import { opLabel } from '../../ir/graph.js';
import { KernelContext } from './kernel.js';
import { ALL_KERNELS } from './kernels/index.js';
import { KernelRegistry } from './registry.js';

export const referenceRegistry = new KernelRegistry(ALL_KERNELS);

export class ReferenceBackend implements Backend {
  readonly name = 'reference';

  supports(node: Node): true | string {
    const found = referenceRegistry.find(node);
    return typeof found === 'string' ? found : true;
  }

  prepare(node: Node): PreparedKernel {
    const def = referenceRegistry.find(node);
    if (typeof def === 'string') throw new HeddleError(def, { node: node.name, opType: opLabel(node) });
    return {
      name: `${node.opType.toLowerCase()}_reference`,
      run: (args: KernelArgs) => def.run(new KernelContext(node, args.inputs, args.site, args.runSubgraph)),
    };
  }
}

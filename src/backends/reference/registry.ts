/**
 * Kernels as data: every `KernelDef` of a backend, looked up by (domain, op type) and the node's
 * opset version. The reference backend's registry holds its `KernelDef`s; other backends register
 * their own definitions, which carry the same keys.
 */

import type { Node } from '../../ir/graph.js';
import type { KernelDef } from './kernel.js';

/** The keys a kernel definition is registered under. */
export type RegisteredKernel = Pick<KernelDef, 'domain' | 'op' | 'since' | 'until'>;

export class KernelRegistry<Def extends RegisteredKernel = KernelDef> {
  private readonly byOp = new Map<string, Def[]>();

  constructor(defs: readonly Def[]) {
    for (const def of defs) {
      const key = registryKey(def.domain ?? '', def.op);
      const list = this.byOp.get(key) ?? [];
      list.push(def);
      this.byOp.set(key, list);
    }
  }

  /** The kernel for the node's opset, or the reason there is none. */
  find(node: Pick<Node, 'domain' | 'opType' | 'opset'>): Def | string {
    const defs = this.byOp.get(registryKey(node.domain, node.opType));
    if (!defs) {
      return `operator '${node.opType}' of domain '${node.domain || 'ai.onnx'}' is not implemented`;
    }
    const match = defs.find((d) => node.opset >= d.since && (d.until === undefined || node.opset <= d.until));
    if (match) return match;
    const first = Math.min(...defs.map((d) => d.since));
    if (node.opset < first) {
      return `operator '${node.opType}' does not exist in opset ${node.opset} of domain '${node.domain || 'ai.onnx'}' (it appeared in opset ${first})`;
    }
    return `operator '${node.opType}' is not implemented for opset ${node.opset}`;
  }

  /** Every (domain, op) pair with a kernel, for listings. */
  operators(): { domain: string; op: string; since: number }[] {
    return [...this.byOp.values()].flatMap((defs) =>
      defs.map((d) => ({ domain: d.domain ?? '', op: d.op, since: d.since })),
    );
  }
}

function registryKey(domain: string, op: string): string {
  return `${domain}\u0000${op}`;
}

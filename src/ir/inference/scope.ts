/**
 * The values visible while inferring one graph: its own (inputs, initializers, node outputs),
 * then those of the graphs around it, as a subgraph sees them. A name defined in an inner graph
 * hides the outer one even when its type is unknown.
 */

import type { ValueType } from '../graph.js';
import type { KnownValue } from './rule.js';

interface Entry {
  type: ValueType | undefined;
  value: KnownValue | undefined;
}

export class Scope {
  readonly #entries = new Map<string, Entry>();

  constructor(readonly parent?: Scope) {}

  define(name: string, type: ValueType | undefined, value?: KnownValue): void {
    this.#entries.set(name, { type, value });
  }

  type(name: string): ValueType | undefined {
    return this.#lookup(name)?.type;
  }

  value(name: string): KnownValue | undefined {
    return this.#lookup(name)?.value;
  }

  #lookup(name: string): Entry | undefined {
    const own = this.#entries.get(name);
    if (own || !this.parent) return own;
    return this.parent.#lookup(name);
  }
}

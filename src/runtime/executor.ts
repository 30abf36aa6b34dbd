/**
 * Runs plans: a loop over the steps, values held in a scope by name, subgraphs (If/Loop/Scan
 * bodies) planned once and run with the enclosing scope visible.
 */

import type { Backend } from '../backends/backend.js';
import { HeddleError, type ErrorSite } from '../core/errors.js';
import type { RuntimeValue } from '../core/values.js';
import { opLabel, type Graph } from '../ir/graph.js';
import { buildPlan, type Plan } from '../plan/plan.js';

/** Values by name, falling back to the enclosing graph's scope for outer-scope reads. */
export class Scope {
  private readonly values = new Map<string, RuntimeValue>();

  constructor(private readonly parent?: Scope) {}

  get(name: string): RuntimeValue | undefined {
    return this.values.get(name) ?? this.parent?.get(name);
  }

  set(name: string, value: RuntimeValue): void {
    this.values.set(name, value);
  }

  delete(name: string): void {
    this.values.delete(name);
  }
}

export class Executor {
  private readonly subgraphPlans = new WeakMap<Graph, Plan>();

  constructor(
    private readonly backends: readonly Backend[],
    private readonly site: ErrorSite,
  ) {}

  plan(graph: Graph): Plan {
    let plan = this.subgraphPlans.get(graph);
    if (!plan) {
      plan = buildPlan(graph, this.backends, this.site);
      this.subgraphPlans.set(graph, plan);
    }
    return plan;
  }

  /** Runs a plan on values already placed in `scope` (feeds and constants); returns the outputs. */
  execute(plan: Plan, scope: Scope): RuntimeValue[] {
    for (const [name, tensor] of plan.graph.initializers) {
      if (scope.get(name) === undefined) scope.set(name, tensor);
    }
    for (const step of plan.steps) {
      const { node } = step;
      const inputs = node.inputs.map((name) =>
        name === '' ? undefined : this.read(scope, name, node.name, opLabel(node)),
      );
      let outputs: (RuntimeValue | undefined)[];
      try {
        outputs = step.kernel.run({
          inputs,
          site: this.site,
          runSubgraph: (graph, subInputs) => this.runSubgraph(graph, subInputs, scope),
        });
      } catch (error) {
        throw this.nodeError(error, node.name, opLabel(node));
      }
      node.outputs.forEach((name, i) => {
        if (name === '') return;
        const value = outputs[i];
        if (value === undefined) {
          throw new HeddleError(`the kernel produced no value for output ${i} ('${name}')`, {
            ...this.site,
            node: node.name,
            opType: opLabel(node),
          });
        }
        scope.set(name, value);
      });
      for (const name of step.releases) scope.delete(name);
    }
    return plan.graph.outputs.map((out) => {
      const value = scope.get(out.name);
      if (value === undefined) {
        throw new HeddleError(`graph output '${out.name}' was never produced`, this.site);
      }
      return value;
    });
  }

  private runSubgraph(
    graph: Graph,
    inputs: readonly (RuntimeValue | undefined)[],
    outer: Scope,
  ): RuntimeValue[] {
    const scope = new Scope(outer);
    graph.inputs.forEach((input, i) => {
      const value = inputs[i];
      if (value !== undefined) scope.set(input.name, value);
    });
    return this.execute(this.plan(graph), scope);
  }

  private read(scope: Scope, name: string, node: string, opType: string): RuntimeValue {
    const value = scope.get(name);
    if (value === undefined) {
      throw new HeddleError(`input '${name}' is neither fed, a constant, nor produced by an earlier node`, {
        ...this.site,
        node,
        opType,
      });
    }
    return value;
  }

  private nodeError(error: unknown, node: string, opType: string): HeddleError {
    if (error instanceof HeddleError) return error.within({ ...this.site, node, opType });
    const message = error instanceof Error ? error.message : String(error);
    return new HeddleError(`the kernel failed: ${message}`, { ...this.site, node, opType }, { cause: error });
  }
}

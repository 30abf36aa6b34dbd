/**
 * The execution plan: data that running a graph is a loop over.
 *
 * Every value gets a numbered slot on the device that holds it. Steps are kernels (a node bound to
 * a prepared kernel of the backend the partitioner chose, its input and output slots prebound) and
 * copies (a value moved across a device border, once per value and device). Each step lists the
 * slots it is the last reader of, so the executor can drop them. Plans are built once per graph
 * (and, for the main graph, once per input-shape signature) and can be replayed, explained or
 * compared.
 */

import { HOST_DEVICE, type Backend, type PreparedKernel } from '../backends/backend.js';
import { HeddleError, type ErrorSite } from '../core/errors.js';
import type { RuntimeValue } from '../core/values.js';
import { opLabel, outerReads, readsOf, type Graph, type Node } from '../ir/graph.js';
import { MAIN_TRACK, NO_TRACE, now, type Tracer } from '../telemetry/trace.js';
import { partition, type Assignment } from './partition.js';

export type SlotKind = 'input' | 'constant' | 'intermediate' | 'outer';

export interface Slot {
  readonly id: number;
  /** The value's name; a copy's slot is named `value@device`. */
  readonly name: string;
  readonly device: string;
  readonly kind: SlotKind;
}

export interface KernelStep {
  readonly kind: 'kernel';
  readonly node: Node;
  readonly backend: string;
  readonly kernel: PreparedKernel;
  /** Input slots in the node's input order; -1 for an omitted optional input. */
  readonly inputs: Int32Array;
  /** Output slots in the node's output order; -1 for an unnamed output. */
  readonly outputs: Int32Array;
  /** Slots this step is the last reader of. */
  readonly releases: Int32Array;
}

export interface CopyStep {
  readonly kind: 'copy';
  readonly from: number;
  readonly to: number;
  readonly fromDevice: string;
  readonly toDevice: string;
  readonly move: (value: RuntimeValue) => RuntimeValue;
  readonly releases: Int32Array;
}

export type Step = KernelStep | CopyStep;

export interface Plan {
  readonly graph: Graph;
  readonly slots: readonly Slot[];
  readonly steps: readonly Step[];
  /** Graph input (and overridable initializer) name → slot. */
  readonly inputs: ReadonlyMap<string, number>;
  /** Slots of the graph's outputs, in order, all on the host. */
  readonly outputs: Int32Array;
  /** Constant slots with their values, already on the slot's device. */
  readonly constants: readonly (readonly [number, RuntimeValue])[];
  /** Values a subgraph reads from its enclosing scope, by name. */
  readonly outerReads: ReadonlyMap<string, number>;
  /** Value name → the slot holding it on the host, for subgraphs that read it from this scope. */
  readonly visible: ReadonlyMap<string, number>;
  /** Each node's backend and why. */
  readonly assignments: readonly Assignment[];
}

/** Builds the plan of a graph; a tracer that is on gets a 'prepare' span for each kernel prepared. */
export function buildPlan(
  graph: Graph,
  backends: readonly Backend[],
  site: ErrorSite,
  tracer: Tracer = NO_TRACE,
): Plan {
  const order = topologicalOrder(graph, site);
  const assignments = partition(graph, order, backends, site);
  const builder = new PlanBuilder(graph, backends, site, tracer);
  for (const assignment of assignments) builder.addKernel(assignment);
  return builder.finish(assignments);
}

class PlanBuilder {
  readonly slots: Slot[] = [];
  readonly steps: (Omit<KernelStep, 'releases'> | Omit<CopyStep, 'releases'>)[] = [];
  readonly home = new Map<string, number>();
  readonly copies = new Map<string, number>();
  readonly constants: [number, RuntimeValue][] = [];
  readonly outerReads = new Map<string, number>();
  readonly inputs = new Map<string, number>();

  constructor(
    readonly graph: Graph,
    readonly backends: readonly Backend[],
    readonly site: ErrorSite,
    readonly tracer: Tracer,
  ) {
    for (const input of [...graph.inputs, ...graph.overridableInitializers]) {
      this.inputs.set(input.name, this.newSlot(input.name, HOST_DEVICE, 'input'));
    }
    for (const [name, tensor] of graph.initializers) {
      if (this.home.has(name)) {
        this.constants.push([this.home.get(name)!, tensor]);
        continue;
      }
      this.constants.push([this.newSlot(name, HOST_DEVICE, 'constant'), tensor]);
    }
    for (const name of outerReads(graph)) {
      if (!this.home.has(name)) this.outerReads.set(name, this.newSlot(name, HOST_DEVICE, 'outer'));
    }
  }

  newSlot(name: string, device: string, kind: SlotKind): number {
    const id = this.slots.length;
    this.slots.push({ id, name, device, kind });
    if (!this.home.has(name)) this.home.set(name, id);
    return id;
  }

  addKernel({ node, backend }: Assignment): void {
    const inputs = Int32Array.from(node.inputs, (name) =>
      name === '' ? -1 : this.slotOn(name, backend.device, node),
    );
    // Values a subgraph reads from this scope are looked up by name on the host.
    for (const name of readsOf(node)) if (!node.inputs.includes(name)) this.slotOn(name, HOST_DEVICE, node);
    const outputs = Int32Array.from(node.outputs, (name) =>
      name === '' ? -1 : this.newSlot(name, backend.device, 'intermediate'),
    );
    let kernel: PreparedKernel;
    const start = this.tracer.enabled ? now() : 0;
    try {
      kernel = backend.prepare(node, this.graph.initializers, this.graph.valueTypes);
    } catch (error) {
      if (error instanceof HeddleError)
        throw error.within({ ...this.site, node: node.name, opType: opLabel(node) });
      throw error;
    }
    if (this.tracer.enabled) {
      const args = { node: node.name, backend: backend.name };
      this.tracer.span({
        name: opLabel(node),
        category: 'prepare',
        track: MAIN_TRACK,
        start,
        end: now(),
        args,
      });
    }
    this.steps.push({ kind: 'kernel', node, backend: backend.name, kernel, inputs, outputs });
  }

  /** The slot holding `name` on `device`, adding a copy step (or moving a constant) when needed. */
  slotOn(name: string, device: string, reader: Node | undefined): number {
    const home = this.home.get(name);
    if (home === undefined) {
      throw new HeddleError(`input '${name}' is neither fed, a constant, nor produced by an earlier node`, {
        ...this.site,
        node: reader?.name,
        opType: reader && opLabel(reader),
      });
    }
    const source = this.slots[home]!;
    if (source.device === device) return home;
    const key = `${name}@${device}`;
    const existing = this.copies.get(key);
    if (existing !== undefined) return existing;
    const move = this.mover(source.device, device);
    const constant = this.constants.find(([slot]) => slot === home);
    const copy = this.newSlot(key, device, constant ? 'constant' : 'intermediate');
    this.copies.set(key, copy);
    if (constant) this.constants.push([copy, move(constant[1])]);
    else
      this.steps.push({
        kind: 'copy',
        from: home,
        to: copy,
        fromDevice: source.device,
        toDevice: device,
        move,
      });
    return copy;
  }

  mover(from: string, to: string): (value: RuntimeValue) => RuntimeValue {
    const toHost = from === HOST_DEVICE ? undefined : this.backends.find((b) => b.device === from)?.toHost;
    const toDevice = to === HOST_DEVICE ? undefined : this.backends.find((b) => b.device === to)?.toDevice;
    return (value) => {
      const onHost = toHost ? toHost(value) : value;
      return toDevice ? toDevice(onHost) : onHost;
    };
  }

  finish(assignments: Assignment[]): Plan {
    const outputs = Int32Array.from(this.graph.outputs, (o) => this.slotOn(o.name, HOST_DEVICE, undefined));
    const kept = new Set<number>([...outputs, ...this.constants.map(([slot]) => slot)]);
    const lastReader = new Map<number, number>();
    this.steps.forEach((step, i) => {
      const reads = step.kind === 'kernel' ? [...step.inputs, ...this.subgraphReads(step.node)] : [step.from];
      for (const slot of reads) if (slot >= 0) lastReader.set(slot, i);
    });
    const releases = this.steps.map(() => [] as number[]);
    for (const [slot, i] of lastReader) if (!kept.has(slot)) releases[i]!.push(slot);
    const steps = this.steps.map((step, i) => ({ ...step, releases: Int32Array.from(releases[i]!) }) as Step);
    return {
      graph: this.graph,
      slots: this.slots,
      steps,
      inputs: this.inputs,
      outputs,
      constants: this.constants,
      outerReads: this.outerReads,
      visible: this.hostVisible(),
      assignments,
    };
  }

  hostVisible(): Map<string, number> {
    const visible = new Map<string, number>();
    for (const [name, slot] of this.home) {
      const onHost =
        this.slots[slot]!.device === HOST_DEVICE ? slot : this.copies.get(`${name}@${HOST_DEVICE}`);
      if (onHost !== undefined) visible.set(name, onHost);
    }
    return visible;
  }

  subgraphReads(node: Node): number[] {
    const visible = this.hostVisible();
    return readsOf(node)
      .filter((name) => !node.inputs.includes(name))
      .map((name) => visible.get(name))
      .filter((slot) => slot !== undefined);
  }
}

/**
 * Orders nodes so every input is produced before it is read. ONNX requires models to be sorted
 * already; this accepts unsorted ones too and names the node that can never run.
 */
export function topologicalOrder(graph: Graph, site: ErrorSite): Node[] {
  const producer = new Map<string, Node>();
  for (const node of graph.nodes) {
    for (const out of node.outputs) {
      if (out !== '') producer.set(out, node);
    }
  }
  const state = new Map<Node, 'visiting' | 'done'>();
  const order: Node[] = [];
  const visit = (root: Node) => {
    const stack: { node: Node; next: number }[] = [{ node: root, next: 0 }];
    state.set(root, 'visiting');
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const reads = readsOf(top.node);
      if (top.next < reads.length) {
        const dep = producer.get(reads[top.next++]!);
        if (!dep || dep === top.node) continue;
        const s = state.get(dep);
        if (s === 'visiting') {
          throw new HeddleError('the graph has a cycle through this node', {
            ...site,
            node: dep.name,
            opType: opLabel(dep),
          });
        }
        if (!s) {
          state.set(dep, 'visiting');
          stack.push({ node: dep, next: 0 });
        }
        continue;
      }
      state.set(top.node, 'done');
      order.push(top.node);
      stack.pop();
    }
  };
  for (const node of graph.nodes) if (!state.has(node)) visit(node);
  return order;
}

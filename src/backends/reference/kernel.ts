/**
 * The reference backend's kernel contract. A kernel is a plain function of a `KernelContext`
 * (the node, its resolved opset, its inputs, attribute readers) that returns the node's outputs.
 * Kernels are registered as data, `KernelDef`s keyed by (domain, op type, opset range).
 */

import type { DataType } from '../../core/dtype.js';
import { HeddleError, type ErrorSite } from '../../core/errors.js';
import type { KernelArgs } from '../backend.js';
import { Tensor } from '../../core/tensor.js';
import { describeValue, type RuntimeValue } from '../../core/values.js';
import { numbersToStorage } from './util.js';
import { opLabel, type Attribute, type Graph, type Node, type ValueType } from '../../ir/graph.js';

export interface KernelDef {
  /** ONNX domain; '' (the default) is ai.onnx. */
  domain?: string;
  op: string;
  /** First opset version this kernel implements (the version the operator appeared in). */
  since: number;
  /** Last opset version it implements, when a later version changed the operator incompatibly. */
  until?: number;
  run: (ctx: KernelContext) => (RuntimeValue | undefined)[];
  /**
   * Work the kernel needs done before its first run that cannot be done synchronously (loading a
   * decoding library): the reference backend starts it when it prepares the kernel, and creating a
   * session waits for it (the backend's `initialize`).
   */
  load?: () => Promise<void>;
}

export class KernelContext {
  readonly inputs: readonly (RuntimeValue | undefined)[];
  readonly site: ErrorSite;

  constructor(
    readonly node: Node,
    private readonly args: KernelArgs,
  ) {
    this.inputs = args.inputs;
    this.site = args.site;
  }

  get opset(): number {
    return this.node.opset;
  }

  /** How many outputs the node declares (some may be '' = not wanted). */
  get outputCount(): number {
    return this.node.outputs.length;
  }

  /** True when output `i` is declared and named. */
  wantsOutput(i: number): boolean {
    return (this.node.outputs[i] ?? '') !== '';
  }

  /** Input `i` as a tensor; fails when absent or not a tensor. */
  input(i: number): Tensor {
    const value = this.inputs[i];
    if (value instanceof Tensor) return value;
    if (value === undefined) this.fail(`input ${i} is required but was not given`);
    this.fail(`input ${i} must be a tensor, got ${describeValue(value)}`);
  }

  /** Input `i` as a tensor, or undefined when the model omitted it. */
  optionalInput(i: number): Tensor | undefined {
    const value = this.inputs[i];
    if (value === undefined) return undefined;
    if (value instanceof Tensor) return value;
    this.fail(`input ${i} must be a tensor, got ${describeValue(value)}`);
  }

  runSubgraph(graph: Graph, inputs: readonly (RuntimeValue | undefined)[]): RuntimeValue[] {
    return this.args.runSubgraph(graph, inputs);
  }

  /**
   * The tensor output `index` is to be written into: memory the plan set aside for it when it
   * has a place of this size, otherwise new memory. Writing outputs here is what lets a stream
   * of same-shaped runs allocate no tensor memory.
   */
  output(index: number, type: DataType, dims: readonly number[]): Tensor {
    return this.args.allocateOutput(index, type, dims);
  }

  /** Output `index` filled with JS numbers, converted to `type` as a cast would. */
  outputFromNumbers(
    index: number,
    type: DataType,
    values: ArrayLike<number>,
    dims: readonly number[],
  ): Tensor {
    const out = this.output(index, type, dims);
    numbersToStorage(type, values, out.data);
    return out;
  }

  fail(reason: string): never {
    throw new HeddleError(reason, { ...this.site, node: this.node.name, opType: opLabel(this.node) });
  }

  has(name: string): boolean {
    return this.node.attributes.has(name);
  }

  int(name: string, fallback?: number): number {
    return this.attr(name, 'int', fallback);
  }

  float(name: string, fallback?: number): number {
    return this.attr(name, 'float', fallback);
  }

  string(name: string, fallback?: string): string {
    return this.attr(name, 'string', fallback);
  }

  ints(name: string, fallback?: number[]): number[] {
    return this.attr(name, 'ints', fallback);
  }

  floats(name: string, fallback?: number[]): number[] {
    return this.attr(name, 'floats', fallback);
  }

  strings(name: string, fallback?: string[]): string[] {
    return this.attr(name, 'strings', fallback);
  }

  tensor(name: string, fallback?: Tensor): Tensor {
    return this.attr(name, 'tensor', fallback);
  }

  graph(name: string): Graph {
    return this.attr(name, 'graph');
  }

  typeProto(name: string): ValueType {
    return this.attr(name, 'type_proto');
  }

  /** The raw attribute, for operators that accept several kinds (Constant). */
  attribute(name: string): Attribute | undefined {
    return this.node.attributes.get(name);
  }

  private attr<T extends Attribute['type']>(
    name: string,
    type: T,
    fallback?: Extract<Attribute, { type: T }>['value'],
  ): Extract<Attribute, { type: T }>['value'] {
    const found = this.node.attributes.get(name);
    if (!found) {
      if (fallback === undefined) this.fail(`required attribute '${name}' is missing`);
      return fallback as never;
    }
    if (found.type !== type) {
      // Writers sometimes store a single int where a float is expected and vice versa.
      if (type === 'float' && found.type === 'int') return found.value as never;
      if (type === 'ints' && found.type === 'int') return [found.value] as never;
      if (type === 'floats' && found.type === 'ints') return found.value as never;
      this.fail(`attribute '${name}' must be of type ${type}, got ${found.type}`);
    }
    return found.value as never;
  }
}

/**
 * The `wasm` backend's kernel contract. A kernel is registered as data, a `WasmKernelDef` keyed by
 * (domain, op type, opset range) like the reference backend's. Its `claims` decides, from the
 * node and the value types the plan knows, whether the generated code handles it (float32 data,
 * static attributes, ...); its `prepare` reads attributes, packs constant weights into the heap
 * and asks the runtime for the modules it needs, all once per plan; the kernel it returns runs
 * with no decisions left but the shapes of the run.
 *
 * A kernel's values are views of the heap when the plan put them in its arena; anything else (a
 * caller's input, a graph output in memory of its own) goes through the kernel's `Staging`, which
 * copies it into scratch memory of the heap and back.
 */

import type { DataType } from '../../core/dtype.js';
import { HeddleError } from '../../core/errors.js';
import { Tensor, type TensorData } from '../../core/tensor.js';
import type { WasmFeatures } from './features.js';
import { opLabel, staticShape, type Node, type ValueType } from '../../ir/graph.js';
import type { KernelArgs, PreparedKernel } from '../backend.js';
import type { WasmHeap } from './heap.js';
import type { WasmRuntime } from './runtime.js';
import type { Tuner } from './tuning.js';

export interface WasmKernelDef {
  /** ONNX domain; '' (the default) is ai.onnx. */
  domain?: string;
  op: string;
  since: number;
  until?: number;
  /**
   * `true` when the generated code runs this node, or the reason it does not. `types` holds what
   * the plan knows of the values (often exact shapes); a value it lacks is unknown, and a kernel
   * that claims such a node must handle every type and shape it may turn out to have, handing the
   * run to `env.reference` where its code does not apply.
   */
  claims(node: Node, types: ReadonlyMap<string, ValueType>): true | string;
  prepare(node: Node, env: WasmEnv): PreparedKernel;
}

/** What a kernel's `prepare` is given. */
export interface WasmEnv {
  readonly runtime: WasmRuntime;
  readonly heap: WasmHeap;
  readonly features: WasmFeatures;
  readonly threads: number;
  /** Chooses a kernel's variant per shape by measuring (or its default, with tuning off). */
  readonly tuner: Tuner;
  /** The plan's value types, as for `claims`. */
  readonly types: ReadonlyMap<string, ValueType>;
  /** The value of a constant input (an initializer), or undefined. */
  constant(name: string): Tensor | undefined;
  /**
   * A heap block that lives as long as the backend (packed weights, tables): released when the
   * session that prepared it is.
   */
  keep(bytes: number): number;
  /**
   * A value made once per backend from `key` (usually a constant tensor) and `kind` (how it is
   * packed): the plans of later input shapes reuse the weights packed for earlier ones.
   */
  memo<T>(key: object, kind: string, make: () => T): T;
  /** Scratch and staging for one kernel; its blocks are released with the backend's. */
  staging(): Staging;
  /** The reference backend's kernel for the node: for the cases the generated code leaves to it. */
  reference(node: Node): PreparedKernel;
}

/** Input `index` as a tensor; fails naming the node otherwise. */
export function tensorInput(args: KernelArgs, index: number, node: Node): Tensor {
  const value = args.inputs[index];
  if (value instanceof Tensor) return value;
  throw new HeddleError(`input ${index} must be a tensor`, {
    ...args.site,
    node: node.name,
    opType: opLabel(node),
  });
}

/** The element type of value `name` when the plan knows it. */
export function typeOf(types: ReadonlyMap<string, ValueType>, name: string): DataType | undefined {
  const type = types.get(name);
  return type?.kind === 'tensor' ? type.elemType : undefined;
}

/** The static shape of value `name` when the plan knows every dimension. */
export function shapeOf(types: ReadonlyMap<string, ValueType>, name: string): number[] | undefined {
  return staticShape(types.get(name));
}

/**
 * `true` when every named input and output present is float32 (or of unknown type, which the
 * kernel checks when it runs), otherwise the reason.
 */
export function claimsFloat32(
  node: Node,
  types: ReadonlyMap<string, ValueType>,
  inputs?: readonly number[],
): true | string {
  const chosen = inputs ? inputs.map((i) => node.inputs[i] ?? '') : node.inputs;
  const names = [...chosen, ...node.outputs];
  for (const name of names) {
    if (name === '') continue;
    const type = typeOf(types, name);
    if (type !== undefined && type !== 'float32')
      return `the wasm kernels take float32, '${name}' is ${type}`;
  }
  return true;
}

/**
 * Heap addresses for a kernel's operands. A tensor that lives in the heap is used where it is; one
 * that does not is copied into a scratch block of this kernel (`input`), or computed in one and
 * copied out by `finish` (`output`) or by the kernel itself (`outputCopiedByKernel`). Scratch
 * blocks are kept between runs and grow as needed.
 */
export class Staging {
  private readonly blocks: { address: number; bytes: number }[] = [];
  private readonly pendingOutputs: { tensor: Tensor; address: number }[] = [];

  constructor(private readonly heap: WasmHeap) {}

  /** The address of `tensor`'s data, copying it into scratch block `slot` when it is not in the heap. */
  input(tensor: Tensor, slot: number): number {
    const own = this.heap.pointerOf(tensor.data);
    if (own !== undefined) return own;
    const data = tensor.data as Exclude<TensorData, string[]>;
    const address = this.block(slot, data.byteLength);
    this.heap
      .bytes(address, data.byteLength)
      .set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return address;
  }

  /** The address to write `tensor`'s data at: its own, or scratch block `slot` copied into it by `finish`. */
  output(tensor: Tensor, slot: number): number {
    const own = this.heap.pointerOf(tensor.data);
    if (own !== undefined) return own;
    const address = this.block(slot, (tensor.data as Uint8Array).byteLength);
    this.pendingOutputs.push({ tensor, address });
    return address;
  }

  /**
   * As `output`, for a kernel that copies the output out of scratch itself (`copyOut`: the data to
   * copy it into; none when the tensor lives in the heap): `finish` leaves it alone.
   */
  outputCopiedByKernel(tensor: Tensor, slot: number): { address: number; copyOut?: Float32Array } {
    const own = this.heap.pointerOf(tensor.data);
    if (own !== undefined) return { address: own };
    const copyOut = tensor.data as Float32Array;
    return { address: this.block(slot, copyOut.byteLength), copyOut };
  }

  /** A scratch block of at least `bytes` bytes in slot `slot` (for a kernel's own temporaries). */
  block(slot: number, bytes: number): number {
    const block = this.blocks[slot];
    if (block && block.bytes >= bytes) return block.address;
    if (block) this.heap.release(block.address);
    const address = this.heap.allocate(bytes);
    this.blocks[slot] = { address, bytes };
    return address;
  }

  /** Copies outputs computed in scratch into their tensors. */
  finish(): void {
    for (const { tensor, address } of this.pendingOutputs) {
      const data = tensor.data as Uint8Array;
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(
        this.heap.bytes(address, data.byteLength),
      );
    }
    this.pendingOutputs.length = 0;
  }

  /** Returns the scratch blocks to the heap. */
  release(): void {
    for (const block of this.blocks) if (block) this.heap.release(block.address);
    this.blocks.length = 0;
  }
}

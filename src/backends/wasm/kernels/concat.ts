/**
 * Concat and Split on the wasm backend: each input of a Concat, and each output of a Split, is one
 * strided copy of runs (the part's slab of each outer position), so both are runs of v128 copies
 * spread over the pool when they are big (SqueezeNet's channel concatenations). Any element of 1,
 * 2, 4 or 8 bytes; every opset (Concat's default axis before 4, Split's lengths as an attribute or
 * an input, opset 18's num_outputs and uneven last part).
 */

import { HeddleError } from '../../../core/errors.js';
import type { Tensor } from '../../../core/tensor.js';
import { intAttribute, intsAttribute, type Node } from '../../../ir/graph.js';
import type { KernelArgs, PreparedKernel } from '../../backend.js';
import { normalizeAxis, readInts, stridesOf } from '../../reference/util.js';
import { HeapOperands } from '../codegen/elementwise.js';
import { tensorInput, type WasmEnv, type WasmKernelDef } from '../kernel.js';
import { claimsMovable, copyStrided, elementBytesOf, inOrder, type Pending } from './transpose.js';

/** Resolves a possibly negative axis, failing outside [-rank, rank). */
export function resolveAxis(axis: number, rank: number): number {
  return normalizeAxis(axis, rank, (reason) => {
    throw new HeddleError(reason);
  });
}

function describe(t: Tensor): string {
  return `${t.type}[${t.dims.join(', ')}]`;
}

function concatKernel(node: Node, env: WasmEnv): PreparedKernel {
  const operands = new HeapOperands(env, node);
  const reference = env.reference(node);
  // Concat-1 defaulted to axis 1; from opset 4 the axis is required.
  const requestedAxis = intAttribute(node, 'axis', node.opset < 4 ? 1 : NaN);
  return {
    name: 'concat_simd128',
    run(args) {
      const parts = node.inputs.map((_, i) => tensorInput(args, i, node));
      const first = parts[0];
      if (!first) throw new HeddleError('Concat needs at least one input');
      const elementBytes = elementBytesOf(first.type);
      if (elementBytes === undefined) return reference.run(args);
      const rank = first.dims.length;
      if (Number.isNaN(requestedAxis)) throw new HeddleError('attribute axis is required');
      const axis = resolveAxis(requestedAxis, rank);
      for (const part of parts) {
        const compatible =
          part.type === first.type &&
          part.dims.length === rank &&
          part.dims.every((d, a) => a === axis || d === first.dims[a]);
        if (!compatible)
          throw new HeddleError(
            `cannot concatenate ${describe(part)} with ${describe(first)} on axis ${axis}`,
          );
      }
      const dims = [...first.dims];
      dims[axis] = parts.reduce((sum, part) => sum + part.dims[axis]!, 0);
      const out = args.allocateOutput(0, first.type, dims);
      const target = operands.output(out, parts.length);
      const outStrides = stridesOf(dims);
      let offset = 0;
      const steps = parts.map((part, i) => {
        const at = target + offset * outStrides[axis]! * elementBytes;
        offset += part.dims[axis]!;
        const walk = { dims: part.dims, src: stridesOf(part.dims), dst: outStrides };
        // The memory plan puts the parts of a Concat along contiguous runs in their places in the
        // output: such a part is there already.
        const from = operands.input(part, i, i);
        return (): Pending =>
          from === at ? undefined : copyStrided(env.runtime, elementBytes, walk, from, at);
      });
      return operands.finish(inOrder(steps), [out]);
    },
  };
}

/** Split's `split` lengths: an attribute before opset 13 (Split-1 also took an input), an input after. */
function requestedLengths(node: Node, args: KernelArgs): number[] | undefined {
  const attribute = node.opset < 13 ? intsAttribute(node, 'split') : undefined;
  if (attribute) return attribute;
  return node.inputs[1] ? readInts(tensorInput(args, 1, node)) : undefined;
}

/** The lengths of Split's parts along an axis of length `dim`, as each opset gives them. */
function splitLengths(node: Node, args: KernelArgs, dim: number): number[] {
  const outputs = node.outputs.length;
  const lengths = requestedLengths(node, args);
  if (lengths) {
    if (lengths.length !== outputs)
      throw new HeddleError(`split has ${lengths.length} entries for ${outputs} outputs`);
    if (lengths.some((l) => l < 0) || lengths.reduce((a, b) => a + b, 0) !== dim)
      throw new HeddleError(`split [${lengths.join(', ')}] does not add up to the axis size ${dim}`);
    return lengths;
  }
  const parts = node.opset >= 18 ? intAttribute(node, 'num_outputs', outputs) : outputs;
  if (parts !== outputs) throw new HeddleError(`num_outputs is ${parts} but the node has ${outputs} outputs`);
  if (node.opset < 18 && dim % parts !== 0)
    throw new HeddleError(`axis of size ${dim} cannot be split into ${parts} equal parts`);
  // From opset 18 an uneven split makes every part ceil(dim / parts) long but a shorter last one.
  const chunk = Math.ceil(dim / parts);
  return Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(chunk, dim - i * chunk)));
}

function splitKernel(node: Node, env: WasmEnv): PreparedKernel {
  const operands = new HeapOperands(env, node);
  const reference = env.reference(node);
  const requestedAxis = intAttribute(node, 'axis', 0);
  return {
    name: 'split_simd128',
    run(args) {
      const data = tensorInput(args, 0, node);
      const elementBytes = elementBytesOf(data.type);
      if (elementBytes === undefined) return reference.run(args);
      const axis = resolveAxis(requestedAxis, data.dims.length);
      const lengths = splitLengths(node, args, data.dims[axis]!);
      const strides = stridesOf(data.dims);
      const source = operands.input(data, 0, 0);
      let start = 0;
      const outputs: (Tensor | undefined)[] = [];
      const steps: (() => Pending)[] = [];
      lengths.forEach((length, i) => {
        const from = source + start * strides[axis]! * elementBytes;
        start += length;
        if (node.outputs[i] === '') {
          outputs.push(undefined);
          return;
        }
        const dims = data.dims.map((d, a) => (a === axis ? length : d));
        const out = args.allocateOutput(i, data.type, dims);
        outputs.push(out);
        const walk = { dims, src: strides, dst: stridesOf(dims) };
        steps.push(() => copyStrided(env.runtime, elementBytes, walk, from, operands.output(out, 1 + i)));
      });
      return operands.finish(inOrder(steps), outputs);
    },
  };
}

export const kernels: WasmKernelDef[] = [
  {
    op: 'Concat',
    since: 1,
    claims: (node, types) => claimsMovable([...node.inputs, node.outputs[0]!], types),
    prepare: concatKernel,
  },
  {
    op: 'Split',
    since: 1,
    claims: (node, types) => claimsMovable([node.inputs[0]!, ...node.outputs], types),
    prepare: splitKernel,
  },
];

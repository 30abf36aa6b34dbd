/**
 * A backend for tests that claims a few operators and keeps its values in a memory space of its
 * own: values on it are `DeviceValue` boxes that no host kernel can read, so a missing copy at a
 * device border fails loudly. Its kernels compute with the reference kernels, asynchronously,
 * and tell a listener when they start and end.
 */

import type { Backend, KernelArgs } from '../../src/backends/backend.js';
import { evaluateNode } from '../../src/backends/reference/backend.js';
import { Tensor } from '../../src/core/tensor.js';
import type { RuntimeValue } from '../../src/core/values.js';
import type { Node } from '../../src/ir/graph.js';
import { buildModel } from './build-model.js';

export class DeviceValue {
  constructor(readonly tensor: Tensor) {}
}

export interface DeviceEvent {
  node: string;
  phase: 'start' | 'end';
}

export interface TestDeviceOptions {
  ops?: readonly string[];
  /** Called as each kernel starts and ends; may throw or abort to test cancellation. */
  onEvent?: (event: DeviceEvent) => void;
  /** Turns of the event loop each kernel takes, so that independent kernels can overlap. */
  turns?: number;
  /** Seconds the device claims a node takes, for the partitioner's choice by cost. */
  estimateSeconds?: Backend['estimateSeconds'];
  copyBytesPerSecond?: number;
}

export function testDevice(
  options: TestDeviceOptions = {},
): Backend & { copies: { toDevice: number; toHost: number } } {
  const ops = new Set(options.ops ?? ['Add', 'Mul', 'Relu']);
  const copies = { toDevice: 0, toHost: 0 };
  return {
    name: 'test-device',
    device: 'test-device',
    copies,
    estimateSeconds: options.estimateSeconds,
    copyBytesPerSecond: options.copyBytesPerSecond,
    supports: (node: Node) =>
      node.domain === '' && ops.has(node.opType) ? true : `${node.opType} is not on the test device`,
    prepare: (node: Node) => ({
      name: `${node.opType.toLowerCase()}_testdevice`,
      run: async (args: KernelArgs) => {
        options.onEvent?.({ node: node.name, phase: 'start' });
        const hostInputs = args.inputs.map((value) => {
          if (value !== undefined && !(value instanceof DeviceValue))
            throw new Error(`${node.name} was given a host value`);
          return value?.tensor;
        });
        for (let i = 0; i < (options.turns ?? 2); i++) await new Promise((resolve) => setImmediate(resolve));
        const outputs = evaluateNode(node, hostInputs);
        options.onEvent?.({ node: node.name, phase: 'end' });
        return outputs.map((v) =>
          v === undefined ? v : (new DeviceValue(v as Tensor) as unknown as RuntimeValue),
        );
      },
    }),
    toDevice: (value: RuntimeValue) => {
      copies.toDevice++;
      if (!(value instanceof Tensor)) throw new Error('only tensors move to the test device');
      return new DeviceValue(value) as unknown as RuntimeValue;
    },
    toHost: (value: RuntimeValue) => {
      copies.toHost++;
      return (value as unknown as DeviceValue).tensor;
    },
  };
}

/**
 * x → Mul(x, a) and x → Mul(x, b) in parallel, then Add, Relu, and a Softmax the test device
 * lacks: on the test device the two Muls run at once, and the Softmax needs a copy back.
 */
export const diamond = buildModel({
  nodes: [
    { op: 'Mul', name: 'left', inputs: ['x', 'a'], outputs: ['l'] },
    { op: 'Mul', name: 'right', inputs: ['x', 'b'], outputs: ['r'] },
    { op: 'Add', name: 'join', inputs: ['l', 'r'], outputs: ['s'] },
    { op: 'Relu', name: 'relu', inputs: ['s'], outputs: ['t'] },
    { op: 'Softmax', name: 'softmax', inputs: ['t'], outputs: ['y'], attributes: { axis: -1 } },
  ],
  inputs: [{ name: 'x', type: 'float32', dims: [2, 3] }],
  outputs: [{ name: 'y', type: 'float32', dims: [2, 3] }],
  initializers: [
    { name: 'a', type: 'float32', dims: [3], values: [1, -2, 3] },
    { name: 'b', type: 'float32', dims: [3], values: [0.5, 0.5, -1] },
  ],
});

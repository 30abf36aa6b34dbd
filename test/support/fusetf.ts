/**
 * Helpers for the transformer fusion tests: the graph the fuse-transformer passes alone leave
 * (after shape inference, as a session runs them), and the small initializers the patterns need.
 */

import { loadModelProto } from '../../src/onnx/load.js';
import { importModel } from '../../src/ir/import.js';
import { inferShapes } from '../../src/ir/inference/index.js';
import { opLabel, type Graph } from '../../src/ir/graph.js';
import { optimizeGraph, type Rewrite } from '../../src/passes/pass.js';
import { passes } from '../../src/passes/fuse-transformer.js';
import { buildModel, type ModelSpec, type TensorSpec } from './build-model.js';
import { randomFeeds } from './fuseops.js';

export interface Fused {
  /** The graph's operators in order, as `domain::Op` outside ai.onnx. */
  ops: string[];
  rewrites: Rewrite[];
  graph: Graph;
}

/** Runs only the transformer fusions on the model, so other passes cannot change what is asserted. */
export function fuseTransformer(spec: ModelSpec): Fused {
  const model = importModel(loadModelProto(buildModel(spec)));
  inferShapes(model);
  const report = optimizeGraph(model.graph, 'extended', passes);
  return { ops: model.graph.nodes.map(opLabel), rewrites: report.rewrites, graph: model.graph };
}

/** A float32 scalar (rank 0) initializer, the form exporters write constants in. */
export function scalar(name: string, value: number): TensorSpec {
  return { name, type: 'float32', dims: [], values: [value] };
}

/** An int64 initializer, for axes inputs. */
export function int64s(name: string, values: number[]): TensorSpec {
  return { name, type: 'int64', dims: [values.length], values };
}

/** A float32 initializer of seeded values in [-3, 3) scaled by `scale`, plus `offset`. */
export function weight(name: string, dims: number[], offset = 0, scale = 1, seed = name.length): TensorSpec {
  const values = randomFeeds([{ name, type: 'float32', dims }], {}, seed)[name]!.data as Float32Array;
  return { name, type: 'float32', dims, values: Array.from(values, (v) => v * scale + offset) };
}

/**
 * `heddle inspect MODEL`: inputs and outputs, opsets, producer, an operator histogram (subgraphs
 * included) and the parameter count and bytes.
 */

import Table from 'cli-table3';
import { bitsOf } from '../core/dtype.js';
import { allNodes, describeType, opLabel, type Model } from '../ir/graph.js';
import { importModel } from '../ir/import.js';
import { loadModelProto } from '../onnx/load.js';
import * as fs from 'node:fs';
import { encodeModel } from '../ir/export.js';
import type { OptimizationLevel } from '../passes/index.js';
import { InferenceSession } from '../runtime/session.js';
import { formatBytes } from './format.js';
import { formatPlanReport, planDot, planReport } from './plan-report.js';
import { parseDims } from './run.js';

export interface ModelSummary {
  model: string;
  irVersion: number;
  producer: string;
  opsets: Record<string, number>;
  inputs: { name: string; type: string }[];
  outputs: { name: string; type: string }[];
  nodes: number;
  operators: Record<string, number>;
  parameters: number;
  parameterBytes: number;
}

export function summarize(model: Model): ModelSummary {
  const operators: Record<string, number> = {};
  let nodes = 0;
  for (const { node } of allNodes(model.graph)) {
    nodes++;
    const label = opLabel(node);
    operators[label] = (operators[label] ?? 0) + 1;
  }
  let parameters = 0;
  let parameterBytes = 0;
  for (const tensor of model.graph.initializers.values()) {
    parameters += tensor.size;
    parameterBytes += Math.ceil((tensor.size * bitsOf(tensor.type)) / 8);
  }
  return {
    model: model.source,
    irVersion: model.irVersion,
    producer: `${model.producerName} ${model.producerVersion}`.trim(),
    opsets: Object.fromEntries([...model.opsets].map(([d, v]) => [d || 'ai.onnx', v])),
    inputs: model.graph.inputs.map((i) => ({ name: i.name, type: describeType(i.type) })),
    outputs: model.graph.outputs.map((o) => ({ name: o.name, type: describeType(o.type) })),
    nodes,
    operators: Object.fromEntries(Object.entries(operators).sort((a, b) => b[1] - a[1])),
    parameters,
    parameterBytes,
  };
}

export interface InspectOptions {
  json?: boolean;
  plan?: boolean;
  dim: string[];
  dot?: string;
  saveOptimized?: string;
  backends: string;
  optimization: OptimizationLevel;
}

export async function inspectCommand(file: string, options: InspectOptions): Promise<number> {
  if (options.plan || options.dot || options.saveOptimized) return inspectPlan(file, options);
  const summary = summarize(importModel(loadModelProto(file)));
  if (options.json) {
    console.log(JSON.stringify(summary, null, 2));
    return 0;
  }
  console.log(
    `model     ${summary.model} (IR version ${summary.irVersion}, producer ${summary.producer || 'unknown'})`,
  );
  console.log(
    `opsets    ${Object.entries(summary.opsets)
      .map(([d, v]) => `${d} ${v}`)
      .join(', ')}`,
  );
  console.log(`nodes     ${summary.nodes}`);
  console.log(
    `params    ${summary.parameters.toLocaleString('en-US')} (${formatBytes(summary.parameterBytes)})`,
  );
  // Colour only on a terminal: piped output stays plain text.
  const style = process.stdout.isTTY ? {} : { head: [], border: [] };
  const io = new Table({ head: ['', 'name', 'type'], style });
  for (const i of summary.inputs) io.push(['input', i.name, i.type]);
  for (const o of summary.outputs) io.push(['output', o.name, o.type]);
  console.log(io.toString());
  const ops = new Table({ head: ['operator', 'count'], style });
  for (const [op, count] of Object.entries(summary.operators)) ops.push([op, count]);
  console.log(ops.toString());
  return 0;
}

/**
 * The plan for the model's declared input shapes (symbolic dimensions from --dim, else 1): the
 * report, and on request the planned graph as DOT and as an ONNX file.
 */
async function inspectPlan(file: string, options: InspectOptions): Promise<number> {
  const session = await InferenceSession.create(file, {
    executionProviders: options.backends.split(','),
    graphOptimizationLevel: options.optimization,
  });
  const dims = parseDims(options.dim);
  const inputShapes: Record<string, number[]> = {};
  for (const meta of session.inputMetadata) {
    inputShapes[meta.name] = (meta.shape ?? []).map((d) =>
      typeof d === 'number' && d >= 0 ? d : (dims[String(d)] ?? 1),
    );
  }
  const instance = session.planFor(new Map(Object.entries(inputShapes)));
  const report = planReport(session.model.source, instance, inputShapes);
  console.log(options.json ? JSON.stringify(report, null, 2) : formatPlanReport(report));
  if (options.dot) {
    fs.writeFileSync(options.dot, planDot(instance));
    if (!options.json) console.log(`wrote ${options.dot}`);
  }
  if (options.saveOptimized) {
    fs.writeFileSync(options.saveOptimized, encodeModel(session.model, instance.plan.graph));
    if (!options.json) console.log(`wrote ${options.saveOptimized}`);
  }
  return 0;
}

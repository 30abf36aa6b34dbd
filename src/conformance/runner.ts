/**
 * Runs ONNX backend test cases (a folder with `model.onnx` and `test_data_set_N/` holding
 * `input_K.pb` and `output_K.pb`) and compares Heddle's outputs with the expected ones: by value,
 * except random draws, which are checked by their properties (random-outputs.ts).
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { isFloatType, isComplexType } from '../core/dtype.js';
import { HeddleError } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import { allNodes, type Graph, type ValueType } from '../ir/graph.js';
import { importModel } from '../ir/import.js';
import { loadModelProto } from '../onnx/load.js';
import {
  ContainerElemType,
  decodeOptionalProto,
  decodeSequenceProto,
  decodeTensorProto,
  type OptionalProto,
  type SequenceProto,
} from '../onnx/proto.js';
import { tensorFromProto } from '../onnx/tensor.js';
import type { OptimizationLevel } from '../passes/index.js';
import { InferenceSession, type OnnxValue } from '../runtime/session.js';
import { sameDims, toNumbers } from '../backends/reference/util.js';
import { propertyChecks } from './random-outputs.js';

export interface Tolerance {
  rtol: number;
  atol: number;
}

/** ONNX's own runner uses rtol 1e-3; atol 1e-5 is tighter than nothing and looser than 1e-7. */
export const DEFAULT_TOLERANCE: Tolerance = { rtol: 1e-3, atol: 1e-5 };

/** Cases that need a looser tolerance, each with the reason. */
export const TOLERANCE_OVERRIDES: ReadonlyMap<string, Tolerance & { reason: string }> = new Map();

/** An operator a case's model uses: its domain ('' for ai.onnx), type and the opset it is written against. */
export interface OperatorUse {
  domain: string;
  opType: string;
  opset: number;
}

export interface CaseResult {
  name: string;
  passed: boolean;
  reason?: string;
  /**
   * Outputs compared by the properties of random draws instead of by value, each with what was
   * checked; a case that passes with any passed "by properties", not by matching values.
   */
  byProperties?: string[];
  /** The operators of the case's model, subgraphs included; absent when the model cannot be read. */
  operators?: OperatorUse[];
  millis: number;
}

export type CaseStatus = 'passed' | 'passed by properties' | 'failed';

export function caseStatus(result: CaseResult): CaseStatus {
  if (!result.passed) return 'failed';
  return result.byProperties?.length ? 'passed by properties' : 'passed';
}

export function listCases(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(dir, e.name, 'model.onnx')))
    .map((e) => e.name)
    .sort();
}

export interface CaseOptions {
  /** Graph optimization level the session runs with. */
  optimization?: OptimizationLevel;
  /** Execution providers in order of preference (default: the reference backend alone). */
  backends?: readonly string[];
}

export async function runCase(dir: string, name: string, options: CaseOptions = {}): Promise<CaseResult> {
  const start = performance.now();
  let operators: OperatorUse[] | undefined;
  try {
    const tolerance = TOLERANCE_OVERRIDES.get(name) ?? DEFAULT_TOLERANCE;
    // The model as written: the session's own graph is optimized, with Heddle's fused operators.
    const graph = importModel(loadModelProto(path.join(dir, name, 'model.onnx'))).graph;
    operators = operatorsOf(graph);
    const { mismatch, byProperties } = await checkCase(path.join(dir, name), graph, tolerance, options);
    return {
      name,
      passed: mismatch === undefined,
      reason: mismatch,
      ...(byProperties.length > 0 && { byProperties }),
      operators,
      millis: performance.now() - start,
    };
  } catch (error) {
    const reason =
      error instanceof Error
        ? `${error.name === 'HeddleError' ? '' : `${error.name}: `}${error.message}`
        : String(error);
    return { name, passed: false, reason, operators, millis: performance.now() - start };
  }
}

/** Each distinct operator of the graph and its subgraphs, in order of first use. */
function operatorsOf(graph: Graph): OperatorUse[] {
  const found = new Map<string, OperatorUse>();
  for (const { node } of allNodes(graph)) {
    const key = `${node.domain}:${node.opType}:${node.opset}`;
    if (!found.has(key)) found.set(key, { domain: node.domain, opType: node.opType, opset: node.opset });
  }
  return [...found.values()];
}

interface CaseOutcome {
  /** The first mismatch, or undefined when every output matched. */
  mismatch: string | undefined;
  /** The outputs checked by properties, with what was checked. */
  byProperties: string[];
}

/** Runs every data set of one case, stopping at the first mismatch. */
async function checkCase(
  caseDir: string,
  graph: Graph,
  tolerance: Tolerance,
  options: CaseOptions,
): Promise<CaseOutcome> {
  const session = await InferenceSession.create(path.join(caseDir, 'model.onnx'), {
    graphOptimizationLevel: options.optimization,
    executionProviders: options.backends && [...options.backends],
    // Cases already run one per core (pool.ts): a backend's own threads would only compete.
    intraOpNumThreads: 1,
    // Results must not depend on what a tuning measurement happened to pick, nor cost its time.
    tuning: false,
  });
  try {
    return await checkDataSets(caseDir, graph, session, tolerance);
  } finally {
    // A backend's heap outlives the session in this worker: what the session holds goes back to it.
    await session.release();
  }
}

async function checkDataSets(
  caseDir: string,
  graph: Graph,
  session: InferenceSession,
  tolerance: Tolerance,
): Promise<CaseOutcome> {
  const dataSets = fs
    .readdirSync(caseDir)
    .filter((d) => d.startsWith('test_data_set_'))
    .sort();
  const byProperties = new Set<string>();
  const outcome = (mismatch?: string): CaseOutcome => ({ mismatch, byProperties: [...byProperties] });
  if (dataSets.length === 0) return outcome('the case has no test_data_set folder');
  for (const set of dataSets) {
    const setDir = path.join(caseDir, set);
    const feedInfos = [...graph.inputs, ...graph.overridableInitializers];
    const feeds: Record<string, OnnxValue> = {};
    readIndexed(setDir, 'input').forEach((file, i) => {
      const info = feedInfos[i];
      if (!info) throw new HeddleError(`${set} has more inputs than the model declares`);
      feeds[info.name] = readValue(file, info.type);
    });
    const expected = readIndexed(setDir, 'output').map((file, i) => readValue(file, graph.outputs[i]?.type));
    const actual = await session.run(feeds);
    const checks = propertyChecks(graph, feeds, tolerance);
    for (let i = 0; i < expected.length; i++) {
      const name = session.outputNames[i]!;
      const byProperty = checks.get(name);
      if (byProperty) byProperties.add(`output '${name}': ${byProperty.description}`);
      const mismatch = byProperty
        ? byProperty.check(actual[name] ?? null, expected[i]!, actual)
        : compareValues(actual[name] ?? null, expected[i]!, tolerance);
      const output = byProperty ? `output '${name}' (random, checked by properties)` : `output '${name}'`;
      if (mismatch) return outcome(`${set}, ${output}: ${mismatch}`);
    }
  }
  return outcome();
}

function readIndexed(dir: string, prefix: string): string[] {
  const files: string[] = [];
  for (let i = 0; fs.existsSync(path.join(dir, `${prefix}_${i}.pb`)); i++)
    files.push(path.join(dir, `${prefix}_${i}.pb`));
  return files;
}

function readValue(file: string, type: ValueType | undefined): OnnxValue {
  const bytes = fs.readFileSync(file);
  if (type?.kind === 'sequence') return sequenceValue(decodeSequenceProto(bytes));
  if (type?.kind === 'optional') return optionalValue(decodeOptionalProto(bytes));
  return tensorFromProto(decodeTensorProto(bytes));
}

function sequenceValue(proto: SequenceProto): Tensor[] {
  if (proto.elemType !== ContainerElemType.TENSOR && proto.tensorValues.length === 0) return [];
  return proto.tensorValues.map((t) => tensorFromProto(t));
}

function optionalValue(proto: OptionalProto): OnnxValue {
  if (proto.elemType === ContainerElemType.TENSOR && proto.tensorValue)
    return tensorFromProto(proto.tensorValue);
  if (proto.elemType === ContainerElemType.SEQUENCE && proto.sequenceValue)
    return sequenceValue(proto.sequenceValue);
  return null;
}

export function compareValues(
  actual: OnnxValue,
  expected: OnnxValue,
  tolerance: Tolerance,
): string | undefined {
  if (expected === null) return actual === null ? undefined : 'expected an empty optional';
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return 'expected a sequence';
    if (actual.length !== expected.length)
      return `expected a sequence of ${expected.length}, got ${actual.length}`;
    for (let i = 0; i < expected.length; i++) {
      const m = compareTensors(actual[i]!, expected[i]!, tolerance);
      if (m) return `sequence element ${i}: ${m}`;
    }
    return undefined;
  }
  if (!(actual instanceof Tensor))
    return actual === null ? 'got an empty optional, expected a tensor' : 'expected a tensor, got a sequence';
  return compareTensors(actual, expected, tolerance);
}

/** How `actual` differs from `expected` in type or dims; undefined when both agree. */
export function typeOrDimsMismatch(actual: Tensor, expected: Tensor): string | undefined {
  if (actual.type !== expected.type) return `type ${actual.type}, expected ${expected.type}`;
  if (!sameDims(actual.dims, expected.dims)) {
    return `dims [${actual.dims.join(', ')}], expected [${expected.dims.join(', ')}]`;
  }
  return undefined;
}

export function compareTensors(actual: Tensor, expected: Tensor, tolerance: Tolerance): string | undefined {
  const mismatch = typeOrDimsMismatch(actual, expected);
  if (mismatch) return mismatch;
  if (isFloatType(expected.type) || isComplexType(expected.type)) {
    const a = isComplexType(expected.type) ? (actual.data as Float32Array) : toNumbers(actual);
    const e = isComplexType(expected.type) ? (expected.data as Float32Array) : toNumbers(expected);
    for (let i = 0; i < e.length; i++) {
      const x = a[i]!;
      const y = e[i]!;
      if (
        Number.isNaN(y)
          ? !Number.isNaN(x)
          : !(x === y || Math.abs(x - y) <= tolerance.atol + tolerance.rtol * Math.abs(y))
      ) {
        return `element ${i} is ${x}, expected ${y} (rtol ${tolerance.rtol}, atol ${tolerance.atol})`;
      }
    }
    return undefined;
  }
  const a = actual.data as ArrayLike<unknown>;
  const e = expected.data as ArrayLike<unknown>;
  for (let i = 0; i < e.length; i++) {
    if (a[i] !== e[i]) return `element ${i} is ${String(a[i])}, expected ${String(e[i])}`;
  }
  return undefined;
}

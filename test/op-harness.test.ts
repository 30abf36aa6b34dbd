/**
 * The shared op-test harness: every case of test/support/op-cases.ts becomes a one-node model that
 * runs on the reference backend (the oracle) and on each other backend, whose outputs must match.
 * The wasm backend runs at one thread and at two (where loops big enough go to the worker pool),
 * with its operands in the caller's memory (graph inputs and outputs, which the kernels stage
 * through scratch memory of the heap), and once more with them in the heap (made and read by Neg
 * nodes, so the plan places them in its arena): both ways of reaching a kernel's memory are tried.
 * Tuning is off, so kernels run their default variants, but in one more two-thread run, where each
 * runs what its measurement picked, as a user's session does. The test device runs the ai.onnx
 * cases behind a device border. Every session runs twice with new input values (nothing of one
 * run may leak into the next), a run must leave the caller's inputs as they were, and a case the
 * reference backend must fail (an index out of range) must fail on every backend.
 *
 * Which backend ran the node comes from the plan the run used: a case a backend did not claim is
 * recorded as not claimed (with the backend's reason), never as a pass. The last test checks that
 * every operator in the wasm backend's registry was claimed and matched in at least one case, so a
 * newly registered kernel without cases fails here until op-cases.ts covers it.
 */

import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import type { Backend } from '../src/backends/backend.js';
import { fromNumbers, toNumbers } from '../src/backends/reference/util.js';
import { WasmBackend, wasmRegistry } from '../src/backends/wasm/backend.js';
import type { WasmRuntime } from '../src/backends/wasm/runtime.js';
import type { Tolerance } from '../src/conformance/runner.js';
import { isFloatType, type DataType } from '../src/core/dtype.js';
import { seededRandom } from '../src/core/random.js';
import { Tensor } from '../src/core/tensor.js';
import { InferenceSession, type OnnxValue } from '../src/runtime/session.js';
import { buildModel, float32Bytes, type NodeSpec, type TensorSpec } from './support/build-model.js';
import { scratchFolder } from './support/cli-fixture.js';
import {
  DEFAULT_TOLERANCE,
  OP_CASES,
  type Generator,
  type OpCase,
  type Operand,
} from './support/op-cases.js';
import { testDevice } from './support/test-device.js';

/** The node under test is named so in every model, to find its assignment in the plan. */
const CASE_NODE = 'case';

/** Where a variant's operands live: the caller's memory, or the plan's arena (the wasm heap). */
type Placement = 'fed' | 'heap';

interface Variant {
  label: string;
  /** The backend whose claim is checked: the node must run there to count as a pass. */
  backend: string;
  make: () => Backend;
  placement: Placement;
  /** Cases of other domains are skipped (the test device runs ai.onnx operators only). */
  onlyStandard?: boolean;
}

const STANDARD_OPS = [...new Set(OP_CASES.filter((c) => !c.domain).map((c) => c.op))];

/** The wasm backend on `threads` threads, with or without tuning. */
function wasmVariant(label: string, threads: number, placement: Placement, tune = false): Variant {
  return { label, backend: 'wasm', make: () => new WasmBackend({ threads, tune }), placement };
}

const VARIANTS: readonly Variant[] = [
  wasmVariant('wasm×1', 1, 'fed'),
  wasmVariant('wasm×2', 2, 'fed'),
  wasmVariant('wasm×2 in heap', 2, 'heap'),
  wasmVariant('wasm×2 tuned', 2, 'fed', true),
  {
    label: 'test-device',
    backend: 'test-device',
    make: () => testDevice({ ops: STANDARD_OPS, turns: 0 }),
    placement: 'fed',
    onlyStandard: true,
  },
];

type Outcome =
  /** `pooled`: a loop of the node's kernel went to the worker pool (seen where the node is alone). */
  | { status: 'pass'; kernel: string; pooled: boolean }
  | { status: 'not claimed'; reason: string }
  | { status: 'mismatch' | 'error'; detail: string };

// Tuned runs measure the kernels' candidates and keep their choices in a cache folder of their own.
process.env.HEDDLE_CACHE_DIR = scratchFolder('heddle-op-harness-');

/** Outcomes by case name and variant label, for the coverage check at the end. */
const outcomes = new Map<string, Map<string, Outcome>>();

/** Loops the two-thread runtime (which every two-thread wasm backend shares) sent to its pool. */
const poolJobs = countPoolJobs(new WasmBackend({ threads: 2, tune: false }).runtime);

function countPoolJobs(runtime: WasmRuntime): { count: number } {
  const counter = { count: 0 };
  const parallel = runtime.parallel.bind(runtime);
  mock.method(runtime, 'parallel', (...args: Parameters<WasmRuntime['parallel']>) => {
    const result = parallel(...args);
    if (result instanceof Promise) counter.count++;
    return result;
  });
  return counter;
}

// ---------------------------------------------------------------------------------------------
// Values

/** A seeded generator, seeded from the case and operand (by their FNV-1a hash), so runs repeat. */
function random(seedText: string): () => number {
  let seed = 2166136261;
  for (let i = 0; i < seedText.length; i++) seed = Math.imul(seed ^ seedText.charCodeAt(i), 16777619);
  return seededRandom(seed);
}

const SPECIAL_VALUES = [
  0,
  -0,
  1,
  -1,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  1e-40,
  -1e-40,
  3e38,
  -3e38,
  0.5,
  -2.5,
  100,
  -100,
  1e-7,
  88.5,
  -88.5,
];

function generate(generator: Generator, count: number, next: () => number): number[] {
  switch (generator.kind) {
    case 'uniform':
      return Array.from({ length: count }, () => generator.low + (generator.high - generator.low) * next());
    case 'ints':
      return Array.from(
        { length: count },
        () => generator.low + Math.floor((generator.high - generator.low + 1) * next()),
      );
    case 'special':
      return Array.from({ length: count }, (_, i) => SPECIAL_VALUES[i % SPECIAL_VALUES.length]!);
    case 'values':
      return Array.from({ length: count }, (_, i) => generator.values[i % generator.values.length]!);
  }
}

/** Operand `index`'s values for run `run` of the case (constants are made for run 0). */
function operandValues(c: OpCase, index: number, operand: Operand, run: number): number[] {
  const type = operand.type ?? 'float32';
  const fallback: Generator = isFloatType(type)
    ? { kind: 'uniform', low: -1, high: 1 }
    : { kind: 'ints', low: 0, high: 9 };
  const count = operand.dims.reduce((a, b) => a * b, 1);
  return generate(operand.values ?? fallback, count, random(`${c.name}#${index}#${run}`));
}

// ---------------------------------------------------------------------------------------------
// Models

/**
 * Each session runs twice, with new values in its fed operands the second time: a kernel that
 * keeps anything of one run's values (scratch, packed operands) into the next shows there.
 */
const RUNS = 2;

interface CaseModel {
  bytes: Uint8Array;
  /** The feeds of each run. */
  feeds: Record<string, Tensor>[];
}

const inputName = (index: number) => `in${index}`;
const outputName = (index: number) => `out${index}`;

/**
 * The case as a model: constants as initializers, fed operands as graph inputs, outputs as graph
 * outputs. With `heap` placement each fed float32 operand is the negation of a graph input and each
 * float32 output is negated into a graph output, by Neg nodes of their own, so the plan places the
 * node's operands in its arena (the wasm heap); feeds hold the negated values.
 */
function caseModel(c: OpCase, placement: Placement): CaseModel {
  const nodes: NodeSpec[] = [];
  const graphInputs: { name: string; type: DataType; dims: readonly number[] }[] = [];
  const initializers: TensorSpec[] = [];
  const feeds = Array.from({ length: RUNS }, (): Record<string, Tensor> => ({}));
  const nodeInputs = c.inputs.map((operand, i) => {
    if (!operand) return '';
    if ('sameAs' in operand) return inputName(operand.sameAs);
    const name = inputName(i);
    const type = operand.type ?? 'float32';
    const valuesOfRun = (run: number) => operandValues(c, i, operand, run);
    if (operand.constant) {
      initializers.push(initializer(name, type, operand.dims, valuesOfRun(0)));
    } else if (placement === 'heap' && type === 'float32') {
      const negated = `${name}_negated`;
      nodes.push({ op: 'Neg', name: `place_${name}`, inputs: [negated], outputs: [name] });
      graphInputs.push({ name: negated, type, dims: operand.dims });
      feeds.forEach((set, run) => {
        set[negated] = fromNumbers(
          type,
          valuesOfRun(run).map((v) => -v),
          operand.dims,
        );
      });
    } else {
      graphInputs.push({ name, type, dims: operand.dims });
      feeds.forEach((set, run) => (set[name] = fromNumbers(type, valuesOfRun(run), operand.dims)));
    }
    return name;
  });
  const outputTypes = c.outputs ?? ['float32'];
  const outputNegations: NodeSpec[] = [];
  const caseOutputs = outputTypes.map((type, i) => {
    if (placement !== 'heap' || type !== 'float32') return outputName(i);
    const inner = `${outputName(i)}_negated`;
    outputNegations.push({
      op: 'Neg',
      name: `place_${outputName(i)}`,
      inputs: [inner],
      outputs: [outputName(i)],
    });
    return inner;
  });
  nodes.push({
    op: c.op,
    domain: c.domain ?? '',
    name: CASE_NODE,
    inputs: trimOmittedTail(nodeInputs),
    outputs: caseOutputs,
    attributes: c.attributes,
  });
  nodes.push(...outputNegations);
  const opsets: Record<string, number> = c.domain
    ? { '': 17, [c.domain]: c.opset ?? 1 }
    : { '': c.opset ?? 17 };
  const bytes = buildModel({
    opsets,
    nodes,
    inputs: graphInputs,
    outputs: outputTypes.map((type, i) => ({ name: outputName(i), type })),
    initializers,
  });
  return { bytes, feeds };
}

/** Optional inputs left out at the end are dropped, as exporters write them. */
function trimOmittedTail(inputs: string[]): string[] {
  let end = inputs.length;
  while (end > 0 && inputs[end - 1] === '') end--;
  return inputs.slice(0, end);
}

function initializer(name: string, type: DataType, dims: readonly number[], values: number[]): TensorSpec {
  // Raw bytes keep NaN payloads, signed zeros and subnormals exactly as generated.
  if (type === 'float32') return { name, type, dims, raw: float32Bytes(values) };
  return { name, type, dims, values };
}

// ---------------------------------------------------------------------------------------------
// Running and comparing

interface CaseRun {
  /** The outputs of each run, or why a run failed. */
  result: { outputs: Tensor[][] } | { error: string };
  /** The backend the plan gave the node under test, and the kernel it prepared. */
  backend: string;
  kernel: string;
  /** What the first backend given says of the node, with the types of the run's plan. */
  verdict: true | string;
}

/**
 * Runs the model once per feed set on `backends` (reference alone when empty). A run that changes
 * a caller's input fails.
 */
async function runCase(c: OpCase, model: CaseModel, backends: Backend[]): Promise<CaseRun> {
  const session = await InferenceSession.create(model.bytes, {
    executionProviders: backends,
    graphOptimizationLevel: 'disabled',
  });
  try {
    let result: CaseRun['result'];
    try {
      result = { outputs: await runEach(c, model, session) };
    } catch (error) {
      result = { error: messageOf(error) };
    }
    const dims = new Map(Object.entries(model.feeds[0]!).map(([name, t]) => [name, t.dims]));
    const { plan } = session.planFor(dims);
    const step = plan.steps.find((s) => s.kind === 'kernel' && s.node.name === CASE_NODE);
    if (step?.kind !== 'kernel') throw new Error(`${c.name}: the plan has no step for the node`);
    const verdict = backends[0]?.supports(step.node, plan.graph.valueTypes) ?? true;
    return { result, backend: step.backend, kernel: step.kernel.name, verdict };
  } finally {
    await session.release();
  }
}

async function runEach(c: OpCase, model: CaseModel, session: InferenceSession): Promise<Tensor[][]> {
  const outputs: Tensor[][] = [];
  for (const [run, feeds] of model.feeds.entries()) {
    const before = Object.entries(feeds).map(([name, t]) => [name, bytesOf(t).slice()] as const);
    const results = await session.run(feeds);
    for (const [name, bytes] of before) {
      if (!bytesOf(feeds[name]!).every((byte, i) => byte === bytes[i]))
        throw new Error(`run ${run + 1} changed the caller's input '${name}'`);
    }
    outputs.push(session.outputNames.map((name) => asTensor(results[name], `${c.name}: output ${name}`)));
  }
  return outputs;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function bytesOf(tensor: Tensor): Uint8Array {
  const data = tensor.data as Uint8Array;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function asTensor(value: OnnxValue | undefined, what: string): Tensor {
  if (value instanceof Tensor) return value;
  throw new Error(`${what} is not a tensor`);
}

/** Where `actual` differs from `expected` beyond the tolerance, or undefined. NaN matches NaN. */
function difference(actual: Tensor, expected: Tensor, tolerance: Tolerance): string | undefined {
  if (actual.type !== expected.type) return `type ${actual.type}, expected ${expected.type}`;
  if (actual.dims.join() !== expected.dims.join())
    return `dims [${actual.dims.join(', ')}], expected [${expected.dims.join(', ')}]`;
  const got = toNumbers(actual);
  const want = toNumbers(expected);
  const exact = !isFloatType(expected.type);
  let worst: { index: number; excess: number } | undefined;
  for (let i = 0; i < want.length; i++) {
    const a = got[i]!;
    const e = want[i]!;
    if (Object.is(a, e) || a === e || (Number.isNaN(a) && Number.isNaN(e))) continue;
    const allowed = exact ? 0 : tolerance.atol + tolerance.rtol * Math.abs(e);
    const error = Math.abs(a - e);
    if (error <= allowed) continue;
    const excess = Number.isNaN(error) ? Infinity : error / Math.max(allowed, Number.MIN_VALUE);
    if (!worst || excess > worst.excess) worst = { index: i, excess };
  }
  if (!worst) return undefined;
  const at = worst.index;
  return `element ${at} (of ${want.length}) is ${got[at]}, expected ${want[at]} (rtol ${tolerance.rtol}, atol ${tolerance.atol})`;
}

function compareOutputs(actual: Tensor[][], expected: Tensor[][], tolerance: Tolerance): string | undefined {
  for (let run = 0; run < expected.length; run++) {
    for (let i = 0; i < expected[run]!.length; i++) {
      const found = difference(actual[run]![i]!, expected[run]![i]!, tolerance);
      if (found) return `run ${run + 1}, output ${i}: ${found}`;
    }
  }
  return undefined;
}

/**
 * How the variant did against the reference backend's `expected` outputs, or against its failure
 * when `expected` is undefined (a case the reference backend must refuse to run).
 */
async function runVariant(
  c: OpCase,
  variant: Variant,
  model: CaseModel,
  expected: Tensor[][] | undefined,
): Promise<Outcome> {
  const backend = variant.make();
  const jobsBefore = poolJobs.count;
  let run: CaseRun;
  try {
    run = await runCase(c, model, [backend]);
  } catch (error) {
    return { status: 'error', detail: messageOf(error) };
  }
  const ranOn = run.backend === variant.backend ? run.kernel : `on ${run.backend}`;
  const { result } = run;
  if ('error' in result) {
    // A kernel that refuses what reference refuses has done its job; any other failure is a bug.
    if (expected) return { status: 'error', detail: `${ranOn}: ${result.error}` };
  } else {
    const mismatch = expected
      ? compareOutputs(result.outputs, expected, c.tolerance ?? DEFAULT_TOLERANCE)
      : `gave outputs where the reference backend fails (${c.fails})`;
    // A node the backend left to reference must still give reference's answer.
    if (mismatch) return { status: 'mismatch', detail: `${ranOn}: ${mismatch}` };
  }
  if (run.backend !== variant.backend) {
    const reason = run.verdict === true ? `supported, but the partitioner chose ${run.backend}` : run.verdict;
    return { status: 'not claimed', reason };
  }
  const pooled = variant.placement === 'fed' && poolJobs.count > jobsBefore;
  return { status: 'pass', kernel: run.kernel, pooled };
}

/** The reference backend's outputs for the case, or undefined for a case it must fail. */
async function referenceOutputs(c: OpCase, model: CaseModel): Promise<Tensor[][] | undefined> {
  const { result } = await runCase(c, model, []);
  if (c.fails) {
    assert.ok('error' in result, `the reference backend runs '${c.name}', which must fail: ${c.fails}`);
    return undefined;
  }
  if ('error' in result) assert.fail(`the reference backend fails '${c.name}': ${result.error}`);
  return result.outputs;
}

function describe(outcome: Outcome): string {
  switch (outcome.status) {
    case 'pass':
      return `pass (${outcome.kernel}${outcome.pooled ? ', on the pool' : ''})`;
    case 'not claimed':
      return `not claimed: ${outcome.reason}`;
    default:
      return `${outcome.status.toUpperCase()}: ${outcome.detail}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Tests

test('op harness: case names are unique', () => {
  const names = OP_CASES.map((c) => c.name);
  assert.deepEqual(
    names.filter((name, i) => names.indexOf(name) !== i),
    [],
  );
});

for (const c of OP_CASES) {
  test(`op harness: ${c.name}`, async (t) => {
    // Each placement's model, and the reference backend's outputs for it (they differ by the Negs).
    const models = new Map<Placement, { model: CaseModel; expected: Tensor[][] | undefined }>();
    const results = new Map<string, Outcome>();
    outcomes.set(c.name, results);
    for (const variant of VARIANTS) {
      if (variant.onlyStandard && c.domain) continue;
      let placed = models.get(variant.placement);
      if (!placed) {
        const model = caseModel(c, variant.placement);
        placed = { model, expected: await referenceOutputs(c, model) };
        models.set(variant.placement, placed);
      }
      const outcome = await runVariant(c, variant, placed.model, placed.expected);
      results.set(variant.label, outcome);
      t.diagnostic(`${variant.label}: ${describe(outcome)}`);
    }
    const failures = [...results].filter(([, o]) => o.status === 'mismatch' || o.status === 'error');
    assert.deepEqual(
      failures.map(([label, o]) => `${label}: ${describe(o)}`),
      [],
      `${c.name} differs from the reference backend`,
    );
  });
}

test('op harness: every operator the wasm backend registers is claimed and checked', (t) => {
  const claimedOps = new Map<string, number>();
  const pooledOps = new Set<string>();
  const key = (domain: string | undefined, op: string) => (domain ? `${domain}::${op}` : op);
  const wasmLabels = VARIANTS.filter((v) => v.backend === 'wasm').map((v) => v.label);
  for (const c of OP_CASES) {
    const results = wasmLabels.map((label) => outcomes.get(c.name)?.get(label));
    if (results.every((o) => o?.status === 'pass')) {
      claimedOps.set(key(c.domain, c.op), (claimedOps.get(key(c.domain, c.op)) ?? 0) + 1);
    }
    if (results.some((o) => o?.status === 'pass' && o.pooled)) pooledOps.add(key(c.domain, c.op));
  }
  const registered = [...new Set(wasmRegistry.operators().map((o) => key(o.domain, o.op)))].sort();
  const withCases = new Set(OP_CASES.map((c) => key(c.domain, c.op)));
  const caseless = registered.filter((op) => !withCases.has(op));
  const neverClaimed = registered.filter((op) => withCases.has(op) && !claimedOps.has(op));
  const unclaimed = [...withCases].filter((op) => !claimedOps.has(op)).sort();
  t.diagnostic(`wasm registers ${registered.length} operators: ${registered.join(', ') || 'none'}`);
  t.diagnostic(
    `claimed and matching in every wasm run: ${[...claimedOps].map(([op, n]) => `${op} (${n} cases)`).join(', ') || 'none'}`,
  );
  t.diagnostic(`operators with cases that wasm leaves to reference: ${unclaimed.join(', ') || 'none'}`);
  const inline = [...claimedOps.keys()].filter((op) => !pooledOps.has(op));
  t.diagnostic(`claimed operators whose loops never went to the worker pool: ${inline.join(', ') || 'none'}`);
  assert.deepEqual(caseless, [], 'registered wasm operators without a case in test/support/op-cases.ts');
  assert.deepEqual(neverClaimed, [], 'registered wasm operators that no case saw claimed and matching');
});

/**
 * The tracer wired into sessions: off by default (every site consults `NO_TRACE` and records
 * nothing), the same outputs traced or not, a run's own tracer, the spans each phase and step
 * records, the garbage collections of a traced run, subgraph steps nested in their node's step,
 * and counters whose values follow from the memory plan and the plan's steps.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InferenceSession, Tensor } from '../../src/index.js';
import { opLabel } from '../../src/ir/graph.js';
import {
  ARENA_BYTES_COUNTER,
  NO_TRACE,
  RecordingTracer,
  STEPS_IN_FLIGHT_COUNTER,
  type Span,
  type Tracer,
} from '../../src/telemetry/trace.js';
import { buildModel, graphAttr } from '../support/build-model.js';
import { makeGarbage } from '../support/garbage.js';
import { diamond, testDevice } from '../support/test-device.js';
import { tinyCnn, tinyCnnFeeds } from '../support/tracer.js';

const imageDims = new Map([['image', [1, 3, 32, 32]]]);

test('tracing is off by default: the sites consult NO_TRACE and nothing is recorded', async (t) => {
  let consulted = 0;
  let recorded = 0;
  const original = { ...NO_TRACE };
  Object.defineProperty(NO_TRACE, 'enabled', {
    configurable: true,
    get: () => {
      consulted++;
      return false;
    },
  });
  Object.assign(NO_TRACE, { span: () => recorded++, counter: () => recorded++, track: () => recorded++ });
  t.after(() => {
    Object.defineProperty(NO_TRACE, 'enabled', {
      configurable: true,
      enumerable: true,
      writable: true,
      value: false,
    });
    Object.assign(NO_TRACE, { span: original.span, counter: original.counter, track: original.track });
  });
  const session = await InferenceSession.create(tinyCnn);
  await session.run(tinyCnnFeeds());
  assert.ok(consulted > 0, 'the untraced session asked NO_TRACE whether to record');
  assert.equal(recorded, 0);
  assert.equal(session.trace(), undefined);
});

test('a traced session gives the outputs and plan an untraced one gives', async () => {
  const feeds = tinyCnnFeeds();
  const plain = await InferenceSession.create(tinyCnn);
  const traced = await InferenceSession.create(tinyCnn, { trace: true });
  const expected = (await plain.run(feeds)).logits as Tensor;
  for (let run = 0; run < 2; run++) {
    const actual = (await traced.run(feeds)).logits as Tensor;
    assert.deepEqual(actual.dims, expected.dims);
    assert.deepEqual(actual.data, expected.data);
  }
  const backends = (s: InferenceSession) => s.planFor(imageDims).plan.assignments.map((a) => a.backend.name);
  assert.deepEqual(backends(traced), backends(plain));
  assert.ok(traced.trace()!.spans.length > 0);
});

test('each phase and step is a span with its details', async () => {
  const session = await InferenceSession.create(tinyCnn, { trace: true });
  await session.run(tinyCnnFeeds());
  await session.run(tinyCnnFeeds());
  const { spans } = session.trace()!;
  const count = (category: Span['category']) => spans.filter((s) => s.category === category).length;
  const { plan } = session.planFor(imageDims);
  const kernels = plan.steps.filter((s) => s.kind === 'kernel');
  assert.equal(count('load'), 1);
  assert.equal(count('run'), 2);
  assert.equal(count('optimize'), 2, 'once at create, once for the first run’s input shapes');
  assert.equal(count('plan'), 2, 'the second run reuses the specialised plan');
  const createdKernels = session.plan.steps.filter((s) => s.kind === 'kernel').length;
  assert.equal(count('prepare'), createdKernels + kernels.length, 'one per kernel of each plan');
  assert.equal(count('step'), 2 * kernels.length);
  assert.ok(spans.every((s) => s.end >= s.start));

  const firstConv = spans.find((s) => s.category === 'step' && s.name === opLabel(kernels[0]!.node))!;
  assert.deepEqual(firstConv.args, {
    node: kernels[0]!.node.name,
    op: opLabel(kernels[0]!.node),
    backend: kernels[0]!.backend,
    kernel: kernels[0]!.kernel.name,
    threads: plan.assignments.find((a) => a.node === kernels[0]!.node)!.backend.threads ?? 1,
    inputs: kernels[0]!.node.inputs.map((name) => describe(session, name)),
    outputs: kernels[0]!.node.outputs.map((name) => describe(session, name)),
  });
  const plans = spans.filter((s) => s.category === 'plan');
  assert.equal(plans[1]!.args!.signature, 'image:float32[1, 3, 32, 32]');
});

function describe(session: InferenceSession, name: string): string {
  const type = session.planFor(imageDims).plan.graph.valueTypes.get(name);
  return type?.kind === 'tensor' ? `${type.elemType}[${type.shape!.join(', ')}]` : 'unknown';
}

test("a run's own tracer records that run, and the session's tracer does not", async () => {
  const session = await InferenceSession.create(tinyCnn);
  const first = new RecordingTracer();
  const second = new RecordingTracer();
  await session.run(tinyCnnFeeds(), { trace: first });
  await session.run(tinyCnnFeeds(), { trace: second });
  // A garbage collection may fall in either run: its span is not what this test is about.
  const categories = (tracer: RecordingTracer) =>
    new Set(
      tracer
        .snapshot()
        .spans.filter((s) => s.category !== 'gc')
        .map((s) => s.category),
    );
  assert.deepEqual(categories(first), new Set(['run', 'optimize', 'plan', 'prepare', 'step']));
  assert.deepEqual(categories(second), new Set(['run', 'step']), 'the plan for these shapes is cached');
  assert.equal(session.trace(), undefined);
});

/** A caller's tracer that keeps its spans, calling `onSpan` after each; counters and tracks ignored. */
function spanCollector(onSpan: (span: Span) => void = () => {}): { spans: Span[]; tracer: Tracer } {
  const spans: Span[] = [];
  const span = (s: Span) => {
    spans.push(s);
    onSpan(s);
  };
  return { spans, tracer: { enabled: true, span, counter: () => {}, track: () => {} } };
}

test('a traced run records the garbage collections that paused it, by the time it resolves', async () => {
  let garbageMade = false;
  // Garbage made while the run is in flight (as its first step is recorded) sets off scavenges.
  const { spans, tracer } = spanCollector((s) => {
    if (s.category === 'step' && !garbageMade) {
      garbageMade = true;
      makeGarbage();
    }
  });
  const session = await InferenceSession.create(tinyCnn);
  await session.run(tinyCnnFeeds(), { trace: tracer });
  const run = spans.find((s) => s.category === 'run')!;
  const collections = spans.filter((s) => s.category === 'gc');
  assert.ok(
    collections.some((c) => c.name === 'scavenge'),
    `scavenges among ${collections.map((c) => c.name)}`,
  );
  for (const c of collections) {
    assert.equal(c.track, 'main');
    assert.ok(c.start < c.end || c.start === c.end);
    assert.ok(c.end > run.start && c.start < run.end + 1, `${c.name} ${c.start}–${c.end} meets the run`);
  }
  const count = spans.length;
  await session.run(tinyCnnFeeds());
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(spans.length, count, 'an untraced run records nothing into the tracer');
});

test('collections that begin after the run ends are not its own, though it waits for their entries', async () => {
  // The run's span is recorded as the run ends, before it lets the event loop turn for the
  // collections' entries: garbage made then sets off scavenges that did not pause the run.
  const { spans, tracer } = spanCollector((s) => {
    if (s.category === 'run') makeGarbage();
  });
  const session = await InferenceSession.create(tinyCnn);
  await session.run(tinyCnnFeeds(), { trace: tracer });
  const run = spans.find((s) => s.category === 'run')!;
  const late = spans.filter((s) => s.category === 'gc' && s.start >= run.end);
  assert.deepEqual(late, [], 'no collection that began after the run is recorded');
});

test("a session records into a tracer of the caller's", async () => {
  const { spans, tracer } = spanCollector();
  const session = await InferenceSession.create(tinyCnn, { trace: tracer });
  await session.run(tinyCnnFeeds());
  assert.ok(spans.some((s) => s.category === 'load') && spans.some((s) => s.category === 'step'));
  assert.equal(session.trace(), undefined, 'the session keeps no trace of its own');
  await assert.rejects(
    InferenceSession.create(tinyCnn, { trace: 'yes' as unknown as boolean }),
    /session option trace must be true, false or a Tracer/,
  );
});

test('the arena counter peaks at the memory plan’s peak and ends at zero', async () => {
  const session = await InferenceSession.create(tinyCnn, { trace: true });
  await session.run(tinyCnnFeeds());
  const { counters } = session.trace()!;
  const arena = counters.filter((c) => c.name === ARENA_BYTES_COUNTER).map((c) => c.value);
  const { memory } = session.planFor(imageDims);
  const peak = memory!.liveAtPeak.reduce((sum, value) => sum + value.bytes, 0);
  assert.ok(peak > 0);
  assert.equal(Math.max(...arena), peak);
  assert.equal(arena.at(-1), 0);
  const inFlight = counters.filter((c) => c.name === STEPS_IN_FLIGHT_COUNTER).map((c) => c.value);
  assert.deepEqual(new Set(inFlight), new Set([0, 1]), 'host steps run one at a time');
  assert.equal(inFlight.length, 2 * session.planFor(imageDims).plan.steps.length);
});

test('steps in flight count the asynchronous steps running at once', async () => {
  const session = await InferenceSession.create(diamond, {
    executionProviders: [testDevice(), 'reference'],
    graphOptimizationLevel: 'disabled',
    trace: true,
  });
  await session.run({ x: new Tensor('float32', [0.1, -0.2, 0.3, 0.4, 0.5, -0.6], [2, 3]) });
  const trace = session.trace()!;
  const inFlight = trace.counters.filter((c) => c.name === STEPS_IN_FLIGHT_COUNTER).map((c) => c.value);
  assert.equal(Math.max(...inFlight), 2);
  assert.equal(inFlight.at(-1), 0);
  assert.ok(trace.tracks.some((t) => t.name === 'test-device' && t.kind === 'device'));
});

test("a subgraph's steps are spans nested in their node's step", async () => {
  const branch = (op: string, output: string) =>
    graphAttr({
      nodes: [{ op, name: `${op.toLowerCase()} branch`, inputs: ['x'], outputs: [output] }],
      inputs: [],
      outputs: [{ name: output, type: 'float32', dims: [3] }],
    });
  const model = buildModel({
    nodes: [
      {
        op: 'If',
        name: 'choose',
        inputs: ['c'],
        outputs: ['y'],
        attributes: { then_branch: branch('Relu', 'a'), else_branch: branch('Neg', 'b') },
      },
    ],
    inputs: [
      { name: 'c', type: 'bool', dims: [] },
      { name: 'x', type: 'float32', dims: [3] },
    ],
    outputs: [{ name: 'y', type: 'float32', dims: [3] }],
  });
  const session = await InferenceSession.create(model, { trace: true });
  await session.run({ c: new Tensor('bool', [1], []), x: new Tensor('float32', [-1, 0, 2], [3]) });
  const steps = session.trace()!.spans.filter((s) => s.category === 'step');
  const outer = steps.find((s) => s.name === 'If')!;
  const inner = steps.find((s) => s.name === 'Relu')!;
  assert.equal(inner.args!.node, 'relu branch');
  assert.ok(inner.start >= outer.start && inner.end <= outer.end, 'the branch runs inside the If');
  assert.ok(!steps.some((s) => s.name === 'Neg'), 'the branch not taken does not run');
});

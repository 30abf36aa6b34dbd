/**
 * `InferenceSession`, shaped like onnxruntime's so a program written for onnxruntime-node runs
 * on Heddle by changing its import: `create(pathOrBytes, options)`, `run(feeds, fetches?)`,
 * `inputNames`, `outputNames`, `inputMetadata`, `outputMetadata`, `release()`.
 *
 * A session traces when asked (`trace` option): spans for load, optimize, plan (with a prepare
 * span per kernel) and each run with its steps and the garbage collections that paused it, into a
 * tracer of the caller's or one the session keeps and `trace()` returns.
 */

import type { Backend } from '../backends/backend.js';
import { HeddleError, type ErrorSite } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import { EmptyOptional, type RuntimeValue } from '../core/values.js';
import { cloneGraph } from '../ir/clone.js';
import {
  allNodes,
  describeType,
  subgraphsOf,
  type Graph,
  type Model,
  type ValueInfo,
  type ValueType,
} from '../ir/graph.js';
import { inferShapes } from '../ir/inference/index.js';
import { planMemory } from '../plan/memory.js';
import { importModel } from '../ir/import.js';
import { loadModelProto } from '../onnx/load.js';
import type { Plan } from '../plan/plan.js';
import {
  ALL_PASSES,
  optimizeGraph,
  type OptimizationLevel,
  type OptimizationReport,
} from '../passes/index.js';
import {
  MAIN_TRACK,
  RecordingTracer,
  now,
  type SpanCategory,
  type Trace,
  type Tracer,
} from '../telemetry/trace.js';
import type { PlanInstance } from '../plan/instance.js';
import type { Profile } from '../profile/index.js';
import { Executor, type AllocationStats } from './executor.js';
import { Logger } from './log.js';
import { TracedCollections } from './run-recorder.js';
import { backendsFor, checkOptions, runControl, tracerOf } from './options.js';
import {
  checkFeed,
  fromOnnxValue,
  isFetches,
  metadataOf,
  toOnnxValue,
  type FeedsType,
  type FetchesType,
  type ReturnType,
  type ValueMetadata,
} from './feeds.js';

export type { FeedsType, FetchesType, OnnxValue, ReturnType, ValueMetadata } from './feeds.js';

export type { OptimizationLevel as GraphOptimizationLevel } from '../passes/index.js';

export interface SessionOptions {
  /**
   * Backends in order of preference (default `['wasm', 'reference']`): 'wasm' (and 'cpu', as in
   * onnxruntime-web) selects the generated WebAssembly kernels, 'reference' the plain TypeScript
   * oracle, which always comes last to run what the others do not claim; a `Backend` object
   * (Heddle's own interface) plugs in a backend of the caller's.
   */
  executionProviders?: readonly (string | { name: string } | Backend)[];
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  /** Graph passes to run before planning, as onnxruntime's levels (default 'all'). */
  graphOptimizationLevel?: OptimizationLevel;
  /** 0 verbose, 1 info, 2 warning (default), 3 error, 4 fatal. */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  logId?: string;
  /**
   * Tracing (default off): `true` records into a tracer the session keeps, read with
   * `session.trace()`; a `Tracer` records into that tracer.
   */
  trace?: boolean | Tracer;
  /**
   * Profiles every run (onnxruntime's name): `session.endProfiling()` then returns the Profile of
   * the runs so far, with the loading and planning phases.
   */
  enableProfiling?: boolean;
  /**
   * Per-shape tuning of the wasm backend's kernels (default true): the first time a shape is seen
   * on this machine, its kernel variants are timed and the fastest is cached on disk; `false` takes
   * each kernel's default variant, measuring nothing, for runs that must be reproducible.
   */
  tuning?: boolean;
}

export interface RunOptions {
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  tag?: string;
  /** Stops the run between two steps, with an error; the session stays usable. */
  signal?: AbortSignal;
  /** Stops the run between two steps once it has taken this long, with an error. */
  timeoutMs?: number;
  /** Records this run into this tracer instead of the session's. */
  trace?: Tracer;
  /** Profiles this run: `session.endProfiling()` returns the Profile of the profiled runs. */
  profile?: boolean;
}

export class InferenceSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly ValueMetadata[];
  readonly outputMetadata: readonly ValueMetadata[];
  private released = false;
  /** Plans specialised to one input-shape signature, most recently used last. */
  private readonly instances = new Map<string, PlanInstance>();
  /** Where profiled runs record, and the plan the latest of them ran. */
  private profiling: { tracer: RecordingTracer; instance?: PlanInstance } | undefined;
  private readonly collections = new TracedCollections();

  private constructor(
    readonly model: Model,
    private readonly source: Graph,
    private readonly executor: Executor,
    /** The plan for the declared shapes: proof at create time that every node has a kernel. */
    readonly plan: Plan,
    /** What the graph passes did before planning. */
    readonly optimization: OptimizationReport,
    private readonly level: OptimizationLevel,
    private readonly tracer: Tracer,
    private readonly profileEveryRun: boolean,
  ) {
    if (profileEveryRun) this.profiling = { tracer: tracer as RecordingTracer };
    const graph = model.graph;
    this.inputNames = graph.inputs.map((i) => i.name);
    this.outputNames = graph.outputs.map((o) => o.name);
    this.inputMetadata = graph.inputs.map(metadataOf);
    this.outputMetadata = graph.outputs.map(metadataOf);
  }

  static async create(model: string | Uint8Array, options?: SessionOptions): Promise<InferenceSession>;
  static async create(
    buffer: ArrayBufferLike,
    byteOffset?: number,
    byteLength?: number,
    options?: SessionOptions,
  ): Promise<InferenceSession>;
  static async create(
    model: string | Uint8Array | ArrayBufferLike,
    optionsOrOffset?: SessionOptions | number,
    byteLength?: number,
    options?: SessionOptions,
  ): Promise<InferenceSession> {
    let session: InferenceSession;
    if (typeof model === 'string' || model instanceof Uint8Array) {
      session = InferenceSession.createSync(model, (optionsOrOffset as SessionOptions | undefined) ?? {});
    } else {
      const offset = typeof optionsOrOffset === 'number' ? optionsOrOffset : 0;
      const bytes = new Uint8Array(model, offset, byteLength ?? model.byteLength - offset);
      session = InferenceSession.createSync(
        bytes,
        (typeof optionsOrOffset === 'object' ? optionsOrOffset : options) ?? {},
      );
    }
    await session.executor.initialize();
    return session;
  }

  /** Loads, imports, optimizes and plans the model; every node gets a kernel now, so unknown ops fail here. */
  static createSync(
    model: string | Uint8Array | ArrayBuffer,
    options: SessionOptions = {},
  ): InferenceSession {
    checkOptions(options);
    const tracer = options.enableProfiling ? new RecordingTracer() : tracerOf(options.trace);
    const loadStart = tracer.enabled ? now() : 0;
    const loaded = loadModelProto(model);
    const imported = importModel(loaded);
    if (tracer.enabled) recordPhase(tracer, 'load', loadStart, { model: loaded.source });
    const level = options.graphOptimizationLevel ?? 'all';
    const optimizeStart = tracer.enabled ? now() : 0;
    // Specialised plans start from the graph as imported: inference then sees only ONNX operators.
    const source = cloneGraph(imported.graph);
    const logger = new Logger(options.logSeverityLevel ?? 2, options.logId ?? loaded.source);
    const inference = inferShapes(imported);
    for (const finding of inference.findings) {
      const where = finding.node ? ` at node '${finding.node}' (${finding.opType})` : '';
      logger.log(2, `shape inference${where}: ${finding.message}`);
    }
    const optimization = optimizeGraph(imported.graph, level, ALL_PASSES);
    if (tracer.enabled) recordPhase(tracer, 'optimize', optimizeStart, { level });
    const planStart = tracer.enabled ? now() : 0;
    const site: ErrorSite = { model: loaded.source };
    const executor = new Executor(backendsFor(options, site), site);
    const plan = executor.plan(imported.graph, false, tracer);
    planSubgraphs(imported.graph, executor, tracer);
    if (tracer.enabled) recordPhase(tracer, 'plan', planStart, { steps: plan.steps.length });
    logCreation(logger, optimization, plan);
    return new InferenceSession(
      imported,
      source,
      executor,
      plan,
      optimization,
      level,
      tracer,
      options.enableProfiling === true,
    );
  }

  async run(feeds: FeedsType, fetches?: FetchesType, options?: RunOptions): Promise<ReturnType>;
  async run(feeds: FeedsType, options?: RunOptions): Promise<ReturnType>;
  async run(
    feeds: FeedsType,
    fetchesOrOptions?: FetchesType | RunOptions,
    maybeOptions?: RunOptions,
  ): Promise<ReturnType> {
    if (this.released) throw new HeddleError('the session was released', this.site());
    const fetches = isFetches(fetchesOrOptions, this.outputNames) ? fetchesOrOptions : undefined;
    const options = (fetches ? maybeOptions : (fetchesOrOptions as RunOptions | undefined)) ?? {};
    const profiled = options.profile === true || this.profileEveryRun;
    if (profiled) this.profiling ??= { tracer: new RecordingTracer() };
    const tracer = options.trace ?? (profiled ? this.profiling!.tracer : this.tracer);
    const runStart = tracer.enabled ? now() : 0;
    const collectionsRecorded = tracer.enabled ? this.collections.begin(tracer, runStart) : undefined;
    let instance: PlanInstance | undefined;
    let failed = false;
    try {
      const wanted = this.outputsWanted(fetches);
      const values = this.bindFeeds(feeds);
      instance = this.instanceFor(values, tracer);
      if (profiled) this.profiling!.instance = instance;
      const outputBuffers = this.outputBuffers(fetches, instance);
      const outputs = await this.executor.run(instance, values, runControl(options, tracer), outputBuffers);
      const result: ReturnType = {};
      this.outputNames.forEach((name, i) => {
        if (wanted.has(name)) result[name] = toOnnxValue(outputs[i]!);
      });
      return result;
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      const runEnd = tracer.enabled ? now() : 0;
      // A run whose feeds were refused never started: no span.
      if (tracer.enabled && instance) {
        const args = {
          steps: instance.plan.steps.length,
          ...(failed && { outcome: 'failed' }),
          ...(options.tag && { tag: options.tag }),
        };
        recordPhase(tracer, 'run', runStart, args, runEnd);
      }
      await collectionsRecorded?.(runEnd);
    }
  }

  /**
   * The Profile of the runs profiled since the session was created or profiling last ended
   * (`run(feeds, { profile: true })`, or every run with `enableProfiling`): per-operator times,
   * FLOPs and bytes placed against the machine's measured peaks when `heddle probe` has cached
   * them, the critical path, idle gaps and the memory high-water mark. Profiling then starts
   * afresh.
   */
  async endProfiling(): Promise<Profile> {
    const profiling = this.profiling;
    if (!profiling?.instance) {
      throw new HeddleError(
        'no run was profiled: pass { profile: true } to run, or enableProfiling to create',
        this.site(),
      );
    }
    this.profiling = this.profileEveryRun ? { tracer: new RecordingTracer() } : undefined;
    const { instance } = profiling;
    const inputShapes: Record<string, number[]> = {};
    for (const input of instance.plan.graph.inputs) {
      const type = instance.plan.graph.valueTypes.get(input.name);
      if (type?.kind === 'tensor' && type.shape)
        inputShapes[input.name] = type.shape.map((d) => (typeof d === 'number' ? d : -1));
    }
    // Loaded when first asked for: a session that never profiles does not carry them.
    const [{ buildProfile }, { loadProbe }] = await Promise.all([
      import('../profile/index.js'),
      import('../probe/index.js'),
    ]);
    return buildProfile({
      trace: profiling.tracer.snapshot(),
      instance,
      model: this.model.source,
      inputShapes,
      probe: await loadProbe({ measure: false }),
    });
  }

  /** What the session's own tracer recorded (with `trace: true`); undefined when it keeps none. */
  trace(): Trace | undefined {
    return this.tracer instanceof RecordingTracer ? this.tracer.snapshot() : undefined;
  }

  /** Tensor memory allocated by runs so far (see `AllocationStats`). */
  get allocations(): Readonly<AllocationStats> {
    return { ...this.executor.stats, byOperator: { ...this.executor.stats.byOperator } };
  }

  /** The plan and memory plan runs with these input dims use (specialised and cached on first use). */
  planFor(inputDims: ReadonlyMap<string, readonly number[]>): PlanInstance {
    const types = new Map<string, ValueType>();
    for (const info of this.model.graph.inputs) {
      const declared = info.type;
      const dims = inputDims.get(info.name);
      if (declared?.kind === 'tensor' && dims) types.set(info.name, { ...declared, shape: [...dims] });
    }
    return this.specialise(types, this.tracer);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    for (const instance of this.instances.values()) this.executor.releaseArenas(instance);
    this.instances.clear();
    this.executor.dispose();
  }

  private site(): ErrorSite {
    return { model: this.model.source };
  }

  /**
   * The plan for these feeds' shapes. A new signature gets its own copy of the graph with the
   * feeds' shapes as input types: inference then knows every static shape, the passes fold the
   * shape computations that became constant, and the memory plan places every value.
   */
  private instanceFor(feeds: ReadonlyMap<string, RuntimeValue>, tracer: Tracer): PlanInstance {
    const types = new Map<string, ValueType>();
    for (const [name, value] of feeds) {
      if (value instanceof Tensor)
        types.set(name, { kind: 'tensor', elemType: value.type, shape: [...value.dims] });
    }
    return this.specialise(types, tracer);
  }

  private specialise(inputTypes: ReadonlyMap<string, ValueType>, tracer: Tracer): PlanInstance {
    const signature = [...inputTypes].map(([name, t]) => `${name}:${describeType(t)}`).join(';');
    const cached = this.instances.get(signature);
    if (cached) {
      this.instances.delete(signature);
      this.instances.set(signature, cached);
      return cached;
    }
    const optimizeStart = tracer.enabled ? now() : 0;
    const graph = cloneGraph(this.source);
    inferShapes({ ...this.model, graph }, { inputs: inputTypes });
    const optimization = optimizeGraph(graph, this.level, ALL_PASSES);
    if (tracer.enabled) recordPhase(tracer, 'optimize', optimizeStart, { level: this.level, signature });
    const planStart = tracer.enabled ? now() : 0;
    const plan = this.executor.plan(graph, false, tracer);
    const memory = planMemory(plan, graph.valueTypes);
    if (tracer.enabled) recordPhase(tracer, 'plan', planStart, { steps: plan.steps.length, signature });
    const instance: PlanInstance = { plan, memory, optimization, freeArenas: [] };
    this.instances.set(signature, instance);
    if (this.instances.size > MAX_CACHED_PLANS) {
      const [oldest, evicted] = this.instances.entries().next().value!;
      this.instances.delete(oldest);
      this.executor.releaseArenas(evicted);
    }
    return instance;
  }

  private outputsWanted(fetches: FetchesType | undefined): Set<string> {
    const names =
      fetches === undefined
        ? [...this.outputNames]
        : Array.isArray(fetches)
          ? [...fetches]
          : Object.keys(fetches);
    for (const name of names) {
      if (!this.outputNames.includes(name)) {
        throw new HeddleError(
          `'${name}' is not an output of the model (outputs: ${this.outputNames.join(', ')})`,
          this.site(),
        );
      }
    }
    return new Set(names);
  }

  /** Output tensors the caller passed in a fetches object, by the plan's output slots. */
  private outputBuffers(fetches: FetchesType | undefined, instance: PlanInstance): Map<number, Tensor> {
    const buffers = new Map<number, Tensor>();
    if (!fetches || Array.isArray(fetches)) return buffers;
    for (const [name, value] of Object.entries(fetches)) {
      if (value instanceof Tensor) buffers.set(instance.plan.outputs[this.outputNames.indexOf(name)]!, value);
    }
    return buffers;
  }

  private bindFeeds(feeds: FeedsType): Map<string, RuntimeValue> {
    const graph = this.model.graph;
    const known = new Map<string, ValueInfo>(
      [...graph.inputs, ...graph.overridableInitializers].map((v) => [v.name, v]),
    );
    for (const name of Object.keys(feeds)) {
      if (!known.has(name)) {
        throw new HeddleError(
          `'${name}' is not an input of the model (inputs: ${this.inputNames.join(', ')})`,
          {
            ...this.site(),
            input: name,
          },
        );
      }
    }
    const values = new Map<string, RuntimeValue>();
    const symbols = new Map<string, { size: number; input: string }>();
    for (const info of known.values()) {
      const feed = feeds[info.name];
      if (feed === undefined) {
        if (graph.initializers.has(info.name)) continue;
        if (info.type?.kind === 'optional') {
          values.set(info.name, new EmptyOptional());
          continue;
        }
        throw new HeddleError('this input is required but was not fed', { ...this.site(), input: info.name });
      }
      const value = fromOnnxValue(feed, info.type);
      checkFeed(value, info, symbols, { ...this.site(), input: info.name });
      values.set(info.name, value);
    }
    return values;
  }
}

/** Info: what creating the session did; verbose: every rewrite and every backend choice. */
function logCreation(logger: Logger, optimization: OptimizationReport, plan: Plan): void {
  if (!logger.enabled(1)) return;
  const backends = [...new Set(plan.assignments.map((a) => a.backend.name))].join(', ');
  logger.log(
    1,
    `${optimization.nodesBefore} nodes, ${optimization.nodesAfter} after optimization '${optimization.level}' ` +
      `(${optimization.rewrites.length} rewrites); ${plan.steps.length} steps on ${backends}`,
  );
  for (const rewrite of optimization.rewrites) logger.log(0, `[${rewrite.pass}] ${rewrite.description}`);
  for (const a of plan.assignments) logger.log(0, `node '${a.node.name}' on ${a.backend.name}: ${a.cause}`);
}

/** Input-shape signatures whose plans a session keeps. */
const MAX_CACHED_PLANS = 8;

/** Records a phase of the session (load, optimize, plan, run) on the main thread, from `start` to `end`. */
function recordPhase(
  tracer: Tracer,
  category: SpanCategory,
  start: number,
  args: Record<string, string | number>,
  end = now(),
): void {
  tracer.span({ name: category, category, track: MAIN_TRACK, start, end, args });
}

/** Plans every subgraph now, so an unsupported operator inside If/Loop/Scan fails at create. */
function planSubgraphs(graph: Graph, executor: Executor, tracer: Tracer): void {
  for (const { node } of allNodes(graph)) {
    for (const g of subgraphsOf(node)) executor.plan(g, true, tracer);
  }
}

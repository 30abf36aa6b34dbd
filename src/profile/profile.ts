/**
 * The Profile: what `heddle profile` prints and `--json` writes, and what `--diff` compares. It
 * is plain JSON (numbers, strings, arrays), versioned by `format` and `version`: a reader checks
 * both and refuses what it does not know. Times are microseconds, sizes bytes, rates GFLOP/s
 * (10⁹ FLOPs per second) and GB/s (10⁹ bytes per second).
 *
 * A profile is built from traced runs of one plan instance (one input-shape signature). The first
 * run may include specialising the plan and warming caches, so everything per operator comes from
 * the later runs, the steady state (from the first run alone when it is the only one).
 */

export const PROFILE_FORMAT = 'heddle-profile';
export const PROFILE_VERSION = 1;

export type GroupBy = 'node' | 'op' | 'op+shape';

export interface Profile {
  format: typeof PROFILE_FORMAT;
  version: typeof PROFILE_VERSION;
  /** The model as the session names it (its file name). */
  model: string;
  inputShapes: Record<string, number[]>;
  /** Backends that ran at least one step. */
  backends: string[];
  groupBy: GroupBy;
  phases: PhaseSummary;
  runs: RunSummary;
  /**
   * The measured ceilings at the most threads a step's kernel could use (the roofs the report
   * draws); absent when no probe results were given.
   */
  peaks?: Peaks;
  /**
   * The ceilings at the fewer threads other rows are placed against (the reference backend's
   * steps on one thread beside the wasm backend's on its pool), fewest first; absent when every
   * row is placed against `peaks`.
   */
  peaksAtFewerThreads?: Peaks[];
  /** Rows sorted by total self time, largest first. */
  operators: OperatorRow[];
  tracks: TrackUsage[];
  /** The largest idle intervals of the representative run, longest first. */
  gaps: IdleGap[];
  criticalPath: CriticalPath;
  memory: MemoryProfile;
}

/**
 * Session phases. Load, optimize, plan, prepare and compile are the totals of their spans over
 * the whole trace (creating the session and specialising the plan at the first run); the plan
 * total includes the prepare spans nested in it when a tracer nests them.
 */
export interface PhaseSummary {
  loadUs: number;
  optimizeUs: number;
  planUs: number;
  prepareUs: number;
  compileUs: number;
  firstRunUs: number;
  /** Median of the runs after the first; the first run's own time when it is the only one. */
  steadyMedianUs: number;
}

export interface RunSummary {
  /** Every traced run's duration, in order. */
  durationsUs: number[];
  /** Indices (into durationsUs) of the runs the per-operator figures come from. */
  steady: number[];
  /** The steady run of median duration: gaps, utilisation and the memory curve's times come from it. */
  representative: number;
  /**
   * The per-operator self times of each steady run summed, against that run's duration: how
   * much of the run the table accounts for (1 = all of it).
   */
  coverage: { stepSelfUs: number; runUs: number; ratio: number };
  /**
   * The JavaScript engine's garbage collections on the calling thread, per traced run (from the
   * trace's 'gc' spans: Node's reports; none elsewhere). Their pauses are not any step's self
   * time, even inside a step. `major`: mark-compacts and incremental-marking steps.
   */
  collections: { pauseUs: number; major: number; minor: number }[];
  /** Spread of the steady runs' durations: the interquartile range. */
  spreadUs: number;
}

/**
 * Ceilings measured on this machine by `heddle probe`, for one thread count: the probe measures
 * one thread and all of them, and credits a count in between with the one-thread figures times
 * the threads, never more than all of them reach.
 */
export interface Peaks {
  /** Where the figures come from: the probe's cache file and when it measured. */
  source: string;
  /** The threads the figures are for, at most those the probe measured together. */
  threads: number;
  /** The fastest SIMD path's peak. */
  gflops: number;
  /** e.g. "relaxed-madd, 1 thread". */
  computeLabel: string;
  /** Every SIMD path's peak at this thread count, fastest first (the roofline draws a roof for each). */
  computePaths: { path: string; gflops: number }[];
  /**
   * Copy bandwidth (bytes read plus bytes written) per memory level, smallest level first, with
   * the level's capacity (null for DRAM). A memory-bound operator is compared with the level
   * the bytes of one of its calls fit in.
   */
  memory: { level: string; capacityBytes: number | null; gbPerSecond: number }[];
  /** FLOPs per byte where the compute roof meets the DRAM bandwidth roof: the probe's ridge point. */
  ridge: number;
}

export interface OperatorRow {
  /** The group's key: node name, op label, or op label and input shapes. */
  key: string;
  op: string;
  /** The node's name when grouped by node. */
  node?: string;
  backends: string[];
  /** Distinct input-shape lists of the group's calls, e.g. "[1,64,56,56] [64,64,3,3]". */
  inputShapes: string[];
  /** Calls per run. */
  calls: number;
  /** Self time per run, the mean over the steady runs. */
  totalUs: number;
  meanUs: number;
  /** totalUs over the mean steady run duration. */
  share: number;
  /** Per run; absent when the cost model cannot count a call (shapes unknown, or a subgraph's work). */
  flops?: number;
  bytes?: number;
  gflops?: number;
  gbPerSecond?: number;
  /** FLOPs per byte moved. */
  intensity?: number;
  /**
   * The thread count of the peaks the row is placed against (`peaks` or one of
   * `peaksAtFewerThreads`): the most threads its calls' kernels could use (the `threads` of their
   * step spans; one for copies and for spans that do not say), or all that the probe measured
   * when steps ran side by side on workers, and never more than that. Absent without peaks or
   * without a cost, and in profiles written before rows had their own (whose rows are placed
   * against `peaks`).
   */
  threads?: number;
  /** Against the ridge point of the row's peaks; absent without peaks or without a cost. */
  bound?: 'compute' | 'memory';
  /** The memory level the bytes of one call fit in (see `Peaks.memory`). */
  memoryLevel?: string;
  /** Achieved GFLOP/s (compute-bound) or GB/s (memory-bound, at memoryLevel) over that peak, in percent. */
  percentOfPeak?: number;
  /** Self time of the group in each steady run (what `--diff` compares). */
  samplesUs: number[];
}

export interface TrackUsage {
  track: string;
  kind: 'main' | 'worker' | 'device';
  /** Time in steps, copies and compilation, over the representative run's duration. */
  utilisation: number;
  busyUs: number;
  /** Worker state totals from the tracer's state spans (running, spinning, parked, waiting...). */
  states: Record<string, number>;
}

export type GapCause = 'dependency' | 'main thread' | 'copy' | 'compilation' | 'garbage collection';

export interface IdleGap {
  track: string;
  /** From the representative run's start. */
  startUs: number;
  durationUs: number;
  cause: GapCause;
  /**
   * What was waited for: the producing node or copied value, the compiled kernel, the kind of
   * collection, or what the main thread did.
   */
  detail: string;
}

export interface CriticalPath {
  /** The longest chain of dependent steps with the steady runs' median step durations. */
  lengthUs: number;
  /** All steps' durations summed: the run time of one thread doing everything. */
  workUs: number;
  /** workUs / lengthUs: how many threads the graph could keep busy on average. */
  parallelism: number;
  /** The path, first step first. */
  steps: CriticalStep[];
  /** Every step's slack, least first. */
  slack: StepSlack[];
}

export interface CriticalStep {
  node: string;
  op: string;
  durationUs: number;
  /** How much shorter the critical path gets when this step runs twice as fast. */
  savingIfTwiceAsFastUs: number;
}

export interface StepSlack {
  node: string;
  op: string;
  durationUs: number;
  /** Earliest start with unlimited threads. */
  earliestStartUs: number;
  /** How long the step could be delayed without lengthening the critical path. */
  slackUs: number;
}

export interface MemoryProfile {
  /** Always resident: the model's constants and the fed inputs. */
  constantBytes: number;
  inputBytes: number;
  /** Arena sizes summed over devices. */
  arenaBytes: number;
  /**
   * The most bytes of values live at once: arena values (each place counted once) plus values
   * with memory of their own (graph outputs, device values); constants and inputs excluded.
   */
  highWater: {
    bytes: number;
    /**
     * The step (plan order) at which it is reached, its node, and when it started in the
     * representative run (null when the step left no span).
     */
    step: number;
    node: string;
    timeUs: number | null;
    live: LiveValue[];
  };
  /** Bytes of values live at each step, with the step's start in the representative run. */
  curve: { step: number; timeUs: number | null; bytes: number }[];
  /** Values whose size the plan does not know (data-dependent shapes, sequences): not in the figures. */
  unsizedValues: number;
}

export interface LiveValue {
  /** Value names; values sharing one place (views, in-place outputs) are joined with " = ". */
  name: string;
  bytes: number;
  kind: 'arena' | 'graph output' | 'dynamic';
}

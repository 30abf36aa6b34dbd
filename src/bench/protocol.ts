/**
 * Messages between `heddle bench` and the runner process of each system it measures. Inputs travel
 * as raw typed arrays (the channel uses structured-clone serialization), so every system runs on the
 * very same bytes.
 */

export interface FeedData {
  name: string;
  /** ONNX element type name as Heddle and onnxruntime spell it ('float32', 'int64', ...). */
  type: string;
  dims: number[];
  data: ArrayBufferView | string[];
}

export interface LoadRequest {
  kind: 'load';
  model: string;
  threads: number;
  /** Heddle's backends in order of preference; peers ignore it. */
  backends: string[];
  /** Heddle's per-shape kernel tuning (session option `tuning`); peers ignore it. */
  tuning: boolean;
  feeds: FeedData[];
}

/** Back-to-back runs until both `minCount` runs and `minMs` milliseconds are done. */
export interface RunRequest {
  kind: 'run';
  minCount: number;
  minMs: number;
}

/**
 * Queries arriving at `arrivalsMs` (from the batch's start), queued and run one at a time; the
 * batch lasts at least `spanMs`, idle or not, so that its wall time measures the offered span.
 */
export interface ServeRequest {
  kind: 'serve';
  arrivalsMs: number[];
  spanMs: number;
}

export type RunnerRequest = LoadRequest | RunRequest | ServeRequest;

export interface BatchResult {
  /** Per query; for `serve`, from its arrival to its completion, queueing included. */
  latenciesMs: number[];
  /** Wall time of the whole batch. */
  elapsedMs: number;
  /** The runner process's peak resident memory so far, in kilobytes. */
  peakRssKb: number;
  /** The JavaScript engine's garbage collections during the batch. */
  gc: GcActivity;
}

/**
 * What the garbage collector did during a batch, from the process's 'gc' performance entries. A
 * mark-compact (with the incremental marking steps before it) pauses the calling thread for
 * milliseconds, and its concurrent marking competes with the inference's threads for the cores;
 * scavenges are short.
 */
export interface GcActivity {
  markCompacts: number;
  scavenges: number;
  /** Main-thread pause time of all collections, in milliseconds. */
  pauseMs: number;
  /** Runs (queries) that a mark-compact's pause or an incremental-marking step overlapped. */
  runsWithMajorGc: number;
}

export type RunnerReply =
  | { kind: 'loaded'; createMs: number }
  | ({ kind: 'batch' } & BatchResult)
  | { kind: 'failed'; reason: string };

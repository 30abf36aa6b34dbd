/**
 * Heddle's public API, shaped like onnxruntime-common's: change the import of a program written
 * for onnxruntime-node and it runs on Heddle.
 */

export { Tensor } from './core/tensor.js';
export type { DataType, TensorData } from './core/dtype.js';
export { HeddleError, type ErrorSite } from './core/errors.js';
export {
  InferenceSession,
  type SessionOptions,
  type RunOptions,
  type FeedsType,
  type FetchesType,
  type ReturnType,
  type OnnxValue,
  type ValueMetadata,
  type GraphOptimizationLevel,
} from './runtime/session.js';
export {
  NO_TRACE,
  RecordingTracer,
  type Trace,
  type Tracer,
  type Span,
  type CounterSample,
  type TrackInfo,
} from './telemetry/trace.js';
export { traceToChromeJson } from './telemetry/chrome-trace.js';
export { traceToPerfetto } from './telemetry/perfetto.js';

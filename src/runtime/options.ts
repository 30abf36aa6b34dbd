/**
 * Session and run options: checked before anything is loaded, and turned into what the session
 * uses (its backends, its tracer, a run's cancellation control).
 */

import type { Backend } from '../backends/backend.js';
import { ReferenceBackend } from '../backends/reference/backend.js';
import { WasmBackend } from '../backends/wasm/backend.js';
import { HeddleError, type ErrorSite } from '../core/errors.js';
import { NO_TRACE, RecordingTracer, type Tracer } from '../telemetry/trace.js';
import type { RunControl } from './executor.js';
import type { RunOptions, SessionOptions } from './session.js';

/**
 * The backends a session uses when it names none: the generated WebAssembly kernels, with the
 * reference backend for every node they do not claim (all of them on a host without SIMD128).
 */
export const DEFAULT_EXECUTION_PROVIDERS: readonly string[] = ['wasm', 'reference'];

const makeWasm = (options: SessionOptions): Backend =>
  new WasmBackend({ threads: options.intraOpNumThreads || undefined, tune: options.tuning });

/** Execution providers by name ('cpu' as onnxruntime-web means it): the backend each makes. */
const BACKEND_FACTORIES: Record<string, { backend: string; make: (options: SessionOptions) => Backend }> = {
  reference: { backend: 'reference', make: () => new ReferenceBackend() },
  wasm: { backend: 'wasm', make: makeWasm },
  cpu: { backend: 'wasm', make: makeWasm },
};

export function runControl(options: RunOptions, tracer: Tracer): RunControl {
  const { signal, timeoutMs } = options;
  if (timeoutMs !== undefined && !(timeoutMs > 0)) {
    throw new HeddleError(`run option timeoutMs must be a positive number of milliseconds, got ${timeoutMs}`);
  }
  if (signal?.aborted)
    throw new HeddleError('the run was cancelled before it started', {}, { cause: signal.reason });
  return {
    signal,
    timeoutMs,
    deadline: timeoutMs === undefined ? undefined : performance.now() + timeoutMs,
    tracer,
  };
}

export function tracerOf(option: SessionOptions['trace']): Tracer {
  if (option === true) return new RecordingTracer();
  return option || NO_TRACE;
}

export function checkOptions(options: SessionOptions): void {
  const count = (name: string, value: number | undefined) => {
    if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
      throw new HeddleError(`session option ${name} must be a non-negative integer, got ${value}`);
    }
  };
  count('intraOpNumThreads', options.intraOpNumThreads);
  count('interOpNumThreads', options.interOpNumThreads);
  const level = options.graphOptimizationLevel;
  if (level !== undefined && !['disabled', 'basic', 'extended', 'all'].includes(level)) {
    throw new HeddleError(
      `session option graphOptimizationLevel must be disabled, basic, extended or all, got '${level}'`,
    );
  }
  const severity = options.logSeverityLevel;
  if (severity !== undefined && ![0, 1, 2, 3, 4].includes(severity)) {
    throw new HeddleError(`session option logSeverityLevel must be 0 to 4, got ${severity}`);
  }
  const trace = options.trace;
  if (trace !== undefined && typeof trace !== 'boolean' && !isTracer(trace)) {
    throw new HeddleError(
      'session option trace must be true, false or a Tracer (enabled, span, counter, track)',
    );
  }
}

export function isTracer(value: unknown): value is Tracer {
  const candidate = value as Partial<Tracer> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.enabled === 'boolean' &&
    ['span', 'counter', 'track'].every(
      (method) => typeof (candidate as Record<string, unknown>)[method] === 'function',
    )
  );
}

export function backendsFor(options: SessionOptions, site: ErrorSite): Backend[] {
  const backends: Backend[] = [];
  for (const provider of options.executionProviders ?? DEFAULT_EXECUTION_PROVIDERS) {
    if (isBackend(provider)) {
      backends.push(provider);
      continue;
    }
    const name = typeof provider === 'string' ? provider : provider.name;
    const factory = BACKEND_FACTORIES[name];
    if (!factory) {
      throw new HeddleError(
        `unknown execution provider '${name}' (available: ${Object.keys(BACKEND_FACTORIES).join(', ')})`,
        site,
      );
    }
    if (!backends.some((b) => b.name === factory.backend)) backends.push(factory.make(options));
  }
  if (!backends.some((b) => b.name === 'reference')) backends.push(new ReferenceBackend());
  return backends;
}

export function isBackend(value: unknown): value is Backend {
  const candidate = value as Partial<Backend>;
  return typeof candidate.supports === 'function' && typeof candidate.prepare === 'function';
}

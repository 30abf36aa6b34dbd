/**
 * The loop every runner process runs: load the system's session when asked, then answer run and
 * serve requests with measured latencies and the garbage collections that happened meanwhile. A
 * system plugs in only how to load a model and make one run, so all systems are timed by the same
 * code.
 */

import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import type {
  BatchResult,
  GcActivity,
  LoadRequest,
  RunRequest,
  RunnerReply,
  RunnerRequest,
  ServeRequest,
} from './protocol.js';

/** Loads the model for one system; resolves to a function that makes one run on the given feeds. */
export type SystemLoader = (request: LoadRequest) => Promise<() => Promise<unknown>>;

export function serveRunner(load: SystemLoader): void {
  let runOnce: (() => Promise<unknown>) | undefined;
  const reply = (message: RunnerReply) => process.send!(message);
  process.on('message', (request: RunnerRequest) => {
    handle(request).then(reply, (error: unknown) =>
      reply({ kind: 'failed', reason: error instanceof Error ? error.message : String(error) }),
    );
  });

  async function handle(request: RunnerRequest): Promise<RunnerReply> {
    if (request.kind === 'load') {
      const start = performance.now();
      runOnce = await load(request);
      return { kind: 'loaded', createMs: performance.now() - start };
    }
    if (!runOnce) throw new Error(`'${request.kind}' came before the model was loaded`);
    const result = request.kind === 'run' ? await runBatch(runOnce, request) : await serve(runOnce, request);
    return { kind: 'batch', ...result };
  }
}

/** [start, end] of each run of a batch, on performance.now()'s clock. */
type RunSpans = [number, number][];

async function runBatch(runOnce: () => Promise<unknown>, request: RunRequest): Promise<BatchResult> {
  const spans: RunSpans = [];
  const gc = watchCollections();
  const start = performance.now();
  while (spans.length < request.minCount || performance.now() - start < request.minMs) {
    const runStart = performance.now();
    await runOnce();
    spans.push([runStart, performance.now()]);
  }
  const elapsedMs = performance.now() - start;
  const latenciesMs = spans.map(([runStart, runEnd]) => runEnd - runStart);
  return { latenciesMs, elapsedMs, peakRssKb: process.resourceUsage().maxRSS, gc: await gc.stop(spans) };
}

/** One server at a time: a query waits for its arrival and for the query before it to finish. */
async function serve(runOnce: () => Promise<unknown>, request: ServeRequest): Promise<BatchResult> {
  const latenciesMs: number[] = [];
  const spans: RunSpans = [];
  const gc = watchCollections();
  const start = performance.now();
  for (const arrival of request.arrivalsMs) {
    const idleMs = start + arrival - performance.now();
    if (idleMs > 0) await sleep(idleMs);
    const runStart = performance.now();
    await runOnce();
    const runEnd = performance.now();
    latenciesMs.push(runEnd - start - arrival);
    spans.push([runStart, runEnd]);
  }
  const spanLeftMs = start + request.spanMs - performance.now();
  if (spanLeftMs > 0) await sleep(spanLeftMs);
  const elapsedMs = performance.now() - start;
  return { latenciesMs, elapsedMs, peakRssKb: process.resourceUsage().maxRSS, gc: await gc.stop(spans) };
}

/**
 * Collects the process's garbage collections from now until `stop`, which sums them up. Node
 * queues a collection's entry for the event loop, and a batch of runs may never yield to it, so
 * `stop` lets the loop turn before it takes the entries.
 */
function watchCollections(): { stop(spans: RunSpans): Promise<GcActivity> } {
  const entries: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => entries.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  return {
    async stop(spans) {
      await new Promise((resolve) => setImmediate(resolve));
      entries.push(...observer.takeRecords());
      observer.disconnect();
      return summarizeCollections(entries, spans);
    },
  };
}

/** Node's 'gc' entries carry the collection's kind in `detail`. */
function gcKind(entry: PerformanceEntry): number | undefined {
  return ((entry as PerformanceEntry & { detail?: { kind?: number } }).detail ?? {}).kind;
}

export function summarizeCollections(entries: readonly PerformanceEntry[], spans: RunSpans): GcActivity {
  const ofKind = (kind: number) => entries.filter((e) => gcKind(e) === kind);
  const markCompacts = ofKind(constants.NODE_PERFORMANCE_GC_MAJOR);
  const major = [...markCompacts, ...ofKind(constants.NODE_PERFORMANCE_GC_INCREMENTAL)];
  const overlaps = (e: PerformanceEntry, [start, end]: [number, number]) =>
    e.startTime < end && e.startTime + e.duration > start;
  return {
    markCompacts: markCompacts.length,
    scavenges: ofKind(constants.NODE_PERFORMANCE_GC_MINOR).length,
    pauseMs: entries.reduce((sum, e) => sum + e.duration, 0),
    runsWithMajorGc: spans.filter((span) => major.some((e) => overlaps(e, span))).length,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

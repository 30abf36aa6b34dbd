/**
 * The loop every runner process runs: load the system's session when asked, then answer run and
 * serve requests with measured latencies and the garbage collections that happened meanwhile. A
 * system plugs in only how to load a model and make one run, so all systems are timed by the same
 * code.
 */

import { isMajor, watchCollections, type Collection } from '../host/collections.js';
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
  const gc = collectionsDuring();
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
  const gc = collectionsDuring();
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

/** The process's garbage collections from now until `stop`, which sums them up. */
function collectionsDuring(): { stop(spans: RunSpans): Promise<GcActivity> } {
  const collections: Collection[] = [];
  const watch = watchCollections((collection) => collections.push(collection));
  return {
    async stop(spans) {
      await watch.settle();
      watch.stop();
      return summarizeCollections(collections, spans);
    },
  };
}

/** A batch's collections counted by kind, their pauses summed, and the runs a major one overlapped. */
export function summarizeCollections(collections: readonly Collection[], spans: RunSpans): GcActivity {
  const major = collections.filter((c) => isMajor(c.kind));
  const overlaps = (c: Collection, [start, end]: [number, number]) =>
    c.start < end && c.start + c.duration > start;
  return {
    markCompacts: collections.filter((c) => c.kind === 'mark-compact').length,
    scavenges: collections.filter((c) => c.kind === 'scavenge').length,
    pauseMs: collections.reduce((sum, c) => sum + c.duration, 0),
    runsWithMajorGc: spans.filter((span) => major.some((c) => overlaps(c, span))).length,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The loop every runner process runs: load the system's session when asked, then answer run and
 * serve requests with measured latencies. A system plugs in only how to load a model and make one
 * run, so all systems are timed by the same code.
 */

import type {
  BatchResult,
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

async function runBatch(runOnce: () => Promise<unknown>, request: RunRequest): Promise<BatchResult> {
  const latenciesMs: number[] = [];
  const start = performance.now();
  while (latenciesMs.length < request.minCount || performance.now() - start < request.minMs) {
    const runStart = performance.now();
    await runOnce();
    latenciesMs.push(performance.now() - runStart);
  }
  return { latenciesMs, elapsedMs: performance.now() - start, peakRssKb: process.resourceUsage().maxRSS };
}

/** One server at a time: a query waits for its arrival and for the query before it to finish. */
async function serve(runOnce: () => Promise<unknown>, request: ServeRequest): Promise<BatchResult> {
  const latenciesMs: number[] = [];
  const start = performance.now();
  for (const arrival of request.arrivalsMs) {
    const idleMs = start + arrival - performance.now();
    if (idleMs > 0) await sleep(idleMs);
    await runOnce();
    latenciesMs.push(performance.now() - start - arrival);
  }
  const spanLeftMs = start + request.spanMs - performance.now();
  if (spanLeftMs > 0) await sleep(spanLeftMs);
  return { latenciesMs, elapsedMs: performance.now() - start, peakRssKb: process.resourceUsage().maxRSS };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

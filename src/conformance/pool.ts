/**
 * Runs conformance cases on worker threads, so that a case that crashes its thread or never
 * finishes is reported as a failure instead of taking the whole run down.
 */

import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { CaseOptions, CaseResult } from './runner.js';

export interface PoolOptions {
  caseOptions?: CaseOptions;
  workers?: number;
  /** A case still running after this long is stopped and failed. */
  caseTimeoutMs?: number;
}

export async function runCasesIsolated(
  dir: string,
  names: readonly string[],
  onResult: (result: CaseResult) => void,
  options: PoolOptions = {},
): Promise<void> {
  const workerCount = Math.max(1, Math.min(options.workers ?? os.availableParallelism(), names.length));
  const timeoutMs = options.caseTimeoutMs ?? 120_000;
  let next = 0;
  const results = new Map<string, CaseResult>();
  const lane = async () => {
    let worker = spawn();
    while (next < names.length) {
      const name = names[next++]!;
      const result = await runOne(worker, { dir, name, options: options.caseOptions ?? {} }, timeoutMs);
      if (result.restart) {
        await worker.terminate();
        worker = spawn();
      }
      results.set(name, result.result);
      onResult(result.result);
    }
    await worker.terminate();
  };
  await Promise.all(Array.from({ length: workerCount }, lane));
}

function spawn(): Worker {
  return new Worker(new URL('./worker.js', import.meta.url));
}

function runOne(
  worker: Worker,
  job: { dir: string; name: string; options: CaseOptions },
  timeoutMs: number,
): Promise<{ result: CaseResult; restart: boolean }> {
  const { name } = job;
  const start = performance.now();
  return new Promise((resolve) => {
    const finish = (result: CaseResult, restart: boolean) => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      resolve({ result, restart });
    };
    const failed = (reason: string) => ({ name, passed: false, reason, millis: performance.now() - start });
    const onMessage = (result: CaseResult) => finish(result, false);
    const onError = (error: Error) => finish(failed(`the case crashed its worker: ${error.message}`), true);
    const onExit = (code: number) => finish(failed(`the case's worker exited with code ${code}`), true);
    const timer = setTimeout(
      () => finish(failed(`the case did not finish within ${timeoutMs / 1000} s`), true),
      timeoutMs,
    );
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    worker.postMessage(job);
  });
}

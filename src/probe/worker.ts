/**
 * A probe worker thread: instantiates the kernel module over the team's memory once, then for
 * each job warms the kernel up, reports that it is armed, blocks until the team's start signal,
 * and runs the kernel once, timing it on the clock all threads share.
 */

import { parentPort, workerData } from 'node:worker_threads';
import { webAssembly, type WasmMemory } from '../core/webassembly.js';
import type { TeamJob, TeamSetup, WorkerReport } from './team.js';
import { clockMs } from './timing.js';

const { bytes, memory, control } = workerData as TeamSetup & { memory: WasmMemory };
const instance = new webAssembly.Instance(new webAssembly.Module(bytes), { env: { memory } });
const startSignal = new Int32Array(control);
const port = parentPort!;

port.on('message', (job: TeamJob) => {
  const kernel = instance.exports[job.kernel] as (...args: number[]) => unknown;
  for (let i = 0; i < job.warmupCalls; i++) kernel(...job.warmupArgs);
  port.postMessage({ kind: 'armed' } satisfies WorkerReport);
  Atomics.wait(startSignal, 0, job.generation - 1);
  const start = clockMs();
  kernel(...job.args);
  const end = clockMs();
  port.postMessage({ kind: 'done', start, end } satisfies WorkerReport);
});
port.postMessage({ kind: 'ready' } satisfies WorkerReport);

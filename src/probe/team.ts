/**
 * A team of worker threads that run one kernel at the same moment, for the all-thread ceilings.
 * Each worker compiles the same module and instantiates it over the same memory; a trial sends
 * every worker its job, waits until all are armed (warmed up and blocked on the start signal),
 * then releases them together with one `Atomics.notify`, so no thread starts while another is
 * still compiling or warming up. The trial's aggregate rate is the total work over the time from
 * the first start to the last end.
 */

import { Worker } from 'node:worker_threads';
import type { WasmMemory } from '../core/webassembly.js';

export interface TeamSetup {
  bytes: Uint8Array;
  /** The start signal: one Int32 that the main thread bumps to release a trial. */
  control: SharedArrayBuffer;
}

export interface TeamJob {
  kernel: string;
  args: number[];
  warmupArgs: number[];
  warmupCalls: number;
  generation: number;
}

export type WorkerReport =
  { kind: 'ready' } | { kind: 'armed' } | { kind: 'done'; start: number; end: number };

export interface TrialTiming {
  start: number;
  end: number;
}

export interface TrialResult {
  /** Each worker's kernel call, on the clock all threads share (ms). */
  timings: TrialTiming[];
  /**
   * The share of the CPU time the workers could have had from release to the last end that the
   * process used (about 1 when they had their cores to themselves; the main thread only waits).
   */
  cpuShare: number;
}

export class WorkerTeam {
  private generation = 0;
  private readonly startSignal: Int32Array;

  private constructor(
    private readonly workers: Worker[],
    control: SharedArrayBuffer,
  ) {
    this.startSignal = new Int32Array(control);
  }

  static async start(size: number, bytes: Uint8Array, memory: WasmMemory): Promise<WorkerTeam> {
    const control = new SharedArrayBuffer(4);
    const workers = Array.from(
      { length: size },
      () => new Worker(new URL('./worker.js', import.meta.url), { workerData: { bytes, memory, control } }),
    );
    const team = new WorkerTeam(workers, control);
    try {
      await Promise.all(workers.map((worker) => nextReport(worker, 'ready')));
    } catch (error) {
      await team.close();
      throw error;
    }
    return team;
  }

  get size(): number {
    return this.workers.length;
  }

  /** Runs `jobs[i]` on worker i, all released at once. */
  async trial(jobs: Omit<TeamJob, 'generation'>[]): Promise<TrialResult> {
    const generation = ++this.generation;
    Atomics.store(this.startSignal, 0, generation - 1);
    const armed = this.workers.map((worker) => nextReport(worker, 'armed'));
    this.workers.forEach((worker, i) => worker.postMessage({ ...jobs[i], generation } satisfies TeamJob));
    await Promise.all(armed);
    const done = this.workers.map((worker) => nextReport(worker, 'done'));
    const cpuBefore = process.cpuUsage();
    const released = performance.now();
    Atomics.store(this.startSignal, 0, generation);
    Atomics.notify(this.startSignal, 0);
    const timings = (await Promise.all(done)).map((report) => ({ start: report.start, end: report.end }));
    const cpu = process.cpuUsage(cpuBefore);
    const capacityMicros = (performance.now() - released) * 1000 * this.workers.length;
    return { timings, cpuShare: Math.min(1, (cpu.user + cpu.system) / capacityMicros) };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}

/** The worker's next report, which must be of the expected kind; a worker error rejects. */
function nextReport<K extends WorkerReport['kind']>(
  worker: Worker,
  kind: K,
): Promise<Extract<WorkerReport, { kind: K }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (report: WorkerReport) => {
      cleanup();
      if (report.kind === kind) resolve(report as Extract<WorkerReport, { kind: K }>);
      else reject(new Error(`probe worker sent '${report.kind}' while '${kind}' was expected`));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`probe worker exited with code ${code} before '${kind}'`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

/**
 * Timing a kernel on the calling thread: a clock shared with worker threads, calibration of the
 * work per call to a target duration (after warming up, so the engine's optimising tier has
 * replaced its baseline code), and the best rate over repetitions, which on a shared machine is
 * the one least disturbed by other processes.
 */

/** Milliseconds on the clock every thread of the process shares. */
export function clockMs(): number {
  return performance.timeOrigin + performance.now();
}

export function timeMs(action: () => unknown): number {
  const start = clockMs();
  action();
  return clockMs() - start;
}

/** The largest count a kernel takes (its count is an i32). */
const MAX_COUNT = 0x7fffffff;
/** Calls at the calibrated count after the first long one, to let the optimised code take over. */
const SETTLING_CALLS = 3;

/**
 * The count (iterations or passes) for which `run(count)` takes about `targetMs`. The count grows
 * until one call takes a tenth of the target; the estimate then comes from the fastest of a few
 * more calls, since the first ones may still run baseline code.
 */
export function calibrate(run: (count: number) => unknown, targetMs: number): number {
  let count = 1;
  while (count < MAX_COUNT && timeMs(() => run(count)) < targetMs / 10)
    count = Math.min(MAX_COUNT, count * 4);
  let fastest = Infinity;
  for (let i = 0; i < SETTLING_CALLS; i++)
    fastest = Math.min(
      fastest,
      timeMs(() => run(count)),
    );
  return Math.max(1, Math.min(MAX_COUNT, Math.round((count * targetMs) / Math.max(fastest, 1e-3))));
}

/** The best of `repetitions` rates, in units of work per second. */
export function bestRate(run: () => unknown, work: number, repetitions: number): number {
  let best = 0;
  for (let i = 0; i < repetitions; i++) best = Math.max(best, work / (timeMs(run) / 1000));
  return best;
}

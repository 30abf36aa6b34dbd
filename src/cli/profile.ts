/**
 * `heddle profile MODEL`: traces N runs on random inputs (from a fixed seed) and prints the
 * profile: phases, the per-operator table, track utilisation and the largest idle gaps, the
 * critical path, and the memory high-water mark; `--json` prints the Profile itself, `--trace`
 * writes the trace for Perfetto UI or chrome://tracing. `heddle profile --diff A.json B.json`
 * compares two saved profiles operator by operator.
 */

import Table from 'cli-table3';
import * as fs from 'node:fs';
import { HeddleError } from '../core/errors.js';
import { seededRandom } from '../core/random.js';
import type { OptimizationLevel } from '../passes/index.js';
import { loadProbe } from '../probe/index.js';
import {
  buildProfile,
  diffProfiles,
  parseProfile,
  type Delta,
  type GroupBy,
  type Profile,
  type ProfileDiff,
} from '../profile/index.js';
import { InferenceSession, type FeedsType } from '../runtime/session.js';
import { traceToChromeJson } from '../telemetry/chrome-trace.js';
import { traceToPerfetto } from '../telemetry/perfetto.js';
import type { Trace } from '../telemetry/trace.js';
import { renderReport } from '../report/index.js';
import { formatBytes } from './format.js';
import { randomFeed } from './random-inputs.js';
import { parseDims, parseThreads } from './run.js';

export interface ProfileCommandOptions {
  runs: string;
  trace?: string;
  report?: string;
  json?: boolean;
  groupBy: GroupBy;
  dim: string[];
  backends: string;
  threads?: string;
  tune: boolean;
  optimization: OptimizationLevel;
  diff?: string[];
}

/** Seed of the random inputs: fixed, so two profiles of one model see the same data. */
const INPUT_SEED = 42;
/** Rows of the operator table printed as text (--json has them all). */
const TABLE_ROWS = 30;
/** Steps of the critical path printed: those whose halving saves the most. */
const PATH_ROWS = 10;
const LIVE_ROWS = 8;

export async function profileCommand(
  model: string | undefined,
  options: ProfileCommandOptions,
): Promise<number> {
  if (options.diff) return diffCommand(model ? [model, ...options.diff] : options.diff, options);
  if (!model) throw new HeddleError('give a model to profile, or --diff A.json B.json');
  const runs = Number(options.runs);
  if (!Number.isInteger(runs) || runs < 1)
    throw new HeddleError(`--runs must be a positive integer, got '${options.runs}'`);
  const session = await InferenceSession.create(model, {
    executionProviders: options.backends.split(','),
    intraOpNumThreads: parseThreads(options.threads),
    tuning: options.tune,
    graphOptimizationLevel: options.optimization,
    trace: true,
  });
  const dims = parseDims(options.dim);
  const random = seededRandom(INPUT_SEED);
  const feeds: FeedsType = {};
  const inputShapes: Record<string, number[]> = {};
  for (const meta of session.inputMetadata) {
    const feed = randomFeed(meta, dims, random);
    feeds[meta.name] = feed;
    inputShapes[meta.name] = [...feed.dims];
  }
  for (let i = 0; i < runs; i++) await session.run(feeds);
  const trace = session.trace()!;
  const instance = session.planFor(new Map(Object.entries(inputShapes)));
  // The probe's cached ceilings only: measuring takes minutes, and is `heddle probe`'s to do.
  const probe = await loadProbe({ measure: false });
  const profile = buildProfile({
    trace,
    instance,
    model: session.model.source,
    inputShapes,
    groupBy: options.groupBy,
    probe,
  });
  if (options.trace) writeTrace(options.trace, trace);
  if (options.report) fs.writeFileSync(options.report, renderReport(profile, trace));
  if (options.json) console.log(JSON.stringify(profile, null, 2));
  else {
    console.log(formatProfile(profile));
    for (const file of [options.trace, options.report]) if (file) console.log(`wrote ${file}`);
  }
  return 0;
}

/** Chrome trace-event JSON, or Perfetto's protobuf for the file names Perfetto gives its traces. */
function writeTrace(file: string, trace: Trace): void {
  const perfetto = /\.(pftrace|perfetto-trace)$/.test(file);
  fs.writeFileSync(file, perfetto ? traceToPerfetto(trace) : traceToChromeJson(trace));
}

function diffCommand(files: string[], options: ProfileCommandOptions): number {
  if (files.length !== 2) throw new HeddleError(`--diff compares two profiles, got ${files.length} files`);
  const [a, b] = files.map((file) => {
    if (!fs.existsSync(file)) throw new HeddleError(`${file} does not exist`);
    return parseProfile(fs.readFileSync(file, 'utf8'), file);
  }) as [Profile, Profile];
  const diff = diffProfiles(a, b);
  console.log(options.json ? JSON.stringify(diff, null, 2) : formatDiff(diff, files as [string, string]));
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Text

/** Colour only on a terminal: piped output stays plain text. */
function table(head: string[]): Table.Table {
  const style = process.stdout.isTTY ? {} : { head: [], border: [] };
  return new Table({ head, style });
}

export function formatProfile(p: Profile): string {
  const shapes = Object.entries(p.inputShapes).map(([name, dims]) => `${name} [${dims.join(', ')}]`);
  const lines = [
    `profile of ${p.model} with ${shapes.join(', ') || 'no inputs'}: ${p.runs.durationsUs.length} runs on ${p.backends.join(', ')}`,
    '',
    formatPhases(p),
    '',
    `operators, by ${p.groupBy} (self time per run, mean of ${p.runs.steady.length} steady runs; ` +
      `they account for ${percent(p.runs.coverage.ratio)} of the run):`,
    formatOperators(p),
    ...formatCollections(p),
    '',
    'tracks:',
    ...p.tracks.map(
      (t) => `  ${t.track} (${t.kind}): ${percent(t.utilisation)} busy${formatStates(t.states)}`,
    ),
    '',
    `largest idle gaps (run ${p.runs.representative + 1}, the median steady run):`,
    formatGaps(p),
    '',
    formatCriticalPath(p),
    '',
    formatMemory(p),
  ];
  return lines.join('\n');
}

/** The calling thread's garbage-collection pauses over the steady runs, when the trace has any. */
function formatCollections({ runs }: Profile): string[] {
  const steady = runs.steady.map((i) => runs.collections[i]!);
  if (!steady.some((c) => c.major + c.minor > 0)) return [];
  const pauseUs = steady.reduce((sum, c) => sum + c.pauseUs, 0) / steady.length;
  const withMajor = steady.filter((c) => c.major > 0).length;
  return [
    `garbage collection paused the calling thread ${time(pauseUs)} a run ` +
      `(${percent(pauseUs / runs.coverage.runUs)} of it; not in the operators' self times); ` +
      `a major collection in ${withMajor} of ${steady.length} runs`,
  ];
}

function formatPhases({ phases, runs }: Profile): string {
  const rows = table([
    'load',
    'optimize',
    'plan',
    'prepare',
    'compile',
    'first run',
    'steady median',
    'spread (IQR)',
  ]);
  rows.push([
    time(phases.loadUs),
    time(phases.optimizeUs),
    time(phases.planUs),
    time(phases.prepareUs),
    time(phases.compileUs),
    time(phases.firstRunUs),
    time(phases.steadyMedianUs),
    time(runs.spreadUs),
  ]);
  return rows.toString();
}

function formatOperators(p: Profile): string {
  const head = [
    p.groupBy === 'node' ? 'node' : 'operator',
    'calls',
    'total',
    'mean',
    'share',
    'input shapes',
    'backend',
  ];
  // Rows placed against the peaks of different thread counts say whose.
  const threadsDiffer = (p.peaksAtFewerThreads ?? []).length > 0;
  const peakHead = threadsDiffer ? '% peak\n(threads)' : '% peak';
  const rows = table([...head, 'FLOPs', 'bytes', 'GFLOP/s', 'GB/s', 'FLOP/B', 'bound', peakHead]);
  for (const row of p.operators.slice(0, TABLE_ROWS)) {
    const key = p.groupBy === 'node' ? `${row.key}\n${row.op}` : p.groupBy === 'op' ? row.key : row.op;
    rows.push([
      key,
      round(row.calls),
      time(row.totalUs),
      time(row.meanUs),
      percent(row.share),
      listed(row.inputShapes),
      row.backends.join(', '),
      row.flops === undefined ? '?' : count(row.flops),
      row.bytes === undefined ? '?' : formatBytes(row.bytes),
      row.gflops === undefined ? '' : row.gflops.toFixed(2),
      row.gbPerSecond === undefined ? '' : row.gbPerSecond.toFixed(2),
      row.intensity === undefined ? '' : row.intensity.toFixed(1),
      row.bound === 'memory' ? `memory (${row.memoryLevel})` : (row.bound ?? ''),
      row.percentOfPeak === undefined
        ? ''
        : `${row.percentOfPeak.toFixed(1)}%${threadsDiffer ? ` (${row.threads})` : ''}`,
    ]);
  }
  const more = p.operators.length - TABLE_ROWS;
  return (
    rows.toString() + (more > 0 ? `\n  and ${more} more rows (--json lists them all)` : '') + peaksNote(p)
  );
}

/** The peaks the rows are placed against: one line per thread count, fewest threads first. */
function peaksNote(p: Profile): string {
  if (!p.peaks) return '\n  no measured peaks: run `heddle probe` to place operators against the roofline';
  const all = [...(p.peaksAtFewerThreads ?? []), p.peaks];
  const lines = all.map((peaks) => {
    const memory = peaks.memory.map((m) => `${m.level} ${m.gbPerSecond.toFixed(1)}`).join(', ');
    return (
      `${peaks.gflops.toFixed(1)} GFLOP/s (${peaks.computeLabel}); copy GB/s ${memory}; ` +
      `ridge at ${peaks.ridge.toFixed(1)} FLOP/B`
    );
  });
  const listed =
    all.length === 1
      ? `peaks: ${lines[0]}`
      : `peaks, each row against those of the threads its kernels could use:\n    ${lines.join('\n    ')}`;
  return `\n  ${listed}\n  from ${p.peaks.source}`;
}

function formatStates(states: Record<string, number>): string {
  const entries = Object.entries(states);
  return entries.length ? `; ${entries.map(([state, us]) => `${state} ${time(us)}`).join(', ')}` : '';
}

function formatGaps(p: Profile): string {
  if (p.gaps.length === 0) return '  none';
  const rows = table(['track', 'at', 'idle', 'cause', 'waiting for']);
  for (const gap of p.gaps)
    rows.push([gap.track, time(gap.startUs), time(gap.durationUs), gap.cause, gap.detail]);
  return rows.toString();
}

function formatCriticalPath({ criticalPath: path }: Profile): string {
  const header =
    `critical path: ${time(path.lengthUs)} through ${path.steps.length} steps, of ${time(path.workUs)} of work ` +
    `(parallelism ${path.parallelism.toFixed(2)})`;
  const rows = table(['step on the path', 'op', 'time', 'saved if 2× faster']);
  const best = [...path.steps].sort((a, b) => b.savingIfTwiceAsFastUs - a.savingIfTwiceAsFastUs);
  for (const step of best.slice(0, PATH_ROWS))
    rows.push([step.node, step.op, time(step.durationUs), time(step.savingIfTwiceAsFastUs)]);
  const offPath = path.slack.filter((s) => s.slackUs > 0).slice(0, 5);
  const slack = offPath.length
    ? `\n  least slack off the path: ${offPath.map((s) => `${s.node} ${time(s.slackUs)}`).join(', ')}`
    : '';
  return `${header}\n${rows.toString()}${slack}`;
}

function formatMemory({ memory }: Profile): string {
  const { highWater } = memory;
  const lines = [
    `memory: high-water ${formatBytes(highWater.bytes)} of values at step ${highWater.step} (${highWater.node}, ` +
      `${time(highWater.timeUs)} into the run); arena ${formatBytes(memory.arenaBytes)}, ` +
      `constants ${formatBytes(memory.constantBytes)}, inputs ${formatBytes(memory.inputBytes)}` +
      (memory.unsizedValues ? `; ${memory.unsizedValues} values of unknown size not counted` : ''),
  ];
  const rows = table(['live at the high-water mark', 'bytes', 'memory']);
  for (const value of highWater.live.slice(0, LIVE_ROWS))
    rows.push([value.name, formatBytes(value.bytes), value.kind]);
  lines.push(rows.toString());
  const more = highWater.live.length - LIVE_ROWS;
  if (more > 0) lines.push(`  and ${more} more values`);
  return lines.join('\n');
}

export function formatDiff(diff: ProfileDiff, [a, b]: [string, string]): string {
  const flagged = diff.operators.filter((d) => d.flagged);
  const rows = table(['operator', 'A', 'B', 'change', 'B / A', '95% interval', 'status']);
  for (const d of [diff.run, ...flagged]) rows.push(deltaRow(d));
  const unflagged = diff.operators.length - flagged.length;
  return [
    `A: ${a} (${diff.a})`,
    `B: ${b} (${diff.b})`,
    `per-run self time by ${diff.groupBy}; flagged when the ${diff.method}`,
    rows.toString(),
    `${flagged.length} changes beyond the runs' spread; ${unflagged} within it or unknown (--json lists every one)`,
  ].join('\n');
}

function deltaRow(d: Delta): string[] {
  const sign = d.deltaUs > 0 ? '+' : d.deltaUs < 0 ? '-' : '';
  return [
    d.key,
    time(d.medianAUs),
    time(d.medianBUs),
    `${sign}${time(Math.abs(d.deltaUs))}`,
    Number.isFinite(d.ratio) ? `${d.ratio.toFixed(2)}×` : '',
    d.intervalUs ? `${signed(d.intervalUs[0])} … ${signed(d.intervalUs[1])}` : '',
    d.status,
  ];
}

function signed(us: number): string {
  return `${us < 0 ? '-' : '+'}${time(Math.abs(us))}`;
}

function time(us: number | null): string {
  if (us === null || !Number.isFinite(us)) return '?';
  if (us >= 1e6) return `${(us / 1e6).toFixed(2)} s`;
  if (us >= 1e3) return `${(us / 1e3).toFixed(2)} ms`;
  return `${us.toFixed(us >= 10 ? 0 : 1)} µs`;
}

function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}

/** 1.23 G, 45.6 M, 789 k. */
function count(value: number): string {
  if (value >= 1e9) return `${(value / 1e9).toFixed(2)} G`;
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} k`;
  return String(value);
}

function round(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

/** The first two entries of a list, and how many more. */
function listed(items: readonly string[]): string {
  const shown = items.slice(0, 2).join('\n');
  return items.length > 2 ? `${shown}\n(+${items.length - 2} more)` : shown;
}

/**
 * `npm run bench`: the benchmark suite. Exports the real architectures (random weights, fixed
 * seed; cached in .cache/models), runs `heddle bench MODEL --vs onnxruntime-node,onnxruntime-web`
 * on each with Heddle on its wasm backend at 2 threads (every system at the same thread count), and
 * writes the figures as JSON and as a Markdown table (bench/results/latest.{json,md}) headed by the
 * machine they come from and the command: latencies, Heddle's ratio to each peer beside issue 6's
 * target, session creation times, peak memory, and the share of runs a major collection paused.
 *
 * Options (after `--` with npm): --models a,b (a subset), --threads N, --backends LIST, --no-tune,
 * --warmup N, --min-runs N, --min-seconds S (passed to `heddle bench`), --out DIR (where the
 * results go; a subset is best written elsewhere than the suite's latest results).
 */

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { majorGcPercent, type BenchReport, type SystemReport } from '../src/bench/report.js';
import { exportModels, modelsDir } from '../test/helpers/models.js';

/** The suite of issue 5, with the symbolic sizes the models are exported at. */
const SUITE: { model: string; dims: string[] }[] = [
  { model: 'resnet18', dims: [] },
  { model: 'mobilenet_v2', dims: [] },
  { model: 'squeezenet1_1', dims: [] },
  { model: 'bert', dims: ['batch=1', 'sequence=128'] },
  { model: 'gpt', dims: ['batch=1', 'sequence=64'] },
  { model: 'lstm', dims: ['sequence=50'] },
];
const WEB = 'onnxruntime-web';
const NODE = 'onnxruntime-node';
const PEERS = [NODE, WEB];
/** Issue 6: Heddle's median at most this share of onnxruntime-web's. */
const TARGET_OVER_WEB = 0.67;

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const defaultResultsDir = path.resolve(fileURLToPath(new URL('../../bench/results', import.meta.url)));

interface SuiteOptions {
  models: string[];
  threads: string;
  backends: string;
  tune: boolean;
  benchArgs: string[];
  out: string;
}

function suiteOptions(): SuiteOptions {
  const { values } = parseArgs({
    options: {
      models: { type: 'string' },
      threads: { type: 'string', default: '2' },
      backends: { type: 'string', default: 'wasm,reference' },
      'no-tune': { type: 'boolean', default: false },
      warmup: { type: 'string' },
      'min-runs': { type: 'string' },
      'min-seconds': { type: 'string' },
      out: { type: 'string', default: defaultResultsDir },
    },
  });
  const known = SUITE.map((s) => s.model);
  const models = values.models ? values.models.split(',') : known;
  const unknown = models.filter((model) => !known.includes(model));
  if (unknown.length > 0)
    throw new Error(`--models: ${unknown.join(', ')} not in the suite (${known.join(', ')})`);
  const benchArgs = (['warmup', 'min-runs', 'min-seconds'] as const).flatMap((name) =>
    values[name] === undefined ? [] : [`--${name}`, values[name]],
  );
  if (values['no-tune']) benchArgs.push('--no-tune');
  return {
    models,
    threads: values.threads,
    backends: values.backends,
    tune: !values['no-tune'],
    benchArgs,
    out: path.resolve(values.out),
  };
}

function main(): void {
  const options = suiteOptions();
  const suite = SUITE.filter((s) => options.models.includes(s.model));
  const exported = exportModels(suite.map((s) => s.model));
  if (exported.skipReason || exported.failure) throw new Error(exported.skipReason ?? exported.failure);
  const reports: BenchReport[] = [];
  for (const { model, dims } of suite) {
    process.stderr.write(`benchmarking ${model}...\n`);
    const args = [
      cli,
      'bench',
      path.join(modelsDir, model, 'model.onnx'),
      '--vs',
      PEERS.join(','),
      '--backends',
      options.backends,
      '--threads',
      options.threads,
      '--json',
      ...options.benchArgs,
    ];
    for (const dim of dims) args.push('--dim', dim);
    const run = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (run.status !== 0) {
      process.stderr.write(`  failed: ${run.stderr.trim().split('\n').pop()}\n`);
      continue;
    }
    const report = JSON.parse(run.stdout) as BenchReport;
    reports.push({ ...report, model });
  }
  const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, Node ${process.version}`;
  const command = ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])];
  fs.mkdirSync(options.out, { recursive: true });
  fs.writeFileSync(
    path.join(options.out, 'latest.json'),
    JSON.stringify({ machine, date: new Date().toISOString(), command: command.join(' '), reports }, null, 2),
  );
  const table = markdownTable(reports, machine, command.join(' '), options);
  fs.writeFileSync(path.join(options.out, 'latest.md'), table);
  console.log(table);
}

function markdownTable(
  reports: BenchReport[],
  machine: string,
  command: string,
  options: SuiteOptions,
): string {
  const header = [
    'model',
    'Heddle median (p90)',
    `${WEB} median (p90)`,
    `${NODE} median (p90)`,
    `Heddle / ${WEB}`,
    `≤ ${TARGET_OVER_WEB}× ${WEB}`,
    `Heddle / ${NODE}`,
    `create ms (Heddle / web / node)`,
    `peak RSS MiB (Heddle / web / node)`,
    `% of runs a major GC paused (Heddle / web / node)`,
  ];
  const rows = reports.map((report) => {
    const systems = ['heddle', WEB, NODE].map((name) => report.systems.find((s) => s.system === name));
    const [heddle, web, node] = systems;
    const overWeb = report.ratios.find((r) => r.peer === WEB)?.heddleOverPeer;
    const overNode = report.ratios.find((r) => r.peer === NODE)?.heddleOverPeer;
    return [
      report.model,
      latency(heddle),
      latency(web),
      latency(node),
      ratio(overWeb),
      overWeb ? (overWeb.ratio <= TARGET_OVER_WEB ? 'yes' : 'no') : '–',
      ratio(overNode),
      systems.map((s) => (s?.createMs === undefined ? '–' : format(s.createMs))).join(' / '),
      systems.map((s) => (s?.peakRssMb === undefined ? '–' : s.peakRssMb.toFixed(0))).join(' / '),
      systems.map(majorGcShare).join(' / '),
    ];
  });
  const tuning = options.tune ? 'tuned per shape' : 'untuned (--no-tune)';
  return [
    `Latency in ms, single-stream, ${options.threads} threads for every system, each in its own process, ` +
      `alternating rounds. Heddle on ${options.backends}, ${tuning}. Ratios are medians with bootstrap 95% ` +
      `intervals: below 1, Heddle is faster.`,
    `Machine: ${machine}; ${new Date().toISOString().slice(0, 10)}; command: \`${command}\`.`,
    '',
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((cells) => `| ${cells.join(' | ')} |`),
    '',
  ].join('\n');
}

function latency(system: SystemReport | undefined): string {
  if (!system) return '–';
  if (system.failure || !system.latencyMs) return `not measured: ${system.failure ?? 'no runs'}`;
  return `${format(system.latencyMs.median)} (${format(system.latencyMs.p90)})`;
}

function majorGcShare(system: SystemReport | undefined): string {
  if (!system?.gc || !system.latencyMs) return '–';
  return String(majorGcPercent(system.gc, system.latencyMs.count));
}

function ratio(value: BenchReport['ratios'][number]['heddleOverPeer'] | undefined): string {
  if (!value) return '–';
  return `${value.ratio.toPrecision(3)}× (${value.ci.low.toPrecision(3)}–${value.ci.high.toPrecision(3)})`;
}

function format(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

main();

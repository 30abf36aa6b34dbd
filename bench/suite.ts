/**
 * `npm run bench`: the benchmark suite. Exports the real architectures (random weights, fixed
 * seed; cached in .cache/models), runs `heddle bench MODEL --vs onnxruntime-node,onnxruntime-web`
 * on each, and writes the figures as JSON and as a Markdown table (bench/results/latest.{json,md})
 * headed by the machine they come from and the command.
 */

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchReport, SystemReport } from '../src/bench/report.js';
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
const PEERS = ['onnxruntime-node', 'onnxruntime-web'];

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const resultsDir = path.resolve(fileURLToPath(new URL('../../bench/results', import.meta.url)));

function main(): void {
  const exported = exportModels(SUITE.map((s) => s.model));
  if (exported.skipReason || exported.failure) throw new Error(exported.skipReason ?? exported.failure);
  const reports: BenchReport[] = [];
  for (const { model, dims } of SUITE) {
    process.stderr.write(`benchmarking ${model}...\n`);
    const args = [cli, 'bench', path.join(modelsDir, model, 'model.onnx'), '--vs', PEERS.join(','), '--json'];
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
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.writeFileSync(
    path.join(resultsDir, 'latest.json'),
    JSON.stringify({ machine, date: new Date().toISOString(), reports }, null, 2),
  );
  const table = markdownTable(reports, machine);
  fs.writeFileSync(path.join(resultsDir, 'latest.md'), table);
  console.log(table);
}

function markdownTable(reports: BenchReport[], machine: string): string {
  const header = [
    'model',
    'Heddle median (p90)',
    ...PEERS.flatMap((p) => [`${p} median (p90)`, `Heddle / ${p}`]),
  ];
  const rows = reports.map((report) => {
    const heddle = report.systems.find((s) => s.system === 'heddle');
    const cells = [report.model, latency(heddle)];
    for (const peer of PEERS) {
      const system = report.systems.find((s) => s.system === peer);
      const ratio = report.ratios.find((r) => r.peer === peer)?.heddleOverPeer;
      cells.push(
        latency(system),
        ratio
          ? `${ratio.ratio.toPrecision(3)}× (${ratio.ci.low.toPrecision(3)}–${ratio.ci.high.toPrecision(3)})`
          : '–',
      );
    }
    return cells;
  });
  const threads = reports[0]?.threads ?? os.availableParallelism();
  return [
    `Latency in ms, single-stream, ${threads} threads, each system in its own process, alternating rounds.`,
    `Machine: ${machine}; ${new Date().toISOString().slice(0, 10)}; command: \`npm run bench\`.`,
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

function format(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

main();

/**
 * `heddle probe [--json] [--refresh] [--verify]`: the machine, its WebAssembly and WebGPU support,
 * and its measured ceilings (cached per machine; `--refresh` measures again). `--verify` measures
 * the same ceilings independently (a hand-written WAT kernel assembled by wabt, and Debian's
 * sysbench and mbw) and prints both with their ratio.
 */

import Table from 'cli-table3';
import { compareWithIndependent, type Comparison } from '../probe/independent.js';
import { detectWebGpu, loadProbe, type Ceilings, type ProbeResult } from '../probe/index.js';
import { formatBytes } from './format.js';

export interface ProbeOptions {
  json?: boolean;
  refresh?: boolean;
  verify?: boolean;
}

export async function probeCommand(options: ProbeOptions): Promise<number> {
  // Progress goes to stderr so that --json output stays parseable.
  const onProgress = (message: string) => process.stderr.write(`measuring ${message}\n`);
  // The ceilings may come from the cache; the adapter is looked for again, as drivers come and go.
  const probe = {
    ...(await loadProbe({ refresh: options.refresh, onProgress })),
    webgpu: await detectWebGpu(),
  };
  if (options.verify) return verify(probe, options, onProgress);
  console.log(options.json ? JSON.stringify(probe, null, 2) : formatProbe(probe));
  return 0;
}

async function verify(
  probe: ProbeResult,
  options: ProbeOptions,
  onProgress: (m: string) => void,
): Promise<number> {
  if (!probe.ceilings) {
    console.error(`heddle: nothing to verify: ${probe.ceilingsMissing}`);
    return 1;
  }
  const comparisons = await compareWithIndependent(probe, { onProgress });
  console.log(options.json ? JSON.stringify(comparisons, null, 2) : formatComparisons(comparisons));
  return 0;
}

export function formatProbe(probe: ProbeResult): string {
  const { machine, features, webgpu } = probe;
  const size = (bytes: number | 'unknown') => (bytes === 'unknown' ? 'unknown' : formatBytes(bytes));
  const yes = (value: boolean) => (value ? 'yes' : 'no');
  const lines = [
    `cpu        ${machine.cpu.model}: ${machine.cpu.logicalCores} logical, ${machine.cpu.physicalCores} physical cores`,
    `caches     L1d ${size(machine.caches.l1d)}, L2 ${size(machine.caches.l2)}, L3 ${size(machine.caches.l3)} (each)`,
    `memory     ${formatBytes(machine.memoryBytes)}`,
    `os         ${machine.os.name} (${machine.os.platform} ${machine.os.release}, ${machine.os.arch})`,
    `engine     Node ${machine.node}, V8 ${machine.v8}`,
    `wasm       SIMD128 ${yes(features.simd128)}, relaxed SIMD ${yes(features.relaxedSimd)}` +
      `${features.relaxedSimdByFlag ? ' (with --experimental-wasm-relaxed-simd)' : ''}, threads ${yes(features.threads)}`,
    `webgpu     ${webgpu.found ? describeAdapter(probe) : `none found: ${webgpu.reason}`}`,
  ];
  if (webgpu.found && webgpu.limits) {
    const limits = ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize'];
    lines.push(`           ${limits.map((name) => `${name} ${webgpu.limits![name] ?? '?'}`).join(', ')}`);
  }
  lines.push(probe.ceilings ? formatCeilings(probe.ceilings) : `ceilings   ${probe.ceilingsMissing}`);
  if (probe.cacheFile) lines.push(`cached in  ${probe.cacheFile}`);
  return lines.join('\n');
}

function describeAdapter({ webgpu }: ProbeResult): string {
  const { vendor, architecture, device, description } = webgpu.adapter!;
  return `${[vendor, architecture, device, description].filter(Boolean).join(' ')} (via ${webgpu.source})`;
}

function formatCeilings(ceilings: Ceilings): string {
  const style = process.stdout.isTTY ? {} : { head: [], border: [] };
  const all = `${ceilings.threads} threads`;
  const compute = new Table({ head: ['GFLOP/s', '1 thread', all, 'scaling'], style });
  for (const { path, gflops } of ceilings.compute) {
    compute.push([
      path,
      fixed(gflops.perThread),
      fixed(gflops.allThreads),
      `${fixed(gflops.allThreads / gflops.perThread, 2)}×`,
    ]);
  }
  const bandwidth = new Table({
    head: ['GB/s', 'buffer', 'read, 1 thread', `read, ${all}`, 'copy, 1 thread', `copy, ${all}`],
    style,
  });
  for (const { level, bufferBytes, read, copy } of ceilings.bandwidth) {
    bandwidth.push([
      level,
      formatBytes(bufferBytes),
      ...[read, copy].flatMap((r) => [fixed(r.perThread), fixed(r.allThreads)]),
    ]);
  }
  const { targetMs, repetitions } = ceilings.settings;
  const lines = [
    `ceilings   measured ${ceilings.measuredAt} in ${(ceilings.durationMs / 1000).toFixed(1)} s ` +
      `(best of ${repetitions} calls of about ${targetMs} ms each)`,
    compute.toString(),
    bandwidth.toString(),
    'copy counts bytes read plus bytes written',
  ];
  if (ceilings.ridge) {
    lines.push(
      `ridge      ${fixed(ceilings.ridge.perThread, 2)} FLOP/byte on 1 thread, ` +
        `${fixed(ceilings.ridge.allThreads, 2)} on ${all} (best peak over DRAM copy bandwidth)`,
    );
  }
  const { cpuShare } = ceilings;
  lines.push(
    `cpu share  ${percent(cpuShare.perThread)} on 1 thread, ${percent(cpuShare.allThreads)} on ${all}` +
      ' (the lowest over the figures, of the CPU time their timed calls could have had)',
  );
  if (Math.min(cpuShare.perThread, cpuShare.allThreads) < BUSY_SHARE) {
    lines.push(
      'warning    other processes were busy while measuring: the ceilings are low; run `heddle probe --refresh` on an idle machine',
    );
  }
  return lines.join('\n');
}

function formatComparisons(comparisons: Comparison[]): string {
  const style = process.stdout.isTTY ? {} : { head: [], border: [] };
  const table = new Table({
    head: ['ceiling', 'probe', 'independent', 'ratio', 'independent method'],
    style,
  });
  for (const c of comparisons) {
    const ratio = c.independent === undefined ? '' : `${fixed(c.independent / c.probe, 3)}`;
    table.push([
      c.ceiling,
      `${fixed(c.probe)} ${c.unit}`,
      c.independent === undefined ? (c.note ?? '') : `${fixed(c.independent)} ${c.unit}`,
      ratio,
      c.method,
    ]);
  }
  return table.toString();
}

/** Below this share of the CPU the measuring threads shared their cores with other work. */
const BUSY_SHARE = 0.9;

function percent(share: number): string {
  return `${Math.round(share * 100)}%`;
}

function fixed(value: number, digits = 1): string {
  return value.toFixed(digits);
}

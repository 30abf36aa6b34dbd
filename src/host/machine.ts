/**
 * What the operating system says about the machine: OS, CPU model, logical and physical cores,
 * per-core data cache sizes and the JavaScript engine. On Linux the topology and caches come from
 * sysfs (`/sys/devices/system/cpu`), with `lscpu` as a second source; elsewhere what the OS does
 * not tell is reported as 'unknown' rather than guessed.
 */

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export type Unknown = 'unknown';

export interface CacheSizes {
  /** Bytes of one instance: the L1 data cache and L2 of one core, the L3 of one package. */
  l1d: number | Unknown;
  l2: number | Unknown;
  l3: number | Unknown;
}

export interface MachineInfo {
  os: { platform: string; release: string; arch: string; name: string };
  cpu: { model: string; logicalCores: number; physicalCores: number | Unknown };
  caches: CacheSizes;
  memoryBytes: number;
  node: string;
  v8: string;
}

const CPU_SYSFS = '/sys/devices/system/cpu';

export function describeMachine(): MachineInfo {
  return {
    os: { platform: process.platform, release: os.release(), arch: os.arch(), name: osName() },
    cpu: {
      model: os.cpus()[0]?.model.trim() || 'unknown',
      logicalCores: os.availableParallelism(),
      physicalCores: physicalCores(),
    },
    caches: cacheSizes(),
    memoryBytes: os.totalmem(),
    node: process.versions.node,
    v8: process.versions.v8,
  };
}

function osName(): string {
  const release = readText('/etc/os-release');
  const pretty = release?.match(/^PRETTY_NAME="?([^"\n]*)"?$/m)?.[1];
  return pretty ?? `${os.type()} ${os.release()}`;
}

/** Distinct (package, core) pairs among the online CPUs: hyperthreads share a core. */
function physicalCores(): number | Unknown {
  if (process.platform !== 'linux') return 'unknown';
  const cpus = fs.existsSync(CPU_SYSFS)
    ? fs.readdirSync(CPU_SYSFS).filter((name) => /^cpu\d+$/.test(name))
    : [];
  const cores = new Set<string>();
  for (const cpu of cpus) {
    const topology = path.join(CPU_SYSFS, cpu, 'topology');
    const packageId = readText(path.join(topology, 'physical_package_id'));
    const coreId = readText(path.join(topology, 'core_id'));
    if (packageId !== undefined && coreId !== undefined) cores.add(`${packageId.trim()}:${coreId.trim()}`);
  }
  return cores.size > 0 ? cores.size : 'unknown';
}

function cacheSizes(): CacheSizes {
  if (process.platform !== 'linux') return { l1d: 'unknown', l2: 'unknown', l3: 'unknown' };
  return sysfsCaches() ?? lscpuCaches() ?? { l1d: 'unknown', l2: 'unknown', l3: 'unknown' };
}

function sysfsCaches(): CacheSizes | undefined {
  const folder = path.join(CPU_SYSFS, 'cpu0', 'cache');
  if (!fs.existsSync(folder)) return undefined;
  const found: CacheSizes = { l1d: 'unknown', l2: 'unknown', l3: 'unknown' };
  for (const index of fs.readdirSync(folder).filter((name) => name.startsWith('index'))) {
    const read = (file: string) => readText(path.join(folder, index, file))?.trim();
    const level = read('level');
    const type = read('type');
    const size = parseSize(read('size'));
    if (size === undefined) continue;
    if (level === '1' && type === 'Data') found.l1d = size;
    else if (level === '2' && type !== 'Instruction') found.l2 = size;
    else if (level === '3' && type !== 'Instruction') found.l3 = size;
  }
  return found.l1d === 'unknown' && found.l2 === 'unknown' ? undefined : found;
}

/** `lscpu -C` prints one line per cache with the size of one instance in bytes. */
function lscpuCaches(): CacheSizes | undefined {
  let table: string;
  try {
    table = execFileSync('lscpu', ['-C=NAME,ONE-SIZE', '-B'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    return undefined;
  }
  const sizes = new Map(table.split('\n').map((line) => line.trim().split(/\s+/) as [string, string]));
  const size = (name: string) => parseSize(sizes.get(name)) ?? 'unknown';
  return { l1d: size('L1d'), l2: size('L2'), l3: size('L3') };
}

/** "48K", "2048K", "480M" (sysfs) or plain bytes (lscpu -B). */
function parseSize(text: string | undefined): number | undefined {
  const match = text?.match(/^(\d+)\s*([KMG]?)$/i);
  if (!match) return undefined;
  const scale = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[match[2].toUpperCase()]!;
  return Number(match[1]) * scale;
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

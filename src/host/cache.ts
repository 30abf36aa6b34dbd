/**
 * Where probe results live between runs: one JSON file per machine fingerprint in Heddle's cache
 * folder (`HEDDLE_CACHE_DIR`, else `$XDG_CACHE_HOME/heddle`, else `~/.cache/heddle`). The
 * fingerprint hashes what the ceilings depend on (CPU model, cores, caches, OS, Node and V8), so
 * a different machine, an upgraded Node or a resized virtual machine measures afresh.
 */

import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { MachineInfo } from './machine.js';

export function cacheDirectory(): string {
  if (process.env.HEDDLE_CACHE_DIR) return process.env.HEDDLE_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'heddle');
}

export function machineFingerprint(machine: MachineInfo): string {
  const { cpu, caches, os: system, node, v8 } = machine;
  const identity = JSON.stringify({
    cpu,
    caches,
    system: [system.platform, system.release, system.arch],
    node,
    v8,
  });
  return createHash('sha256').update(identity).digest('hex').slice(0, 16);
}

export function probeCachePath(fingerprint: string): string {
  return path.join(cacheDirectory(), `probe-${fingerprint}.json`);
}

/** The cached value, or undefined when there is none or it cannot be read. */
export function readCached<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/**
 * Writes `value` as JSON through a temporary file unique to this process and call and a rename, so
 * a concurrent reader sees the old file or the new one, never half of one; the temporary file does
 * not outlive a failed write.
 */
export function writeCached(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.${randomUUID()}.tmp`;
  try {
    fs.writeFileSync(temporary, JSON.stringify(value, null, 2) + '\n');
    fs.renameSync(temporary, file);
  } finally {
    fs.rmSync(temporary, { force: true });
  }
}

/**
 * The real architectures for tests: scripts/export-models.py exports them (random weights, a fixed
 * input and PyTorch's outputs) into .cache/models once. Test files run in parallel processes, so
 * the export holds a lock folder while it writes; a file that finds the lock waits for it.
 */

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from './repo-root.js';

const PYTHON = '/usr/bin/python3';
const root = repoRoot(import.meta.url);
export const modelsDir = path.join(root, '.cache', 'models');

export interface ExportedModels {
  /** Why the models cannot be had here (no Python, no torch): tests skip with it. */
  skipReason?: string;
  /** The export failed for another reason: tests fail with it. */
  failure?: string;
}

/** Exports the named models unless cached; returns whether tests can use them. */
export function exportModels(names: readonly string[]): ExportedModels {
  fs.mkdirSync(path.dirname(modelsDir), { recursive: true });
  const lock = `${modelsDir}.lock`;
  waitForLock(lock);
  try {
    const run = spawnSync(PYTHON, [path.join(root, 'scripts', 'export-models.py'), modelsDir, ...names], {
      encoding: 'utf8',
    });
    if (run.error) return { skipReason: `${PYTHON} cannot be run (${run.error.message})` };
    const missing = /ModuleNotFoundError: No module named '([\w.]+)'/.exec(run.stderr)?.[1];
    if (missing)
      return { skipReason: `${PYTHON} lacks the Python package '${missing}' that the export needs` };
    if (run.status !== 0) return { failure: `export-models.py failed (exit ${run.status}):\n${run.stderr}` };
    return {};
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

/** Takes the lock folder, waiting while another process holds it (a lock older than 10 minutes is stale). */
function waitForLock(lock: string): void {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      fs.mkdirSync(lock);
      return;
    } catch {
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 10 * 60 * 1000) fs.rmSync(lock, { recursive: true, force: true });
      Atomics.wait(pause, 0, 0, 200);
    }
  }
}

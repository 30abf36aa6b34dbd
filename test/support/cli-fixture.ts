/**
 * What the command-line tests share: the built CLI's path, a scratch folder removed after the
 * file's tests (other tests that write files take it too), and the small MLP (16 features through
 * MatMul and Relu to 32) they run it on.
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildModel } from './build-model.js';

export const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** A fresh folder under the system's temporary one, removed when the file's tests are done. */
export function scratchFolder(prefix: string): string {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  after(() => fs.rmSync(folder, { recursive: true, force: true }));
  return folder;
}

/** Writes the MLP to `file` with `batch` rows: a fixed count, or a name for a dynamic axis. */
export function writeMlp(file: string, batch: number | string): void {
  fs.writeFileSync(
    file,
    buildModel({
      nodes: [
        { op: 'MatMul', name: 'hidden', inputs: ['x', 'w1'], outputs: ['h'] },
        { op: 'Relu', name: 'relu', inputs: ['h'], outputs: ['y'] },
      ],
      inputs: [{ name: 'x', type: 'float32', dims: [batch, 16] }],
      outputs: [{ name: 'y', type: 'float32', dims: [batch, 32] }],
      initializers: [{ name: 'w1', type: 'float32', dims: [16, 32], values: new Array(16 * 32).fill(0.1) }],
    }),
  );
}

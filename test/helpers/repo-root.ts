/**
 * Finds the repository root from a test module's URL, so tests find scripts and caches wherever
 * they were compiled to (dist/test/, .build/<name>/test/, ...).
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The nearest folder above `moduleUrl` that holds the project's package.json. */
export function repoRoot(moduleUrl: string): string {
  let folder = path.dirname(fileURLToPath(moduleUrl));
  while (!fs.existsSync(path.join(folder, 'package.json'))) {
    const parent = path.dirname(folder);
    if (parent === folder) throw new Error(`no package.json above ${fileURLToPath(moduleUrl)}`);
    folder = parent;
  }
  return folder;
}

/**
 * Regenerates the README's conformance table: runs the node and simple suites of the ONNX backend
 * test data on the default backends (`heddle conformance DIR --json FILE`), groups the node cases
 * by the reference kernel family that registers their operator (the family files are imported and
 * their `kernels` read, so the grouping follows the registry) and rewrites the README between its
 * table markers (src/conformance/table.ts).
 * Run: npm run build && node dist/bench/conformance-table.js [DATA_DIR] (default ../shared/onnx-tests).
 */

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KernelDef } from '../src/backends/reference/kernel.js';
import type { ConformanceReport } from '../src/conformance/report.js';
import { DEFAULT_TOLERANCE } from '../src/conformance/runner.js';
import {
  familyIndex,
  groupCase,
  renderTable,
  replaceTable,
  type FamilyIndex,
} from '../src/conformance/table.js';
import { loadModelProto } from '../src/onnx/load.js';
import { DEFAULT_EXECUTION_PROVIDERS } from '../src/runtime/options.js';
import { repoRoot } from '../test/helpers/repo-root.js';

const SUITES = ['node', 'simple'];
/** The suite whose cases are grouped by family; the others count in the totals. */
const GROUPED_SUITE = 'node';

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const kernelsFolder = new URL('../src/backends/reference/kernels/', import.meta.url);

/** Every kernel family file (all but the index that gathers them) with the kernels it registers. */
async function loadFamilies(): Promise<FamilyIndex> {
  const files = fs
    .readdirSync(kernelsFolder)
    .filter((file) => file.endsWith('.js') && file !== 'index.js')
    .sort();
  const families = await Promise.all(
    files.map(async (file) => {
      const family = (await import(new URL(file, kernelsFolder).href)) as { kernels?: readonly KernelDef[] };
      return [path.basename(file, '.js'), family.kernels ?? []] as const;
    }),
  );
  return familyIndex(families);
}

function runSuite(dataDir: string, suite: string, scratch: string): ConformanceReport {
  const json = path.join(scratch, `${suite}.json`);
  const args = [cli, 'conformance', path.join(dataDir, suite), '--json', json];
  const run = spawnSync(process.execPath, [...args, '--backends', DEFAULT_EXECUTION_PROVIDERS.join(',')], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  // Exit 1 only says that a case on the expected-pass list failed: the table lists it like any other.
  if (!fs.existsSync(json))
    throw new Error(`heddle conformance wrote no report for ${suite} (exit ${run.status})`);
  return JSON.parse(fs.readFileSync(json, 'utf8')) as ConformanceReport;
}

/** The names of the values the model's nodes compute; none when the model cannot be read. */
function valueNames(modelFile: string): string[] {
  try {
    return loadModelProto(modelFile).proto.graph?.node.flatMap((n) => n.output) ?? [];
  } catch {
    return [];
  }
}

async function main(): Promise<void> {
  const root = repoRoot(import.meta.url);
  const dataDir = path.resolve(process.argv[2] ?? path.join(root, '../shared/onnx-tests'));
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'heddle-conformance-'));
  try {
    const suites = SUITES.map((suite) => runSuite(dataDir, suite, scratch));
    const index = await loadFamilies();
    const grouped = suites
      .filter((s) => s.suite === GROUPED_SUITE)
      .flatMap((s) =>
        s.cases.map((c) =>
          groupCase(c, valueNames(path.join(dataDir, s.suite, c.name, 'model.onnx')), index),
        ),
      );
    const readme = path.join(root, 'README.md');
    const table = renderTable({ grouped, suites, tolerance: DEFAULT_TOLERANCE });
    fs.writeFileSync(readme, replaceTable(fs.readFileSync(readme, 'utf8'), table));
    console.log(`rewrote the conformance table in ${readme}`);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

await main();

#!/usr/bin/env node
/**
 * The `heddle` command line: run, inspect, conformance.
 */

import { Command, Option } from 'commander';
import { HeddleError } from '../core/errors.js';
import { DEFAULT_EXECUTION_PROVIDERS } from '../runtime/options.js';
import { benchCommand, SCENARIO_CHOICES } from './bench.js';
import { conformanceCommand } from './conformance.js';
import { inspectCommand } from './inspect.js';
import { probeCommand } from './probe.js';
import { profileCommand } from './profile.js';
import { runCommand } from './run.js';

const DEFAULT_BACKENDS = DEFAULT_EXECUTION_PROVIDERS.join(',');

const program = new Command();
program.name('heddle').description('Run ONNX models and see where the time goes.').showHelpAfterError();

const collect = (value: string, previous: string[]) => [...previous, value];

/** Threads of the wasm backend's loops (onnxruntime's intraOpNumThreads). */
function threadsOption(): Option {
  return new Option('--threads <n>', "threads of the wasm backend's loops (default: the physical cores)");
}

/** Commander makes `--no-tune` into `tune: false`, true by default. */
function noTuneOption(): Option {
  return new Option('--no-tune', "take each kernel's default variant: no per-shape tuning measurements");
}

function optimizationOption(): Option {
  return new Option('--optimization <level>', 'graph optimization level')
    .choices(['disabled', 'basic', 'extended', 'all'])
    .default('all');
}

program
  .command('run')
  .description('run a model once and print its outputs')
  .argument('<model>', 'path to an .onnx file')
  .option('--input <name=file.npy>', 'feed an input from a NumPy file (repeatable)', collect, [])
  .option('--dim <name=value>', 'size of a symbolic dimension for random inputs (repeatable)', collect, [])
  .option('--seed <n>', 'seed of the random inputs', '42')
  .option('--save-outputs <dir>', 'write each output as DIR/<name>.npy')
  .option('--backends <list>', 'backends in order of preference', DEFAULT_BACKENDS)
  .addOption(threadsOption())
  .addOption(noTuneOption())
  .addOption(optimizationOption())
  .action(async (model: string, options) => {
    process.exitCode = await runCommand(model, options);
  });

program
  .command('inspect')
  .description("print a model's inputs, outputs, opsets, operators and parameters")
  .argument('<model>', 'path to an .onnx file')
  .option('--json', 'print JSON')
  .option('--plan', 'print the execution plan: rewrites, backends and why, memory plan')
  .option('--dim <name=value>', 'size of a symbolic dimension for the plan (repeatable)', collect, [])
  .option('--dot <file>', 'write the planned graph as Graphviz DOT')
  .option('--save-optimized <file.onnx>', 'write the optimized graph as an ONNX model')
  .option('--backends <list>', 'backends in order of preference', DEFAULT_BACKENDS)
  .addOption(optimizationOption())
  .action(async (model: string, options) => {
    process.exitCode = await inspectCommand(model, options);
  });

program
  .command('conformance')
  .description('run the ONNX backend test cases under DIR')
  .argument('<dir>', 'folder of test cases (each with model.onnx and test_data_set_N)')
  .option('--filter <regex>', 'only cases whose name matches')
  .option('--expected <file>', "expected-pass list (default: the project's)")
  .option('--update-expected', 'rewrite the expected-pass list with the cases that pass')
  .option('--verbose', 'print passing cases too')
  .option('--json <file>', 'also write every case with its status, operators and failure reason as JSON')
  .option('--timeout <seconds>', 'stop and fail a case that runs longer', '120')
  .option('--backends <list>', 'backends in order of preference', 'reference')
  .addOption(optimizationOption())
  .action(async (dir: string, options) => {
    process.exitCode = await conformanceCommand(dir, options);
  });

program
  .command('profile')
  .description('trace runs of a model and show where the time goes, or compare two saved profiles')
  .argument('[model]', 'path to an .onnx file')
  .option(
    '--runs <n>',
    'runs to trace (the first specialises the plan; later ones are the steady state)',
    '10',
  )
  .option(
    '--trace <file>',
    'write the trace: Chrome JSON, or Perfetto protobuf for .pftrace / .perfetto-trace',
  )
  .option('--report <file.html>', 'write the profile as one self-contained HTML report')
  .option('--json', 'print the profile (or the diff) as JSON')
  .addOption(
    new Option('--group-by <key>', 'group the operator table by')
      .choices(['node', 'op', 'op+shape'])
      .default('op'),
  )
  .option(
    '--dim <name=value>',
    'size of a symbolic dimension for the random inputs (repeatable)',
    collect,
    [],
  )
  .option('--backends <list>', 'backends in order of preference', DEFAULT_BACKENDS)
  .addOption(threadsOption())
  .addOption(noTuneOption())
  .option('--diff <files...>', 'compare two profiles written with --json: A.json B.json')
  .addOption(optimizationOption())
  .action(async (model: string | undefined, options) => {
    process.exitCode = await profileCommand(model, options);
  });

program
  .command('probe')
  .description('describe this machine and measure its ceilings: peak GFLOP/s and memory bandwidth (cached)')
  .option('--json', 'print JSON')
  .option('--refresh', 'measure again even when a cached result exists')
  .option('--verify', 'compare the ceilings with independent measurements (wabt, sysbench)')
  .action(async (options) => {
    process.exitCode = await probeCommand(options);
  });

program
  .command('bench')
  .description('measure latency of a model, side by side with onnxruntime when asked (--vs)')
  .argument('<model>', 'path to an .onnx file')
  .option('--vs <peers>', 'peers to measure too: onnxruntime-node,onnxruntime-web')
  .option('--threads <n>', 'threads for every system (default: the available cores)')
  .option('--backends <list>', "Heddle's backends in order of preference", DEFAULT_BACKENDS)
  .addOption(noTuneOption())
  .option(
    '--dim <name=value>',
    'size of a symbolic dimension for the random inputs (repeatable)',
    collect,
    [],
  )
  .option('--json', 'print JSON')
  .option('--warmup <n>', 'runs before measuring', '3')
  .option('--min-runs <n>', 'measure at least this many runs per system', '20')
  .option('--min-seconds <s>', 'and for at least this long per system', '3')
  .addOption(
    new Option('--scenario <name>', 'MLPerf load scenario')
      .choices(SCENARIO_CHOICES)
      .default('single-stream'),
  )
  .option('--batch <n>', 'offline scenario: size of a symbolic batch dimension (default 8)')
  .option('--rate <qps>', 'server scenario: mean arrival rate of the queries (Poisson)')
  .option('--seed <n>', 'seed of the random inputs, arrivals and bootstrap', '42')
  .action(async (model: string, options) => {
    process.exitCode = await benchCommand(model, options);
  });

program.parseAsync().catch((error: unknown) => {
  if (error instanceof HeddleError) {
    console.error(`heddle: ${error.message}`);
  } else {
    console.error(error);
  }
  process.exitCode = 2;
});

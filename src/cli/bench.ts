/**
 * `heddle bench MODEL`: measures Heddle, and with `--vs` its peers, on the same model, inputs and
 * thread count, each system in a process of its own, in alternating rounds; prints latency
 * statistics beside session creation time and peak memory, and each peer's ratio to Heddle.
 */

import { SingleBar } from 'cli-progress';
import * as os from 'node:os';
import { buildReport, formatReport } from '../bench/report.js';
import type { FeedData } from '../bench/protocol.js';
import { runAlternatingRounds } from '../bench/rounds.js';
import { batchRequest, SCENARIOS, type Scenario } from '../bench/scenarios.js';
import { forkRunner, SYSTEMS, type SystemName } from '../bench/system-process.js';
import { HeddleError } from '../core/errors.js';
import { seededRandom } from '../core/random.js';
import { InferenceSession, type ValueMetadata } from '../runtime/session.js';
import { randomFeed } from './random-inputs.js';
import { parseDims } from './run.js';

export interface BenchCommandOptions {
  vs?: string;
  threads?: string;
  backends: string;
  tune: boolean;
  dim: string[];
  json?: boolean;
  warmup: string;
  minRuns: string;
  minSeconds: string;
  scenario: Scenario;
  batch?: string;
  rate?: string;
  seed: string;
}

/** Each system gets this share of --min-seconds per round, so a run spans several rounds. */
const ROUNDS_PER_MINIMUM = 8;

export async function benchCommand(model: string, options: BenchCommandOptions): Promise<number> {
  const threads = positive(options.threads ?? String(os.availableParallelism()), '--threads');
  const minSeconds = nonNegative(options.minSeconds, '--min-seconds');
  const seed = Number(options.seed);
  const systems = ['heddle', ...peerList(options.vs)] as SystemName[];
  const backends = options.backends.split(',');
  const { feeds, batch } = await benchFeeds(model, options, seed);
  const sliceMs = Math.max(20, (minSeconds * 1000) / ROUNDS_PER_MINIMUM);
  const load = { kind: 'load' as const, model, threads, backends, tuning: options.tune, feeds };
  const bar = process.stdout.isTTY && !options.json ? new SingleBar({ clearOnComplete: true }) : undefined;
  bar?.start(100, 0);
  const result = await runAlternatingRounds(
    systems.map((system) => forkRunner(system, load)),
    {
      warmup: nonNegative(options.warmup, '--warmup'),
      minRuns: nonNegative(options.minRuns, '--min-runs'),
      minSeconds,
      request: batchRequest({ scenario: options.scenario, sliceMs, rate: serverRate(options), seed }),
    },
    (fraction) => bar?.update(Math.round(fraction * 100)),
  );
  bar?.stop();
  const report = buildReport(result, {
    model,
    scenario: options.scenario,
    threads,
    batch,
    seed,
    heddle: { backends, tuning: options.tune },
  });
  console.log(options.json ? JSON.stringify(report, null, 2) : formatReport(report, process.stdout.isTTY));
  return report.systems[0]!.failure === undefined ? 0 : 1;
}

export const SCENARIO_CHOICES: readonly string[] = SCENARIOS;

function peerList(vs: string | undefined): string[] {
  const peers = vs ? vs.split(',').filter((peer) => peer !== '') : [];
  for (const peer of peers) {
    if (peer === 'heddle' || !(SYSTEMS as readonly string[]).includes(peer))
      throw new HeddleError(`--vs '${peer}' is not a peer: choose from onnxruntime-node, onnxruntime-web`);
  }
  return peers;
}

/**
 * Random inputs from the model's declared shapes; the offline scenario sets the batch dimension.
 * The declared shapes come from a reference session: a wasm one would start a worker pool and tune
 * kernels in this process, beside the runner processes being measured.
 */
async function benchFeeds(
  model: string,
  options: BenchCommandOptions,
  seed: number,
): Promise<{ feeds: FeedData[]; batch: number }> {
  const session = await InferenceSession.create(model, { executionProviders: ['reference'] });
  const dims = parseDims(options.dim);
  const batch = options.scenario === 'offline' ? applyBatch(session.inputMetadata, dims, options.batch) : 1;
  const random = seededRandom(seed);
  const feeds = session.inputMetadata.map((meta) => {
    const tensor = randomFeed(meta, dims, random);
    return { name: meta.name, type: tensor.type, dims: [...tensor.dims], data: tensor.data };
  });
  await session.release();
  return { feeds, batch };
}

/** The batch is the leading dimension of the first input: symbolic, it takes --batch; fixed, it stays. */
function applyBatch(inputs: readonly ValueMetadata[], dims: Record<string, number>, text?: string): number {
  const leading = inputs[0]?.shape?.[0];
  if (typeof leading === 'string') {
    dims[leading] = positive(text ?? '8', '--batch');
    return dims[leading];
  }
  if (typeof leading !== 'number' || leading < 1)
    throw new HeddleError('the offline scenario needs a first input with a named or fixed batch dimension');
  if (text !== undefined && Number(text) !== leading)
    throw new HeddleError(`--batch ${text}: the model's batch dimension is fixed at ${leading}`);
  return leading;
}

function serverRate(options: BenchCommandOptions): number {
  if (options.scenario !== 'server') return 0;
  if (options.rate === undefined) throw new HeddleError('the server scenario needs --rate QPS');
  const rate = Number(options.rate);
  if (!(rate > 0)) throw new HeddleError(`--rate must be a positive number, got '${options.rate}'`);
  return rate;
}

function positive(text: string, what: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new HeddleError(`${what} must be a positive integer, got '${text}'`);
  return value;
}

function nonNegative(text: string, what: string): number {
  const value = Number(text);
  if (!(value >= 0)) throw new HeddleError(`${what} must be a non-negative number, got '${text}'`);
  return value;
}

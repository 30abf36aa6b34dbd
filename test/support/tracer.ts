/**
 * Test support for traces: a checker of Chrome trace-event JSON against the rules of the Trace
 * Event Format (the fields each phase requires, numeric times, slices properly nested per
 * thread, begin/end pairs matched, a name for every process and thread), and the models the
 * telemetry tests trace.
 */

import * as path from 'node:path';
import type { Tensor } from '../../src/index.js';
import { repoRoot } from '../helpers/repo-root.js';
import { randomFeeds } from './fuseops.js';

/** Phases the checker knows; any other is a violation. */
const KNOWN_PHASES = new Set(['X', 'B', 'E', 'i', 'I', 'C', 'M']);
const METADATA_NAMES = new Set(['process_name', 'thread_name', 'process_sort_index', 'thread_sort_index']);

interface Slice {
  name: string;
  start: number;
  end: number;
}

/**
 * Every way `json` breaks the trace-event rules, as readable sentences (none for a valid trace).
 * Times are compared in whole nanoseconds, as Perfetto imports them.
 */
export function traceEventViolations(json: string): string[] {
  const problems: string[] = [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    return [`not JSON: ${(error as Error).message}`];
  }
  const events = Array.isArray(parsed) ? parsed : (parsed as { traceEvents?: unknown }).traceEvents;
  if (!Array.isArray(events)) return ['no traceEvents array'];
  const slicesByThread = new Map<string, Slice[]>();
  const openByThread = new Map<string, Slice[]>();
  const namedProcesses = new Set<number>();
  const namedThreads = new Set<string>();
  const usedThreads = new Set<string>();
  events.forEach((event: Record<string, unknown>, index) => {
    const at = `event ${index} (${String(event.ph)} '${String(event.name)}')`;
    const fail = (problem: string) => problems.push(`${at}: ${problem}`);
    if (typeof event.name !== 'string') fail('name is not a string');
    if (typeof event.ph !== 'string' || !KNOWN_PHASES.has(event.ph)) return fail('unknown phase');
    if (!Number.isInteger(event.pid)) fail('pid is not an integer');
    if (event.ph !== 'M' && event.ph !== 'C' && !Number.isInteger(event.tid)) fail('tid is not an integer');
    const thread = `${String(event.pid)}:${String(event.tid)}`;
    if (event.ph !== 'M' && !isTime(event.ts)) fail('ts is not a finite, non-negative number');
    switch (event.ph) {
      case 'M':
        checkMetadata(event, fail);
        if (event.name === 'process_name') namedProcesses.add(event.pid as number);
        if (event.name === 'thread_name') namedThreads.add(thread);
        return;
      case 'C':
        if (!isObject(event.args) || !Object.values(event.args).every((v) => typeof v === 'number')) {
          fail('a counter needs args of numbers');
        }
        return;
      case 'X': {
        if (!isTime(event.dur)) return fail('dur is not a finite, non-negative number');
        const start = nanos(event.ts as number);
        const slice = { name: event.name as string, start, end: start + nanos(event.dur as number) };
        push(slicesByThread, thread, slice);
        usedThreads.add(thread);
        return;
      }
      case 'B':
        push(openByThread, thread, {
          name: event.name as string,
          start: nanos(event.ts as number),
          end: NaN,
        });
        usedThreads.add(thread);
        return;
      case 'E': {
        const open = openByThread.get(thread)?.pop();
        if (!open) return fail('an end with no begin open on its thread');
        if (event.name !== undefined && event.name !== open.name) fail(`ends '${open.name}'`);
        open.end = nanos(event.ts as number);
        if (open.end < open.start) fail('ends before it begins');
        push(slicesByThread, thread, open);
        return;
      }
      default:
        usedThreads.add(thread);
    }
  });
  for (const [thread, open] of openByThread) {
    for (const slice of open) problems.push(`thread ${thread}: '${slice.name}' begins and never ends`);
  }
  for (const [thread, slices] of slicesByThread) problems.push(...nestingViolations(thread, slices));
  for (const thread of usedThreads) {
    if (!namedThreads.has(thread)) problems.push(`thread ${thread} has no thread_name metadata`);
    const pid = Number(thread.split(':')[0]);
    if (!namedProcesses.has(pid)) problems.push(`process ${pid} has no process_name metadata`);
  }
  return [...new Set(problems)];
}

function checkMetadata(event: Record<string, unknown>, fail: (problem: string) => void): void {
  if (!METADATA_NAMES.has(event.name as string)) return fail('unknown metadata');
  if (!isObject(event.args)) return fail('metadata needs args');
  if ((event.name as string).endsWith('_name') && typeof event.args.name !== 'string') {
    fail('a name metadata event needs args.name');
  }
  if (event.name === 'thread_name' && !Number.isInteger(event.tid)) fail('thread_name needs a tid');
}

/** Slices of one thread must nest like calls: a slice that starts inside another ends inside it. */
function nestingViolations(thread: string, slices: Slice[]): string[] {
  const problems: string[] = [];
  const ordered = [...slices].sort((a, b) => a.start - b.start || b.end - a.end);
  const stack: Slice[] = [];
  for (const slice of ordered) {
    while (stack.length > 0 && stack[stack.length - 1]!.end <= slice.start) stack.pop();
    const parent = stack[stack.length - 1];
    if (parent && slice.end > parent.end) {
      problems.push(`thread ${thread}: '${slice.name}' overlaps '${parent.name}' without nesting in it`);
    }
    stack.push(slice);
  }
  return problems;
}

function nanos(micros: number): number {
  return Math.round(micros * 1000);
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function push<T>(map: Map<string, T[]>, key: string, item: T): void {
  const list = map.get(key);
  if (list) list.push(item);
  else map.set(key, [item]);
}

/** The example CNN: conv-batchnorm-relu blocks, pooling and a linear layer on a 1x3x32x32 image. */
export const tinyCnn = path.join(repoRoot(import.meta.url), 'examples', 'tiny-cnn.onnx');

export function tinyCnnFeeds(): Record<string, Tensor> {
  return randomFeeds([{ name: 'image', type: 'float32', dims: [1, 3, 32, 32] }]);
}

/**
 * The JavaScript engine's garbage collections on this thread, as Node reports them (`gc`
 * performance entries). A mark-compact pauses the thread for milliseconds and its concurrent
 * marking competes for the cores, so tracing and benchmarking both want to know when one fell.
 */

import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

/**
 * What V8 did: a young-generation scavenge, a full mark-compact, a step of incremental marking,
 * weak callbacks.
 */
export type CollectionKind = 'scavenge' | 'mark-compact' | 'incremental marking' | 'weak callbacks';

export interface Collection {
  kind: CollectionKind;
  /** Milliseconds on `performance.now()`'s clock. */
  start: number;
  duration: number;
}

const MAJOR_KINDS: ReadonlySet<string> = new Set<CollectionKind>(['mark-compact', 'incremental marking']);

/**
 * Whether a collection of this kind (a `Collection`'s kind, a 'gc' span's name) is a major one: a
 * mark-compact, or a step of the incremental marking before one.
 */
export function isMajor(kind: string): boolean {
  return MAJOR_KINDS.has(kind);
}

export interface CollectionWatch {
  /**
   * Hands `record` the collections so far. Node queues a collection's entry for the event loop,
   * which back-to-back work may not reach: this lets the loop turn first.
   */
  settle(): Promise<void>;
  /** Stops watching (after a last `settle` when the last collections matter). */
  stop(): void;
}

/** Calls `record` with each collection of this thread from now until `stop`. */
export function watchCollections(record: (collection: Collection) => void): CollectionWatch {
  const deliver = (entries: readonly PerformanceEntry[]) => {
    for (const entry of entries) {
      const kind = kindOf(entry);
      if (kind) record({ kind, start: entry.startTime, duration: entry.duration });
    }
  };
  const observer = new PerformanceObserver((list) => deliver(list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  return {
    async settle() {
      await new Promise((resolve) => setImmediate(resolve));
      deliver(observer.takeRecords());
    },
    stop() {
      observer.disconnect();
    },
  };
}

const KINDS = new Map<number, CollectionKind>([
  [constants.NODE_PERFORMANCE_GC_MINOR, 'scavenge'],
  [constants.NODE_PERFORMANCE_GC_MAJOR, 'mark-compact'],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental marking'],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, 'weak callbacks'],
]);

/** Node's 'gc' entries carry the collection's kind in `detail`. */
function kindOf(entry: PerformanceEntry): CollectionKind | undefined {
  const detail = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail;
  return detail?.kind === undefined ? undefined : KINDS.get(detail.kind);
}

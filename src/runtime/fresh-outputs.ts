/**
 * The large outputs of a run, allocated early so that their pages are faulted in while the pool
 * computes. Memory fresh from the system costs a page fault on the first write to each page; an
 * LM head's 13 MB of logits is 3,142 of them, 3 to 5 ms of the calling thread on the 2-core test
 * VM when the last kernel copies its result out. Allocated in the run's first pool job and
 * touched in slices at the start of the next ones (`CallerChores`), while the workers start on
 * the tiles, they are mapped by the time their kernel writes them. Memory the allocator reuses
 * needs no faults but is zeroed when allocated (about 1 ms for 13 MB); an output whose kernel
 * writes every element (`writesWholeOutputs`: the matrix products) gets memory left as it was.
 */

import type { CallerChores } from '../backends/backend.js';
import {
  allocateStorage,
  allocateUninitializedStorage,
  type DataType,
  type TensorData,
} from '../core/dtype.js';
import { Tensor } from '../core/tensor.js';
import { shapeSize } from '../backends/reference/util.js';
import { staticShape } from '../ir/graph.js';
import { storageBytes } from '../plan/memory.js';
import type { KernelStep, Plan } from '../plan/plan.js';

/** Outputs smaller than this fault their pages in well under a tenth of a millisecond. */
const MIN_BYTES = 1 << 20;
/** Pages of 4 KiB: wherever pages are larger, touching every 4 KiB still reaches each of them. */
const PAGE_BYTES = 4096;
/** Pages touched between looks at the clock. */
const PAGES_PER_SLICE = 8;

interface Candidate {
  slot: number;
  type: DataType;
  dims: number[];
  size: number;
  /** Its kernel writes every element: the memory need not be zeroed (`writesWholeOutputs`). */
  overwritten: boolean;
}

const candidatesByPlan = new WeakMap<Plan, readonly Candidate[]>();

/**
 * The graph outputs worth allocating early: of a static shape and a numeric type, at least
 * MIN_BYTES, and written by a kernel (which asks for its memory; an output slot is on the host,
 * so that kernel is a host backend's) rather than copied from a device, an input or a constant.
 */
function candidates(plan: Plan): readonly Candidate[] {
  let found = candidatesByPlan.get(plan);
  if (found) return found;
  const writers = new Map<number, KernelStep>();
  for (const step of plan.steps) {
    if (step.kind === 'kernel') for (const slot of step.outputs) writers.set(slot, step);
  }
  found = [...new Set(plan.outputs)].flatMap((slot) => {
    const type = plan.graph.valueTypes.get(plan.slots[slot]!.name);
    const dims = staticShape(type);
    const writer = writers.get(slot);
    if (type?.kind !== 'tensor' || !dims || type.elemType === 'string' || !writer) return [];
    const size = shapeSize(dims);
    if (size * storageBytes(type.elemType) < MIN_BYTES) return [];
    return [
      { slot, type: type.elemType, dims, size, overwritten: writer.kernel.writesWholeOutputs === true },
    ];
  });
  candidatesByPlan.set(plan, found);
  return found;
}

export class FreshOutputs implements CallerChores {
  /**
   * Outputs to allocate: the first chore slice does, inside a pool job, so that a collection the
   * allocation sets off pauses the calling thread while the workers compute.
   */
  private readonly waiting = new Map<number, Candidate>();
  private readonly tensors = new Map<number, Tensor>();
  /** Bytes of the outputs not handed out yet, by slot, and the next page of the first to touch. */
  private readonly untouched = new Map<number, Uint8Array>();
  private nextPage = 0;

  /** The run's early outputs: none when the plan has no candidate or the caller gave its buffer. */
  static forRun(plan: Plan, given: ReadonlyMap<number, unknown>): FreshOutputs | undefined {
    const wanted = candidates(plan).filter((candidate) => !given.has(candidate.slot));
    return wanted.length > 0 ? new FreshOutputs(wanted) : undefined;
  }

  private constructor(wanted: readonly Candidate[]) {
    for (const candidate of wanted) this.waiting.set(candidate.slot, candidate);
  }

  /**
   * The memory for graph output `slot` when it was allocated early and has this type and size; its
   * pages are not touched from then on, since the kernel is about to write them.
   */
  take(slot: number, type: DataType, size: number): Tensor | undefined {
    // Not allocated yet (no pool job came before its kernel): the kernel's own allocation serves.
    this.waiting.delete(slot);
    const tensor = this.tensors.get(slot);
    if (!tensor || tensor.type !== type || tensor.size !== size) return undefined;
    this.tensors.delete(slot);
    if (this.untouched.keys().next().value === slot) this.nextPage = 0;
    this.untouched.delete(slot);
    return tensor;
  }

  work(seconds: number): boolean {
    const deadline = performance.now() + seconds * 1000;
    if (this.waiting.size > 0) this.allocateWaiting();
    for (const [slot, bytes] of this.untouched) {
      if (!this.touchPages(bytes, deadline)) return true;
      this.untouched.delete(slot);
      this.nextPage = 0;
      if (performance.now() >= deadline) break;
    }
    return this.untouched.size > 0;
  }

  /** Touches `bytes`' pages from `nextPage` on: true once all are, false when `deadline` passes first. */
  private touchPages(bytes: Uint8Array, deadline: number): boolean {
    const pages = Math.ceil(bytes.byteLength / PAGE_BYTES);
    while (this.nextPage < pages) {
      const end = Math.min(pages, this.nextPage + PAGES_PER_SLICE);
      // No kernel has the memory yet, and it is zeros already or left for a kernel that writes
      // every element: writing a zero loses nothing but makes the system map the page now.
      for (let page = this.nextPage; page < end; page++) bytes[page * PAGE_BYTES] = 0;
      this.nextPage = end;
      if (end < pages && performance.now() >= deadline) return false;
    }
    return true;
  }

  private allocateWaiting(): void {
    for (const { slot, type, dims, size, overwritten } of this.waiting.values()) {
      // Zeroing 13 MB of reused memory took the calling thread about a millisecond.
      const allocate = overwritten ? allocateUninitializedStorage : allocateStorage;
      const data = allocate(type, size) as Exclude<TensorData, string[]>;
      this.tensors.set(slot, new Tensor(type, data, dims));
      this.untouched.set(slot, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    this.waiting.clear();
  }
}

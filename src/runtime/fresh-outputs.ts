/**
 * The large outputs of a run, allocated early so that their pages are faulted in while the pool
 * computes. Memory fresh from the system costs a page fault on the first write to each page; an
 * LM head's 13 MB of logits is 3,200 of them, about 2 ms for the calling thread when the last
 * kernel copies its result out. Allocated in the run's first pool job and touched in slices at
 * the start of the next ones (`CallerChores`), while the workers start on the tiles, they are
 * mapped by the time their kernel writes them.
 */

import type { CallerChores } from '../backends/backend.js';
import { allocateStorage, type DataType, type TensorData } from '../core/dtype.js';
import { Tensor } from '../core/tensor.js';
import { staticShape } from '../ir/graph.js';
import { storageBytes } from '../plan/memory.js';
import type { Plan } from '../plan/plan.js';

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
  const writtenByKernels = new Set<number>();
  for (const step of plan.steps) {
    if (step.kind === 'kernel') for (const slot of step.outputs) writtenByKernels.add(slot);
  }
  found = [...new Set(plan.outputs)].flatMap((slot) => {
    const type = plan.graph.valueTypes.get(plan.slots[slot]!.name);
    const dims = staticShape(type);
    if (type?.kind !== 'tensor' || !dims || type.elemType === 'string' || !writtenByKernels.has(slot))
      return [];
    const bytes = dims.reduce((a, b) => a * b, 1) * storageBytes(type.elemType);
    return bytes >= MIN_BYTES ? [{ slot, type: type.elemType, dims }] : [];
  });
  candidatesByPlan.set(plan, found);
  return found;
}

export class FreshOutputs implements CallerChores {
  /**
   * Outputs to allocate: the first chore slice does, inside a pool job, so that a collection the
   * allocation sets off pauses the calling thread while the workers compute.
   */
  private waiting: readonly Candidate[];
  private readonly tensors = new Map<number, Tensor>();
  /** Bytes of the outputs not handed out yet, and the next page of the first to touch. */
  private readonly untouched: Uint8Array[] = [];
  private nextPage = 0;

  /** The run's early outputs: none when the plan has no candidate or the caller gave its buffer. */
  static forRun(plan: Plan, given: ReadonlyMap<number, unknown>): FreshOutputs | undefined {
    const wanted = candidates(plan).filter((candidate) => !given.has(candidate.slot));
    return wanted.length > 0 ? new FreshOutputs(wanted) : undefined;
  }

  private constructor(wanted: readonly Candidate[]) {
    this.waiting = wanted;
  }

  /**
   * The memory for graph output `slot` when it was allocated early and has this type and size; its
   * pages are not touched from then on, since the kernel is about to write them.
   */
  take(slot: number, type: DataType, size: number): Tensor | undefined {
    // Not allocated yet (no pool job came before its kernel): the kernel's own allocation serves.
    this.waiting = this.waiting.filter((candidate) => candidate.slot !== slot);
    const tensor = this.tensors.get(slot);
    if (!tensor || tensor.type !== type || tensor.size !== size) return undefined;
    this.tensors.delete(slot);
    const data = tensor.data as Exclude<typeof tensor.data, string[]>;
    const index = this.untouched.findIndex((bytes) => bytes.buffer === data.buffer);
    if (index === 0) this.nextPage = 0;
    if (index >= 0) this.untouched.splice(index, 1);
    return tensor;
  }

  work(seconds: number): boolean {
    const deadline = performance.now() + seconds * 1000;
    if (this.waiting.length > 0) this.allocateWaiting();
    while (this.untouched.length > 0) {
      const bytes = this.untouched[0]!;
      const pages = Math.ceil(bytes.byteLength / PAGE_BYTES);
      const end = Math.min(pages, this.nextPage + PAGES_PER_SLICE);
      // The memory is fresh and zero-filled and no kernel has it yet: writing a zero changes
      // nothing but makes the system map the page now.
      for (let page = this.nextPage; page < end; page++) bytes[page * PAGE_BYTES] = 0;
      this.nextPage = end;
      if (end === pages) {
        this.untouched.shift();
        this.nextPage = 0;
      }
      if (performance.now() >= deadline) break;
    }
    return this.untouched.length > 0;
  }

  private allocateWaiting(): void {
    for (const { slot, type, dims } of this.waiting) {
      const data = allocateStorage(
        type,
        dims.reduce((a, b) => a * b, 1),
      ) as Exclude<TensorData, string[]>;
      this.tensors.set(slot, new Tensor(type, data, dims));
      this.untouched.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    this.waiting = [];
  }
}

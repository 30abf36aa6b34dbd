/**
 * A plan specialised to one input-shape signature: the plan, its memory plan, what the passes did
 * to get there, and the arenas runs of it use.
 */

import type { OptimizationReport } from '../passes/index.js';
import type { MemoryPlan } from './memory.js';
import type { Plan } from './plan.js';

export interface PlanInstance {
  readonly plan: Plan;
  readonly memory?: MemoryPlan;
  /** What the passes did to the imported graph to make this plan's graph. */
  readonly optimization?: OptimizationReport;
  /** Host arenas not in use by a run; a run takes one or makes one. */
  readonly freeArenas: Uint8Array[];
}

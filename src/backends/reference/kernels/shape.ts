/** Shape manipulation: operators that move or relabel elements without computing new values. */

import type { KernelDef } from '../kernel.js';

export const kernels: KernelDef[] = [
  { op: 'Identity', since: 1, run: (ctx) => [ctx.inputs[0]] },
];

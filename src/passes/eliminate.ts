import type { GraphPass } from './pass.js';

export const passes: GraphPass[] = [];

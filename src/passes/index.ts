/**
 * Every graph pass, in the order a round runs them: cleanups first so fusions see the simplest
 * graph; transformer patterns (LayerNorm, GELU, RMSNorm, attention, then where attention reads its
 * heads) before the conv/activation and elementwise-chain fusions, which would otherwise swallow
 * their pieces.
 */

import type { GraphPass } from './pass.js';
import { passes as constantFolding } from './constant-folding.js';
import { passes as eliminate } from './eliminate.js';
import { passes as fuseTransformer } from './fuse-transformer.js';
import { passes as attentionLayout } from './attention-layout.js';
import { passes as fuseConv } from './fuse-conv.js';
import { passes as fuseElementwise } from './fuse-elementwise.js';

export const ALL_PASSES: readonly GraphPass[] = [
  ...constantFolding,
  ...eliminate,
  ...fuseTransformer,
  ...attentionLayout,
  ...fuseConv,
  ...fuseElementwise,
];

export { optimizeGraph, type OptimizationLevel, type OptimizationReport, type Rewrite } from './pass.js';

/** Every kernel definition of the wasm backend, one family per file. */

import type { WasmKernelDef } from '../kernel.js';
import { kernels as attentionKernels } from './attention.js';
import { kernels as binaryKernels } from './binary.js';
import { kernels as concatKernels } from './concat.js';
import { kernels as convKernels } from './conv.js';
import { kernels as convTransposeKernels } from './conv-transpose.js';
import { kernels as elementwiseChainKernels } from './elementwise-chain.js';
import { kernels as gatherKernels } from './gather.js';
import { kernels as matmulKernels } from './matmul.js';
import { kernels as normalizationKernels } from './normalization.js';
import { kernels as padKernels } from './pad.js';
import { kernels as poolKernels } from './pool.js';
import { kernels as reduceKernels } from './reduce.js';
import { kernels as resizeKernels } from './resize.js';
import { kernels as rnnKernels } from './rnn.js';
import { kernels as sliceKernels } from './slice.js';
import { kernels as softmaxKernels } from './softmax.js';
import { kernels as transposeKernels } from './transpose.js';
import { kernels as unaryKernels } from './unary.js';

export const ALL_WASM_KERNELS: readonly WasmKernelDef[] = [
  ...attentionKernels,
  ...binaryKernels,
  ...concatKernels,
  ...convKernels,
  ...convTransposeKernels,
  ...elementwiseChainKernels,
  ...gatherKernels,
  ...matmulKernels,
  ...normalizationKernels,
  ...padKernels,
  ...poolKernels,
  ...reduceKernels,
  ...resizeKernels,
  ...rnnKernels,
  ...sliceKernels,
  ...softmaxKernels,
  ...transposeKernels,
  ...unaryKernels,
];

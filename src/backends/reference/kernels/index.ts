/**
 * Every reference kernel, one file per operator family.
 */

import type { KernelDef } from '../kernel.js';
import { kernels as unary } from './unary.js';
import { kernels as activation } from './activation.js';
import { kernels as binary } from './binary.js';
import { kernels as cast } from './cast.js';
import { kernels as quantize } from './quantize.js';
import { kernels as matmul } from './matmul.js';
import { kernels as einsum } from './einsum.js';
import { kernels as conv } from './conv.js';
import { kernels as pool } from './pool.js';
import { kernels as normalization } from './normalization.js';
import { kernels as reduce } from './reduce.js';
import { kernels as softmax } from './softmax.js';
import { kernels as shape } from './shape.js';
import { kernels as constant } from './constant.js';
import { kernels as gather } from './gather.js';
import { kernels as scatter } from './scatter.js';
import { kernels as indexing } from './indexing.js';
import { kernels as resize } from './resize.js';
import { kernels as rnn } from './rnn.js';
import { kernels as controlFlow } from './control-flow.js';
import { kernels as sequence } from './sequence.js';
import { kernels as string } from './string.js';
import { kernels as random } from './random.js';
import { kernels as misc } from './misc.js';
import { kernels as fusedTransformer } from './fused-transformer.js';
import { kernels as fusedElementwise } from './fused-elementwise.js';
import { kernels as fusedConv } from './fused-conv.js';
import { kernels as loss } from './loss.js';
import { kernels as training } from './training.js';
import { kernels as gradient } from './gradient.js';
import { kernels as ml } from './ml.js';
import { kernels as signal } from './signal.js';
import { kernels as attention } from './attention.js';
import { kernels as text } from './text.js';
import { kernels as linearAttention } from './linear-attention.js';
import { kernels as image } from './image.js';

export const ALL_KERNELS: readonly KernelDef[] = [
  ...unary,
  ...activation,
  ...binary,
  ...cast,
  ...quantize,
  ...matmul,
  ...einsum,
  ...conv,
  ...pool,
  ...normalization,
  ...reduce,
  ...softmax,
  ...shape,
  ...constant,
  ...gather,
  ...scatter,
  ...indexing,
  ...resize,
  ...rnn,
  ...controlFlow,
  ...sequence,
  ...string,
  ...random,
  ...misc,
  ...fusedTransformer,
  ...fusedElementwise,
  ...fusedConv,
  ...loss,
  ...training,
  ...gradient,
  ...ml,
  ...signal,
  ...attention,
  ...text,
  ...linearAttention,
  ...image,
];

/**
 * Rules for ImageDecoder: an encoded image in, uint8 pixels [height, width, channels] out; the
 * height and width are in the image bytes, the channel count in `pixel_format`.
 */

import { tensorType } from './dims.js';
import type { InferenceRule } from './rule.js';

export const rules: InferenceRule[] = [
  {
    op: 'ImageDecoder',
    infer: (ctx) => [
      tensorType('uint8', [null, null, ctx.string('pixel_format', 'RGB') === 'Grayscale' ? 1 : 3]),
    ],
  },
];

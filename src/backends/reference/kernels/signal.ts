/**
 * Signal processing: DFT (forward, inverse, one-sided forward = rfft, one-sided inverse = irfft),
 * STFT, the Hann/Hamming/Blackman windows and MelWeightMatrix. Signals carry their complex parts
 * in a trailing dimension of size 1 (real) or 2 (real, imaginary). Transforms run in float64: a
 * radix-2 FFT for power-of-two lengths, a direct DFT over a twiddle table otherwise.
 */

import { dataTypeFromOnnx, isBigIntType, isFloatType, type DataType } from '../../../core/dtype.js';
import type { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { scalarNumber, shapeSize, toNumbers } from '../util.js';

/** A complex vector as separate real and imaginary arrays. */
interface ComplexVector {
  re: Float64Array;
  im: Float64Array;
}

/** cos/sin of 2πk/n for k in [0, n): exact angles, so long transforms keep their accuracy. */
function twiddles(n: number, inverse: boolean): ComplexVector {
  const sign = inverse ? 1 : -1;
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    re[k] = Math.cos((2 * Math.PI * k) / n);
    im[k] = sign * Math.sin((2 * Math.PI * k) / n);
  }
  return { re, im };
}

function directTransform(x: ComplexVector, w: ComplexVector): ComplexVector {
  const n = x.re.length;
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let sumRe = 0;
    let sumIm = 0;
    for (let t = 0; t < n; t++) {
      const j = (k * t) % n;
      sumRe += x.re[t]! * w.re[j]! - x.im[t]! * w.im[j]!;
      sumIm += x.re[t]! * w.im[j]! + x.im[t]! * w.re[j]!;
    }
    re[k] = sumRe;
    im[k] = sumIm;
  }
  return { re, im };
}

/** Iterative radix-2 Cooley-Tukey on a copy of `x`, whose length is a power of two. */
function radix2Transform(x: ComplexVector, w: ComplexVector): ComplexVector {
  const n = x.re.length;
  const re = Float64Array.from(x.re);
  const im = Float64Array.from(x.im);
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let size = 2; size <= n; size <<= 1) {
    const half = size >> 1;
    const stride = n / size;
    for (let start = 0; start < n; start += size) {
      for (let k = 0; k < half; k++) {
        const wRe = w.re[k * stride]!;
        const wIm = w.im[k * stride]!;
        const a = start + k;
        const b = a + half;
        const tRe = re[b]! * wRe - im[b]! * wIm;
        const tIm = re[b]! * wIm + im[b]! * wRe;
        re[b] = re[a]! - tRe;
        im[b] = im[a]! - tIm;
        re[a] = re[a]! + tRe;
        im[a] = im[a]! + tIm;
      }
    }
  }
  return { re, im };
}

/** The DFT of `x`; the inverse one includes the 1/n scaling. */
function transform(x: ComplexVector, inverse: boolean): ComplexVector {
  const n = x.re.length;
  const w = twiddles(n, inverse);
  const y = (n & (n - 1)) === 0 ? radix2Transform(x, w) : directTransform(x, w);
  if (inverse) {
    for (let k = 0; k < n; k++) {
      y.re[k] = y.re[k]! / n;
      y.im[k] = y.im[k]! / n;
    }
  }
  return y;
}

function checkFloatSignal(ctx: KernelContext, t: Tensor, what: string): void {
  if (!isFloatType(t.type)) ctx.fail(`${what} must be a float tensor, got ${t.type}`);
}

/** The trailing real/complex dimension: 1 or 2 values per sample. */
function componentCount(ctx: KernelContext, t: Tensor, what: string): number {
  const c = t.dims[t.dims.length - 1];
  if (t.dims.length < 2 || (c !== 1 && c !== 2)) {
    ctx.fail(`${what} must end in a dimension of 1 (real) or 2 (complex), got [${t.dims.join(', ')}]`);
  }
  return c;
}

/** The DFT axis: an attribute (default 1) in opset 17, an input (default -2) from opset 20. */
function dftAxis(ctx: KernelContext, rank: number): number {
  const axisInput = ctx.opset >= 20 ? ctx.optionalInput(2) : undefined;
  const axis = ctx.opset >= 20 ? (axisInput ? scalarNumber(axisInput) : -2) : ctx.int('axis', 1);
  const normalized = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(normalized) || normalized < 0 || normalized > rank - 2) {
    ctx.fail(
      `axis ${axis} is out of range for a signal of rank ${rank} (its last dimension holds the complex parts)`,
    );
  }
  return normalized;
}

function dft(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  checkFloatSignal(ctx, x, 'the input');
  const components = componentCount(ctx, x, 'the input');
  const rank = x.dims.length;
  const axis = dftAxis(ctx, rank);
  const inverse = ctx.int('inverse', 0) !== 0;
  const onesided = ctx.int('onesided', 0) !== 0;
  // One-sided and inverse together is irfft: a half spectrum in, a real signal out.
  const halfSpectrumIn = inverse && onesided;
  if (onesided && !inverse && components === 2) ctx.fail('a one-sided DFT needs a real input');
  const inputLength = x.dims[axis]!;
  const lengthInput = ctx.optionalInput(1);
  const length = lengthInput
    ? scalarNumber(lengthInput)
    : halfSpectrumIn
      ? 2 * (inputLength - 1)
      : inputLength;
  if (!Number.isInteger(length) || length < 1)
    ctx.fail(`the DFT length must be a positive integer, got ${length}`);
  const outLength = onesided && !inverse ? Math.floor(length / 2) + 1 : length;
  const outComponents = halfSpectrumIn ? 1 : 2;
  const outDims = x.dims.map((d, a) => (a === axis ? outLength : a === rank - 1 ? outComponents : d));

  const values = toNumbers(x);
  const out = new Float64Array(shapeSize(outDims));
  const outer = shapeSize(x.dims.slice(0, axis));
  const inner = shapeSize(x.dims.slice(axis + 1, rank - 1));
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (k: number) => ((o * inputLength + k) * inner + i) * components;
      const signal = halfSpectrumIn
        ? hermitianSpectrum(values, at, components, inputLength, length)
        : paddedSignal(values, at, components, inputLength, length);
      const y = transform(signal, inverse);
      for (let k = 0; k < outLength; k++) {
        const target = ((o * outLength + k) * inner + i) * outComponents;
        out[target] = y.re[k]!;
        if (outComponents === 2) out[target + 1] = y.im[k]!;
      }
    }
  }
  return [ctx.outputFromNumbers(0, x.type, out, outDims)];
}

/** The first `length` samples of a lane (`at(k)` = where sample k starts), zero-padded. */
function paddedSignal(
  values: ArrayLike<number>,
  at: (k: number) => number,
  components: number,
  available: number,
  length: number,
): ComplexVector {
  const re = new Float64Array(length);
  const im = new Float64Array(length);
  for (let k = 0; k < Math.min(available, length); k++) {
    re[k] = values[at(k)]!;
    if (components === 2) im[k] = values[at(k) + 1]!;
  }
  return { re, im };
}

/** The full spectrum of a real signal of `length` samples, rebuilt from its first half by symmetry. */
function hermitianSpectrum(
  values: ArrayLike<number>,
  at: (k: number) => number,
  components: number,
  available: number,
  length: number,
): ComplexVector {
  const spectrum = paddedSignal(
    values,
    at,
    components,
    Math.min(available, Math.floor(length / 2) + 1),
    length,
  );
  for (let k = 1; k < length - k; k++) {
    spectrum.re[length - k] = spectrum.re[k]!;
    spectrum.im[length - k] = -spectrum.im[k]!;
  }
  return spectrum;
}

function positiveInt(ctx: KernelContext, t: Tensor, what: string): number {
  const v = scalarNumber(t);
  if (!Number.isInteger(v) || v < 1) ctx.fail(`${what} must be a positive integer, got ${v}`);
  return v;
}

function stft(ctx: KernelContext): Tensor[] {
  const signal = ctx.input(0);
  checkFloatSignal(ctx, signal, 'the signal');
  const components = componentCount(ctx, signal, 'the signal');
  if (signal.dims.length !== 3)
    ctx.fail(`the signal must be [batch, length, 1 or 2], got [${signal.dims.join(', ')}]`);
  const step = positiveInt(ctx, ctx.input(1), 'frame_step');
  const window = ctx.optionalInput(2);
  const lengthInput = ctx.optionalInput(3);
  if (!window && !lengthInput) ctx.fail('STFT needs a window or a frame_length');
  const frameLength = lengthInput ? positiveInt(ctx, lengthInput, 'frame_length') : window!.size;
  if (window && (window.dims.length !== 1 || window.size !== frameLength)) {
    ctx.fail(`the window must be [${frameLength}], got [${window.dims.join(', ')}]`);
  }
  const onesided = ctx.int('onesided', 1) !== 0;
  if (onesided && components === 2) ctx.fail('a one-sided STFT needs a real signal');
  const [batch, signalLength] = signal.dims as [number, number];
  if (signalLength < frameLength)
    ctx.fail(`the signal (${signalLength} samples) is shorter than a frame (${frameLength})`);
  const frames = Math.floor((signalLength - frameLength) / step) + 1;
  const bins = onesided ? Math.floor(frameLength / 2) + 1 : frameLength;
  const weights = window ? toNumbers(window) : new Float64Array(frameLength).fill(1);
  const values = toNumbers(signal);
  const out = new Float64Array(batch * frames * bins * 2);
  for (let b = 0; b < batch; b++) {
    for (let f = 0; f < frames; f++) {
      const frame = paddedSignal(
        values,
        (k) => (b * signalLength + f * step + k) * components,
        components,
        frameLength,
        frameLength,
      );
      for (let k = 0; k < frameLength; k++) {
        frame.re[k] = frame.re[k]! * weights[k]!;
        frame.im[k] = frame.im[k]! * weights[k]!;
      }
      const y = transform(frame, false);
      for (let k = 0; k < bins; k++) {
        const target = ((b * frames + f) * bins + k) * 2;
        out[target] = y.re[k]!;
        out[target + 1] = y.im[k]!;
      }
    }
  }
  return [ctx.outputFromNumbers(0, signal.type, out, [batch, frames, bins, 2])];
}

/** The element type named by an `output_datatype` attribute (float32 by default). */
function outputType(ctx: KernelContext): DataType {
  const code = ctx.int('output_datatype', 1);
  const type = dataTypeFromOnnx(code);
  if (!type || type === 'string' || type === 'bool' || type === 'complex64' || type === 'complex128') {
    ctx.fail(`output_datatype ${code} is not a numeric type`);
  }
  return type;
}

/**
 * A generalized cosine window Σ (-1)^j a_j cos(2πjn/N): N is the size for a periodic window,
 * size - 1 for a symmetric one.
 */
function cosineWindow(coefficients: readonly number[]): KernelDef['run'] {
  return (ctx) => {
    const sizeInput = ctx.input(0);
    if (!isBigIntType(sizeInput.type) && sizeInput.type !== 'int32')
      ctx.fail(`size must be an integer scalar`);
    const size = scalarNumber(sizeInput);
    if (!Number.isInteger(size) || size < 0) ctx.fail(`size must be a non-negative integer, got ${size}`);
    const periodic = ctx.int('periodic', 1) !== 0;
    // A one-sample symmetric window has no span to taper over; its single value is the peak, 1.
    const span = periodic ? size : size - 1;
    const values = Float64Array.from({ length: size }, (_, n) => {
      if (span === 0) return 1;
      let v = 0;
      coefficients.forEach((a, j) => (v += (j % 2 === 0 ? a : -a) * Math.cos((2 * Math.PI * j * n) / span)));
      return v;
    });
    return [ctx.outputFromNumbers(0, outputType(ctx), values, [size])];
  };
}

const hertzToMel = (hz: number): number => 2595 * Math.log10(1 + hz / 700);
const melToHertz = (mel: number): number => 700 * (10 ** (mel / 2595) - 1);

/**
 * Triangular filters, equally spaced in mel between the edge frequencies, over the bins of a
 * one-sided spectrum: output [dft_length / 2 + 1, num_mel_bins].
 */
function melWeightMatrix(ctx: KernelContext): Tensor[] {
  const melBins = positiveInt(ctx, ctx.input(0), 'num_mel_bins');
  const dftLength = positiveInt(ctx, ctx.input(1), 'dft_length');
  const sampleRate = positiveInt(ctx, ctx.input(2), 'sample_rate');
  const lowerHertz = scalarNumber(ctx.input(3));
  const upperHertz = scalarNumber(ctx.input(4));
  if (!(lowerHertz >= 0 && lowerHertz < upperHertz)) {
    ctx.fail(`the edge frequencies must satisfy 0 <= lower < upper, got ${lowerHertz} and ${upperHertz}`);
  }
  const spectrumBins = Math.floor(dftLength / 2) + 1;
  const lowMel = hertzToMel(lowerHertz);
  const melStep = (hertzToMel(upperHertz) - lowMel) / (melBins + 2);
  // Filter edges as spectrum bin indices: num_mel_bins + 2 points, each filter spanning three.
  const edges = Array.from({ length: melBins + 2 }, (_, i) =>
    Math.floor(((dftLength + 1) * melToHertz(lowMel + i * melStep)) / sampleRate),
  );
  if (edges[melBins + 1]! >= spectrumBins) {
    ctx.fail(
      `upper_edge_hertz ${upperHertz} lies beyond the spectrum of ${spectrumBins} bins at sample_rate ${sampleRate}`,
    );
  }
  const out = new Float64Array(spectrumBins * melBins);
  for (let m = 0; m < melBins; m++) {
    const [low, center, high] = [edges[m]!, edges[m + 1]!, edges[m + 2]!];
    if (center === low) out[center * melBins + m] = 1;
    for (let j = low; j <= center && center > low; j++) out[j * melBins + m] = (j - low) / (center - low);
    for (let j = center; j < high; j++) out[j * melBins + m] = (high - j) / (high - center);
  }
  return [ctx.outputFromNumbers(0, outputType(ctx), out, [spectrumBins, melBins])];
}

export const kernels: KernelDef[] = [
  { op: 'DFT', since: 17, run: dft },
  { op: 'STFT', since: 17, run: stft },
  { op: 'HannWindow', since: 17, run: cosineWindow([0.5, 0.5]) },
  { op: 'HammingWindow', since: 17, run: cosineWindow([25 / 46, 21 / 46]) },
  { op: 'BlackmanWindow', since: 17, run: cosineWindow([0.42, 0.5, 0.08]) },
  { op: 'MelWeightMatrix', since: 17, run: melWeightMatrix },
];

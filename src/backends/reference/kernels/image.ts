/**
 * ImageDecoder (opset 20): decodes an encoded image (a 1-D uint8 tensor) into an (H, W, C) uint8
 * tensor in RGB, BGR or Grayscale order. The format is recognized by its signature and decoded by
 * a synchronous pure-JavaScript decoder: jpeg-js (JPEG), fast-png (PNG), tiff (TIFF), jpeg2000
 * (JPEG 2000, from PDF.js), and readers here for BMP and Netpbm (PBM, PGM, PPM), simple formats
 * whose npm decoders mishandle palettes, RLE or 16-bit pixels. WebP has no such decoder, so a WebP
 * stream fails with an error that says so. As the spec asks, a stream that is not a recognized
 * image, or that its decoder rejects, gives an empty (0, 0, C) tensor.
 *
 * jpeg-js leaves chroma upsampling and the YCbCr to RGB conversion to this file, which does them
 * the way the spec prescribes (libjpeg-turbo's "fancy" upsampling and fixed-point conversion).
 * jpeg-js's inverse DCT still rounds differently from libjpeg-turbo's, so JPEG pixels can differ
 * from those of libjpeg-based decoders by a few levels.
 */

import { convertIndexedToRgb, decode as decodePngStream } from 'fast-png';
import { decode as decodeJpegStream } from 'jpeg-js';
import { JpxImage } from 'jpeg2000';
import { decode as decodeTiffStream } from 'tiff';
import type { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';

/** A decoded image as interleaved 8-bit RGB, rows from the top. */
interface RgbImage {
  width: number;
  height: number;
  rgb: Uint8Array;
}

interface ImageFormat {
  name: string;
  matches: (bytes: Uint8Array) => boolean;
  /** Absent when no pure-JavaScript decoder exists for the format. */
  decode?: (bytes: Uint8Array) => RgbImage;
}

function startsWith(...signature: number[]): (bytes: Uint8Array) => boolean {
  return (bytes) => signature.every((byte, i) => bytes[i] === byte);
}

function ascii(text: string): number[] {
  return Array.from(text, (ch) => ch.charCodeAt(0));
}

/**
 * Interleaved samples of `channels` per pixel (gray, gray + alpha, RGB or RGBA) with values up to
 * `maxValue`, as 8-bit RGB. Alpha is dropped (RGB output has no place for it). 16-bit samples keep
 * their high byte (libpng's 16-to-8-bit stripping); other depths are rescaled to 0..255.
 */
function rgbFromSamples(
  width: number,
  height: number,
  samples: ArrayLike<number>,
  channels: number,
  maxValue: number,
): RgbImage {
  if (channels < 1 || channels > 4) throw new Error(`images with ${channels} channels are not supported`);
  const pixels = width * height;
  if (samples.length < pixels * channels) throw new Error('the image data is truncated');
  const to8Bit =
    maxValue === 255
      ? (s: number) => s
      : maxValue === 65535
        ? (s: number) => s >> 8
        : (s: number) => Math.min(255, Math.round((s * 255) / maxValue));
  const colorChannels = channels >= 3 ? 3 : 1;
  const rgb = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < 3; c++) {
      rgb[p * 3 + c] = to8Bit(samples[p * channels + (colorChannels === 3 ? c : 0)]!);
    }
  }
  return { width, height, rgb };
}

/**
 * Samples of up to 8 bits, packed most significant first into rows of `rowBytes` (by default as
 * few bytes as hold a row), one per byte.
 */
function unpackRows(
  data: ArrayLike<number>,
  width: number,
  height: number,
  bits: number,
  rowBytes = Math.ceil((width * bits) / 8),
): Uint8Array {
  const mask = (1 << bits) - 1;
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * bits;
      out[y * width + x] = (data[y * rowBytes + (bit >> 3)]! >> (8 - bits - (bit & 7))) & mask;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// JPEG
// ---------------------------------------------------------------------------------------------

interface JpegComponent {
  id: number;
  h: number;
  v: number;
}

/** What the JPEG headers say about the components and their color space. */
interface JpegLayout {
  components: JpegComponent[];
  sawJfif: boolean;
  adobeTransform: number | undefined;
}

const START_OF_SCAN = 0xda;

function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/** Walks the marker segments up to the first scan. */
function readJpegLayout(bytes: Uint8Array): JpegLayout {
  const layout: JpegLayout = { components: [], sawJfif: false, adobeTransform: undefined };
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) throw new Error('JPEG marker expected');
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at++;
      continue;
    }
    if (marker === START_OF_SCAN) break;
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    const segment = bytes.subarray(at + 4, at + 2 + length);
    if (marker === 0xe0 && String.fromCharCode(...segment.subarray(0, 5)) === 'JFIF\0') layout.sawJfif = true;
    if (marker === 0xee && length >= 14 && String.fromCharCode(...segment.subarray(0, 5)) === 'Adobe') {
      layout.adobeTransform = segment[11];
    }
    if (isStartOfFrame(marker)) {
      for (let i = 0; i < segment[5]!; i++) {
        const sampling = segment[7 + 3 * i]!;
        layout.components.push({ id: segment[6 + 3 * i]!, h: sampling >> 4, v: sampling & 15 });
      }
    }
    at += 2 + length;
  }
  return layout;
}

/** libjpeg's rule for whether three components are YCbCr (the usual case) or RGB. */
function isYCbCr(layout: JpegLayout): boolean {
  if (layout.sawJfif) return true;
  if (layout.adobeTransform !== undefined) return layout.adobeTransform !== 0;
  const [r, g, b] = layout.components.map((c) => c.id);
  return !(r === 0x52 && g === 0x47 && b === 0x42);
}

/**
 * Upsamples one component by 2 horizontally and/or vertically (`wide`, `tall`) as libjpeg-turbo's
 * fancy upsampling does: each output sample weighs the nearer input sample 3/4 and the next one
 * out 1/4 (edges repeat), rounding half down and half up at alternate outputs.
 */
function fancyUpsample(
  plane: Uint8Array,
  planeWidth: number,
  planeHeight: number,
  wide: boolean,
  tall: boolean,
  width: number,
  height: number,
): Uint8Array {
  const out = new Uint8Array(width * height);
  const at = (x: number, y: number): number =>
    plane[Math.min(planeHeight - 1, Math.max(0, y)) * planeWidth + Math.min(planeWidth - 1, Math.max(0, x))]!;
  for (let y = 0; y < height; y++) {
    const row = tall ? y >> 1 : y;
    const nearRow = tall ? (y & 1 ? row + 1 : row - 1) : row;
    const columnSum = (x: number): number => (tall ? 3 * at(x, row) + at(x, nearRow) : at(x, row));
    for (let x = 0; x < width; x++) {
      const column = wide ? x >> 1 : x;
      const odd = wide ? x & 1 : y & 1;
      if (wide) {
        const nearColumn = x & 1 ? column + 1 : column - 1;
        const weighted = 3 * columnSum(column) + columnSum(nearColumn);
        out[y * width + x] = tall ? (weighted + (odd ? 7 : 8)) >> 4 : (weighted + (odd ? 2 : 1)) >> 2;
      } else {
        out[y * width + x] = (columnSum(column) + (odd ? 2 : 1)) >> 2;
      }
    }
  }
  return out;
}

/**
 * Component `c` of a full-size image that jpeg-js filled by repeating each sample, at full size
 * again: fancy-upsampled where libjpeg-turbo would (a factor of 2 across, down or both, the other
 * factor being 1 or 2; across only when the component is wider than 2 samples), left repeated
 * otherwise.
 */
function upsampleComponent(
  full: Uint8Array,
  c: number,
  width: number,
  height: number,
  component: JpegComponent,
  maxH: number,
  maxV: number,
): Uint8Array {
  const factorX = maxH / component.h;
  const factorY = maxV / component.v;
  const planeWidth = Math.ceil((width * component.h) / maxH);
  const planeHeight = Math.ceil((height * component.v) / maxV);
  const wide = factorX === 2 && (factorY === 1 || factorY === 2) && planeWidth > 2;
  const tall = factorY === 2 && (factorX === 1 || wide);
  const sample = (x: number, y: number): number => full[(y * width + x) * 3 + c]!;
  if (!wide && !tall) {
    return Uint8Array.from({ length: width * height }, (_, p) => sample(p % width, Math.floor(p / width)));
  }
  const plane = new Uint8Array(planeWidth * planeHeight);
  for (let y = 0; y < planeHeight; y++) {
    for (let x = 0; x < planeWidth; x++) plane[y * planeWidth + x] = sample(x * factorX, y * factorY);
  }
  return fancyUpsample(plane, planeWidth, planeHeight, wide, tall, width, height);
}

/** libjpeg's fixed-point YCbCr to RGB conversion (16 fraction bits, rounded, clamped). */
function yCbCrToRgb(y: Uint8Array, cb: Uint8Array, cr: Uint8Array): Uint8Array {
  const fixed = (x: number): number => Math.round(x * 65536);
  const half = 1 << 15;
  const clamp = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : v);
  const rgb = new Uint8Array(y.length * 3);
  for (let p = 0; p < y.length; p++) {
    const blue = cb[p]! - 128;
    const red = cr[p]! - 128;
    rgb[p * 3] = clamp(y[p]! + ((fixed(1.402) * red + half) >> 16));
    rgb[p * 3 + 1] = clamp(y[p]! + ((-fixed(0.34414) * blue - fixed(0.71414) * red + half) >> 16));
    rgb[p * 3 + 2] = clamp(y[p]! + ((fixed(1.772) * blue + half) >> 16));
  }
  return rgb;
}

/**
 * Three-component images come from jpeg-js untransformed and upsampled by repetition; they are
 * upsampled and converted here. Gray and CMYK images are left to jpeg-js.
 */
function decodeJpeg(bytes: Uint8Array): RgbImage {
  const layout = readJpegLayout(bytes);
  const threeComponents = layout.components.length === 3;
  const decoded = decodeJpegStream(bytes, {
    useTArray: true,
    formatAsRGBA: false,
    tolerantDecoding: false,
    ...(threeComponents ? { colorTransform: false } : {}),
  });
  const { width, height, data } = decoded;
  if (!threeComponents) return { width, height, rgb: data };
  const maxH = Math.max(...layout.components.map((c) => c.h));
  const maxV = Math.max(...layout.components.map((c) => c.v));
  const [first, second, third] = layout.components.map((component, c) =>
    upsampleComponent(data, c, width, height, component, maxH, maxV),
  ) as [Uint8Array, Uint8Array, Uint8Array];
  if (isYCbCr(layout)) return { width, height, rgb: yCbCrToRgb(first, second, third) };
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) rgb.set([first[p]!, second[p]!, third[p]!], p * 3);
  return { width, height, rgb };
}

// ---------------------------------------------------------------------------------------------
// PNG, TIFF, JPEG 2000
// ---------------------------------------------------------------------------------------------

function decodePng(bytes: Uint8Array): RgbImage {
  const png = decodePngStream(bytes);
  const { width, height, depth, channels } = png;
  if (png.palette) {
    return rgbFromSamples(width, height, convertIndexedToRgb(png), png.palette[0]!.length, 255);
  }
  if (depth < 8) {
    return rgbFromSamples(width, height, unpackRows(png.data, width, height, depth), 1, (1 << depth) - 1);
  }
  return rgbFromSamples(width, height, png.data, channels, depth === 16 ? 65535 : 255);
}

const TIFF_PALETTE = 3;

/** The first page, as Pillow opens it. */
function decodeTiff(bytes: Uint8Array): RgbImage {
  const page = decodeTiffStream(bytes)[0];
  if (!page) throw new Error('the TIFF file has no image');
  if (page.planarConfiguration !== 1) throw new Error('planar TIFF images are not supported');
  if (!(page.data instanceof Uint8Array || page.data instanceof Uint16Array)) {
    throw new Error('only bilevel, 8-bit and 16-bit TIFF images are supported');
  }
  const { width, height, samplesPerPixel, bitsPerSample } = page;
  const maxValue = 2 ** bitsPerSample - 1;
  if (page.type !== TIFF_PALETTE) return rgbFromSamples(width, height, page.data, samplesPerPixel, maxValue);
  const palette = page.palette;
  if (!palette) throw new Error('the palette TIFF image has no color map');
  const rgb16 = new Uint16Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const color = palette[page.data[p]!];
    if (!color) throw new Error(`palette index ${page.data[p]} is out of range`);
    rgb16.set(color, p * 3);
  }
  return rgbFromSamples(width, height, rgb16, 3, 65535);
}

/** A Buffer over the same memory, for decoders that want one. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** PDF.js's decoder yields 8-bit tiles of interleaved components; they are laid out by position. */
function decodeJpeg2000(bytes: Uint8Array): RgbImage {
  const jpx = new JpxImage();
  // The decoder reads through Buffer methods, whatever its typings say.
  jpx.parse(asBuffer(bytes));
  const { width, height, componentsCount: channels } = jpx;
  const samples = new Uint8Array(width * height * channels);
  for (const tile of jpx.tiles) {
    for (let row = 0; row < tile.height; row++) {
      const from = row * tile.width * channels;
      const to = ((tile.top + row) * width + tile.left) * channels;
      samples.set(tile.items.subarray(from, from + tile.width * channels), to);
    }
  }
  return rgbFromSamples(width, height, samples, channels, 255);
}

// ---------------------------------------------------------------------------------------------
// BMP
// ---------------------------------------------------------------------------------------------

const BI_RGB = 0;
const BI_RLE8 = 1;
const BI_RLE4 = 2;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;

/** The fields of a BMP's headers that decoding needs. */
interface BmpHeader {
  width: number;
  height: number;
  /** Rows are stored bottom row first unless the height is negative. */
  bottomUp: boolean;
  bitCount: number;
  compression: number;
  pixelOffset: number;
  palette: Uint8Array[] | undefined;
  /** Red, green and blue masks of 16- and 32-bit pixels. */
  masks: number[];
}

/**
 * Reads the file header and a DIB header of 12 bytes (OS/2 BITMAPCOREHEADER, 3-byte palette
 * entries) or 40 or more (BITMAPINFOHEADER and its successors, 4-byte entries). With a 40-byte
 * header, bit-field masks follow the header; later headers hold them at the same offset.
 */
function readBmpHeader(bytes: Uint8Array): BmpHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerSize = view.getUint32(14, true);
  const core = headerSize === 12;
  if (!core && headerSize < 40) throw new Error(`BMP header size ${headerSize} is not supported`);
  const width = core ? view.getUint16(18, true) : view.getInt32(18, true);
  const storedHeight = core ? view.getInt16(20, true) : view.getInt32(22, true);
  const bitCount = view.getUint16(core ? 24 : 28, true);
  const compression = core ? BI_RGB : view.getUint32(30, true);
  const bitFields = compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS;
  if (width <= 0 || storedHeight === 0) throw new Error('the BMP image is empty');
  const defaultMasks = bitCount === 16 ? [0x7c00, 0x03e0, 0x001f] : [0xff0000, 0x00ff00, 0x0000ff];
  const masks = bitFields ? [0, 4, 8].map((at) => view.getUint32(54 + at, true)) : defaultMasks;
  let palette: Uint8Array[] | undefined;
  if (bitCount <= 8) {
    const entryBytes = core ? 3 : 4;
    const colorsUsed = core ? 0 : view.getUint32(46, true);
    const start = 14 + headerSize + (bitFields && headerSize === 40 ? 12 : 0);
    palette = Array.from({ length: colorsUsed || 1 << bitCount }, (_, i) => {
      const at = start + i * entryBytes;
      return Uint8Array.of(bytes[at + 2]!, bytes[at + 1]!, bytes[at]!);
    });
  }
  return {
    width,
    height: Math.abs(storedHeight),
    bottomUp: storedHeight > 0,
    bitCount,
    compression,
    pixelOffset: view.getUint32(10, true),
    palette,
    masks,
  };
}

/**
 * Expands RLE8 or RLE4 (`nibbles`) data into palette indices, in stored row order: runs of one
 * value (alternating nibbles for RLE4), escapes for end of line, end of bitmap and a jump, and
 * literal runs padded to 16 bits. Skipped pixels keep index 0.
 */
function decodeRle(data: Uint8Array, width: number, height: number, nibbles: boolean): Uint8Array {
  const indices = new Uint8Array(width * height);
  let x = 0;
  let row = 0;
  const put = (index: number): void => {
    if (x < width && row < height) indices[row * width + x] = index;
    x++;
  };
  const nibble = (byte: number, i: number): number => (i & 1 ? byte & 15 : byte >> 4);
  let at = 0;
  while (at + 1 < data.length) {
    const count = data[at]!;
    const value = data[at + 1]!;
    at += 2;
    if (count > 0) {
      for (let i = 0; i < count; i++) put(nibbles ? nibble(value, i) : value);
    } else if (value === 0) {
      x = 0;
      row++;
    } else if (value === 1) {
      break;
    } else if (value === 2) {
      x += data[at]!;
      row += data[at + 1]!;
      at += 2;
    } else {
      for (let i = 0; i < value; i++) put(nibbles ? nibble(data[at + (i >> 1)]!, i) : data[at + i]!);
      const literalBytes = nibbles ? Math.ceil(value / 2) : value;
      at += literalBytes + (literalBytes & 1);
    }
  }
  return indices;
}

/**
 * One channel of a 16- or 32-bit pixel: the bits under `mask`, rescaled to 0..255 rounding down
 * as Pillow does.
 */
function maskedChannel(pixel: number, mask: number): number {
  if (mask === 0) return 0;
  const shift = 31 - Math.clz32(mask & -mask);
  const max = mask >>> shift;
  return Math.floor((((pixel & mask) >>> shift) * 255) / max);
}

/**
 * BMP rows are padded to 4 bytes. Pixels are palette indices (1, 2, 4 or 8 bits, or RLE8/RLE4),
 * BGR bytes (24 bits) or bit fields (16 and 32 bits).
 */
function decodeBmp(bytes: Uint8Array): RgbImage {
  const header = readBmpHeader(bytes);
  const { width, height, bitCount, compression, palette } = header;
  const data = bytes.subarray(header.pixelOffset);
  const stride = Math.ceil((width * bitCount) / 32) * 4;
  const storedRow = (y: number): number => (header.bottomUp ? height - 1 - y : y);
  const rgb = new Uint8Array(width * height * 3);
  if (palette) {
    const rle = (compression === BI_RLE8 && bitCount === 8) || (compression === BI_RLE4 && bitCount === 4);
    if (!rle && compression !== BI_RGB) throw new Error(`BMP compression ${compression} is not supported`);
    if (!rle && data.length < stride * height) throw new Error('the BMP pixel data is truncated');
    const indices = rle
      ? decodeRle(data, width, height, compression === BI_RLE4)
      : unpackRows(data, width, height, bitCount, stride);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const color = palette[indices[storedRow(y) * width + x]!];
        if (!color) throw new Error('a BMP palette index is out of range');
        rgb.set(color, (y * width + x) * 3);
      }
    }
    return { width, height, rgb };
  }
  const direct = compression === BI_RGB || compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS;
  if (!direct || (bitCount !== 16 && bitCount !== 24 && bitCount !== 32)) {
    throw new Error(`BMP images of ${bitCount} bits with compression ${compression} are not supported`);
  }
  if (data.length < stride * height) throw new Error('the BMP pixel data is truncated');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = storedRow(y) * stride + (x * bitCount) / 8;
      const out = (y * width + x) * 3;
      if (bitCount === 24) {
        rgb.set([data[at + 2]!, data[at + 1]!, data[at]!], out);
      } else {
        const pixel = bitCount === 16 ? view.getUint16(at, true) : view.getUint32(at, true);
        rgb.set(
          header.masks.map((mask) => maskedChannel(pixel, mask)),
          out,
        );
      }
    }
  }
  return { width, height, rgb };
}

// ---------------------------------------------------------------------------------------------
// Netpbm (PBM, PGM, PPM)
// ---------------------------------------------------------------------------------------------

/** Reads the whitespace-separated, '#'-commented header fields and ASCII rasters of Netpbm files. */
class NetpbmReader {
  at = 2;
  constructor(readonly bytes: Uint8Array) {}

  skipSeparators(): void {
    while (this.at < this.bytes.length) {
      const byte = this.bytes[this.at]!;
      if (byte === 0x23) {
        while (this.at < this.bytes.length && this.bytes[this.at] !== 0x0a && this.bytes[this.at] !== 0x0d) {
          this.at++;
        }
      } else if (byte === 0x20 || (byte >= 0x09 && byte <= 0x0d)) {
        this.at++;
      } else {
        return;
      }
    }
  }

  /** A decimal number, or with `digits` = 1 a single digit (PBM's ASCII pixels need no separators). */
  number(digits = Infinity): number {
    this.skipSeparators();
    const start = this.at;
    while (this.at - start < digits && this.bytes[this.at]! >= 0x30 && this.bytes[this.at]! <= 0x39) {
      this.at++;
    }
    if (this.at === start) throw new Error('the Netpbm file is malformed');
    return Number(String.fromCharCode(...this.bytes.subarray(start, this.at)));
  }
}

/**
 * P1/P4 (bitmaps, 1 is black), P2/P5 (gray) and P3/P6 (RGB), in ASCII (P1-P3) or binary (P4-P6,
 * one byte a sample, two big-endian bytes when the maximum value exceeds 255).
 */
function decodeNetpbm(bytes: Uint8Array): RgbImage {
  const kind = bytes[1]! - 0x30;
  const reader = new NetpbmReader(bytes);
  const width = reader.number();
  const height = reader.number();
  const isBitmap = kind === 1 || kind === 4;
  const maxValue = isBitmap ? 1 : reader.number();
  if (maxValue < 1 || maxValue > 65535) throw new Error(`Netpbm maximum value ${maxValue} is out of range`);
  const channels = kind === 3 || kind === 6 ? 3 : 1;
  const count = width * height * channels;
  let samples: ArrayLike<number>;
  if (kind <= 3) {
    samples = Array.from({ length: count }, () => reader.number(isBitmap ? 1 : Infinity));
  } else {
    const raster = bytes.subarray(reader.at + 1);
    const rasterBytes = kind === 4 ? Math.ceil(width / 8) * height : maxValue < 256 ? count : 2 * count;
    if (raster.length < rasterBytes) throw new Error('the Netpbm raster is truncated');
    if (kind === 4) samples = unpackRows(raster, width, height, 1);
    else if (maxValue < 256) samples = raster;
    else samples = Array.from({ length: count }, (_, i) => (raster[2 * i]! << 8) | raster[2 * i + 1]!);
  }
  const image = rgbFromSamples(width, height, samples, channels, maxValue);
  if (isBitmap) image.rgb.forEach((v, i) => (image.rgb[i] = 255 - v));
  return image;
}

// ---------------------------------------------------------------------------------------------
// ImageDecoder
// ---------------------------------------------------------------------------------------------

const FORMATS: readonly ImageFormat[] = [
  { name: 'JPEG', matches: startsWith(0xff, 0xd8, 0xff), decode: decodeJpeg },
  { name: 'PNG', matches: startsWith(0x89, ...ascii('PNG\r\n\x1a\n')), decode: decodePng },
  { name: 'BMP', matches: startsWith(...ascii('BM')), decode: decodeBmp },
  {
    name: 'TIFF',
    matches: (bytes) => startsWith(...ascii('II*\0'))(bytes) || startsWith(...ascii('MM\0*'))(bytes),
    decode: decodeTiff,
  },
  {
    name: 'JPEG 2000',
    matches: (bytes) =>
      startsWith(0, 0, 0, 0x0c, ...ascii('jP  \r\n'), 0x87, 0x0a)(bytes) ||
      startsWith(0xff, 0x4f, 0xff, 0x51)(bytes),
    decode: decodeJpeg2000,
  },
  {
    name: 'Netpbm',
    matches: (bytes) => bytes[0] === 0x50 && bytes[1]! >= 0x31 && bytes[1]! <= 0x36,
    decode: decodeNetpbm,
  },
  {
    name: 'WebP',
    matches: (bytes) =>
      startsWith(...ascii('RIFF'))(bytes) && startsWith(...ascii('WEBP'))(bytes.subarray(8)),
  },
];

/** ITU-R 601-2 luma in Pillow's fixed point, so Grayscale matches Pillow's convert('L'). */
function luma(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
}

/** The decoded image in the output, its pixels in `pixelFormat` order. */
function arrange(ctx: KernelContext, image: RgbImage, pixelFormat: string): Tensor {
  const { width, height, rgb } = image;
  const pixels = width * height;
  const out = ctx.output(0, 'uint8', [height, width, pixelFormat === 'Grayscale' ? 1 : 3]);
  const target = out.data as Uint8Array;
  if (pixelFormat === 'RGB') target.set(rgb.subarray(0, pixels * 3));
  else if (pixelFormat === 'BGR') {
    for (let p = 0; p < pixels; p++) target.set([rgb[p * 3 + 2]!, rgb[p * 3 + 1]!, rgb[p * 3]!], p * 3);
  } else {
    for (let p = 0; p < pixels; p++) target[p] = luma(rgb[p * 3]!, rgb[p * 3 + 1]!, rgb[p * 3 + 2]!);
  }
  return out;
}

function imageDecoder(ctx: KernelContext): Tensor {
  const encoded = ctx.input(0);
  if (encoded.type !== 'uint8' || encoded.dims.length !== 1) {
    ctx.fail(
      `encoded_stream must be a 1-D uint8 tensor, got ${encoded.type} of dims [${encoded.dims.join(', ')}]`,
    );
  }
  const pixelFormat = ctx.string('pixel_format', 'RGB');
  if (pixelFormat !== 'RGB' && pixelFormat !== 'BGR' && pixelFormat !== 'Grayscale') {
    ctx.fail(`pixel_format must be RGB, BGR or Grayscale, got '${pixelFormat}'`);
  }
  const empty = (): Tensor => ctx.output(0, 'uint8', [0, 0, pixelFormat === 'Grayscale' ? 1 : 3]);
  const bytes = encoded.data as Uint8Array;
  const format = FORMATS.find((f) => f.matches(bytes));
  if (!format) return empty();
  if (!format.decode) {
    ctx.fail(`${format.name} images cannot be decoded: Heddle has no ${format.name} decoder`);
  }
  let image: RgbImage;
  try {
    image = format.decode(bytes);
  } catch {
    return empty();
  }
  return arrange(ctx, image, pixelFormat);
}

export const kernels: KernelDef[] = [{ op: 'ImageDecoder', since: 20, run: (ctx) => [imageDecoder(ctx)] }];

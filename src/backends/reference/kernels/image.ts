/**
 * ImageDecoder (opset 20): decodes an encoded image (a 1-D uint8 tensor) into an (H, W, C) uint8
 * tensor in RGB, BGR or Grayscale order, matching Pillow, which the spec's reference uses. The
 * format is recognized by its signature. JPEG and WebP go to the libraries Pillow itself uses,
 * libjpeg-turbo (in its MozJPEG fork) and libwebp, compiled to WebAssembly (the @jsquash
 * packages), so their pixels are Pillow's to the bit. The other formats have synchronous
 * pure-JavaScript decoders: fast-png (PNG), tiff (TIFF), jpeg2000 (JPEG 2000, from PDF.js), and
 * readers here for BMP and Netpbm (PBM, PGM, PPM), simple formats whose npm decoders mishandle
 * palettes, RLE or 16-bit pixels. As the spec asks, a stream that is not a recognized image, or
 * that its decoder rejects, gives an empty (0, 0, C) tensor.
 *
 * The libraries load when a model first has an ImageDecoder (the kernel's `load`, which a session
 * awaits as it is created), not with Heddle: they are 1.8 MB of JavaScript heap and 36 ms of import
 * that every other session would pay for nothing.
 */

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Tensor } from '../../../core/tensor.js';
import {
  webAssembly,
  type WasmImports,
  type WasmInstance,
  type WasmModule,
} from '../../../core/webassembly.js';
import type { KernelContext, KernelDef } from '../kernel.js';

/** A decoded image as interleaved 8-bit RGB, rows from the top. */
interface RgbImage {
  width: number;
  height: number;
  rgb: Uint8Array;
}

interface ImageFormat {
  matches: (bytes: Uint8Array) => boolean;
  decode: (bytes: Uint8Array, codecs: Codecs) => RgbImage;
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
// JPEG and WebP, through libjpeg-turbo and libwebp compiled to WebAssembly
// ---------------------------------------------------------------------------------------------

/** What an emscripten decoder module's `decode` returns: RGBA pixels, or null when it fails. */
interface RgbaImage {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

/** The decoder module, once its factory has set it up in the options object it was given. */
interface DecoderModule {
  decode?: (bytes: Uint8Array, ...options: boolean[]) => RgbaImage | null;
}

type DecoderFactory = (options: DecoderModule & Record<string, unknown>) => Promise<unknown>;

const requireFromHere = createRequire(import.meta.url);

/**
 * A decoder built by emscripten, run synchronously as a kernel must. Its glue code would fetch
 * the .wasm file, which Node cannot do from a file path, and would instantiate it asynchronously;
 * instead the .wasm is read from the package and compiled once, and each instance is created
 * through `instantiateWasm` synchronously, which leaves the module ready when the factory returns.
 * The C libraries report a bad stream by exiting, which reaches here as a thrown exception and
 * leaves the instance's stack and heap as they were mid-decode, so an instance that threw is
 * dropped and the next stream gets a fresh one. (In Node the glue code also defines a global
 * `ImageData` class, the type of its results, when none exists.)
 */
class WasmDecoder {
  private compiled: WasmModule | undefined;
  private currentDecode: DecoderModule['decode'];

  constructor(
    private readonly factory: DecoderFactory,
    private readonly wasmFile: string,
  ) {}

  decode(bytes: Uint8Array, ...options: boolean[]): RgbImage {
    const decode = this.currentDecode ?? this.instantiate();
    let image: RgbaImage | null;
    try {
      image = decode(bytes, ...options);
    } catch (error) {
      this.currentDecode = undefined;
      throw error;
    }
    if (!image) throw new Error('the decoder rejected the stream');
    return rgbFromSamples(image.width, image.height, image.data, 4, 255);
  }

  private instantiate(): NonNullable<DecoderModule['decode']> {
    this.compiled ??= new webAssembly.Module(readFileSync(requireFromHere.resolve(this.wasmFile)));
    const compiled = this.compiled;
    const module: DecoderModule & Record<string, unknown> = {
      noInitialRun: true,
      // The libraries' warnings and errors would go to the console; a failure is reported by the throw.
      print: () => {},
      printErr: () => {},
      instantiateWasm: (imports: WasmImports, ready: (instance: WasmInstance) => void) => {
        const instance = new webAssembly.Instance(compiled, imports);
        ready(instance);
        return instance.exports;
      },
    };
    // Setup finished synchronously, or failed: the promise has nothing more to say.
    this.factory(module).catch(() => {});
    const decode = module.decode;
    if (!decode) throw new Error(`the decoder in ${this.wasmFile} did not initialize`);
    this.currentDecode = decode;
    return decode;
  }
}

/** The decoding libraries, once `loadCodecs` has loaded them. */
interface Codecs {
  mozjpeg: WasmDecoder;
  libwebp: WasmDecoder;
  jpegJs: typeof import('jpeg-js');
  png: typeof import('fast-png');
  tiff: typeof import('tiff');
  jpeg2000: typeof import('jpeg2000');
}

let codecs: Codecs | undefined;
let codecsLoading: Promise<void> | undefined;

function loadCodecs(): Promise<void> {
  codecsLoading ??= Promise.all([
    import('@jsquash/jpeg/codec/dec/mozjpeg_dec.js'),
    import('@jsquash/webp/codec/dec/webp_dec.js'),
    import('jpeg-js'),
    import('fast-png'),
    import('tiff'),
    import('jpeg2000'),
  ]).then(([mozjpeg, libwebp, jpegJs, png, tiff, jpeg2000]) => {
    codecs = {
      mozjpeg: new WasmDecoder(
        mozjpeg.default as unknown as DecoderFactory,
        '@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm',
      ),
      libwebp: new WasmDecoder(
        libwebp.default as unknown as DecoderFactory,
        '@jsquash/webp/codec/dec/webp_dec.wasm',
      ),
      jpegJs,
      png,
      tiff,
      jpeg2000,
    };
  });
  return codecsLoading;
}

/** Pillow's Image.open leaves the pixels as stored, whatever the EXIF orientation tag says. */
const ROTATE_BY_EXIF_ORIENTATION = false;

const START_OF_SCAN = 0xda;

function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/** The number of components in the frame header, found by walking the segments before the first scan. */
function jpegComponentCount(bytes: Uint8Array): number {
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) throw new Error('JPEG marker expected');
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at++;
      continue;
    }
    if (marker === START_OF_SCAN) break;
    if (isStartOfFrame(marker)) return bytes[at + 9] ?? 0;
    at += 2 + ((bytes[at + 2]! << 8) | bytes[at + 3]!);
  }
  throw new Error('the JPEG stream has no frame header');
}

/**
 * libjpeg-turbo (as MozJPEG) decodes gray, YCbCr and RGB streams exactly as Pillow's libjpeg-turbo
 * does: the same inverse DCT, "fancy" upsampling and color conversion. It cannot turn CMYK or YCCK
 * into RGB, which Pillow does itself, so four-component streams go to jpeg-js, whose inverse DCT
 * rounds differently from libjpeg-turbo's: their pixels can differ from Pillow's by a level.
 */
function decodeJpeg(bytes: Uint8Array, { mozjpeg, jpegJs }: Codecs): RgbImage {
  if (jpegComponentCount(bytes) !== 4) return mozjpeg.decode(bytes, ROTATE_BY_EXIF_ORIENTATION);
  const { width, height, data } = jpegJs.decode(bytes, {
    useTArray: true,
    formatAsRGBA: false,
    tolerantDecoding: false,
  });
  return { width, height, rgb: data };
}

/** Alpha is dropped, leaving the color as libwebp decoded it, not premultiplied. */
function decodeWebp(bytes: Uint8Array, { libwebp }: Codecs): RgbImage {
  return libwebp.decode(bytes);
}

// ---------------------------------------------------------------------------------------------
// PNG, TIFF, JPEG 2000
// ---------------------------------------------------------------------------------------------

function decodePng(bytes: Uint8Array, codecs: Codecs): RgbImage {
  const png = codecs.png.decode(bytes);
  const { width, height, depth, channels } = png;
  if (png.palette) {
    return rgbFromSamples(width, height, codecs.png.convertIndexedToRgb(png), png.palette[0]!.length, 255);
  }
  if (depth < 8) {
    return rgbFromSamples(width, height, unpackRows(png.data, width, height, depth), 1, (1 << depth) - 1);
  }
  return rgbFromSamples(width, height, png.data, channels, depth === 16 ? 65535 : 255);
}

const TIFF_PALETTE = 3;

/** The first page, as Pillow opens it. */
function decodeTiff(bytes: Uint8Array, { tiff }: Codecs): RgbImage {
  const page = tiff.decode(bytes)[0];
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
function decodeJpeg2000(bytes: Uint8Array, { jpeg2000 }: Codecs): RgbImage {
  const jpx = new jpeg2000.JpxImage();
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
  { matches: startsWith(0xff, 0xd8, 0xff), decode: decodeJpeg },
  { matches: startsWith(0x89, ...ascii('PNG\r\n\x1a\n')), decode: decodePng },
  { matches: startsWith(...ascii('BM')), decode: decodeBmp },
  {
    matches: (bytes) => startsWith(...ascii('II*\0'))(bytes) || startsWith(...ascii('MM\0*'))(bytes),
    decode: decodeTiff,
  },
  {
    matches: (bytes) =>
      startsWith(0, 0, 0, 0x0c, ...ascii('jP  \r\n'), 0x87, 0x0a)(bytes) ||
      startsWith(0xff, 0x4f, 0xff, 0x51)(bytes),
    decode: decodeJpeg2000,
  },
  {
    matches: (bytes) => bytes[0] === 0x50 && bytes[1]! >= 0x31 && bytes[1]! <= 0x36,
    decode: decodeNetpbm,
  },
  {
    matches: (bytes) =>
      startsWith(...ascii('RIFF'))(bytes) && startsWith(...ascii('WEBP'))(bytes.subarray(8)),
    decode: decodeWebp,
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
  // A session loads the libraries as it is created; a kernel run outside one must await `load` first.
  const loaded =
    codecs ?? ctx.fail("the image decoding libraries are not loaded yet (await the kernel's load)");
  const bytes = encoded.data as Uint8Array;
  const format = FORMATS.find((f) => f.matches(bytes));
  if (!format) return empty();
  let image: RgbImage;
  try {
    image = format.decode(bytes, loaded);
  } catch {
    return empty();
  }
  return arrange(ctx, image, pixelFormat);
}

export const kernels: KernelDef[] = [
  { op: 'ImageDecoder', since: 20, load: loadCodecs, run: (ctx) => [imageDecoder(ctx)] },
];

/**
 * Element types, named as onnxruntime-common names them where it has a name, and the storage each
 * uses inside Heddle.
 *
 * Storage is chosen so that every kernel can index elements one per array slot:
 * - numbers that fit a JS typed array use it (`int64` is a BigInt64Array, `bool` a Uint8Array of 0/1);
 * - the narrow floats (float16, bfloat16, the float8 and float4 formats) keep their bit patterns in
 *   a Uint16Array or Uint8Array, converted by `core/float-formats.ts`;
 * - the 4-bit and 2-bit integers are unpacked, one element per byte (packing happens only at the
 *   ONNX and public-API borders);
 * - strings are a plain `string[]`.
 */

export type DataType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'bfloat16'
  | 'float8e4m3fn'
  | 'float8e4m3fnuz'
  | 'float8e5m2'
  | 'float8e5m2fnuz'
  | 'float8e8m0'
  | 'float4e2m1'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'int4'
  | 'uint4'
  | 'int2'
  | 'uint2'
  | 'bool'
  | 'string'
  | 'complex64'
  | 'complex128';

export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | string[];

/** ONNX `TensorProto.DataType` codes, in the order of onnx.proto. */
const ONNX_CODES: readonly (DataType | undefined)[] = [
  undefined,
  'float32',
  'uint8',
  'int8',
  'uint16',
  'int16',
  'int32',
  'int64',
  'string',
  'bool',
  'float16',
  'float64',
  'uint32',
  'uint64',
  'complex64',
  'complex128',
  'bfloat16',
  'float8e4m3fn',
  'float8e4m3fnuz',
  'float8e5m2',
  'float8e5m2fnuz',
  'uint4',
  'int4',
  'float4e2m1',
  'float8e8m0',
  'uint2',
  'int2',
];

export function dataTypeFromOnnx(code: number): DataType | undefined {
  return ONNX_CODES[code];
}

/** TensorProto.DataType enum names, by code: Cast-1 named its target type with one of them. */
const ONNX_NAMES = [
  'UNDEFINED',
  'FLOAT',
  'UINT8',
  'INT8',
  'UINT16',
  'INT16',
  'INT32',
  'INT64',
  'STRING',
  'BOOL',
  'FLOAT16',
  'DOUBLE',
  'UINT32',
  'UINT64',
  'COMPLEX64',
  'COMPLEX128',
  'BFLOAT16',
];

/** The type an ONNX enum name ('FLOAT', 'INT64', ...) names, case-insensitively. */
export function dataTypeFromOnnxName(name: string): DataType | undefined {
  const code = ONNX_NAMES.indexOf(name.toUpperCase());
  return code > 0 ? ONNX_CODES[code] : undefined;
}

export function onnxCodeOf(type: DataType): number {
  return ONNX_CODES.indexOf(type);
}

interface TypeTraits {
  /** Constructor of the storage array (strings use a plain array). */
  readonly storage: 'f32' | 'f64' | 'i8' | 'i16' | 'i32' | 'i64' | 'u8' | 'u16' | 'u32' | 'u64' | 'string';
  /** Bits per element in ONNX's serialized form (and in onnxruntime's packed arrays). */
  readonly bits: number;
  readonly kind: 'float' | 'int' | 'uint' | 'bool' | 'string' | 'complex';
}

const TRAITS: Record<DataType, TypeTraits> = {
  float32: { storage: 'f32', bits: 32, kind: 'float' },
  float64: { storage: 'f64', bits: 64, kind: 'float' },
  float16: { storage: 'u16', bits: 16, kind: 'float' },
  bfloat16: { storage: 'u16', bits: 16, kind: 'float' },
  float8e4m3fn: { storage: 'u8', bits: 8, kind: 'float' },
  float8e4m3fnuz: { storage: 'u8', bits: 8, kind: 'float' },
  float8e5m2: { storage: 'u8', bits: 8, kind: 'float' },
  float8e5m2fnuz: { storage: 'u8', bits: 8, kind: 'float' },
  float8e8m0: { storage: 'u8', bits: 8, kind: 'float' },
  float4e2m1: { storage: 'u8', bits: 4, kind: 'float' },
  int8: { storage: 'i8', bits: 8, kind: 'int' },
  int16: { storage: 'i16', bits: 16, kind: 'int' },
  int32: { storage: 'i32', bits: 32, kind: 'int' },
  int64: { storage: 'i64', bits: 64, kind: 'int' },
  uint8: { storage: 'u8', bits: 8, kind: 'uint' },
  uint16: { storage: 'u16', bits: 16, kind: 'uint' },
  uint32: { storage: 'u32', bits: 32, kind: 'uint' },
  uint64: { storage: 'u64', bits: 64, kind: 'uint' },
  int4: { storage: 'i8', bits: 4, kind: 'int' },
  uint4: { storage: 'u8', bits: 4, kind: 'uint' },
  int2: { storage: 'i8', bits: 2, kind: 'int' },
  uint2: { storage: 'u8', bits: 2, kind: 'uint' },
  bool: { storage: 'u8', bits: 8, kind: 'bool' },
  string: { storage: 'string', bits: 0, kind: 'string' },
  // Complex numbers are stored as interleaved (re, im) pairs: two slots per element.
  complex64: { storage: 'f32', bits: 64, kind: 'complex' },
  complex128: { storage: 'f64', bits: 128, kind: 'complex' },
};

export const ALL_DATA_TYPES = Object.keys(TRAITS) as DataType[];

export function isDataType(name: string): name is DataType {
  return Object.prototype.hasOwnProperty.call(TRAITS, name);
}

export function bitsOf(type: DataType): number {
  return TRAITS[type].bits;
}

/** Bytes per element of a type's serialized form, rounded up for sub-byte types. */
export function bytesPerElement(type: DataType): number {
  return Math.ceil(TRAITS[type].bits / 8);
}

/** Real floating-point types, narrow formats included. */
export function isFloatType(type: DataType): boolean {
  return TRAITS[type].kind === 'float';
}

/** Types whose elements are computed with as JS numbers in a narrow format (bits stored). */
export function isNarrowFloat(type: DataType): boolean {
  return TRAITS[type].kind === 'float' && type !== 'float32' && type !== 'float64';
}

export function isIntegerType(type: DataType): boolean {
  const kind = TRAITS[type].kind;
  return kind === 'int' || kind === 'uint';
}

export function isSignedInteger(type: DataType): boolean {
  return TRAITS[type].kind === 'int';
}

export function isBigIntType(type: DataType): boolean {
  return type === 'int64' || type === 'uint64';
}

export function isComplexType(type: DataType): boolean {
  return TRAITS[type].kind === 'complex';
}

/** Storage slots per element: 2 for complex types, 1 for the rest. */
export function slotsPerElement(type: DataType): number {
  return TRAITS[type].kind === 'complex' ? 2 : 1;
}

type NumericStorage = Exclude<TensorData, string[]>;
type StorageConstructor = {
  new (length: number): NumericStorage;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): NumericStorage;
  readonly BYTES_PER_ELEMENT: number;
};

/** The typed array of each storage kind. */
const STORAGE_CONSTRUCTORS: Record<Exclude<TypeTraits['storage'], 'string'>, StorageConstructor> = {
  f32: Float32Array,
  f64: Float64Array,
  i8: Int8Array,
  i16: Int16Array,
  i32: Int32Array,
  i64: BigInt64Array,
  u8: Uint8Array,
  u16: Uint16Array,
  u32: Uint32Array,
  u64: BigUint64Array,
};

/** Allocates zeroed storage for `size` elements of `type`. */
export function allocateStorage(type: DataType, size: number): TensorData {
  const slots = size * slotsPerElement(type);
  const kind = TRAITS[type].storage;
  return kind === 'string' ? new Array<string>(slots).fill('') : new STORAGE_CONSTRUCTORS[kind](slots);
}

/**
 * Storage as `allocateStorage` gives it, but not zeroed where the host can skip that (Node's
 * uninitialized buffers: fresh memory from the allocator, whatever it held before): for a writer
 * that sets every element before anyone reads one. Zeroed elsewhere, and for strings.
 */
export function allocateUninitializedStorage(type: DataType, size: number): TensorData {
  const kind = TRAITS[type].storage;
  const uninitialized = (globalThis as { Buffer?: { allocUnsafeSlow(bytes: number): Uint8Array } }).Buffer;
  if (kind === 'string' || !uninitialized) return allocateStorage(type, size);
  const slots = size * slotsPerElement(type);
  const bytes = uninitialized.allocUnsafeSlow(slots * STORAGE_CONSTRUCTORS[kind].BYTES_PER_ELEMENT);
  return new STORAGE_CONSTRUCTORS[kind](bytes.buffer, bytes.byteOffset, slots);
}

/**
 * A view of `size` elements of `type` over `buffer` from `byteOffset`: the storage kind
 * `allocateStorage` gives, in memory the caller holds (an arena, the wasm heap, a file's bytes).
 * Strings have no such storage.
 */
export function storageView(
  type: DataType,
  buffer: ArrayBufferLike,
  byteOffset: number,
  size: number,
): NumericStorage {
  const kind = TRAITS[type].storage;
  if (kind === 'string') throw new RangeError('string tensors cannot be views of memory');
  return new STORAGE_CONSTRUCTORS[kind](buffer, byteOffset, size * slotsPerElement(type));
}

/** Bytes of one slot of `type`'s storage (a complex element takes two slots). */
export function storageSlotBytes(type: DataType): number {
  const kind = TRAITS[type].storage;
  return kind === 'string' ? 0 : STORAGE_CONSTRUCTORS[kind].BYTES_PER_ELEMENT;
}

/** True when `data` is the storage array kind that `type` uses. */
export function storageMatches(type: DataType, data: unknown): boolean {
  const kind = TRAITS[type].storage;
  return kind === 'string' ? Array.isArray(data) : data instanceof STORAGE_CONSTRUCTORS[kind];
}

/** Inclusive value range of an integer type, as numbers (exact up to 2^53). */
export function integerRange(type: DataType): [number, number] {
  const { bits, kind } = TRAITS[type];
  const effectiveBits = type === 'bool' ? 1 : bits;
  if (kind === 'uint' || kind === 'bool') return [0, 2 ** effectiveBits - 1];
  return [-(2 ** (effectiveBits - 1)), 2 ** (effectiveBits - 1) - 1];
}

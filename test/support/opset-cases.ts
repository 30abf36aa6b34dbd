/**
 * The table behind test/opset-versions.test.ts: operators whose node form changed across opset
 * versions (an attribute that became an input, a new default, a legacy attribute), each written the
 * way its era wrote it, with the output every form must give. Expected values are written out or
 * computed by the small independent JS functions at the end of this file, never by Heddle.
 */

import type { DataType } from '../../src/core/dtype.js';
import type { NodeSpec } from './build-model.js';

/** Tensor contents as plain numbers (int64 and bool included), in row-major order. */
export interface Values {
  type: DataType;
  dims: number[];
  values: number[];
}

/** A TENSOR attribute, which buildModel cannot write: added to the encoded model afterwards. */
export interface TensorAttribute {
  node: number;
  name: string;
  value: Values;
}

export interface OpsetCase {
  /** The operator under test: the group the case is reported under. */
  op: string;
  opset: number;
  /** How the node is written at that opset. */
  form: string;
  nodes: NodeSpec[];
  /** Graph inputs, fed at run time. */
  feeds: Record<string, Values>;
  /** Initializers: the parameters that later opsets take as inputs. */
  constants: Record<string, Values>;
  tensorAttributes?: TensorAttribute[];
  expected: Record<string, Values>;
}

type Attributes = NonNullable<NodeSpec['attributes']>;

const OMITTED = '';

/** One way of writing a single-node case; unset fields come from the group's base. */
interface Form {
  opset: number;
  form: string;
  attributes?: Attributes;
  /** Inputs after the feeds, in order: a constant's value, or OMITTED for an optional input left out. */
  args?: (Values | typeof OMITTED)[];
  feeds?: Record<string, Values>;
  expected?: Record<string, Values>;
  op?: string;
  tensorAttributes?: Omit<TensorAttribute, 'node'>[];
}

interface Base {
  feeds: Record<string, Values>;
  expected: Record<string, Values>;
}

/** Single-node cases of `op`, one per form. */
function forms(op: string, base: Base, list: Form[]): OpsetCase[] {
  return list.map((f) => {
    const nodeOp = f.op ?? op;
    const feeds = f.feeds ?? base.feeds;
    const expected = f.expected ?? base.expected;
    const constants: Record<string, Values> = {};
    const argNames = (f.args ?? []).map((arg, i) => {
      if (arg === OMITTED) return OMITTED;
      const name = `arg${i + 1}`;
      constants[name] = arg;
      return name;
    });
    const node: NodeSpec = {
      op: nodeOp,
      name: `${nodeOp}_v${f.opset}`,
      inputs: [...Object.keys(feeds), ...argNames],
      outputs: Object.keys(expected),
      attributes: f.attributes,
    };
    const tensorAttributes = f.tensorAttributes?.map((a) => ({ ...a, node: 0 }));
    return { op, opset: f.opset, form: f.form, nodes: [node], feeds, constants, tensorAttributes, expected };
  });
}

const f32 = (dims: number[], values: number[]): Values => ({ type: 'float32', dims, values });
const f64 = (dims: number[], values: number[]): Values => ({ type: 'float64', dims, values });
const i32 = (dims: number[], values: number[]): Values => ({ type: 'int32', dims, values });
const i64 = (dims: number[], values: number[]): Values => ({ type: 'int64', dims, values });
const bool = (dims: number[], values: number[]): Values => ({ type: 'bool', dims, values });
const iota = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => i + from);
const float = (value: number) => ({ float: value });

/** The newest opset the conformance data uses. */
export const NEWEST_OPSET = 28;

function reshapeCases(): OpsetCase[] {
  const x = f32([2, 3, 4], iota(24));
  const to4x6 = { y: f32([4, 6], iota(24)) };
  const to2x12 = { y: f32([2, 12], iota(24)) };
  return forms('Reshape', { feeds: { x }, expected: to4x6 }, [
    { opset: 1, form: 'shape attribute', attributes: { shape: [4, -1] } },
    {
      opset: 4,
      form: 'shape attribute with 0 copying a dim',
      attributes: { shape: [0, -1] },
      expected: to2x12,
    },
    { opset: 5, form: 'shape input', args: [i64([2], [4, -1])] },
    { opset: 5, form: 'shape input with 0 copying a dim', args: [i64([2], [0, -1])], expected: to2x12 },
    { opset: 13, form: 'shape input', args: [i64([2], [4, -1])] },
    {
      opset: 14,
      form: 'allowzero=0, 0 copies a dim',
      attributes: { allowzero: 0 },
      args: [i64([2], [0, -1])],
      expected: to2x12,
    },
    {
      opset: 14,
      form: 'allowzero=1 keeps a 0 dim',
      attributes: { allowzero: 1 },
      feeds: { x: f32([0, 4], []) },
      args: [i64([2], [4, 0])],
      expected: { y: f32([4, 0], []) },
    },
    { opset: 21, form: 'shape input', args: [i64([2], [4, -1])] },
    { opset: NEWEST_OPSET, form: 'shape input', args: [i64([2], [4, -1])] },
  ]);
}

function squeezeCases(): OpsetCase[] {
  const x = f32([1, 3, 1, 2], iota(6));
  return forms('Squeeze', { feeds: { x }, expected: { y: f32([3, 2], iota(6)) } }, [
    { opset: 1, form: 'axes attribute', attributes: { axes: [0, 2] } },
    { opset: 1, form: 'no axes: every 1 dropped' },
    { opset: 11, form: 'negative axes attribute', attributes: { axes: [-4, -2] } },
    { opset: 12, form: 'axes attribute', attributes: { axes: [0, 2] } },
    { opset: 13, form: 'axes input', args: [i64([2], [0, 2])] },
    {
      opset: 13,
      form: 'negative axes input',
      args: [i64([1], [-2])],
      expected: { y: f32([1, 3, 2], iota(6)) },
    },
    { opset: 13, form: 'no axes input: every 1 dropped' },
    { opset: 21, form: 'axes input', args: [i64([2], [0, 2])] },
    { opset: NEWEST_OPSET, form: 'axes input', args: [i64([2], [0, 2])] },
  ]);
}

function unsqueezeCases(): OpsetCase[] {
  const x = f32([3, 2], iota(6));
  const trailing = { y: f32([3, 2, 1], iota(6)) };
  return forms('Unsqueeze', { feeds: { x }, expected: { y: f32([1, 3, 2, 1], iota(6)) } }, [
    { opset: 1, form: 'axes attribute', attributes: { axes: [0, 3] } },
    { opset: 11, form: 'negative axes attribute', attributes: { axes: [-1] }, expected: trailing },
    { opset: 11, form: 'mixed-sign axes attribute', attributes: { axes: [0, -1] } },
    { opset: 11, form: 'unsorted axes attribute', attributes: { axes: [3, 0] } },
    { opset: 12, form: 'axes attribute', attributes: { axes: [0, 3] } },
    { opset: 13, form: 'axes input', args: [i64([2], [0, 3])] },
    { opset: 13, form: 'negative axes input', args: [i64([1], [-1])], expected: trailing },
    { opset: 21, form: 'axes input', args: [i64([2], [0, 3])] },
    { opset: NEWEST_OPSET, form: 'axes input', args: [i64([2], [0, 3])] },
  ]);
}

function sliceCases(): OpsetCase[] {
  const x = f32([3, 4], iota(12));
  const block = { y: f32([2, 3], [4, 5, 6, 8, 9, 10]) };
  const everyOtherColumn = { y: f32([3, 2], [0, 2, 4, 6, 8, 10]) };
  const startsEnds = [i64([2], [1, 0]), i64([2], [3, 3])];
  return forms('Slice', { feeds: { x }, expected: block }, [
    { opset: 1, form: 'starts/ends attributes', attributes: { starts: [1, 0], ends: [3, 3] } },
    {
      opset: 1,
      form: 'axes attribute, end past the dim',
      attributes: { axes: [1], starts: [1], ends: [1000] },
      expected: { y: f32([3, 3], [1, 2, 3, 5, 6, 7, 9, 10, 11]) },
    },
    {
      opset: 9,
      form: 'negative start attribute',
      attributes: { axes: [0], starts: [-1], ends: [1000] },
      expected: { y: f32([1, 4], [8, 9, 10, 11]) },
    },
    { opset: 10, form: 'starts/ends inputs', args: startsEnds },
    {
      opset: 10,
      form: 'axes and steps inputs',
      args: [i64([1], [0]), i64([1], [4]), i64([1], [1]), i64([1], [2])],
      expected: everyOtherColumn,
    },
    {
      opset: 10,
      form: 'negative step',
      args: [i64([1], [-1]), i64([1], [-1000]), i64([1], [1]), i64([1], [-1])],
      expected: { y: f32([3, 4], [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8]) },
    },
    {
      opset: 11,
      form: 'negative axes input',
      args: [i64([1], [0]), i64([1], [4]), i64([1], [-1]), i64([1], [2])],
      expected: everyOtherColumn,
    },
    { opset: 13, form: 'starts/ends inputs', args: startsEnds },
    { opset: NEWEST_OPSET, form: 'starts/ends inputs', args: startsEnds },
  ]);
}

function splitCases(): OpsetCase[] {
  const x = f32([2, 6], iota(12));
  const uneven = { y0: f32([2, 2], [0, 1, 6, 7]), y1: f32([2, 4], [2, 3, 4, 5, 8, 9, 10, 11]) };
  const halves = { y0: f32([2, 3], [0, 1, 2, 6, 7, 8]), y1: f32([2, 3], [3, 4, 5, 9, 10, 11]) };
  const splitInput = [i64([2], [2, 4])];
  return forms('Split', { feeds: { x }, expected: uneven }, [
    { opset: 1, form: 'split attribute', attributes: { axis: 1, split: [2, 4] } },
    { opset: 2, form: 'split attribute', attributes: { axis: 1, split: [2, 4] } },
    { opset: 2, form: 'no split: equal parts', attributes: { axis: 1 }, expected: halves },
    { opset: 11, form: 'negative axis', attributes: { axis: -1, split: [2, 4] } },
    { opset: 12, form: 'split attribute', attributes: { axis: 1, split: [2, 4] } },
    { opset: 13, form: 'split input', attributes: { axis: 1 }, args: splitInput },
    { opset: 13, form: 'no split input: equal parts', attributes: { axis: 1 }, expected: halves },
    { opset: 18, form: 'split input', attributes: { axis: 1 }, args: splitInput },
    { opset: 18, form: 'num_outputs', attributes: { axis: 1, num_outputs: 2 }, expected: halves },
    {
      opset: 18,
      form: 'num_outputs with a smaller last part',
      attributes: { axis: 1, num_outputs: 3 },
      feeds: { x: f32([1, 7], iota(7)) },
      expected: { y0: f32([1, 3], [0, 1, 2]), y1: f32([1, 3], [3, 4, 5]), y2: f32([1, 1], [6]) },
    },
    { opset: NEWEST_OPSET, form: 'split input', attributes: { axis: 1 }, args: splitInput },
  ]);
}

/** Each reduction, and the opset from which it takes `axes` as an input. */
const REDUCTIONS: {
  op: string;
  axesInputSince: number;
  reduce: (v: number[]) => number;
  noopSafe: boolean;
}[] = [
  { op: 'ReduceSum', axesInputSince: 13, reduce: (v) => sum(v), noopSafe: true },
  { op: 'ReduceMean', axesInputSince: 18, reduce: (v) => sum(v) / v.length, noopSafe: true },
  { op: 'ReduceMax', axesInputSince: 18, reduce: (v) => Math.max(...v), noopSafe: true },
  { op: 'ReduceMin', axesInputSince: 18, reduce: (v) => Math.min(...v), noopSafe: true },
  { op: 'ReduceProd', axesInputSince: 18, reduce: (v) => v.reduce((a, b) => a * b, 1), noopSafe: false },
  { op: 'ReduceL1', axesInputSince: 18, reduce: (v) => sum(v.map(Math.abs)), noopSafe: false },
  { op: 'ReduceL2', axesInputSince: 18, reduce: (v) => Math.sqrt(sum(v.map((a) => a * a))), noopSafe: false },
  { op: 'ReduceLogSum', axesInputSince: 18, reduce: (v) => Math.log(sum(v)), noopSafe: false },
  {
    op: 'ReduceLogSumExp',
    axesInputSince: 18,
    reduce: (v) => Math.log(sum(v.map(Math.exp))),
    noopSafe: false,
  },
  { op: 'ReduceSumSquare', axesInputSince: 18, reduce: (v) => sum(v.map((a) => a * a)), noopSafe: false },
];

function reduceCases(): OpsetCase[] {
  const x = f32([2, 3], [1, 2.5, 3, 0.5, 5, 2]);
  return REDUCTIONS.flatMap(({ op, axesInputSince: since, reduce, noopSafe }) => {
    const over = (axes: number[], keep: boolean) => ({ y: f32(...reduceAxes(x, axes, keep, reduce)) });
    const rows = over([1], false);
    const all = over([0, 1], true);
    const columns = over([0], true);
    const list: Form[] = [
      {
        opset: 1,
        form: 'axes attribute, keepdims=0',
        attributes: { axes: [1], keepdims: 0 },
        expected: rows,
      },
      { opset: 1, form: 'no axes: all reduced, dims kept', expected: all },
      { opset: 11, form: 'negative axes attribute', attributes: { axes: [-2] }, expected: columns },
      { opset: since - 1, form: 'axes attribute', attributes: { axes: [1], keepdims: 0 }, expected: rows },
      { opset: since - 1, form: 'no axes: all reduced', expected: all },
      {
        opset: since,
        form: 'axes input',
        attributes: { keepdims: 0 },
        args: [i64([1], [1])],
        expected: rows,
      },
      { opset: since, form: 'negative axes input', args: [i64([1], [-2])], expected: columns },
      { opset: since, form: 'no axes input: all reduced', expected: all },
      { opset: since, form: 'empty axes input: all reduced', args: [i64([0], [])], expected: all },
      {
        opset: NEWEST_OPSET,
        form: 'axes input',
        attributes: { keepdims: 0 },
        args: [i64([1], [1])],
        expected: rows,
      },
    ];
    if (noopSafe) {
      list.push({
        opset: since,
        form: 'noop_with_empty_axes=1 without axes: unchanged',
        attributes: { noop_with_empty_axes: 1 },
        expected: { y: x },
      });
    }
    return forms(op, { feeds: { x }, expected: rows }, list);
  });
}

function padCases(): OpsetCase[] {
  const x = f32([2, 3], iota(6, 1));
  const constant = { y: f32([3, 4], [9, 1, 2, 3, 9, 4, 5, 6, 9, 9, 9, 9]) };
  const leftOnly = { y: f32([2, 4], [9, 1, 2, 3, 9, 4, 5, 6]) };
  const reflect = { y: f32([2, 5], [2, 1, 2, 3, 2, 5, 4, 5, 6, 5]) };
  const edge = { y: f32([2, 5], [1, 1, 2, 3, 3, 4, 4, 5, 6, 6]) };
  const pads = i64([4], [0, 1, 1, 0]);
  const sidePads = i64([4], [0, 1, 0, 1]);
  const nine = f32([], [9]);
  return forms('Pad', { feeds: { x }, expected: constant }, [
    { opset: 1, form: 'paddings attribute', attributes: { paddings: [0, 1, 1, 0], value: float(9) } },
    {
      opset: 1,
      form: 'edge mode, paddings attribute',
      attributes: { mode: 'edge', paddings: [0, 1, 0, 1] },
      expected: edge,
    },
    { opset: 2, form: 'pads attribute', attributes: { pads: [0, 1, 1, 0], value: float(9) } },
    {
      opset: 2,
      form: 'reflect mode',
      attributes: { mode: 'reflect', pads: [0, 1, 0, 1] },
      expected: reflect,
    },
    { opset: 2, form: 'edge mode', attributes: { mode: 'edge', pads: [0, 1, 0, 1] }, expected: edge },
    { opset: 10, form: 'pads attribute', attributes: { pads: [0, 1, 1, 0], value: float(9) } },
    { opset: 11, form: 'pads and constant_value inputs', args: [pads, nine] },
    {
      opset: 11,
      form: 'no constant_value: zeros',
      args: [pads],
      expected: { y: f32([3, 4], [0, 1, 2, 3, 0, 4, 5, 6, 0, 0, 0, 0]) },
    },
    { opset: 11, form: 'reflect mode', attributes: { mode: 'reflect' }, args: [sidePads], expected: reflect },
    { opset: 11, form: 'edge mode', attributes: { mode: 'edge' }, args: [sidePads], expected: edge },
    { opset: 13, form: 'pads and constant_value inputs', args: [pads, nine] },
    { opset: 18, form: 'axes input', args: [i64([2], [1, 0]), nine, i64([1], [1])], expected: leftOnly },
    {
      opset: 18,
      form: 'negative axes input',
      args: [i64([2], [1, 0]), nine, i64([1], [-1])],
      expected: leftOnly,
    },
    {
      opset: 19,
      form: 'wrap mode',
      attributes: { mode: 'wrap' },
      args: [sidePads],
      expected: { y: f32([2, 5], [3, 1, 2, 3, 1, 6, 4, 5, 6, 4]) },
    },
    { opset: NEWEST_OPSET, form: 'pads and constant_value inputs', args: [pads, nine] },
  ]);
}

function clipCases(): OpsetCase[] {
  const x = f32([4], [-2, -0.5, 0.5, 2]);
  const both = { y: f32([4], [-1, -0.5, 0.5, 1]) };
  const maxOnly = { y: f32([4], [-2, -0.5, 0.5, 1]) };
  const bounds = [f32([], [-1]), f32([], [1])];
  return forms('Clip', { feeds: { x }, expected: both }, [
    { opset: 1, form: 'min/max attributes', attributes: { min: float(-1), max: float(1) } },
    { opset: 1, form: 'max attribute only', attributes: { max: float(1) }, expected: maxOnly },
    { opset: 6, form: 'min/max attributes', attributes: { min: float(-1), max: float(1) } },
    { opset: 6, form: 'max attribute only', attributes: { max: float(1) }, expected: maxOnly },
    { opset: 6, form: 'no bounds', expected: { y: x } },
    { opset: 11, form: 'min/max inputs', args: bounds },
    { opset: 11, form: 'max input only, min omitted', args: [OMITTED, f32([], [1])], expected: maxOnly },
    { opset: 11, form: 'no bounds', expected: { y: x } },
    {
      opset: 12,
      form: 'int32 input and bounds',
      feeds: { x: i32([4], [-5, -1, 1, 5]) },
      args: [i32([], [-2]), i32([], [2])],
      expected: { y: i32([4], [-2, -1, 1, 2]) },
    },
    { opset: 13, form: 'min/max inputs', args: bounds },
    { opset: NEWEST_OPSET, form: 'min/max inputs', args: bounds },
  ]);
}

function resizeCases(): OpsetCase[] {
  const x = f32([1, 1, 2, 2], [1, 2, 3, 4]);
  const nearest = { y: f32([1, 1, 4, 4], [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]) };
  const row = { x: f32([1, 1, 1, 2], [0, 4]) };
  // Upsample and Resize-10 map output pixels to input ones as x_out / scale; Resize-11 defaults to half_pixel.
  const asymmetric = { y: f32([1, 1, 1, 4], [0, 2, 4, 4]) };
  const halfPixel = { y: f32([1, 1, 1, 4], [0, 1, 3, 4]) };
  const scales = f32([4], [1, 1, 2, 2]);
  const rowScales = f32([4], [1, 1, 1, 2]);
  const noRoi = f32([0], []);
  const sizes = i64([4], [1, 1, 4, 4]);
  const cropped = { y: f32([1, 1, 3, 3], [1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4]) };
  const upsample: Form[] = [
    {
      opset: 1,
      form: 'height_scale/width_scale attributes',
      attributes: { height_scale: float(2), width_scale: float(2) },
    },
    {
      opset: 1,
      form: 'bilinear mode',
      attributes: { mode: 'bilinear', height_scale: float(1), width_scale: float(2) },
      feeds: row,
      expected: asymmetric,
    },
    { opset: 7, form: 'scales attribute', attributes: { scales: { floats: [1, 1, 2, 2] } } },
    {
      opset: 7,
      form: 'linear mode',
      attributes: { mode: 'linear', scales: { floats: [1, 1, 1, 2] } },
      feeds: row,
      expected: asymmetric,
    },
    { opset: 9, form: 'scales input', args: [scales] },
    {
      opset: 9,
      form: 'linear mode, scales input',
      attributes: { mode: 'linear' },
      args: [rowScales],
      feeds: row,
      expected: asymmetric,
    },
  ];
  const resize: Form[] = [
    { opset: 10, form: 'scales input', args: [scales] },
    {
      opset: 10,
      form: 'linear: asymmetric coordinates',
      attributes: { mode: 'linear' },
      args: [rowScales],
      feeds: row,
      expected: asymmetric,
    },
    { opset: 11, form: 'roi and scales inputs', args: [noRoi, scales] },
    {
      opset: 11,
      form: 'linear: half_pixel by default',
      attributes: { mode: 'linear' },
      args: [noRoi, rowScales],
      feeds: row,
      expected: halfPixel,
    },
    { opset: 11, form: 'sizes input, empty scales', args: [noRoi, f32([0], []), sizes] },
    {
      opset: 11,
      form: 'tf_crop_and_resize: roi over every dim',
      attributes: { mode: 'linear', coordinate_transformation_mode: 'tf_crop_and_resize' },
      args: [f32([8], [0, 0, 0, 0, 1, 1, 1, 1]), f32([0], []), i64([4], [1, 1, 3, 3])],
      expected: cropped,
    },
    { opset: 13, form: 'scales input, roi omitted', args: [OMITTED, scales] },
    { opset: 13, form: 'sizes input, roi and scales omitted', args: [OMITTED, OMITTED, sizes] },
    {
      opset: 13,
      form: 'linear, asymmetric attribute',
      attributes: { mode: 'linear', coordinate_transformation_mode: 'asymmetric' },
      args: [OMITTED, rowScales],
      feeds: row,
      expected: asymmetric,
    },
    {
      opset: 18,
      form: 'axes attribute with 2 scales',
      attributes: { axes: [2, 3] },
      args: [OMITTED, f32([2], [2, 2])],
    },
    {
      opset: 18,
      form: 'sizes with keep_aspect_ratio_policy=not_larger',
      attributes: { axes: [2, 3], keep_aspect_ratio_policy: 'not_larger' },
      args: [OMITTED, OMITTED, i64([2], [4, 6])],
    },
    {
      opset: 18,
      form: 'tf_crop_and_resize: roi over the axes only',
      attributes: { mode: 'linear', coordinate_transformation_mode: 'tf_crop_and_resize', axes: [2, 3] },
      args: [f32([4], [0, 0, 1, 1]), OMITTED, i64([2], [3, 3])],
      expected: cropped,
    },
    { opset: 19, form: 'scales input', args: [OMITTED, scales] },
    { opset: NEWEST_OPSET, form: 'scales input', args: [OMITTED, scales] },
  ];
  // Upsample and Resize-10 floor the source coordinate; Resize-11's default nearest_mode rounds it.
  const third = { x: f32([1, 1, 1, 2], [1, 2]) };
  const floored = { y: f32([1, 1, 1, 3], [1, 1, 2]) };
  const rounded = { y: f32([1, 1, 1, 3], [1, 2, 2]) };
  const threeHalves = f32([4], [1, 1, 1, 1.5]);
  upsample.push({
    opset: 9,
    form: 'nearest at scale 1.5 floors',
    args: [threeHalves],
    feeds: third,
    expected: floored,
  });
  resize.push(
    { opset: 10, form: 'nearest at scale 1.5 floors', args: [threeHalves], feeds: third, expected: floored },
    {
      opset: 11,
      form: 'asymmetric nearest at scale 1.5 rounds (round_prefer_floor)',
      attributes: { coordinate_transformation_mode: 'asymmetric' },
      args: [noRoi, threeHalves],
      feeds: third,
      expected: rounded,
    },
    {
      opset: 13,
      form: "asymmetric nearest at scale 1.5, nearest_mode='floor'",
      attributes: { coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' },
      args: [OMITTED, threeHalves],
      feeds: third,
      expected: floored,
    },
  );
  return [
    ...forms('Upsample', { feeds: { x }, expected: nearest }, upsample),
    ...forms('Resize', { feeds: { x }, expected: nearest }, resize),
  ];
}

function topKCases(): OpsetCase[] {
  const x = f32([1, 5], [1, 3, 2, 5, 4]);
  const largest = { values: f32([1, 2], [5, 4]), indices: i64([1, 2], [3, 4]) };
  const k = i64([1], [2]);
  return forms('TopK', { feeds: { x }, expected: largest }, [
    { opset: 1, form: 'k attribute', attributes: { k: 2 } },
    { opset: 9, form: 'k attribute', attributes: { k: 2 } },
    { opset: 10, form: 'K input', args: [k] },
    {
      opset: 11,
      form: 'largest=0',
      attributes: { largest: 0 },
      args: [k],
      expected: { values: f32([1, 2], [1, 2]), indices: i64([1, 2], [0, 2]) },
    },
    { opset: 11, form: 'negative axis', attributes: { axis: -1 }, args: [k] },
    { opset: NEWEST_OPSET, form: 'K input', args: [k] },
  ]);
}

function dropoutCases(): OpsetCase[] {
  const x = f32([4], [1, 2, 3, 4]);
  const kept = { y: x, mask: bool([4], [1, 1, 1, 1]) };
  return forms('Dropout', { feeds: { x }, expected: { y: x } }, [
    { opset: 1, form: 'is_test=1', attributes: { is_test: 1 } },
    { opset: 6, form: 'is_test=1', attributes: { is_test: 1 } },
    { opset: 7, form: 'ratio attribute, always inference', attributes: { ratio: float(0.5) } },
    { opset: 10, form: 'boolean mask output', attributes: { ratio: float(0.5) }, expected: kept },
    { opset: 12, form: 'no ratio input' },
    { opset: 12, form: 'ratio input, training_mode false', args: [f32([], [0.5]), bool([], [0])] },
    {
      opset: 12,
      form: 'training_mode true with ratio 0: nothing dropped',
      args: [f32([], [0]), bool([], [1])],
      expected: kept,
    },
    { opset: 13, form: 'mask output', expected: kept },
    { opset: NEWEST_OPSET, form: 'ratio input', args: [f32([], [0.5])] },
  ]);
}

function batchNormalizationCases(): OpsetCase[] {
  const x = f32([1, 2, 1, 2], [1, 2, 3, 4]);
  const params = { scale: [1, 2], bias: [0, 1], mean: [1, 0], variance: [4, 1] };
  const args = [params.scale, params.bias, params.mean, params.variance].map((v) => f32([2], v));
  const perActivation = {
    scale: [1, 2, 3, 4],
    bias: [0, 0, 1, 1],
    mean: [1, 1, 1, 1],
    variance: [1, 4, 1, 4],
  };
  const inference = { y: f32([1, 2, 1, 2], batchNorm(x.values, 2, params)) };
  const batch = batchStatistics(x.values, 2);
  const training = {
    y: f32([1, 2, 1, 2], batchNorm(x.values, 2, { ...params, ...batch })),
    running_mean: f32(
      [2],
      params.mean.map((m, c) => 0.9 * m + 0.1 * batch.mean[c]!),
    ),
    running_var: f32(
      [2],
      params.variance.map((v, c) => 0.9 * v + 0.1 * batch.variance[c]!),
    ),
  };
  return forms('BatchNormalization', { feeds: { x }, expected: inference }, [
    {
      opset: 1,
      form: 'consumed_inputs and is_test',
      attributes: { consumed_inputs: [0, 0, 0, 1, 1], is_test: 1 },
      args,
    },
    { opset: 6, form: 'is_test=1', attributes: { is_test: 1 }, args },
    { opset: 6, form: 'is_test=1, spatial=1', attributes: { is_test: 1, spatial: 1 }, args },
    { opset: 7, form: 'spatial=1, no is_test', attributes: { spatial: 1 }, args },
    { opset: 7, form: 'default attributes', args },
    {
      opset: 7,
      form: 'spatial=0: statistics per activation',
      attributes: { spatial: 0 },
      args: [perActivation.scale, perActivation.bias, perActivation.mean, perActivation.variance].map((v) =>
        f32([2, 1, 2], v),
      ),
      expected: { y: f32([1, 2, 1, 2], batchNorm(x.values, 4, perActivation)) },
    },
    { opset: 9, form: 'default attributes', args },
    { opset: 14, form: 'training_mode=0', attributes: { training_mode: 0 }, args },
    {
      opset: 14,
      form: 'training_mode=1: batch statistics',
      attributes: { training_mode: 1 },
      args,
      expected: training,
    },
    { opset: 15, form: 'default attributes', args },
    { opset: NEWEST_OPSET, form: 'default attributes', args },
  ]);
}

function softmaxCases(): OpsetCase[] {
  const x = f32([2, 2, 2], [1, 2, 3, 4, 1, 1, 3, 0]);
  return (['Softmax', 'LogSoftmax', 'Hardmax'] as const).flatMap((op) => {
    // Before opset 13 the input is coerced to 2-D at `axis`; from 13 only `axis` itself is normalized.
    const coerced = (axis: number) => ({ y: f32(x.dims, normalizeAlong(op, x, axis, true)) });
    const single = (axis: number) => ({ y: f32(x.dims, normalizeAlong(op, x, axis, false)) });
    return forms(op, { feeds: { x }, expected: coerced(1) }, [
      { opset: 1, form: 'default axis 1: the flattened trailing dims' },
      { opset: 1, form: 'axis=0: everything', attributes: { axis: 0 }, expected: coerced(0) },
      { opset: 11, form: 'axis=2', attributes: { axis: 2 }, expected: coerced(2) },
      { opset: 11, form: 'negative axis', attributes: { axis: -1 }, expected: coerced(2) },
      { opset: 12, form: 'default axis 1: the flattened trailing dims' },
      { opset: 13, form: 'default axis -1: the last dim alone', expected: single(2) },
      { opset: 13, form: 'axis=1: that dim alone', attributes: { axis: 1 }, expected: single(1) },
      { opset: NEWEST_OPSET, form: 'axis=0: that dim alone', attributes: { axis: 0 }, expected: single(0) },
    ]);
  });
}

function gemmCases(): OpsetCase[] {
  const a = f32([2, 3], iota(6));
  const b = f32([3, 2], iota(6));
  const bT = f32([2, 3], [0, 2, 4, 1, 3, 5]);
  const aT = f32([3, 2], [0, 3, 1, 4, 2, 5]);
  const vectorC = f32([2], [10, 20]);
  const y = (c: Values | undefined, alpha = 1, beta = 1) => ({
    y: f32([2, 2], gemm(a.values, b.values, 2, 3, 2, alpha, beta, c)),
  });
  return forms('Gemm', { feeds: { a }, expected: y(vectorC) }, [
    { opset: 1, form: 'broadcast=1 for a vector C', attributes: { broadcast: 1 }, args: [b, vectorC] },
    {
      opset: 1,
      form: 'full C, no broadcast',
      args: [b, f32([2, 2], [1, 2, 3, 4])],
      expected: y(f32([2, 2], [1, 2, 3, 4])),
    },
    { opset: 6, form: 'broadcast=1, transB', attributes: { broadcast: 1, transB: 1 }, args: [bT, vectorC] },
    {
      opset: 6,
      form: 'broadcast=1, alpha and beta',
      attributes: { broadcast: 1, alpha: float(2), beta: float(0.5) },
      args: [b, vectorC],
      expected: y(vectorC, 2, 0.5),
    },
    { opset: 7, form: 'vector C broadcast without an attribute', args: [b, vectorC] },
    {
      opset: 7,
      form: 'column C',
      args: [b, f32([2, 1], [10, 20])],
      expected: y(f32([2, 2], [10, 10, 20, 20])),
    },
    { opset: 9, form: 'vector C', args: [b, vectorC] },
    { opset: 11, form: 'C omitted', args: [b], expected: y(undefined) },
    {
      opset: 13,
      form: 'transA, alpha and beta',
      feeds: { a: aT },
      attributes: { transA: 1, alpha: float(2), beta: float(0.5) },
      args: [b, vectorC],
      expected: y(vectorC, 2, 0.5),
    },
    { opset: NEWEST_OPSET, form: 'vector C', args: [b, vectorC] },
  ]);
}

/** Binary operators: `broadcast`/`axis` attributes before opset 7, numpy broadcasting from 7. */
function binaryCases(): OpsetCase[] {
  const dims = [2, 3, 2];
  const a = f32(dims, iota(12));
  const perChannel = [10, 20, 30];
  const trailing = [1, 2];
  const leading = iota(6, 1);
  const compute = (
    fn: (x: number, y: number) => number,
    other: (i: number, j: number, k: number) => number,
  ) => over3(dims, (i, j, k, n) => fn(a.values[n]!, other(i, j, k)));
  const add = (x: number, y: number) => x + y;
  const mul = (x: number, y: number) => x * y;
  const sub = (x: number, y: number) => x - y;
  const div = (x: number, y: number) => x / y;
  const channelAdd = {
    y: f32(
      dims,
      compute(add, (_, j) => perChannel[j]!),
    ),
  };
  const channelMul = {
    y: f32(
      dims,
      compute(mul, (_, j) => perChannel[j]!),
    ),
  };
  const trailingSub = {
    y: f32(
      dims,
      compute(sub, (_i, _j, k) => trailing[k]!),
    ),
  };
  const leadingDiv = {
    y: f32(
      dims,
      compute(div, (i, j) => leading[i * 3 + j]!),
    ),
  };
  const thresholds = [2, 5, 9];
  const greater = {
    y: bool(
      dims,
      compute(
        (x, y) => Number(x > y),
        (_, j) => thresholds[j]!,
      ),
    ),
  };
  const legacyChannel = { broadcast: 1, axis: 1 };
  const base = { feeds: { a }, expected: channelAdd };
  const ints = i32([2, 3], [1, 2, 3, 4, 5, 6]);
  return [
    ...forms('Add', base, [
      { opset: 1, form: 'broadcast=1, axis=1', attributes: legacyChannel, args: [f32([3], perChannel)] },
      { opset: 6, form: 'broadcast=1, axis=1', attributes: legacyChannel, args: [f32([3], perChannel)] },
      {
        opset: 6,
        form: 'same shapes, no broadcast',
        args: [a],
        expected: {
          y: f32(
            dims,
            a.values.map((v) => 2 * v),
          ),
        },
      },
      { opset: 7, form: 'numpy broadcasting', args: [f32([3, 1], perChannel)] },
      { opset: 14, form: 'numpy broadcasting', args: [f32([3, 1], perChannel)] },
      { opset: NEWEST_OPSET, form: 'numpy broadcasting', args: [f32([3, 1], perChannel)] },
    ]),
    ...forms('Mul', { ...base, expected: channelMul }, [
      { opset: 1, form: 'broadcast=1, axis=1', attributes: legacyChannel, args: [f32([3], perChannel)] },
      { opset: 6, form: 'broadcast=1, axis=1', attributes: legacyChannel, args: [f32([3], perChannel)] },
      { opset: 7, form: 'numpy broadcasting', args: [f32([1, 3, 1], perChannel)] },
    ]),
    ...forms('Sub', { ...base, expected: trailingSub }, [
      { opset: 1, form: 'broadcast=1, trailing B', attributes: { broadcast: 1 }, args: [f32([2], trailing)] },
      { opset: 6, form: 'broadcast=1, trailing B', attributes: { broadcast: 1 }, args: [f32([2], trailing)] },
      { opset: 13, form: 'numpy broadcasting', args: [f32([2], trailing)] },
    ]),
    ...forms('Div', { ...base, expected: leadingDiv }, [
      {
        opset: 6,
        form: 'broadcast=1, axis=0',
        attributes: { broadcast: 1, axis: 0 },
        args: [f32([2, 3], leading)],
      },
      { opset: 7, form: 'numpy broadcasting', args: [f32([2, 3, 1], leading)] },
      { opset: 14, form: 'numpy broadcasting', args: [f32([2, 3, 1], leading)] },
    ]),
    ...forms(
      'Pow',
      {
        ...base,
        expected: {
          y: f32(
            dims,
            compute(Math.pow, (_i, _j, k) => trailing[k]!),
          ),
        },
      },
      [
        {
          opset: 1,
          form: 'broadcast=1, trailing B',
          attributes: { broadcast: 1 },
          args: [f32([2], trailing)],
        },
        { opset: 7, form: 'numpy broadcasting', args: [f32([2], trailing)] },
        { opset: 12, form: 'int64 exponent', args: [i64([2], trailing)] },
        { opset: 15, form: 'numpy broadcasting', args: [f32([2], trailing)] },
      ],
    ),
    ...forms('Greater', { ...base, expected: greater }, [
      { opset: 1, form: 'broadcast=1, axis=1', attributes: legacyChannel, args: [f32([3], thresholds)] },
      { opset: 7, form: 'numpy broadcasting', args: [f32([3, 1], thresholds)] },
      { opset: 13, form: 'numpy broadcasting', args: [f32([3, 1], thresholds)] },
    ]),
    ...forms('Equal', { feeds: { a: ints }, expected: { y: bool([2, 3], [1, 0, 0, 0, 1, 0]) } }, [
      {
        opset: 1,
        form: 'int32, broadcast=1, trailing B',
        attributes: { broadcast: 1 },
        args: [i32([3], [1, 5, 0])],
      },
      { opset: 7, form: 'int32, numpy broadcasting', args: [i32([3], [1, 5, 0])] },
      { opset: 19, form: 'int32, numpy broadcasting', args: [i32([3], [1, 5, 0])] },
    ]),
  ];
}

/** Sum/Max/Min/Mean: same shapes only before opset 8, numpy broadcasting from 8. */
function variadicCases(): OpsetCase[] {
  const x = f32([2], [1, 4]);
  const y = f32([2], [3, 2]);
  const column = f32([2, 1], [1, 4]);
  const row = f32([3], [3, 2, 5]);
  const table: [string, (a: number, b: number) => number][] = [
    ['Sum', (a, b) => a + b],
    ['Max', Math.max],
    ['Min', Math.min],
    ['Mean', (a, b) => (a + b) / 2],
  ];
  return table.flatMap(([op, fn]) => {
    const same = {
      z: f32(
        [2],
        x.values.map((v, i) => fn(v, y.values[i]!)),
      ),
    };
    const outer = {
      z: f32(
        [2, 3],
        column.values.flatMap((c) => row.values.map((r) => fn(c, r))),
      ),
    };
    return forms(op, { feeds: { x, y }, expected: same }, [
      { opset: 1, form: 'consumed_inputs, same shapes', attributes: { consumed_inputs: [0, 0] } },
      { opset: 6, form: 'same shapes' },
      { opset: 8, form: 'numpy broadcasting', feeds: { x: column, y: row }, expected: outer },
      { opset: 13, form: 'numpy broadcasting', feeds: { x: column, y: row }, expected: outer },
    ]);
  });
}

/** Element-wise activations: `consumed_inputs` in opset 1 only. */
function unaryCases(): OpsetCase[] {
  const x = f32([3], [-1, 0.5, 2]);
  const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
  const table: [string, (v: number) => number][] = [
    ['Relu', (v) => Math.max(v, 0)],
    ['LeakyRelu', (v) => (v < 0 ? 0.01 * v : v)],
    ['Elu', (v) => (v < 0 ? Math.exp(v) - 1 : v)],
    ['HardSigmoid', (v) => Math.min(1, Math.max(0, 0.2 * v + 0.5))],
    ['Sigmoid', sigmoid],
    ['Tanh', Math.tanh],
    ['Abs', Math.abs],
    ['Neg', (v) => -v],
    ['Exp', Math.exp],
    ['Floor', Math.floor],
    ['Ceil', Math.ceil],
    ['Reciprocal', (v) => 1 / v],
  ];
  return table.flatMap(([op, fn]) =>
    forms(op, { feeds: { x }, expected: { y: f32([3], x.values.map(fn)) } }, [
      { opset: 1, form: 'consumed_inputs', attributes: { consumed_inputs: [0] } },
      { opset: 6, form: 'plain' },
      { opset: 13, form: 'plain' },
      { opset: NEWEST_OPSET, form: 'plain' },
    ]),
  );
}

function concatCases(): OpsetCase[] {
  const feeds = { x: f32([2, 2], [1, 2, 3, 4]), y: f32([2, 1], [5, 6]) };
  return forms('Concat', { feeds, expected: { z: f32([2, 3], [1, 2, 5, 3, 4, 6]) } }, [
    { opset: 1, form: 'no axis: defaults to 1' },
    { opset: 1, form: 'axis=1', attributes: { axis: 1 } },
    {
      opset: 4,
      form: 'axis=0',
      attributes: { axis: 0 },
      feeds: { x: feeds.x, y: f32([1, 2], [5, 6]) },
      expected: { z: f32([3, 2], [1, 2, 3, 4, 5, 6]) },
    },
    { opset: 4, form: 'axis=1', attributes: { axis: 1 } },
    { opset: 11, form: 'negative axis', attributes: { axis: -1 } },
    { opset: 13, form: 'axis=1', attributes: { axis: 1 } },
    { opset: NEWEST_OPSET, form: 'axis=1', attributes: { axis: 1 } },
  ]);
}

function castCases(): OpsetCase[] {
  const x = f32([4], [1.7, -2.3, 3.5, 0]);
  const truncated = [1, -2, 3, 0];
  const toInt32 = { y: i32([4], truncated) };
  return forms('Cast', { feeds: { x }, expected: toInt32 }, [
    { opset: 1, form: "to='INT32' as a string", attributes: { to: 'INT32' } },
    {
      opset: 1,
      form: "to='INT64' as a string",
      attributes: { to: 'INT64' },
      expected: { y: i64([4], truncated) },
    },
    {
      opset: 1,
      form: "to='DOUBLE' as a string",
      attributes: { to: 'DOUBLE' },
      expected: { y: f64([4], x.values.map(Math.fround)) },
    },
    {
      opset: 1,
      form: "to='BOOL' as a string",
      attributes: { to: 'BOOL' },
      expected: { y: bool([4], [1, 1, 1, 0]) },
    },
    {
      opset: 1,
      form: "int32 to='FLOAT' as a string",
      attributes: { to: 'FLOAT' },
      feeds: { x: i32([2], [3, -4]) },
      expected: { y: f32([2], [3, -4]) },
    },
    { opset: 6, form: 'to=6 (int32)', attributes: { to: 6 } },
    {
      opset: 6,
      form: 'to=11 (double)',
      attributes: { to: 11 },
      expected: { y: f64([4], x.values.map(Math.fround)) },
    },
    { opset: 9, form: 'to=6', attributes: { to: 6 } },
    { opset: 13, form: 'to=7 (int64)', attributes: { to: 7 }, expected: { y: i64([4], truncated) } },
    { opset: 19, form: 'to=6', attributes: { to: 6 } },
    { opset: 21, form: 'to=6', attributes: { to: 6 } },
    { opset: NEWEST_OPSET, form: 'to=6', attributes: { to: 6 } },
  ]);
}

function flattenCases(): OpsetCase[] {
  const x = f32([2, 3, 4], iota(24));
  const as = (dims: number[]) => ({ y: f32(dims, iota(24)) });
  return forms('Flatten', { feeds: { x }, expected: as([2, 12]) }, [
    { opset: 1, form: 'default axis 1' },
    { opset: 1, form: 'axis=0', attributes: { axis: 0 }, expected: as([1, 24]) },
    { opset: 9, form: 'axis=2', attributes: { axis: 2 }, expected: as([6, 4]) },
    { opset: 11, form: 'negative axis', attributes: { axis: -1 }, expected: as([6, 4]) },
    { opset: 13, form: 'axis=rank', attributes: { axis: 3 }, expected: as([24, 1]) },
    { opset: 21, form: 'default axis 1' },
    { opset: NEWEST_OPSET, form: 'default axis 1' },
  ]);
}

function argCases(): OpsetCase[] {
  const x = f32([2, 3], [3, 1, 3, 0, 2, 0]);
  const table: [string, number[], number[], number[]][] = [
    // op, first index along axis 1, last index along axis 1, first index along axis 0
    ['ArgMax', [0, 1], [2, 1], [0, 1, 0]],
    ['ArgMin', [1, 0], [1, 2], [1, 0, 1]],
  ];
  return table.flatMap(([op, first, last, columns]) =>
    forms(op, { feeds: { x }, expected: { y: i64([2], first) } }, [
      { opset: 1, form: 'axis=1, keepdims=0', attributes: { axis: 1, keepdims: 0 } },
      { opset: 1, form: 'defaults: axis 0, dims kept', expected: { y: i64([1, 3], columns) } },
      { opset: 11, form: 'negative axis', attributes: { axis: -1 }, expected: { y: i64([2, 1], first) } },
      {
        opset: 12,
        form: 'select_last_index=1',
        attributes: { axis: 1, keepdims: 0, select_last_index: 1 },
        expected: { y: i64([2], last) },
      },
      { opset: 12, form: 'select_last_index=0', attributes: { axis: 1, keepdims: 0, select_last_index: 0 } },
      {
        opset: 13,
        form: 'select_last_index=1',
        attributes: { axis: 1, keepdims: 0, select_last_index: 1 },
        expected: { y: i64([2], last) },
      },
      { opset: NEWEST_OPSET, form: 'axis=1, keepdims=0', attributes: { axis: 1, keepdims: 0 } },
    ]),
  );
}

function tileCases(): OpsetCase[] {
  const x = f32([2, 2], [1, 2, 3, 4]);
  const wide = { y: f32([2, 4], [1, 2, 1, 2, 3, 4, 3, 4]) };
  const tall = { y: f32([4, 2], [1, 2, 3, 4, 1, 2, 3, 4]) };
  return forms('Tile', { feeds: { x }, expected: wide }, [
    { opset: 1, form: 'tiles and axis inputs, typed T as the spec says', args: [f32([], [2]), f32([], [1])] },
    { opset: 1, form: 'tiles and axis inputs as int64', args: [i64([], [2]), i64([], [1])] },
    { opset: 1, form: 'tiles along axis 0', args: [i64([], [2]), i64([], [0])], expected: tall },
    { opset: 6, form: 'repeats input', args: [i64([2], [1, 2])] },
    { opset: 6, form: 'repeats input along dim 0', args: [i64([2], [2, 1])], expected: tall },
    { opset: 13, form: 'repeats input', args: [i64([2], [1, 2])] },
    { opset: NEWEST_OPSET, form: 'repeats input', args: [i64([2], [1, 2])] },
  ]);
}

function gatherCases(): OpsetCase[] {
  const data = f32([3, 2], iota(6));
  const rows = { data, indices: i64([2], [2, 0]) };
  const column = { data, indices: i64([1], [1]) };
  return forms('Gather', { feeds: rows, expected: { y: f32([2, 2], [4, 5, 0, 1]) } }, [
    { opset: 1, form: 'axis 0' },
    {
      opset: 1,
      form: 'axis=1',
      attributes: { axis: 1 },
      feeds: column,
      expected: { y: f32([3, 1], [1, 3, 5]) },
    },
    {
      opset: 11,
      form: 'negative index',
      feeds: { data, indices: i64([1], [-1]) },
      expected: { y: f32([1, 2], [4, 5]) },
    },
    {
      opset: 11,
      form: 'negative axis',
      attributes: { axis: -1 },
      feeds: { data, indices: i64([1], [0]) },
      expected: { y: f32([3, 1], [0, 2, 4]) },
    },
    { opset: 13, form: 'axis 0' },
    { opset: NEWEST_OPSET, form: 'axis 0' },
  ]);
}

function poolCases(): OpsetCase[] {
  const x3 = f32([1, 1, 3, 3], iota(9));
  const x2 = f32([1, 1, 2, 2], [1, 2, 3, 4]);
  const kernel = { kernel_shape: [2, 2] };
  const strided = { ...kernel, strides: [2, 2] };
  const topLeftPad = { ...kernel, pads: [1, 1, 0, 0] };
  const corners = { y: f32([1, 1, 2, 2], [4, 5, 7, 8]) };
  const maxPool = forms('MaxPool', { feeds: { x: x3 }, expected: { y: f32([1, 1, 1, 1], [4]) } }, [
    { opset: 1, form: 'kernel 2, stride 2', attributes: strided },
    { opset: 8, form: 'kernel 2, stride 2', attributes: strided },
    {
      opset: 8,
      form: 'Indices output',
      attributes: kernel,
      expected: { ...corners, indices: i64([1, 1, 2, 2], [4, 5, 7, 8]) },
    },
    {
      opset: 8,
      form: 'storage_order=1: column-major Indices',
      attributes: { ...kernel, storage_order: 1 },
      expected: { ...corners, indices: i64([1, 1, 2, 2], [4, 7, 5, 8]) },
    },
    { opset: 10, form: 'ceil_mode=1', attributes: { ...strided, ceil_mode: 1 }, expected: corners },
    {
      opset: 10,
      form: 'dilations',
      attributes: { ...kernel, dilations: [2, 2] },
      expected: { y: f32([1, 1, 1, 1], [8]) },
    },
    { opset: 11, form: 'pads', attributes: topLeftPad, expected: { y: x3 } },
    { opset: 12, form: 'kernel 2, stride 2', attributes: strided },
    { opset: NEWEST_OPSET, form: 'kernel 2, stride 2', attributes: strided },
  ]);
  const excluded = { y: f32([1, 1, 2, 2], [1, 1.5, 2, 2.5]) };
  const included = { y: f32([1, 1, 2, 2], [0.25, 0.75, 1, 2.5]) };
  const averagePool = forms('AveragePool', { feeds: { x: x2 }, expected: excluded }, [
    { opset: 1, form: 'pads, padding left out of the count', attributes: topLeftPad },
    {
      opset: 7,
      form: 'count_include_pad=1',
      attributes: { ...topLeftPad, count_include_pad: 1 },
      expected: included,
    },
    { opset: 7, form: 'count_include_pad=0', attributes: { ...topLeftPad, count_include_pad: 0 } },
    {
      opset: 10,
      form: 'ceil_mode=1',
      attributes: { ...strided, ceil_mode: 1 },
      feeds: { x: x3 },
      expected: { y: f32([1, 1, 2, 2], [2, 3.5, 6.5, 8]) },
    },
    {
      opset: 19,
      form: 'dilations',
      attributes: { ...kernel, dilations: [2, 2] },
      feeds: { x: x3 },
      expected: { y: f32([1, 1, 1, 1], [4]) },
    },
    { opset: NEWEST_OPSET, form: 'pads', attributes: topLeftPad },
  ]);
  const lp = (v: number) => ({ y: f32([1, 1, 1, 1], [v]) });
  // LpPool-1 and GlobalLpPool-1 take p as a float; version 2 made it an int.
  const lpPool = forms('LpPool', { feeds: { x: x2 }, expected: lp(10) }, [
    { opset: 1, form: 'default p=2', attributes: kernel, expected: lp(Math.sqrt(30)) },
    { opset: 1, form: 'p as a float attribute', attributes: { ...kernel, p: float(1) } },
    { opset: 2, form: 'p as an int attribute', attributes: { ...kernel, p: 1 } },
    { opset: 11, form: 'p as an int attribute', attributes: { ...kernel, p: 1 } },
    {
      opset: 18,
      form: 'ceil_mode=1',
      attributes: { ...strided, p: 1, ceil_mode: 1 },
      feeds: { x: x3 },
      expected: { y: f32([1, 1, 2, 2], [8, 7, 13, 8]) },
    },
    { opset: NEWEST_OPSET, form: 'p as an int attribute', attributes: { ...kernel, p: 1 } },
  ]);
  const globalLpPool = forms('GlobalLpPool', { feeds: { x: x2 }, expected: lp(10) }, [
    { opset: 1, form: 'p as a float attribute', attributes: { p: float(1) } },
    { opset: 1, form: 'default p=2', expected: lp(Math.sqrt(30)) },
    { opset: 2, form: 'p as an int attribute', attributes: { p: 1 } },
    { opset: NEWEST_OPSET, form: 'p as an int attribute', attributes: { p: 1 } },
  ]);
  return [...maxPool, ...averagePool, ...lpPool, ...globalLpPool];
}

function convCases(): OpsetCase[] {
  const x = f32([1, 1, 3, 3], iota(9));
  const ones = f32([1, 1, 3, 3], new Array<number>(9).fill(1));
  const neighbourhoodSums = { y: f32([1, 1, 3, 3], [8, 15, 12, 21, 36, 27, 20, 33, 24]) };
  return forms('Conv', { feeds: { x }, expected: neighbourhoodSums }, [
    { opset: 1, form: 'auto_pad=SAME_UPPER', attributes: { auto_pad: 'SAME_UPPER' }, args: [ones] },
    {
      opset: 1,
      form: 'explicit pads',
      attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
      args: [ones],
    },
    { opset: 11, form: 'auto_pad=SAME_UPPER', attributes: { auto_pad: 'SAME_UPPER' }, args: [ones] },
    { opset: 11, form: 'explicit pads', attributes: { pads: [1, 1, 1, 1] }, args: [ones] },
    { opset: NEWEST_OPSET, form: 'explicit pads', attributes: { pads: [1, 1, 1, 1] }, args: [ones] },
  ]);
}

/** PRelu: a size-1 slope only (and consumed_inputs) before opset 7, unidirectional broadcasting from 7. */
function preluCases(): OpsetCase[] {
  const x = f32([1, 3, 2], [-1, 1, -2, 2, -3, 3]);
  const shared = { y: f32([1, 3, 2], [-0.5, 1, -1, 2, -1.5, 3]) };
  const perChannel = { y: f32([1, 3, 2], [-0.1, 1, -0.4, 2, -0.9, 3]) };
  const half = f32([1], [0.5]);
  const channelSlopes = f32([3, 1], [0.1, 0.2, 0.3]);
  return forms('PRelu', { feeds: { x }, expected: shared }, [
    {
      opset: 1,
      form: 'consumed_inputs, size-1 slope',
      attributes: { consumed_inputs: [0, 0] },
      args: [half],
    },
    { opset: 6, form: 'size-1 slope', args: [half] },
    { opset: 7, form: 'size-1 slope', args: [half] },
    { opset: 7, form: 'per-channel slope [3,1]', args: [channelSlopes], expected: perChannel },
    { opset: 9, form: 'per-channel slope [3,1]', args: [channelSlopes], expected: perChannel },
    { opset: NEWEST_OPSET, form: 'per-channel slope [3,1]', args: [channelSlopes], expected: perChannel },
  ]);
}

function normalizationCases(): OpsetCase[] {
  const x = f32([1, 2, 1, 2], [1, 2, 3, 5]);
  const instanceStats = batchStatistics(x.values, 2);
  const scaleBias = { scale: [1, 2], bias: [0, 1] };
  const instance = { y: f32(x.dims, batchNorm(x.values, 2, { ...scaleBias, ...instanceStats })) };
  const args = [f32([2], scaleBias.scale), f32([2], scaleBias.bias)];
  const instanceNorm = forms('InstanceNormalization', { feeds: { x }, expected: instance }, [
    { opset: 1, form: 'consumed_inputs', attributes: { consumed_inputs: [0, 0, 0] }, args },
    { opset: 6, form: 'default epsilon', args },
    { opset: NEWEST_OPSET, form: 'default epsilon', args },
  ]);
  // GroupNormalization-18 scales and shifts per group, -21 per channel: the same result here.
  const gx = f32([1, 4, 1, 2], [1, 2, 3, 4, 5, 6, 7, 9]);
  const groupStats = batchStatistics(gx.values, 2);
  const grouped = {
    y: f32(gx.dims, batchNorm(gx.values, 2, { scale: [1, 2], bias: [0, 1], ...groupStats })),
  };
  const groupNorm = forms('GroupNormalization', { feeds: { x: gx }, expected: grouped }, [
    {
      opset: 18,
      form: 'per-group scale and bias',
      attributes: { num_groups: 2 },
      args: [f32([2], [1, 2]), f32([2], [0, 1])],
    },
    {
      opset: 21,
      form: 'per-channel scale and bias',
      attributes: { num_groups: 2 },
      args: [f32([4], [1, 1, 2, 2]), f32([4], [0, 0, 1, 1])],
    },
    {
      opset: NEWEST_OPSET,
      form: 'per-channel scale and bias',
      attributes: { num_groups: 2 },
      args: [f32([4], [1, 1, 2, 2]), f32([4], [0, 0, 1, 1])],
    },
  ]);
  return [...instanceNorm, ...groupNorm];
}

/** Scatter-9 became ScatterElements-11; reduction came at 16, max/min at 18. */
function scatterCases(): OpsetCase[] {
  const feeds = { data: f32([3], [1, 2, 3]), indices: i64([2], [0, 2]), updates: f32([2], [10, -20]) };
  const result = (values: number[]) => ({ y: f32([3], values) });
  const negative = { ...feeds, indices: i64([2], [0, -1]) };
  const elements = forms('ScatterElements', { feeds, expected: result([10, 2, -20]) }, [
    { opset: 9, op: 'Scatter', form: 'Scatter, its name until opset 11' },
    { opset: 11, form: 'no reduction' },
    { opset: 11, form: 'negative index', feeds: negative },
    { opset: 16, form: "reduction='add'", attributes: { reduction: 'add' }, expected: result([11, 2, -17]) },
    { opset: 16, form: "reduction='mul'", attributes: { reduction: 'mul' }, expected: result([10, 2, -60]) },
    { opset: 18, form: "reduction='max'", attributes: { reduction: 'max' }, expected: result([10, 2, 3]) },
    { opset: 18, form: "reduction='min'", attributes: { reduction: 'min' }, expected: result([1, 2, -20]) },
  ]);
  const nd = forms(
    'ScatterND',
    { feeds: { ...feeds, indices: i64([2, 1], [0, 2]) }, expected: result([10, 2, -20]) },
    [
      { opset: 11, form: 'no reduction' },
      {
        opset: 16,
        form: "reduction='add'",
        attributes: { reduction: 'add' },
        expected: result([11, 2, -17]),
      },
      { opset: 18, form: "reduction='max'", attributes: { reduction: 'max' }, expected: result([10, 2, 3]) },
    ],
  );
  const data = f32([2, 2], [1, 2, 3, 4]);
  const gatherNd = forms(
    'GatherND',
    { feeds: { data, indices: i64([1, 2], [1, 0]) }, expected: { y: f32([1], [3]) } },
    [
      { opset: 11, form: 'full index' },
      {
        opset: 12,
        form: 'batch_dims=1',
        attributes: { batch_dims: 1 },
        feeds: { data, indices: i64([2, 1], [1, 0]) },
        expected: { y: f32([2], [2, 3]) },
      },
      { opset: 13, form: 'full index' },
    ],
  );
  return [...elements, ...nd, ...gatherNd];
}

/** RNN-1 has output_sequence, RNN-14 the batch-first layout. */
function rnnCases(): OpsetCase[] {
  const h1 = Math.tanh(0.5 * 1 + 0.1);
  const h2 = Math.tanh(0.5 * 2 + 0.25 * h1 + 0.1);
  const args = [f32([1, 1, 1], [0.5]), f32([1, 1, 1], [0.25]), f32([1, 2], [0.1, 0])];
  const sequenceFirst = { y: f32([2, 1, 1, 1], [h1, h2]), y_h: f32([1, 1, 1], [h2]) };
  return forms('RNN', { feeds: { x: f32([2, 1, 1], [1, 2]) }, expected: sequenceFirst }, [
    { opset: 1, form: 'output_sequence=1', attributes: { hidden_size: 1, output_sequence: 1 }, args },
    { opset: 7, form: 'hidden_size only', attributes: { hidden_size: 1 }, args },
    { opset: 14, form: 'layout=0', attributes: { hidden_size: 1, layout: 0 }, args },
    {
      opset: 14,
      form: 'layout=1: batch first',
      attributes: { hidden_size: 1, layout: 1 },
      args,
      feeds: { x: f32([1, 2, 1], [1, 2]) },
      expected: { y: f32([1, 2, 1, 1], [h1, h2]), y_h: f32([1, 1, 1], [h2]) },
    },
    { opset: NEWEST_OPSET, form: 'hidden_size only', attributes: { hidden_size: 1 }, args },
  ]);
}

/** OneHot and Compress accept negative indices/axes from opset 11. */
function negativeIndexCases(): OpsetCase[] {
  const oneHotArgs = [i64([], [3]), f32([2], [0, 1])];
  const oneHot = forms(
    'OneHot',
    { feeds: { indices: i64([2], [0, 2]) }, expected: { y: f32([2, 3], [1, 0, 0, 0, 0, 1]) } },
    [
      { opset: 9, form: 'non-negative indices', args: oneHotArgs },
      { opset: 11, form: 'negative index', args: oneHotArgs, feeds: { indices: i64([2], [0, -1]) } },
      { opset: 11, form: 'negative axis', attributes: { axis: -1 }, args: oneHotArgs },
    ],
  );
  const compress = forms(
    'Compress',
    { feeds: { x: f32([2, 2], [1, 2, 3, 4]) }, expected: { y: f32([2, 1], [2, 4]) } },
    [
      { opset: 9, form: 'axis=1', attributes: { axis: 1 }, args: [bool([2], [0, 1])] },
      { opset: 11, form: 'negative axis', attributes: { axis: -1 }, args: [bool([2], [0, 1])] },
    ],
  );
  return [...oneHot, ...compress];
}

function depthToSpaceCases(): OpsetCase[] {
  const x = f32([1, 8, 1, 1], iota(8));
  const dcr = { y: f32([1, 2, 2, 2], [0, 2, 4, 6, 1, 3, 5, 7]) };
  const crd = { y: f32([1, 2, 2, 2], iota(8)) };
  return forms('DepthToSpace', { feeds: { x }, expected: dcr }, [
    { opset: 1, form: 'depth-column-row order', attributes: { blocksize: 2 } },
    { opset: 11, form: 'default mode DCR', attributes: { blocksize: 2 } },
    { opset: 11, form: 'mode=CRD', attributes: { blocksize: 2, mode: 'CRD' }, expected: crd },
    { opset: 13, form: 'mode=CRD', attributes: { blocksize: 2, mode: 'CRD' }, expected: crd },
  ]);
}

function shapeCases(): OpsetCase[] {
  const x = f32([2, 3, 4], iota(24));
  return forms('Shape', { feeds: { x }, expected: { y: i64([3], [2, 3, 4]) } }, [
    { opset: 1, form: 'whole shape' },
    { opset: 13, form: 'whole shape' },
    { opset: 15, form: 'start=1', attributes: { start: 1 }, expected: { y: i64([2], [3, 4]) } },
    { opset: 15, form: 'end=-1', attributes: { end: -1 }, expected: { y: i64([2], [2, 3]) } },
    { opset: NEWEST_OPSET, form: 'whole shape' },
  ]);
}

function constantCases(): OpsetCase[] {
  const tensor = f32([2], [1.5, -2]);
  const value = [{ name: 'value', value: tensor }];
  const constant = forms('Constant', { feeds: {}, expected: { y: tensor } }, [
    { opset: 1, form: 'value tensor attribute', tensorAttributes: value },
    { opset: 9, form: 'value tensor attribute', tensorAttributes: value },
    {
      opset: 12,
      form: 'value_float',
      attributes: { value_float: float(2.5) },
      expected: { y: f32([], [2.5]) },
    },
    { opset: 12, form: 'value_ints', attributes: { value_ints: [1, 2] }, expected: { y: i64([2], [1, 2]) } },
    { opset: 13, form: 'value_floats', attributes: { value_floats: { floats: [1.5, -2] } } },
    { opset: NEWEST_OPSET, form: 'value tensor attribute', tensorAttributes: value },
  ]);
  const shape = { shape: i64([2], [2, 2]) };
  const constantOfShape = forms(
    'ConstantOfShape',
    { feeds: shape, expected: { y: f32([2, 2], [7, 7, 7, 7]) } },
    [
      { opset: 9, form: 'value attribute', tensorAttributes: [{ name: 'value', value: f32([1], [7]) }] },
      { opset: 9, form: 'no value: float zeros', expected: { y: f32([2, 2], [0, 0, 0, 0]) } },
      {
        opset: 20,
        form: 'int64 value',
        tensorAttributes: [{ name: 'value', value: i64([1], [3]) }],
        expected: { y: i64([2, 2], [3, 3, 3, 3]) },
      },
      {
        opset: NEWEST_OPSET,
        form: 'value attribute',
        tensorAttributes: [{ name: 'value', value: f32([1], [7]) }],
      },
    ],
  );
  return [...constant, ...constantOfShape];
}

/** Scan-8 has a batch dim and a sequence_lens input; Scan-9 has neither. The body adds each row to a running sum. */
function scanCases(): OpsetCase[] {
  const body = {
    graph: {
      nodes: [
        { op: 'Add', inputs: ['sum_in', 'row'], outputs: ['sum_out'] },
        { op: 'Identity', inputs: ['sum_out'], outputs: ['partial'] },
      ],
      inputs: [
        { name: 'sum_in', type: 'float32' as const, dims: [2] },
        { name: 'row', type: 'float32' as const, dims: [2] },
      ],
      outputs: [
        { name: 'sum_out', type: 'float32' as const, dims: [2] },
        { name: 'partial', type: 'float32' as const, dims: [2] },
      ],
    },
  };
  const rows = iota(6);
  const forward = [0, 1, 2, 4, 6, 9];
  const backward = [4, 5, 6, 8, 6, 9];
  const scan8 = (
    opset: number,
    form: string,
    partials: number[],
    attributes: Attributes = {},
  ): OpsetCase => ({
    op: 'Scan',
    opset,
    form,
    nodes: [
      {
        op: 'Scan',
        name: `Scan_v${opset}`,
        inputs: [OMITTED, 'init', 'xs'],
        outputs: ['total', 'partials'],
        attributes: { body, num_scan_inputs: 1, ...attributes },
      },
    ],
    feeds: { init: f32([1, 2], [0, 0]), xs: f32([1, 3, 2], rows) },
    constants: {},
    expected: { total: f32([1, 2], [6, 9]), partials: f32([1, 3, 2], partials) },
  });
  const later = forms(
    'Scan',
    {
      feeds: { init: f32([2], [0, 0]), xs: f32([3, 2], rows) },
      expected: { total: f32([2], [6, 9]), partials: f32([3, 2], forward) },
    },
    [
      { opset: 9, form: 'no batch dim', attributes: { body, num_scan_inputs: 1 } },
      {
        opset: 9,
        form: 'scan_input_directions=[1]',
        attributes: { body, num_scan_inputs: 1, scan_input_directions: [1] },
        expected: { total: f32([2], [6, 9]), partials: f32([3, 2], backward) },
      },
      {
        opset: 11,
        form: 'negative scan_input_axes',
        attributes: { body, num_scan_inputs: 1, scan_input_axes: [-1] },
        feeds: { init: f32([2], [0, 0]), xs: f32([2, 3], [0, 2, 4, 1, 3, 5]) },
      },
      { opset: NEWEST_OPSET, form: 'no batch dim', attributes: { body, num_scan_inputs: 1 } },
    ],
  );
  return [
    scan8(8, 'batch dim, sequence_lens omitted', forward),
    scan8(8, 'directions=[1]', backward, { directions: [1] }),
    ...later,
  ];
}

export function opsetCases(): OpsetCase[] {
  return [
    ...reshapeCases(),
    ...squeezeCases(),
    ...unsqueezeCases(),
    ...sliceCases(),
    ...splitCases(),
    ...reduceCases(),
    ...padCases(),
    ...clipCases(),
    ...resizeCases(),
    ...topKCases(),
    ...dropoutCases(),
    ...batchNormalizationCases(),
    ...softmaxCases(),
    ...gemmCases(),
    ...binaryCases(),
    ...variadicCases(),
    ...unaryCases(),
    ...concatCases(),
    ...castCases(),
    ...flattenCases(),
    ...argCases(),
    ...tileCases(),
    ...gatherCases(),
    ...poolCases(),
    ...convCases(),
    ...preluCases(),
    ...normalizationCases(),
    ...scatterCases(),
    ...rnnCases(),
    ...negativeIndexCases(),
    ...depthToSpaceCases(),
    ...shapeCases(),
    ...constantCases(),
    ...scanCases(),
  ];
}

/** Operators and the opset each first appeared in: one version earlier they must be refused. */
export const FIRST_OPSETS: [string, number][] = [
  ['Shrink', 9],
  ['Where', 9],
  ['NonZero', 9],
  ['Expand', 8],
  ['Scan', 8],
  ['Mod', 10],
  ['Resize', 10],
  ['IsInf', 10],
  ['Range', 11],
  ['CumSum', 11],
  ['GatherND', 11],
  ['Round', 11],
  ['Einsum', 12],
  ['Celu', 12],
  ['GreaterOrEqual', 12],
  ['Trilu', 14],
  ['HardSwish', 14],
  ['CastLike', 15],
  ['GridSample', 16],
  ['LayerNormalization', 17],
  ['DFT', 17],
  ['Mish', 18],
  ['GroupNormalization', 18],
  ['Gelu', 20],
  ['AffineGrid', 20],
  ['RMSNormalization', 23],
  ['RotaryEmbedding', 23],
  ['Attention', 23],
  ['Swish', 24],
  ['TensorScatter', 24],
  ['CumProd', 26],
  ['BitCast', 26],
];

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Reduces a 2-D tensor over `axes` with `reduce`: the result's dims and values. */
function reduceAxes(
  x: Values,
  axes: number[],
  keep: boolean,
  reduce: (v: number[]) => number,
): [number[], number[]] {
  const [rows, cols] = x.dims as [number, number];
  const at = (r: number, c: number) => x.values[r * cols + c]!;
  if (axes.length === 2) return [keep ? [1, 1] : [], [reduce(x.values)]];
  if (axes[0] === 0) {
    const values = iota(cols).map((c) => reduce(iota(rows).map((r) => at(r, c))));
    return [keep ? [1, cols] : [cols], values];
  }
  const values = iota(rows).map((r) => reduce(iota(cols).map((c) => at(r, c))));
  return [keep ? [rows, 1] : [rows], values];
}

/**
 * Softmax, LogSoftmax or Hardmax along `axis`: over that dim alone, or (coerced, the pre-13 rule)
 * over all dims from `axis` on, flattened into one.
 */
function normalizeAlong(
  op: 'Softmax' | 'LogSoftmax' | 'Hardmax',
  x: Values,
  axis: number,
  coerced: boolean,
): number[] {
  const inner = x.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const length = coerced ? x.dims[axis]! * inner : x.dims[axis]!;
  const stride = coerced ? 1 : inner;
  const out = new Array<number>(x.values.length);
  const groups = x.values.length / length;
  for (let g = 0; g < groups; g++) {
    const start = coerced ? g * length : Math.floor(g / inner) * length * inner + (g % inner);
    const indices = iota(length).map((i) => start + i * stride);
    const values = indices.map((i) => x.values[i]!);
    const max = Math.max(...values);
    const logSum = Math.log(sum(values.map((v) => Math.exp(v - max))));
    indices.forEach((index, i) => {
      const v = values[i]!;
      if (op === 'Softmax') out[index] = Math.exp(v - max - logSum);
      else if (op === 'LogSoftmax') out[index] = v - max - logSum;
      else out[index] = i === values.indexOf(max) ? 1 : 0;
    });
  }
  return out;
}

interface NormParams {
  scale: number[];
  bias: number[];
  mean: number[];
  variance: number[];
}

/** y = scale * (x - mean) / sqrt(variance + 1e-5) + bias per channel, for an N=1 NCHW tensor. */
export function batchNorm(x: number[], channels: number, p: NormParams): number[] {
  const perChannel = x.length / channels;
  const epsilon = Math.fround(1e-5);
  return x.map((v, i) => {
    const c = Math.floor(i / perChannel);
    return (p.scale[c]! * (v - p.mean[c]!)) / Math.sqrt(p.variance[c]! + epsilon) + p.bias[c]!;
  });
}

/** Per-channel mean and (population) variance of an N=1 NCHW tensor. */
function batchStatistics(x: number[], channels: number): { mean: number[]; variance: number[] } {
  const perChannel = x.length / channels;
  const groups = iota(channels).map((c) => x.slice(c * perChannel, (c + 1) * perChannel));
  const mean = groups.map((g) => sum(g) / g.length);
  const variance = groups.map((g, c) => sum(g.map((v) => (v - mean[c]!) ** 2)) / g.length);
  return { mean, variance };
}

/** alpha * A·B + beta * C for row-major A [m,k] and B [k,n], C broadcast to [m,n]. */
export function gemm(
  a: number[],
  b: number[],
  m: number,
  k: number,
  n: number,
  alpha: number,
  beta: number,
  c: Values | undefined,
): number[] {
  return iota(m * n).map((index) => {
    const [row, col] = [Math.floor(index / n), index % n];
    const dot = sum(iota(k).map((i) => a[row * k + i]! * b[i * n + col]!));
    return alpha * dot + beta * (c ? broadcastRead(c, row, col) : 0);
  });
}

/** The element of a [n], [m,1] or [m,n] tensor that numpy broadcasting reads at (row, col). */
function broadcastRead(c: Values, row: number, col: number): number {
  if (c.dims.length === 1) return c.values[col]!;
  const [rows, cols] = c.dims as [number, number];
  return c.values[(rows === 1 ? 0 : row) * cols + (cols === 1 ? 0 : col)]!;
}

/** fn(i, j, k, flat index) over every element of a 3-D tensor. */
function over3(dims: number[], fn: (i: number, j: number, k: number, n: number) => number): number[] {
  const [, d1, d2] = dims as [number, number, number];
  const size = dims[0]! * d1 * d2;
  return iota(size).map((n) => fn(Math.floor(n / (d1 * d2)), Math.floor(n / d2) % d1, n % d2, n));
}

/**
 * Chart scales: a value domain mapped onto a pixel range, linearly or by decades, with the ticks
 * an axis labels. Linear ticks fall on 1, 2 and 5 times a power of ten so their labels stay short;
 * logarithmic ones on every power of ten, with the multiples between them as minor ticks.
 */

export interface Scale {
  (value: number): number;
  /** Values to label along the axis. */
  ticks: number[];
  /** Values to mark without labels (the 2…9 multiples of a decade); empty on a linear scale. */
  minorTicks: number[];
  domain: [number, number];
  range: [number, number];
}

/**
 * Roughly `count` ticks from 0. The domain ends at the tick at or above `max`, or, with `exact`,
 * at `max` itself (a time axis ends where the run ended) with ticks only up to it.
 */
export function linearScale(max: number, range: [number, number], count = 8, exact = false): Scale {
  const step = niceStep(max > 0 ? max / count : 1);
  const top = exact && max > 0 ? max : Math.max(step, Math.ceil(max / step - 1e-9) * step);
  // Rounded so 3 × 0.1 labels as 0.3, not 0.30000000000000004.
  const ticks = Array.from({ length: Math.floor(top / step + 1e-9) + 1 }, (_, i) =>
    Number((i * step).toPrecision(12)),
  );
  const [from, to] = range;
  const scale = ((value: number) => from + ((to - from) * value) / top) as Scale;
  return Object.assign(scale, { ticks, minorTicks: [], domain: [0, top] as [number, number], range });
}

/** The smallest 1, 2 or 5 times a power of ten at least `raw`. */
function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
  return nice * power;
}

/** Whole decades enclosing [min, max] (both positive). */
export function logScale(min: number, max: number, range: [number, number]): Scale {
  const low = Math.floor(Math.log10(min));
  const high = Math.max(low + 1, Math.ceil(Math.log10(max)));
  const [from, to] = range;
  const scale = ((value: number) => from + ((to - from) * (Math.log10(value) - low)) / (high - low)) as Scale;
  const ticks: number[] = [];
  const minorTicks: number[] = [];
  for (let decade = low; decade <= high; decade++) {
    ticks.push(10 ** decade);
    if (decade < high) for (let m = 2; m < 10; m++) minorTicks.push(m * 10 ** decade);
  }
  return Object.assign(scale, {
    ticks,
    minorTicks,
    domain: [10 ** low, 10 ** high] as [number, number],
    range,
  });
}

/** 0.01, 0.1, 1, 10, 1k, 10k: decade labels. */
export function formatDecade(value: number): string {
  if (value >= 1e6) return `${value / 1e6}M`;
  if (value >= 1e3) return `${value / 1e3}k`;
  return String(Number(value.toPrecision(1)));
}

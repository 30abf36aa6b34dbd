/**
 * How the report writes quantities: times from microseconds, sizes in binary units, counts and
 * rates with SI prefixes, shares as percentages. Each picks the unit that keeps three significant
 * digits, so a column of them reads at a glance.
 */

export function formatTime(us: number): string {
  if (!Number.isFinite(us)) return '–';
  const abs = Math.abs(us);
  if (abs >= 1e6) return `${significant(us / 1e6)} s`;
  if (abs >= 1e3) return `${significant(us / 1e3)} ms`;
  return `${significant(us)} µs`;
}

/** A time axis label in milliseconds. */
export function formatMs(us: number): string {
  const ms = us / 1000;
  return Number.isInteger(ms) ? String(ms) : String(Number(ms.toPrecision(6)));
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${significant(value)} ${units[unit]}`;
}

/** 1.23 G, 45.6 M, 789 k: FLOP counts. */
export function formatCount(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e12) return `${significant(value / 1e12)} T`;
  if (abs >= 1e9) return `${significant(value / 1e9)} G`;
  if (abs >= 1e6) return `${significant(value / 1e6)} M`;
  if (abs >= 1e3) return `${significant(value / 1e3)} k`;
  return String(Math.round(value));
}

/** GFLOP/s, GB/s and FLOP/B figures. */
export function formatRate(value: number): string {
  if (value === 0) return '0';
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return significant(value);
}

export function formatPercent(fraction: number): string {
  const percent = fraction * 100;
  return `${percent >= 10 || percent === 0 ? percent.toFixed(1) : percent.toFixed(2)}%`;
}

/** Three significant digits, without trailing zeros beyond them (12.3, 1.23, 0.123, 123). */
function significant(value: number): string {
  const abs = Math.abs(value);
  if (abs === 0) return '0';
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}

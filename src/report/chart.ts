/**
 * What the report's SVG charts share: the plot frame inside the margins for axis labels, axes
 * with grid lines and titles, and the root `<svg>` element, sized by its view box so a chart
 * scales with the page while its text keeps its proportions.
 */

import { html, type Fragment, type Html } from './html.js';
import type { Scale } from './scale.js';

/** The plot area, in view-box units. */
export interface Frame {
  left: number;
  top: number;
  width: number;
  height: number;
}

export function frameRight(frame: Frame): number {
  return frame.left + frame.width;
}

export function frameBottom(frame: Frame): number {
  return frame.top + frame.height;
}

export function svgChart(
  className: string,
  width: number,
  height: number,
  label: string,
  content: Fragment,
): Html {
  return html`<svg
    class="chart ${className}"
    viewBox="0 0 ${width} ${height}"
    width="${width}"
    role="img"
    aria-label="${label}"
    xmlns="http://www.w3.org/2000/svg"
  >
    ${content}
  </svg>`;
}

/** Grid lines up the frame at every tick, labels under it, and the title below them. */
export function xAxis(scale: Scale, frame: Frame, format: (value: number) => string, title: string): Html {
  const bottom = frameBottom(frame);
  return html`<g class="axis x-axis">
    ${scale.minorTicks.map((t) => html`<line class="grid minor" x1="${scale(t)}" x2="${scale(t)}" y1="${frame.top}" y2="${bottom}" />`)}
    ${scale.ticks.map(
      (t) =>
        html`<line class="grid" x1="${scale(t)}" x2="${scale(t)}" y1="${frame.top}" y2="${bottom}" />
          <text class="tick" x="${scale(t)}" y="${bottom + 16}" text-anchor="middle">${format(t)}</text>`,
    )}
    <line class="baseline" x1="${frame.left}" x2="${frameRight(frame)}" y1="${bottom}" y2="${bottom}" />
    <text class="axis-title" x="${frame.left + frame.width / 2}" y="${bottom + 36}" text-anchor="middle"
      >${title}</text
    >
  </g>`;
}

/** Grid lines across the frame at every tick, labels left of it, and the title turned upright. */
export function yAxis(scale: Scale, frame: Frame, format: (value: number) => string, title: string): Html {
  const right = frameRight(frame);
  const middle = frame.top + frame.height / 2;
  return html`<g class="axis y-axis">
    ${scale.minorTicks.map((t) => html`<line class="grid minor" x1="${frame.left}" x2="${right}" y1="${scale(t)}" y2="${scale(t)}" />`)}
    ${scale.ticks.map(
      (t) =>
        html`<line class="grid" x1="${frame.left}" x2="${right}" y1="${scale(t)}" y2="${scale(t)}" />
          <text class="tick" x="${frame.left - 8}" y="${scale(t) + 4}" text-anchor="end">${format(t)}</text>`,
    )}
    <line
      class="baseline"
      x1="${frame.left}"
      x2="${frame.left}"
      y1="${frame.top}"
      y2="${frameBottom(frame)}"
    />
    <text
      class="axis-title"
      transform="translate(${frame.left - 52} ${middle}) rotate(-90)"
      text-anchor="middle"
      >${title}</text
    >
  </g>`;
}

/** A hover tooltip: SVG shows an element's first `<title>` child when the pointer rests on it. */
export function tooltip(lines: readonly string[]): Html {
  return html`<title>${lines.join('\n')}</title>`;
}

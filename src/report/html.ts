/**
 * Building HTML and SVG text safely: the `html` template tag escapes every interpolated string
 * (model and node names come from the model file, which anyone may have written), so markup only
 * ever comes from the report's own templates. Interpolated numbers are coordinates and are written
 * with at most two decimals, which keeps a chart of thousands of rectangles small.
 */

/** Markup that is already safe to insert. */
export class Html {
  constructor(readonly text: string) {}

  toString(): string {
    return this.text;
  }
}

export type Fragment = Html | string | number | boolean | null | undefined | readonly Fragment[];

export function html(strings: TemplateStringsArray, ...values: Fragment[]): Html {
  let text = strings[0]!;
  values.forEach((value, i) => {
    text += render(value) + strings[i + 1]!;
  });
  return new Html(text);
}

function render(value: Fragment): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  if (typeof value === 'number') return coordinate(value);
  if (typeof value === 'string') return escape(value);
  return '';
}

function coordinate(value: number): string {
  return String(Math.round(value * 100) / 100);
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

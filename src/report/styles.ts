/**
 * The report's style sheet, inlined into the page so the file stands alone. System fonts only
 * (a report must not fetch anything), tabular figures wherever numbers line up in columns, one
 * quiet palette of greys for structure so the operator colours carry the meaning.
 */

export const STYLES = `
:root {
  --ink: #1f2933;
  --muted: #616e7c;
  --faint: #9aa5b1;
  --line: #e4e7eb;
  --grid: #eef0f3;
  --panel: #ffffff;
  --page: #f5f7fa;
  --accent: #2f5f8a;
  --mono: ui-monospace, 'SFMono-Regular', Menlo, Consolas, 'DejaVu Sans Mono', 'Liberation Mono', monospace;
}
* { box-sizing: border-box; }
html { background: var(--page); }
body {
  margin: 0;
  color: var(--ink);
  font: 14px/1.5 system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', 'Liberation Sans', 'DejaVu Sans', sans-serif;
  font-variant-numeric: tabular-nums;
  -webkit-font-smoothing: antialiased;
}
main { max-width: 1200px; margin: 0 auto; padding: 28px 24px 64px; }
header { padding: 4px 4px 8px; }
.eyebrow { color: var(--accent); font-size: 12px; font-weight: 600; letter-spacing: 0.08em; text-transform: uppercase; }
h1 { font-size: 28px; line-height: 1.2; margin: 4px 0 14px; font-weight: 650; letter-spacing: -0.01em; }
h2 { font-size: 18px; margin: 0 0 4px; font-weight: 650; }
h3 { font-size: 14px; margin: 22px 0 8px; font-weight: 600; }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 0; }
.meta dt { color: var(--muted); }
.meta dd { margin: 0; }
nav { margin-top: 16px; display: flex; flex-wrap: wrap; gap: 6px; }
nav a {
  color: var(--accent); text-decoration: none; font-size: 13px; padding: 3px 10px;
  border: 1px solid var(--line); border-radius: 999px; background: var(--panel);
}
nav a:hover { border-color: var(--accent); }
section {
  background: var(--panel); border: 1px solid var(--line); border-radius: 10px;
  padding: 20px 24px 22px; margin-top: 18px; box-shadow: 0 1px 2px rgba(31, 41, 51, 0.04);
}
.lead { color: var(--muted); margin: 0 0 16px; max-width: 90ch; }
.note { color: var(--muted); font-size: 13px; margin: 8px 0; }
.sub, small { color: var(--muted); }
code, .mono { font-family: var(--mono); font-size: 12.5px; }
code { background: var(--grid); padding: 1px 5px; border-radius: 4px; }

.cards { display: flex; flex-wrap: wrap; gap: 10px; margin-bottom: 14px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 9px 14px 10px; min-width: 128px; }
.card-title { color: var(--muted); font-size: 12px; }
.card-value { font-size: 20px; font-weight: 600; line-height: 1.3; }
.card-detail { color: var(--faint); font-size: 11.5px; }
.phase-cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(120px, 1fr)); gap: 10px; }
@media (min-width: 1100px) {
  .phase-cards { grid-template-columns: repeat(7, minmax(0, 1fr)) minmax(150px, 1.5fr); }
}
.phase-cards .card { min-width: 0; }
.card-value { white-space: nowrap; }
.card.runs svg { margin: 5px 0 2px; }

.table-scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th {
  text-align: left; font-weight: 600; color: var(--muted); font-size: 12px;
  padding: 6px 8px; border-bottom: 1px solid #cbd2d9; white-space: nowrap; vertical-align: bottom;
}
td { padding: 6px 8px; border-bottom: 1px solid var(--grid); vertical-align: baseline; }
tbody tr:hover { background: #f8fafc; }
tfoot td { border-top: 1px solid #cbd2d9; border-bottom: none; font-weight: 600; }
.num { text-align: right; white-space: nowrap; }
td.name { min-width: 150px; max-width: 330px; }
td.name .node { overflow-wrap: anywhere; }
.shapes { color: var(--faint); font-size: 11.5px; margin-top: 2px; }
.shapes .mono { font-size: 11px; color: var(--muted); white-space: nowrap; }
.missing { color: var(--faint); }
.bar-cell { width: 136px; }
.share { display: inline-flex; align-items: center; gap: 8px; width: 100%; }
.share-bar { flex: 1; height: 7px; background: var(--grid); border-radius: 4px; overflow: hidden; min-width: 52px; }
.share-bar > span { display: block; height: 100%; background: var(--accent); border-radius: 4px; }
.share-value { min-width: 46px; text-align: right; white-space: nowrap; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
.swatch.state { height: 5px; vertical-align: 2px; }
.swatch.hatch { background: repeating-linear-gradient(45deg, #9aa5b1 0 2px, #fff 2px 5px); border: 1px solid #9aa5b1; }
.op { white-space: nowrap; }
.badge { font-size: 11.5px; padding: 1px 8px; border-radius: 999px; white-space: nowrap; }
.badge.compute { background: #e3f0fb; color: #1f5f99; }
.badge.memory { background: #fdf0e0; color: #9c5a0e; }
.cause { border-left: 3px solid; padding-left: 7px; white-space: nowrap; }

.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 4px 16px; padding: 0; margin: 10px 0 0; font-size: 12.5px; color: var(--muted); }
.chart-frame { overflow-x: auto; }
svg.chart { display: block; max-width: 100%; height: auto; overflow: visible; }
svg.chart text { font-family: inherit; font-size: 11px; fill: var(--muted); }
svg .grid { stroke: var(--grid); }
svg .grid.minor { stroke: #f5f6f8; }
svg .baseline { stroke: #9aa5b1; }
svg text.axis-title { fill: var(--ink); font-size: 12px; }
svg .lane-bg { fill: #fafbfc; }
svg text.lane-label { fill: var(--ink); font-family: var(--mono); font-size: 11.5px; }
svg text.lane-note { fill: var(--faint); font-size: 10.5px; }
svg .step, svg .path-step { stroke: #fff; stroke-width: 0.4; }
svg .step:hover, svg .path-step:hover, svg .point:hover { stroke: var(--ink); stroke-width: 1.5; }
svg .gap { stroke-width: 1; }
svg .run { fill: #cbd2d9; }
svg .run.steady { fill: #9fb3c8; }
svg .run.representative { fill: var(--accent); }

svg .region { fill: #fbf6ef; }
svg .roof { stroke: var(--ink); stroke-width: 2.5; stroke-linecap: round; }
svg .roof.slower-path { stroke-width: 1.5; stroke-dasharray: 6 3; opacity: 0.7; }
svg .roof-extension { stroke: var(--faint); stroke-width: 1; stroke-dasharray: 4 4; }
svg .ridge-drop { stroke: var(--faint); stroke-dasharray: 2 3; }
svg .ridge { fill: var(--panel); stroke: var(--ink); stroke-width: 2; }
svg .cache-roof { stroke: #7b8794; stroke-width: 1.3; }
svg text.roof-label { fill: var(--ink); font-size: 11.5px; font-weight: 600; }
svg text.cache-label { fill: #616e7c; font-size: 10.5px; }
svg text.ridge-label, svg text.region-label { fill: var(--muted); font-size: 11px; }
svg text.region-label { font-style: italic; }
svg .point { fill-opacity: 0.78; stroke: #fff; stroke-width: 1; }
svg text.point-label { fill: var(--ink); font-size: 11px; paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
.roofline-layout { display: grid; grid-template-columns: minmax(0, 760px) minmax(220px, 1fr); gap: 24px; align-items: start; }
.roofline-side h3 { margin-top: 4px; }
.facts { margin: 0; }
.facts dt { color: var(--muted); font-size: 12px; margin-top: 10px; }
.facts dd { margin: 0; font-size: 14px; }
.facts dd b { font-size: 18px; font-weight: 600; }
.facts small { display: block; font-size: 12px; }
.source { color: var(--faint); font-size: 12px; margin-top: 10px; }
table.levels { margin-top: 14px; width: auto; min-width: 220px; }

svg .area { fill: #dce8f3; }
svg .curve { fill: none; stroke: var(--accent); stroke-width: 1.8; stroke-linejoin: round; }
svg .arena-line { stroke: #9c5a0e; stroke-dasharray: 6 4; }
svg text.arena-label { fill: #9c5a0e; }
svg .hover-target { fill: transparent; }
svg .hover-target:hover { fill: rgba(47, 95, 138, 0.08); }
svg .high-water circle { fill: #d64545; stroke: #fff; stroke-width: 2; }
svg .high-water .leader { stroke: #d64545; stroke-dasharray: 2 3; }
svg .high-water text { fill: #b83232; font-weight: 600; }
footer { color: var(--faint); font-size: 12px; margin-top: 24px; text-align: center; }
@media print { html { background: #fff; } section { box-shadow: none; break-inside: avoid; } }
`;

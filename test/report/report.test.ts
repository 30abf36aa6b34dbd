/**
 * The HTML report of a real profile: the tiny CNN of examples/ traced over a few runs, profiled by
 * node, given fixed ceilings (so the roofline draws its roofs whatever this machine measured) and
 * rendered. The page is opened in headless Chromium (Debian's, driven by playwright-core): it must
 * load with no console error, page error or request for anything but itself, and hold the
 * timeline, roofline, tables and memory curve with as many marks and rows as the profile and trace
 * they came from; a screenshot is taken into a temporary folder. The browser test is skipped,
 * with the reason printed, only where /usr/bin/chromium is absent. The page's text is also checked
 * without a browser: escaping, and the sections' notes when the trace or the peaks are missing.
 */

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { InferenceSession, Tensor } from '../../src/index.js';
import { buildProfile, type GroupBy, type Peaks, type Profile } from '../../src/profile/index.js';
import { PATH_ROWS, SLACK_ROWS } from '../../src/report/critical-path.js';
import { renderReport } from '../../src/report/index.js';
import { LABELLED_POINTS } from '../../src/report/roofline.js';
import type { Span, Trace } from '../../src/telemetry/trace.js';
import { repoRoot } from '../helpers/repo-root.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const browserSkip = fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (install Debian's chromium)`;
if (browserSkip) console.log(`report browser tests skipped: ${browserSkip}`);

const MODEL = path.join(repoRoot(import.meta.url), 'examples', 'tiny-cnn.onnx');
/** A first run that specialises the plan, then steady ones. */
const RUNS = 4;

/** Round figures, not this machine's: the test checks the drawing, not the probe. */
const TEST_PEAKS: Peaks = {
  source: 'fixed ceilings of the report test',
  threads: 1,
  gflops: 50,
  computeLabel: 'test peak, 1 thread',
  computePaths: [
    { path: 'relaxed-madd', gflops: 50 },
    { path: 'mul-add', gflops: 33 },
  ],
  memory: [
    { level: 'L1d', capacityBytes: 32 * 1024, gbPerSecond: 200 },
    { level: 'L2', capacityBytes: 1024 * 1024, gbPerSecond: 100 },
    { level: 'DRAM', capacityBytes: null, gbPerSecond: 10 },
  ],
  ridge: 5,
};

let trace: Trace;
let profileBy: (groupBy: GroupBy) => Profile;
let profile: Profile;

before(async () => {
  const session = await InferenceSession.create(MODEL, { trace: true });
  const image = new Tensor('float32', new Float32Array(3 * 32 * 32).fill(0.5), [1, 3, 32, 32]);
  for (let i = 0; i < RUNS; i++) await session.run({ image });
  trace = session.trace()!;
  const inputShapes = { image: [1, 3, 32, 32] };
  const instance = session.planFor(new Map(Object.entries(inputShapes)));
  profileBy = (groupBy) => ({
    ...buildProfile({ trace, instance, model: 'tiny-cnn.onnx', inputShapes, groupBy }),
    peaks: TEST_PEAKS,
  });
  profile = profileBy('node');
});

function representativeRun(): Span {
  const runs = trace.spans.filter((s) => s.category === 'run').sort((a, b) => a.start - b.start);
  return runs[profile.runs.representative]!;
}

/** The spans the timeline draws: steps, copies, compilation and collections inside the representative run. */
function representativeRunSpans(): Span[] {
  const run = representativeRun();
  return trace.spans.filter(
    (s) => ['step', 'copy', 'compile', 'gc'].includes(s.category) && s.start >= run.start && s.end <= run.end,
  );
}

function placedOnRoofline(p: Profile): number {
  return p.operators.filter((row) => (row.intensity ?? 0) > 0 && (row.gflops ?? 0) > 0).length;
}

function count(html: string, pattern: RegExp): number {
  return html.match(new RegExp(pattern, 'g'))?.length ?? 0;
}

test('the report is one file: no script, stylesheet, font or image fetched', () => {
  const html = renderReport(profile, trace);
  assert.match(html, /^<!doctype html>/);
  assert.doesNotMatch(html, /<script|<link|<img|<iframe|@import|url\(\s*['"]?(https?:|\/\/)/i);
  assert.doesNotMatch(html, /\s(src|href)="(?!#)/, 'only in-page links');
});

test('names from the model are escaped', () => {
  const html = renderReport({ ...profile, model: '<script>alert("x")</script>' }, trace);
  assert.doesNotMatch(html, /<script>/);
  assert.match(html, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;/);
});

test('without the trace the timeline says why it is missing, and the rest is drawn', () => {
  const html = renderReport(profile);
  assert.match(html, /No trace was given/);
  assert.doesNotMatch(html, /class="chart timeline"/);
  assert.match(html, /class="chart roofline"/);
  assert.match(html, /class="chart memory"/);
});

test('without peaks the roofline places the operators with no roofs and points to heddle probe', () => {
  const unmeasured: Profile = { ...profile };
  delete unmeasured.peaks;
  const html = renderReport(unmeasured, trace);
  assert.equal(count(html, /class="roof /), 0);
  assert.equal(count(html, /<circle class="point"/), placedOnRoofline(profile));
  assert.match(html, /run <code>heddle probe<\/code>/);
});

test('a garbage collection in the run is drawn on the timeline, named in its tooltip and the legend', () => {
  const run = representativeRun();
  const collection: Span = {
    name: 'mark-compact',
    category: 'gc',
    track: 'main',
    start: run.start + 1,
    end: run.start + 3,
  };
  const html = renderReport(profile, { ...trace, spans: [...trace.spans, collection] });
  assert.match(html, /garbage collection: mark-compact/);
  assert.match(html, /<li><span class="swatch" style="background:#e8590c"><\/span>garbage collection<\/li>/);
  assert.doesNotMatch(renderReport(profile, trace), /garbage collection: mark-compact/);
});

test('a profile read back from JSON renders the same', () => {
  const roundTripped = JSON.parse(JSON.stringify(profile)) as Profile;
  assert.equal(renderReport(roundTripped, trace), renderReport(profile, trace));
});

test('grouped by op type, one roofline point and one table row per type', () => {
  const byOp = profileBy('op');
  const html = renderReport(byOp, trace);
  assert.equal(count(html, /<circle class="point"/), placedOnRoofline(byOp));
  assert.equal(count(html, /<td class="name">/), new Set(profile.operators.map((row) => row.op)).size);
});

let context: BrowserContext | undefined;
let userDataDir: string | undefined;

after(async () => {
  await context?.close();
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
});

/** Opens the report in a fresh browser profile, recording every console error, page error and request. */
async function openReport(html: string, folder: string) {
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'heddle-report-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  const page = await context.newPage();
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}`));
  page.on('request', (request) => requests.push(request.url()));
  const file = path.join(folder, 'report.html');
  fs.writeFileSync(file, html);
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  return { page, problems, requests, url: pathToFileURL(file).href };
}

async function countOf(page: Page, selector: string): Promise<number> {
  return page.locator(selector).count();
}

test('the report opens in headless Chromium with every chart and table', { skip: browserSkip }, async (t) => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'heddle-report-'));
  const { page, problems, requests, url } = await openReport(renderReport(profile, trace), folder);

  assert.deepEqual(problems, []);
  assert.deepEqual(requests, [url], 'the page fetches nothing but itself');
  assert.equal(await page.title(), 'Profile of tiny-cnn.onnx · Heddle');

  // Timeline: a lane per track, a rectangle per step of the representative run, a hatch per gap.
  const steps = representativeRunSpans();
  const lanes = await page
    .locator('svg.timeline g.lane')
    .evaluateAll((gs) => gs.map((g) => g.getAttribute('data-track')));
  assert.deepEqual([...new Set(lanes)].sort(), trace.tracks.map((track) => track.name).sort());
  assert.equal(await countOf(page, 'svg.timeline rect.step'), steps.length);
  assert.equal(await countOf(page, 'svg.timeline rect.gap'), profile.gaps.length);
  const titles = await page.locator('svg.timeline rect.step > title').allTextContents();
  for (const step of steps.filter((s) => s.category === 'step')) {
    const node = String(step.args?.node);
    assert.ok(
      titles.some((title) => title.startsWith(`${node} · `)),
      `a step's hover title names ${node}`,
    );
  }
  assert.ok((await countOf(page, 'svg.timeline .x-axis text.tick')) >= 3, 'the time axis has ticks');

  // Roofline: a point per costed row, a compute roof per SIMD path, the DRAM roof and both cache roofs, the ridge.
  assert.equal(await countOf(page, 'svg.roofline circle.point'), placedOnRoofline(profile));
  assert.equal(await countOf(page, 'svg.roofline line.compute-roof'), 2, 'a roof per SIMD path');
  assert.equal(await countOf(page, 'svg.roofline line.slower-path'), 1);
  assert.equal(await countOf(page, 'svg.roofline line.memory-roof'), 1);
  assert.equal(await countOf(page, 'svg.roofline line.cache-roof'), 2);
  assert.equal(await countOf(page, 'svg.roofline circle.ridge'), 1);
  const labels = await countOf(page, 'svg.roofline text.point-label');
  assert.ok(labels >= 1 && labels <= LABELLED_POINTS, `${labels} point labels`);

  // Tables: a row per operator row, track, gap, value live at the high-water mark.
  assert.equal(await countOf(page, 'table.operators tbody tr'), profile.operators.length);
  assert.equal(await countOf(page, 'table.tracks tbody tr'), profile.tracks.length);
  assert.equal(await countOf(page, 'table.gaps tbody tr'), profile.gaps.length);
  assert.equal(await countOf(page, 'table.live tbody tr'), profile.memory.highWater.live.length);

  // Critical path: the strip has every step on it, the tables the most telling ones.
  const path_ = profile.criticalPath;
  assert.equal(await countOf(page, 'svg.path-strip rect.path-step'), path_.steps.length);
  assert.equal(await countOf(page, 'table.path tbody tr'), Math.min(PATH_ROWS, path_.steps.length));
  const offPath = path_.slack.filter((s) => s.slackUs > 0).length;
  assert.equal(await countOf(page, 'table.slack tbody tr'), Math.min(SLACK_ROWS, offPath));

  // Memory: the curve, a hover band per step, the high-water mark; the runs' columns.
  assert.equal(await countOf(page, 'svg.memory path.curve'), 1);
  assert.equal(await countOf(page, 'svg.memory rect.hover-target'), profile.memory.curve.length);
  assert.equal(await countOf(page, 'svg.memory .high-water circle'), 1);
  assert.equal(await countOf(page, 'svg.runs-chart rect.run'), profile.runs.durationsUs.length);

  // Every chart is laid out at a real size.
  for (const chart of ['timeline', 'roofline', 'memory', 'path-strip']) {
    const box = await page.locator(`svg.${chart}`).boundingBox();
    assert.ok(box && box.width > 300 && box.height > 30, `svg.${chart} is laid out: ${JSON.stringify(box)}`);
  }

  const screenshot = path.join(folder, 'profile-report.png');
  await page.screenshot({ path: screenshot, fullPage: true });
  const png = fs.readFileSync(screenshot);
  assert.deepEqual([...png.subarray(1, 4)], [...Buffer.from('PNG')]);
  t.diagnostic(`screenshot: ${screenshot} (${png.length} bytes)`);
});

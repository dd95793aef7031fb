// Live line charts drawn as inline SVG. The broker only reports current
// values and rates, so the page keeps its own history: one sample per
// refresh, the last `max` of them, and draws that.

import { h, s } from './ui.js';

export const COLORS = ['#2563c9', '#d97706', '#15803d', '#a21caf', '#b91c1c', '#0e7490'];

export class History {
  constructor(max = 120) {
    this.max = max;
    this.samples = []; // {t: ms since epoch, v: {seriesKey: number}}
  }

  push(values, t = Date.now()) {
    this.samples.push({ t, v: values });
    if (this.samples.length > this.max) this.samples.splice(0, this.samples.length - this.max);
  }

  latest(key) {
    return this.samples.at(-1)?.v[key];
  }
}

// Grid step of 1, 2 or 5 times a power of ten, so the grid lines fall on
// numbers a person reads at a glance; at most 4 steps up to the maximum.
// Counts (integer) never get a fractional step.
function axis(max, integer) {
  if (!(max > 0)) max = 1;
  let step = 10 ** Math.floor(Math.log10(max / 4));
  for (const m of [1, 2, 5, 10]) {
    if (m * step * 4 >= max) {
      step *= m;
      break;
    }
  }
  if (integer) step = Math.max(1, Math.round(step));
  const steps = Math.max(1, Math.ceil(max / step - 1e-9));
  return { step, top: step * steps, steps };
}

// The time span shown grows with the samples kept (1, 2, 5, then 10
// minutes), so a page opened a minute ago does not squeeze its lines into
// the right edge of a 10-minute axis.
function spanFor(history, maxMs) {
  const first = history.samples[0]?.t ?? Date.now();
  const age = Date.now() - first;
  for (const m of [1, 2, 5, 10]) if (m * 60e3 >= age || m * 60e3 >= maxMs) return Math.min(m * 60e3, maxMs);
  return maxMs;
}

const ago = (ms) => (ms >= 120e3 ? `-${Math.round(ms / 60e3)}m` : `-${Math.round(ms / 1000)}s`);

const W = 640;
const H = 190;
const M = { left: 56, right: 12, top: 10, bottom: 24 };

// series: [{key, label}] (colours by position, matching .swatch.cN in app.css), fmt: value -> text for the axis and the legend.
// windowMs: the longest time span shown; intervalMs: expected gap between samples (a
// longer gap, e.g. while the tab was hidden, breaks the line).
export function lineChart({ title, history, series, fmt = String, windowMs: maxWindow = 10 * 60e3, intervalMs = 5000, integer = false }) {
  const now = Date.now();
  const windowMs = spanFor(history, maxWindow);
  const t0 = now - windowMs;
  const pts = history.samples.filter((x) => x.t >= t0);
  const ax = axis(Math.max(0, ...pts.flatMap((x) => series.map((se) => x.v[se.key] ?? 0))), integer);
  const ymax = ax.top;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const X = (t) => M.left + ((t - t0) / windowMs) * pw;
  const Y = (v) => M.top + ph - (v / ymax) * ph;

  const grid = [];
  for (let i = 0; i <= ax.steps; i++) {
    const v = ax.step * i;
    grid.push(
      s('line', { x1: M.left, x2: W - M.right, y1: Y(v), y2: Y(v), class: i ? 'grid' : 'axis' }),
      s('text', { x: M.left - 6, y: Y(v) + 4, 'text-anchor': 'end', class: 'tick' }, fmt(v)),
    );
  }
  for (let i = 0; i <= 5; i++) {
    const t = t0 + (windowMs * i) / 5;
    const label = i === 5 ? 'now' : ago(windowMs - (windowMs * i) / 5);
    grid.push(s('text', { x: X(t), y: H - 6, 'text-anchor': i === 0 ? 'start' : i === 5 ? 'end' : 'middle', class: 'tick' }, label));
  }

  const lines = series.map((se, i) => {
    // Split into runs at gaps, so missing time is not drawn as a straight ramp.
    const runs = [];
    let run = [];
    let prev = null;
    for (const x of pts) {
      const v = x.v[se.key];
      if (v === undefined || v === null) continue;
      if (prev !== null && x.t - prev > intervalMs * 2.5) {
        runs.push(run);
        run = [];
      }
      run.push(`${X(x.t).toFixed(1)},${Y(v).toFixed(1)}`);
      prev = x.t;
    }
    runs.push(run);
    const color = COLORS[i % COLORS.length];
    return runs
      .filter((r) => r.length)
      .map((r) =>
        r.length === 1
          ? s('circle', { cx: r[0].split(',')[0], cy: r[0].split(',')[1], r: 2.5, fill: color })
          : s('polyline', { points: r.join(' '), fill: 'none', stroke: color, 'stroke-width': 2, 'stroke-linejoin': 'round' }),
      );
  });

  const summary = series.map((se) => `${se.label} ${fmt(history.latest(se.key) ?? 0)}`).join(', ');
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': `${title}: ${summary}` }, grid, lines);
  const legend = h(
    'ul',
    { class: 'legend' },
    series.map((se, i) =>
      h(
        'li',
        {},
        h('span', { class: `swatch c${i % COLORS.length}`, 'aria-hidden': 'true' }),
        se.label,
        ' ',
        h('strong', {}, history.samples.length ? fmt(history.latest(se.key) ?? 0) : '—'),
      ),
    ),
  );
  return h(
    'figure',
    { class: 'chart-box' },
    h('figcaption', {}, title),
    svg,
    pts.length < 2 && h('p', { class: 'chart-note muted' }, 'Collecting samples: the chart fills in every 5 seconds while this page is open.'),
    legend,
  );
}

// Short axis labels: 1200 -> 1.2k.
export function compact(v) {
  if (v >= 1e9) return `${+(v / 1e9).toFixed(1)}G`;
  if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(v < 10 && v % 1 ? 2 : 0)}`;
}

// ExportMetrics drawn as plain SVG (small, no charting dependency, and every label a text node):
// stage wall times coloured by backend with the reason on hover, memory, triangles per level, and
// one iModel's export durations across runs.
import { formatBytes, formatCount, formatMs, h, s } from './dom.js';

// A stage that is not dispatched to a backend (read, write, validate) reports backend "-".
export const backendColours = { 'cpu-scalar': '#8a8f98', 'cpu-simd': '#2f7fd1', cuda: '#76b900', '-': '#c28b2c' };
const otherColour = '#8e5cc7';
const colourOf = (backend) => backendColours[backend] ?? otherColour;
const backendName = (backend) => (backend === '-' ? 'host (not dispatched)' : backend);

const width = 560;
const labelWidth = 130;
const valueWidth = 80;
const barHeight = 18;
const gap = 6;

/// Horizontal bars, one row each: { label, text, segments: [{ value, colour, title, data }] }; the
/// segments of a row are stacked (one segment: a plain bar).
function barChart(className, title, rows) {
  const total = (r) => r.segments.reduce((t, seg) => t + seg.value, 0);
  const max = Math.max(1e-9, ...rows.map(total));
  const plot = width - labelWidth - valueWidth;
  const height = rows.length * (barHeight + gap) + gap;
  const svg = s('svg', { class: `chart ${className}`, viewBox: `0 0 ${width} ${height}`, width, height, role: 'img',
                         'aria-label': title });
  rows.forEach((r, i) => {
    const y = gap + i * (barHeight + gap);
    const minWidth = r.segments.length === 1 ? 1 : 0.5;
    let x = labelWidth;
    svg.append(s('text', { x: labelWidth - 6, y: y + barHeight * 0.72, 'text-anchor': 'end', class: 'label' }, r.label));
    for (const seg of r.segments) {
      const w = (seg.value / max) * plot;
      svg.append(s('rect', { x: x.toFixed(1), y, width: Math.max(minWidth, w).toFixed(1), height: barHeight, fill: seg.colour,
                             class: 'bar', dataset: seg.data ?? {} }, s('title', {}, seg.title)));
      x += r.segments.length === 1 ? Math.max(minWidth, w) : w;
    }
    svg.append(s('text', { x: x + 4, y: y + barHeight * 0.72, class: 'value' }, r.text));
  });
  return h('figure', { class: 'chart-box' }, h('figcaption', {}, title), svg);
}

/// A plain bar: one segment.
const bar = (label, value, text, colour, title, data) => ({ label, text, segments: [{ value, colour, title, data }] });

/// Colour keys: entries [{ colour, name }].
function legend(entries) {
  return h('div', { class: 'legend' }, entries.map((e) => h('span', {}, h('i', { style: { background: e.colour } }), e.name)));
}

/// One bar per stage: its wall time, coloured by the backend that ran it; the reason on hover.
export function stageChart(metrics) {
  const stages = metrics?.stages ?? [];
  const rows = stages.map((st) => bar(st.name, st.wallMs ?? 0, formatMs(st.wallMs ?? 0), colourOf(st.backend),
                                      `${st.name}: ${formatMs(st.wallMs ?? 0)} on ${backendName(st.backend)}${st.reason ? ` (${st.reason})` : ''}`,
                                      { stage: st.name, backend: st.backend ?? '' }));
  const backends = [...new Set(stages.map((st) => st.backend))];
  const box = barChart('stages', `Stages (tiler wall ${formatMs(metrics?.totals?.wallMs)})`, rows);
  box.append(legend(backends.map((b) => ({ colour: colourOf(b), name: backendName(b) }))));
  return box;
}

/// Peak host memory of the tiler and its peak device memory.
export function memoryChart(metrics) {
  const rows = [];
  const add = (label, bytes, what) => {
    if (Number.isFinite(bytes)) rows.push(bar(label, bytes, formatBytes(bytes), '#6c5fc7', `${what}: ${formatBytes(bytes)}`, { memory: label }));
  };
  const totals = metrics?.totals ?? {};
  add('peak RSS', metrics?.tilerPeakRssBytes ?? totals.peakRssBytes, 'Peak resident memory of the tiler process');
  add('input mesh', metrics?.counts?.inputBytes, 'Scene mesh bytes as read');
  add('device', totals.peakDeviceBytes ?? 0, totals.gpuName ? `Peak GPU memory on ${totals.gpuName}` : 'No GPU ran');
  return barChart('memory', 'Memory', rows);
}

/// Triangles per level of the tile tree (level 0 = the root).
export function levelChart(metrics) {
  const levels = metrics?.counts?.trianglesPerLevel ?? [];
  const tiles = metrics?.counts?.tilesPerLevel ?? [];
  const rows = levels.map((n, i) => bar(`level ${i}`, n, formatCount(n), '#d1602f',
                                        `level ${i}: ${formatCount(n)} triangles in ${formatCount(tiles[i])} tiles`,
                                        { level: String(i) }));
  return barChart('levels', 'Triangles per level', rows);
}

/// One row per Complete export of an iModel, oldest first: its stages stacked, coloured by stage.
export function compareChart(exports) {
  const runs = exports.filter((e) => e.stats?.metrics?.stages?.length);
  const names = [...new Set(runs.flatMap((e) => e.stats.metrics.stages.map((st) => st.name)))];
  const palette = ['#2f7fd1', '#d1602f', '#46a35e', '#8e5cc7', '#c2a32c', '#2cb2c2', '#c22c7a', '#7a7a7a', '#4d6b2c',
                   '#a35e46'];
  const colour = (name) => palette[names.indexOf(name) % palette.length];
  const rows = runs.map((e) => ({
    label: `${e.request?.exportType ?? ''} ${(e.stats.startTime ?? e.lastModified ?? '').replace('T', ' ').slice(5, 16)}`,
    text: formatMs(e.stats.metrics.stages.reduce((t, st) => t + (st.wallMs ?? 0), 0)),
    segments: e.stats.metrics.stages.map((st) => ({
      value: st.wallMs ?? 0, colour: colour(st.name), data: { export: e.id, stage: st.name },
      title: `${e.id}\n${st.name}: ${formatMs(st.wallMs ?? 0)} on ${backendName(st.backend)}`,
    })),
  }));
  const box = barChart('compare', 'Stage wall time per export (oldest first)', rows);
  box.append(legend(names.map((n) => ({ colour: colour(n), name: n }))));
  return box;
}

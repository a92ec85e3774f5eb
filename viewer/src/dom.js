// DOM building without HTML strings: every id, name and message (iModel names are user data) goes
// in as a text node or an attribute value, never through innerHTML.

const svgNs = 'http://www.w3.org/2000/svg';

function build(el, props, children) {
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style') Object.assign(el.style, v); // CSSOM: allowed by a CSP without 'unsafe-inline'
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/// An HTML element: h('a', { href: '#/' }, 'text', child, …).
export const h = (tag, props, ...children) => build(document.createElement(tag), props, children);

/// An SVG element, likewise.
export const s = (tag, props, ...children) => build(document.createElementNS(svgNs, tag), props, children);

/// Replaces the children of `el`.
export function fill(el, ...children) {
  el.replaceChildren();
  return build(el, {}, children);
}

/// Rows of [name, value] as a two-column table (names as row headers).
export const metaTable = (rows) =>
  h('table', { class: 'meta' }, h('tbody', {}, rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v ?? '')))));

/// A table with a header row of `columns` and body `rows` (each an array of cell contents, or a
/// ready <tr>).
export const dataTable = (columns, rows) =>
  h('table', { class: 'exports' }, h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c)))),
    h('tbody', {}, rows.map((r) => (r instanceof Node ? r : h('tr', {}, r.map((c) => h('td', {}, c)))))));

export const formatBytes = (n) => {
  if (!Number.isFinite(n)) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    ++i;
  }
  return `${n.toFixed(i === 0 ? 0 : n < 10 ? 2 : 1)} ${units[i]}`;
};

export const formatMs = (ms) => (!Number.isFinite(ms) ? '–' : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`);

export const formatCount = (n) => (Number.isFinite(n) ? n.toLocaleString('en-US') : '–');

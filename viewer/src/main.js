// The page: a token, the iModels and their exports (live while any runs), a form that starts an
// export with tilerConfig keys the service describes, an export's page (CesiumJS for 3DTILES and
// CESIUM, metadata for IMODEL) with its metrics drawn, and a comparison of an iModel's runs.
import * as api from './api.js';
import { compareChart, levelChart, memoryChart, stageChart } from './charts.js';
import { dataTable, fill, formatBytes, formatCount, formatMs, h, metaTable } from './dom.js';
import { openTileset } from './globe.js';

const $ = (id) => document.getElementById(id);
const running = (e) => e.status === 'NotStarted' || e.status === 'InProgress';
const state = { imodels: [], exports: new Map(), keys: null, view: null, viewId: null, viewStamp: '', timer: 0,
                error: '', armed: '' /* the export whose Delete waits for its confirmation */,
                dataStamp: '' /* what the last refresh rendered */ };

// ---- token ----------------------------------------------------------------------------------

function showTokenState(text) {
  fill($('token-state'), text);
}

$('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const token = $('token').value.trim().replace(/^Bearer\s+/i, '');
  $('token').value = '';
  api.setToken(token);
  showTokenState(token ? 'token set for this tab' : 'no token');
  refresh();
});
$('token-forget').addEventListener('click', () => {
  api.setToken('');
  state.imodels = [];
  state.exports.clear();
  state.dataStamp = '';
  showTokenState('token forgotten');
  render();
});

// ---- data -----------------------------------------------------------------------------------

async function refresh() {
  clearTimeout(state.timer);
  if (!api.getToken()) {
    state.error = '';
    render();
    return;
  }
  try {
    // Two calls a refresh, however many iModels: the exports come in one list, grouped here.
    const [imodels, exports] = await Promise.all([api.listImodels(), api.listExports()]);
    state.imodels = imodels;
    state.exports.clear();
    for (const m of imodels) state.exports.set(m.id, []);
    for (const e of exports) state.exports.get(e.request?.iModelId)?.push(e);
    state.error = '';
    if (!state.keys) state.keys = await api.configKeys();
  } catch (e) {
    state.error = e.status === 401 ? `The token was refused: ${e.message}` : e.message;
  }
  // The page is rebuilt only when something it shows changed (a poll every 1.5 s mostly finds
  // nothing new).
  const stamp = JSON.stringify([state.error, state.keys?.length ?? 0, state.imodels,
                                allExports().map((e) => [e.id, e.status, e.lastModified])]);
  if (stamp !== state.dataStamp) {
    state.dataStamp = stamp;
    render();
  }
  // Live while an export runs; a slow heartbeat otherwise.
  const anyRunning = [...state.exports.values()].some((list) => list.some(running));
  state.timer = setTimeout(refresh, anyRunning ? 1500 : 15000);
}

const allExports = () => [...state.exports.values()].flat();
const imodelName = (id) => state.imodels.find((m) => m.id === id)?.displayName ?? id;

// ---- side: iModels and the start form -------------------------------------------------------

function renderImodels() {
  const list = $('imodel-list');
  if (!api.getToken()) return fill(list, 'Paste a token to begin.');
  if (state.error) return fill(list, h('p', { class: 'error' }, state.error));
  if (!state.imodels.length) return fill(list, 'No iModels are registered (meshexport imodels add FILE.bim).');
  fill(list, h('ul', { class: 'imodels' }, state.imodels.map((m) => h('li', { dataset: { imodel: m.id } },
    h('strong', { class: 'name' }, m.displayName), h('br'), h('code', {}, m.id), ' ',
    h('span', { class: 'muted' }, `changeset #${m.changesetIndex}, ${formatBytes(m.size)}, `,
      `${(state.exports.get(m.id) ?? []).length} export(s)`), ' ',
    h('a', { href: `#/compare/${encodeURIComponent(m.id)}` }, 'compare runs')))));
}

/// The range and values a key allows, from its `allowed` text ("64 .. 4194304", "0 | 16 .. 1048576",
/// "cluster | quadric").
function keyInput(k) {
  const id = `key-${k.name}`;
  const hint = `${k.description} Allowed: ${k.allowed}. Default: ${k.default}.`;
  let input;
  if (k.type === 'enum' || k.type === 'boolean') {
    input = h('select', { id, name: k.name, title: hint },
              h('option', { value: '' }, `default (${k.default})`), (k.values ?? []).map((v) => h('option', { value: v }, v)));
  } else {
    const lo = Math.min(...(k.ranges ?? []).map((r) => r[0]), ...(k.values ?? []).map(Number).filter(Number.isFinite));
    const hi = Math.max(...(k.ranges ?? []).map((r) => r[1]), ...(k.values ?? []).map(Number).filter(Number.isFinite));
    input = h('input', { id, name: k.name, type: 'number', title: hint, placeholder: k.default,
                         min: Number.isFinite(lo) ? lo : undefined, max: Number.isFinite(hi) ? hi : undefined,
                         step: k.type === 'integer' ? 1 : 'any' });
  }
  return h('div', { class: 'key' }, h('label', { for: id, title: hint }, k.name), input,
           h('small', { class: 'muted' }, k.allowed));
}

function renderStartForm() {
  const form = $('start-form');
  if (!api.getToken() || !state.imodels.length) return fill(form);
  const selected = form.elements.iModelId?.value;
  if (form.dataset.built === String(state.imodels.length) && form.dataset.keys === String(state.keys?.length ?? 0)) return;
  form.dataset.built = String(state.imodels.length);
  form.dataset.keys = String(state.keys?.length ?? 0);
  fill(form,
       h('label', {}, 'iModel ', h('select', { name: 'iModelId', id: 'start-imodel' },
         state.imodels.map((m) => h('option', { value: m.id, selected: m.id === selected }, m.displayName)))),
       h('label', {}, 'Type ', h('select', { name: 'exportType', id: 'start-type' },
         ['3DTILES', 'CESIUM', 'IMODEL'].map((t) => h('option', { value: t }, t)))),
       h('details', { id: 'start-keys' }, h('summary', {}, `tilerConfig (${state.keys?.length ?? 0} keys)`),
         (state.keys ?? []).map(keyInput)),
       h('button', { type: 'submit', id: 'start-button' }, 'Start export'));
}

$('start-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const tilerConfig = [];
  for (const k of state.keys ?? []) {
    const v = form.elements[k.name]?.value ?? '';
    if (v !== '') tilerConfig.push({ key: k.name, value: v });
  }
  const request = { iModelId: form.elements.iModelId.value, changesetId: '', exportType: form.elements.exportType.value };
  if (tilerConfig.length) request.tilerConfig = tilerConfig;
  const out = $('start-result');
  fill(out, 'Starting…');
  try {
    const e = await api.startExport(request);
    fill(out, 'Started ', h('a', { href: `#/export/${encodeURIComponent(e.id)}` }, e.id), '.');
    // Its page: live status, then the drawing once it is Complete (one click from the form).
    window.location.hash = `#/export/${encodeURIComponent(e.id)}`;
    refresh();
  } catch (e) {
    fill(out, h('p', { class: 'error' }, e.message),
         h('ul', { class: 'error' }, e.details.map((d) => h('li', {}, d.target ? `${d.target}: ` : '', d.message))));
  }
});

// ---- pages ----------------------------------------------------------------------------------

function exportRow(e, iModelId) {
  const d = e.stats?.duration;
  const open = h('a', { href: `#/export/${encodeURIComponent(e.id)}`, class: 'open' }, 'open');
  const del = h('button', { type: 'button', class: 'delete' }, state.armed === e.id ? 'Confirm delete' : 'Delete');
  del.addEventListener('click', async () => {
    if (state.armed !== e.id) {
      state.armed = e.id; // survives the list's live re-rendering
      fill(del, 'Confirm delete');
      return;
    }
    state.armed = '';
    del.disabled = true;
    try {
      await api.deleteExport(e.id);
    } catch (err) {
      fill(del, `Failed: ${err.message}`);
      return;
    }
    refresh();
  });
  return h('tr', { dataset: { export: e.id, status: e.status } },
           h('td', {}, h('code', {}, e.id.slice(0, 8))), h('td', { class: 'name' }, e.displayName ?? imodelName(iModelId)),
           h('td', {}, e.request?.exportType ?? ''), h('td', { class: `status ${e.status}` }, e.status),
           h('td', {}, (e.lastModified ?? '').replace('T', ' ').replace('Z', '')),
           h('td', {}, Number.isFinite(d) ? formatMs(d) : ''), h('td', {}, open, ' ', del));
}

function renderHome() {
  closeView();
  const page = $('page');
  if (!api.getToken()) return fill(page, h('h1', {}, 'Exports'), h('p', {}, 'Paste a token above to see your exports.'));
  const sections = state.imodels.map((m) => {
    const list = state.exports.get(m.id) ?? [];
    return h('section', { class: 'imodel-exports', dataset: { imodel: m.id } }, h('h2', { class: 'name' }, m.displayName),
             list.length ? dataTable(['id', 'name', 'type', 'status', 'modified', 'duration', ''], list.map((e) => exportRow(e, m.id)))
                         : h('p', { class: 'muted' }, 'No exports yet: start one from the form.'));
  });
  fill(page, h('h1', {}, 'Exports'), state.error ? h('p', { class: 'error' }, state.error) : null, sections);
}

function closeView() {
  delete $('page').dataset.export;
  if (state.view) state.view.destroy();
  state.view = null;
  state.viewId = null;
  state.viewStamp = '';
}

function metadataTable(e) {
  const rows = [['id', e.id], ['name', e.displayName], ['status', e.status], ['type', e.request?.exportType],
                ['iModel', e.request?.iModelId], ['changeset', `${e.request?.changesetId || '(first)'} #${e.request?.changesetIndex}`],
                ['tilerConfig', e.request?.tilerConfig ? JSON.stringify(e.request.tilerConfig) : '(defaults)'],
                ['modified', e.lastModified]];
  const st = e.stats ?? {};
  const m = st.metrics?.counts ?? {};
  const totals = st.metrics?.totals ?? {};
  if (e.stats) rows.push(['duration', formatMs(st.duration)], ['files', `${formatCount(st.exportDirStructure?.files)} files, ${formatBytes(st.rawSize)} (${formatBytes(st.compressedSize)} gzipped)`],
                         ['input', `${formatCount(m.trianglesIn)} triangles, ${formatCount(m.features)} features`],
                         ['tiles', `${formatCount(m.tiles)} in ${(m.tilesPerLevel ?? []).length} levels`],
                         ['CPU', `${totals.cpuLevel ?? '–'}${totals.gpuName ? `; GPU ${totals.gpuName}` : ''}`]);
  if (e.error) rows.push(['error', e.error]);
  for (const w of st.metrics?.warnings ?? []) rows.push(['warning', w]);
  return metaTable(rows);
}

function metricsSection(e) {
  const m = e.stats?.metrics;
  if (!m) return h('p', { class: 'muted' }, e.status === 'Complete' ? 'This export has no metrics.' : 'Metrics appear once the export is Complete.');
  return h('section', { class: 'metrics' }, h('h2', {}, 'Metrics'), stageChart(m), memoryChart(m), levelChart(m));
}

async function renderExport(id) {
  const page = $('page');
  let e = allExports().find((x) => x.id === id);
  if (!e) {
    try {
      e = await api.getExport(id);
    } catch (err) {
      if (!showing(id)) return;
      closeView();
      return fill(page, h('h1', {}, 'Export'), h('p', { class: 'error' }, err.message));
    }
    if (!showing(id)) return; // the route changed while the export was fetched
  }
  const stamp = `${e.id}|${e.status}|${e.lastModified}`;
  if (state.viewId === id && state.viewStamp === stamp) return; // nothing changed: keep the 3D view
  closeView();
  state.viewId = id;
  state.viewStamp = stamp;
  const type = (e.request?.exportType ?? '').toUpperCase();
  const drawable = e.status === 'Complete' && (type === '3DTILES' || type === 'CESIUM') && e._links?.mesh?.href;
  const picked = h('dl', { id: 'picked' }, h('dt', {}, 'Click an element'), h('dd', {}, ''));
  const status = h('p', { id: 'view-status', class: 'muted', dataset: { state: 'none' } });
  const boxes = h('input', { type: 'checkbox', id: 'debug-volumes' });
  const levels = h('input', { type: 'checkbox', id: 'debug-levels' });
  const container = h('div', { id: 'cesium' });
  const parts = [h('h1', {}, h('span', { class: 'name' }, e.displayName), ` — ${type} export`)];
  if (drawable) {
    parts.push(h('div', { class: 'toolbar' }, h('label', {}, boxes, ' bounding volumes'), h('label', {}, levels, ' LOD level per tile'), status),
               h('div', { class: 'view' }, container, picked));
  } else if (running(e)) {
    parts.push(h('p', { class: 'running', id: 'view-status', dataset: { state: 'waiting' } },
                 `${e.status}: the export is drawn here once it is Complete.`));
  } else if (type === 'IMODEL' && e.status === 'Complete') {
    parts.push(h('p', { class: 'note' }, 'IMODEL exports are iMdl tiles for iTwin.js: CesiumJS and other 3D Tiles clients cannot draw them. ',
                 'Draw them with iTwin.js (@itwin/frontend-tiles: initializeFrontendTiles with this service as the Mesh Export endpoint), ',
                 'which finds this export by its iModel and changeset.'),
               h('div', { id: 'imdl-summary' }, 'Reading the tileset…'));
  }
  parts.push(metricsSection(e), h('h2', {}, 'Export'), metadataTable(e));
  fill(page, parts);
  page.dataset.export = id; // which export the page shows (#page is reused by every route)
  if (drawable) {
    const show = (ids) => {
      if (!ids) return fill(picked, h('dt', {}, 'Click an element'), h('dd', {}, 'nothing there'));
      fill(picked, ['element', 'model', 'subcategory'].map((k) => [h('dt', {}, k), h('dd', { id: `picked-${k}` }, ids[k] || '–')]));
    };
    const onState = (text, s) => {
      fill(status, text);
      status.dataset.state = s;
    };
    state.view = await openTileset(container, api.tilesetUrl(e._links.mesh.href), { onPick: show, onState });
    if (state.viewId !== id) return closeView();
    boxes.addEventListener('change', () => state.view?.setBoundingVolumes(boxes.checked));
    levels.addEventListener('change', () => state.view?.setLevels(levels.checked));
  } else if (type === 'IMODEL' && e.status === 'Complete' && e._links?.mesh?.href) {
    summarizeImdl(e);
  }
}

/// IMODEL: what tileset.json says (its tiles and their iMdl content), fetched through the signed link.
async function summarizeImdl(e) {
  const box = $('imdl-summary');
  try {
    const res = await fetch(api.tilesetUrl(e._links.mesh.href), { credentials: 'omit', cache: 'no-store' });
    if (!res.ok) throw new Error(`tileset.json answered ${res.status}`);
    const t = await res.json();
    let tiles = 0;
    let depth = 0;
    const walk = (tile, d) => {
      ++tiles;
      depth = Math.max(depth, d);
      for (const c of tile.children ?? []) walk(c, d + 1);
    };
    if (t.root) walk(t.root, 0);
    if (!box.isConnected) return; // the page moved on meanwhile
    fill(box, metaTable([['3D Tiles version', t.asset?.version], ['generator', t.asset?.generator],
                         ['tiles in tileset.json', formatCount(tiles)], ['levels', String(depth + 1)],
                         ['root geometric error', `${t.root?.geometricError ?? t.geometricError} m`]]));
  } catch (err) {
    if (box.isConnected) fill(box, h('p', { class: 'error' }, err.message));
  }
}

function renderCompare(iModelId) {
  closeView();
  const page = $('page');
  if (!api.getToken()) return fill(page, h('h1', {}, 'Compare runs'), h('p', {}, 'Paste a token above.'));
  const id = iModelId || state.imodels[0]?.id;
  const select = h('select', { id: 'compare-imodel' }, state.imodels.map((m) => h('option', { value: m.id, selected: m.id === id }, m.displayName)));
  select.addEventListener('change', () => {
    window.location.hash = `#/compare/${encodeURIComponent(select.value)}`;
  });
  const runs = (state.exports.get(id) ?? []).filter((e) => e.status === 'Complete').slice().reverse();
  fill(page, h('h1', {}, 'Compare runs'), h('label', {}, 'iModel ', select),
       runs.length ? compareChart(runs) : h('p', { class: 'muted' }, 'No Complete exports of this iModel yet.'),
       runs.length ? dataTable(['id', 'type', 'started', 'duration', 'triangles', 'tiles', 'peak RSS'], runs.map((e) => [
         h('a', { href: `#/export/${encodeURIComponent(e.id)}` }, e.id.slice(0, 8)), e.request?.exportType ?? '',
         e.stats?.startTime ?? '', formatMs(e.stats?.duration), formatCount(e.stats?.metrics?.counts?.trianglesIn),
         formatCount(e.stats?.metrics?.counts?.tiles), formatBytes(e.stats?.metrics?.tilerPeakRssBytes)])) : null);
}

/// The route: ['export', id], ['compare', id?], or [''] for the list.
const route = () => window.location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
/// Whether the route is still export `id` (an await may have let the user move on).
const showing = (id) => route()[0] === 'export' && route()[1] === id;

function render() {
  renderImodels();
  renderStartForm();
  const [page, id] = route();
  if (page === 'export' && id) renderExport(id);
  else if (page === 'compare') renderCompare(id ?? '');
  else renderHome();
}

window.addEventListener('hashchange', render);
showTokenState(api.getToken() ? 'token set for this tab' : '');
refresh();

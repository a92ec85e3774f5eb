// The Mesh Export API as this page uses it. The token lives in sessionStorage (this tab only,
// gone when it closes) and is sent only to this page's own origin: every request URL is resolved
// against the page and checked before the Authorization header is added. The API root is the
// folder above the page (…/viewer/ → …/), so the page works behind a publicUrl with a path prefix.

const tokenKey = 'meshexport.token';

export const apiRoot = new URL('../', window.location.href);

export function getToken() {
  return window.sessionStorage.getItem(tokenKey) ?? '';
}

export function setToken(token) {
  if (token) window.sessionStorage.setItem(tokenKey, token);
  else window.sessionStorage.removeItem(tokenKey);
}

/// An error the API answered (or a network failure): `status` 0 when nothing came back.
export class ApiError extends Error {
  constructor(status, code, message, details = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/// A URL of this origin under the API root; throws for anything else (a link to another origin
/// never gets the token).
export function apiUrl(relative) {
  const url = new URL(relative, apiRoot);
  if (url.origin !== window.location.origin) throw new ApiError(0, 'CrossOrigin', `Refusing to send the token to ${url.origin}.`);
  return url;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/// One API call: JSON in, JSON out. 429 is waited out (Retry-After, at most 3 times); any other
/// error becomes an ApiError with the API's code, message and details.
export async function call(method, relative, body) {
  const url = apiUrl(relative);
  for (let attempt = 0; ; ++attempt) {
    const headers = { Accept: 'application/vnd.bentley.itwin-platform.v1+json', Prefer: 'return=representation' };
    const token = getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                               credentials: 'omit', cache: 'no-store', redirect: 'error' });
    } catch (e) {
      throw new ApiError(0, 'NetworkError', `The service did not answer (${e.message}).`);
    }
    if (res.status === 429 && attempt < 3) {
      const wait = Math.min(30, Number(res.headers.get('Retry-After')) || 1);
      await sleep(wait * 1000);
      continue;
    }
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (res.ok) return json;
    const err = json && json.error ? json.error : {};
    throw new ApiError(res.status, err.code ?? `HTTP${res.status}`, err.message ?? `The service answered ${res.status}.`,
                       Array.isArray(err.details) ? err.details : []);
  }
}

/// Every export the caller sees, newest first: every page of the list, following _links.next
/// (same origin only). No iModelId and no exportType: listing never auto-generates an export.
export async function listExports() {
  const out = [];
  let next = 'mesh-export/?$top=1000&$orderBy=date:desc';
  for (let pages = 0; next && pages < 20; ++pages) {
    const page = await call('GET', next);
    out.push(...(page?.exports ?? []));
    const href = page?._links?.next?.href;
    next = href ? onApiRoot(href, 'mesh-export').href : null;
  }
  return out;
}

/// A link the service built on its publicUrl, as the same resource under this page's API root
/// (the page may be opened under another host name than publicUrl): the link's path from
/// `/segment/` on, resolved against the root, its query (a signature, a page) kept.
function onApiRoot(href, segment) {
  const link = new URL(href, apiRoot);
  const at = link.pathname.lastIndexOf(`/${segment}/`);
  const url = at >= 0 ? new URL(link.pathname.slice(at + 1), apiRoot) : link;
  url.search = link.search;
  return url;
}

export const listImodels = async () => (await call('GET', 'imodels'))?.iModels ?? [];
export const getExport = async (id) => (await call('GET', `mesh-export/${encodeURIComponent(id)}`))?.export;
export const startExport = async (request) => (await call('POST', 'mesh-export/', request))?.export;
export const deleteExport = (id) => call('DELETE', `mesh-export/${encodeURIComponent(id)}`);
export const configKeys = async () => (await call('GET', 'config-keys'))?.keys ?? [];

/// The tileset URL of a Complete export: the signed base link with /tileset.json appended to its
/// path and its query (the signature) kept, fetched from this page's origin (onApiRoot), so that the
/// page's Content-Security-Policy allows it.
export function tilesetUrl(meshHref) {
  const url = onApiRoot(meshHref, 'tiles');
  url.pathname = url.pathname.replace(/\/?$/, '/tileset.json');
  return url.href;
}

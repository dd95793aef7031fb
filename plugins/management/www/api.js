// HTTP access to the management API on this page's own origin.
// Every request carries HTTP basic auth from sessionStorage (so a closed tab
// forgets the password) and X-Requested-With, which tells the server not to
// answer a 401 with a browser password prompt.

const KEY = 'tern.auth';

export function saveCredentials(user, pass) {
  // btoa only takes Latin-1; encode to UTF-8 bytes first so any password works.
  const bytes = new TextEncoder().encode(`${user}:${pass}`);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  sessionStorage.setItem(KEY, JSON.stringify({ user, token: btoa(bin) }));
}

export function clearCredentials() {
  sessionStorage.removeItem(KEY);
}

export function credentials() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY)) || null;
  } catch {
    return null;
  }
}

// An error answer from the API: HTTP status plus RabbitMQ's {error, reason}.
export class ApiError extends Error {
  constructor(status, error, reason, method, path) {
    super(`${method} ${path}: HTTP ${status}${error ? ` ${error}` : ''}${reason ? ` — ${reason}` : ''}`);
    this.status = status;
    this.error = error;
    this.reason = reason;
    this.method = method;
    this.path = path;
  }
}

// Path builder: each segment is percent-encoded, so the default vhost "/"
// becomes %2F and names with spaces, slashes or '#' survive.
export function p(...segments) {
  return '/api/' + segments.map((s) => encodeURIComponent(String(s))).join('/');
}

export function withQuery(path, query) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  }
  const s = qs.toString();
  return s ? `${path}?${s}` : path;
}

// fetch() wrapper. Resolves to the parsed JSON body (or null for 204 / empty),
// throws ApiError for any non-2xx status and for network failures (status 0).
export async function api(method, path, { body, headers, raw } = {}) {
  const cred = credentials();
  // No Accept header: RabbitMQ answers 406 to "Accept: application/json" on
  // DELETE /api/queues/.../contents, whose answer has no body.
  const h = { 'X-Requested-With': 'XMLHttpRequest', ...headers };
  if (cred) h.Authorization = `Basic ${cred.token}`;
  const init = { method, headers: h, cache: 'no-store' };
  if (body !== undefined) {
    h['Content-Type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network_error', `cannot reach the server (${e.message})`, method, path);
  }
  const text = await res.text();
  if (!res.ok) {
    let error = res.statusText;
    let reason = '';
    let json = false;
    try {
      const j = JSON.parse(text);
      json = Boolean(j && typeof j === 'object');
      error = j.error ?? error;
      // RabbitMQ sometimes sends a reason that is not a string (a list).
      reason = typeof j.reason === 'string' ? j.reason : JSON.stringify(j.reason ?? '');
    } catch {
      reason = text.slice(0, 300);
    }
    const err = new ApiError(res.status, error, reason, method, path);
    err.json = json; // false: not the broker's error body (a proxy's or router's)
    throw err;
  }
  if (raw) return text;
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export const get = (path, query) => api('GET', withQuery(path, query));
export const put = (path, body) => api('PUT', path, { body });
export const post = (path, body) => api('POST', path, { body });
export const del = (path, headers) => api('DELETE', path, { headers });

// Tern-only endpoints live under /api/tern. RabbitMQ answers 404 there (and
// an empty 400 when the path holds %2F, the default vhost); the first such
// answer marks the extras unavailable for the
// session, so views show a note instead of failing again on every refresh.
let ternState = null; // null = unknown, true/false once known
export const tern = {
  get available() {
    return ternState;
  },
  set available(v) {
    ternState = v;
  },
  path: (...segments) => p('tern', ...segments),
};

// Fetch one page of a RabbitMQ-style paged list. The answer is
// {items, page, page_size, page_count, filtered_count, item_count, total_count}.
export function getPage(path, { page, pageSize, name, regex, sort, reverse, columns }) {
  return get(path, {
    page,
    page_size: pageSize,
    name: name || undefined,
    use_regex: name ? String(Boolean(regex)) : undefined,
    sort: sort || undefined,
    sort_reverse: sort ? String(Boolean(reverse)) : undefined,
    columns,
  });
}

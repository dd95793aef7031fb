// Entry point: login, hash routing, the 5-second refresh loop.
//
// A view is a function (root, ctx) -> {refresh(): Promise}. The view builds
// its static parts (forms, table headers) once, and refresh() only replaces
// data, so typing in a form is never lost to a refresh.

import { get, saveCredentials, clearCredentials, credentials, ApiError } from './api.js';
import { h, field, showError, clearError, clearAllErrors, describeApiError } from './ui.js';
import { overviewView, connectionsView, channelsView } from './views-overview.js';
import { exchangesView, exchangeView } from './views-exchanges.js';
import { queuesView } from './views-queues.js';
import { queueView } from './views-queue.js';
import { adminView } from './views-admin.js';

const REFRESH_MS = 5000;
const main = document.getElementById('main');
const top = document.getElementById('top');
const vhostSelect = document.getElementById('vhost-filter');
const pauseBtn = document.getElementById('pause');
const refreshState = document.getElementById('refresh-state');

let current = null; // {view, name}
let paused = false;
let inFlight = false;
let timer = null;
let vhostCache = null;

// ---- routing ----------------------------------------------------------------

// "#/queues/shop/orders?page=2" -> {segs: ['queues','shop','orders'], query}
function parseHash() {
  const raw = location.hash.slice(2);
  const [path, qs = ''] = raw.split('?');
  const segs = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { segs, query: new URLSearchParams(qs) };
}

function pickView(segs) {
  const [a, b, c] = segs;
  switch (a || 'overview') {
    case 'overview': return ['overview', overviewView];
    case 'connections': return ['connections', connectionsView];
    case 'channels': return ['channels', channelsView];
    case 'exchanges': return b !== undefined && c !== undefined ? ['exchanges', exchangeView] : ['exchanges', exchangesView];
    case 'queues': return b !== undefined && c !== undefined ? ['queues', queueView] : ['queues', queuesView];
    case 'admin': return ['admin', adminView];
    default: return [null, null];
  }
}

function route() {
  // Only "#/..." is a route; other fragments (the skip link's #main) are
  // ordinary in-page anchors.
  if (location.hash && !location.hash.startsWith('#/')) return;
  if (!credentials()) return showLogin();
  const { segs, query } = parseHash();
  const [name, viewFn] = pickView(segs);
  main.replaceChildren();
  clearError('refresh');
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!viewFn) {
    main.append(h('h1', {}, 'Not found'), h('p', {}, 'No such page. ', h('a', { href: '#/overview' }, 'Go to the overview.')));
    current = null;
    return;
  }
  const ctx = makeCtx(segs, query);
  current = { name, view: viewFn(main, ctx) };
  document.title = `${main.querySelector('h1')?.textContent || name} · Tern management`;
  refresh();
}

function makeCtx(segs, query) {
  return {
    segs,
    query,
    vhost: () => vhostSelect.value,
    // Keep list state (page, filter, sort) in the URL without re-rendering,
    // so reload and the back button bring the same page back.
    setQuery(obj) {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(obj)) if (v !== '' && v !== undefined && v !== null && v !== false) qs.set(k, v);
      const path = location.hash.slice(1).split('?')[0];
      history.replaceState(null, '', `#${path}${qs.toString() ? `?${qs}` : ''}`);
    },
    // Run a user action: errors go to the banner (and 401s to the login check).
    async run(fn) {
      try {
        return await fn();
      } catch (e) {
        await handleError(e);
        return undefined;
      }
    },
    refresh,
    vhosts,
    invalidateVhosts() {
      vhostCache = null;
      fillVhostSelect();
    },
    user: () => credentials()?.user,
  };
}

// ---- refresh loop ---------------------------------------------------------------

async function refresh() {
  if (!current || inFlight) return;
  inFlight = true;
  const view = current.view;
  try {
    await view.refresh?.();
    clearError('refresh');
    refreshState.textContent = `Updated ${new Date().toLocaleTimeString([], { hour12: false })}`;
  } catch (e) {
    if (current?.view === view) await handleError(e, 'refresh');
  } finally {
    inFlight = false;
  }
}

function schedule() {
  clearInterval(timer);
  timer = null;
  // Hidden tabs do not poll: no load on the broker for a page nobody sees.
  if (paused || document.visibilityState !== 'visible' || !credentials()) return;
  timer = setInterval(refresh, REFRESH_MS);
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && !paused) refresh();
  schedule();
});

pauseBtn.addEventListener('click', () => {
  paused = !paused;
  pauseBtn.textContent = paused ? 'Resume' : 'Pause';
  pauseBtn.setAttribute('aria-pressed', String(paused));
  refreshState.textContent = paused ? 'Auto-refresh paused' : refreshState.textContent;
  if (!paused) refresh();
  schedule();
});

// ---- errors and authentication -------------------------------------------------------

// A 401 means either a wrong password or "this user may not do that"
// (RabbitMQ answers 401 not_authorised to a non-admin asking for /api/users).
// Ask /api/whoami which one: only a failed login sends the user back to the
// login form; a refusal is shown like any other error.
async function handleError(e, key) {
  if (e instanceof ApiError && e.status === 401) {
    try {
      await get('/api/whoami');
    } catch (e2) {
      if (e2 instanceof ApiError && e2.status === 401) return showLogin(`Logged out: ${describeApiError(e2)}`);
    }
  }
  showError(e, key);
}

function showLogin(message) {
  clearCredentials();
  clearAllErrors();
  current = null;
  schedule();
  top.hidden = true;
  const user = h('input', { name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const err = h('p', { class: 'login-error', role: 'alert' }, message || '');
  const btn = h('button', { type: 'submit', class: 'primary' }, 'Log in');
  const form = h(
    'form',
    {
      class: 'login',
      onsubmit: async (ev) => {
        ev.preventDefault();
        btn.disabled = true;
        err.textContent = '';
        saveCredentials(user.value, pass.value);
        try {
          const me = await get('/api/whoami');
          await startSession(me);
        } catch (e) {
          clearCredentials();
          err.textContent = e instanceof ApiError && e.status === 401 ? `Login failed: ${describeApiError(e)}` : String(e instanceof ApiError ? describeApiError(e) : e);
          pass.select();
        } finally {
          btn.disabled = false;
        }
      },
    },
    h('h1', {}, 'Tern management'),
    h('p', { class: 'muted' }, 'Log in with a broker user that has a management, monitoring or administrator tag.'),
    field('Username', user),
    field('Password', pass),
    btn,
    err,
  );
  main.replaceChildren(form);
  document.title = 'Log in · Tern management';
  (user.value ? pass : user).focus();
}

async function startSession(me) {
  top.hidden = false;
  const userEl = document.getElementById('user');
  userEl.textContent = me.name;
  userEl.title = `Logged in as ${me.name}; tags: ${[].concat(me.tags || []).join(', ') || 'none'}`;
  try {
    const ov = await get('/api/overview');
    document.getElementById('product').textContent = `${ov.product_name || ''} ${ov.product_version || ''}`.trim();
  } catch (e) {
    await handleError(e);
  }
  await fillVhostSelect();
  if (!location.hash.startsWith('#/')) history.replaceState(null, '', '#/overview');
  route();
  schedule();
}

document.getElementById('logout').addEventListener('click', () => {
  showLogin('');
  history.replaceState(null, '', '#/overview');
});

// ---- the vhost filter -------------------------------------------------------------------

export function vhosts() {
  vhostCache ??= get('/api/vhosts').catch((e) => {
    vhostCache = null;
    throw e;
  });
  return vhostCache;
}

async function fillVhostSelect() {
  let list = [];
  try {
    list = await vhosts();
  } catch (e) {
    return handleError(e);
  }
  const keep = vhostSelect.value || sessionStorage.getItem('tern.vhost') || '';
  vhostSelect.replaceChildren(h('option', { value: '' }, 'All'), ...list.map((v) => h('option', { value: v.name }, v.name)));
  vhostSelect.value = list.some((v) => v.name === keep) ? keep : '';
}

vhostSelect.addEventListener('change', () => {
  sessionStorage.setItem('tern.vhost', vhostSelect.value);
  route();
});

// ---- start ---------------------------------------------------------------------------------

window.addEventListener('hashchange', route);

(async function boot() {
  if (!credentials()) return showLogin();
  try {
    await startSession(await get('/api/whoami'));
  } catch (e) {
    showLogin(e instanceof ApiError ? describeApiError(e) : String(e));
  }
})();

// Any exception nobody caught still reaches the user.
window.addEventListener('unhandledrejection', (ev) => showError(ev.reason));

// Small DOM toolkit shared by the views: element builder, number formats,
// the error banner, dialogs, tables, pager, badges.

// h('div', {class: 'x', onclick: fn}, child, ...): strings become text nodes
// (never HTML), so names and payloads from the broker cannot inject markup.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked' || k === 'selected') el[k] = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// ---- formats ----------------------------------------------------------------

const intFmt = new Intl.NumberFormat('en-US');
export const fmtNum = (n) => (n === undefined || n === null ? '' : intFmt.format(n));

export function fmtRate(r) {
  if (r === undefined || r === null) return '';
  const d = r >= 100 ? 0 : r >= 10 ? 1 : 2;
  return `${r.toFixed(d)}/s`;
}

export function fmtBytes(n) {
  if (n === undefined || n === null) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(n >= 100 ? 0 : 1)} ${units[i]}`;
}

// Two units, the largest first: "3d 4h", "1h 0m", "5m 2s", "42s".
export function fmtDuration(ms) {
  if (ms === undefined || ms === null) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const sec = Math.floor(ms / 1000);
  const units = [['d', Math.floor(sec / 86400)], ['h', Math.floor(sec / 3600) % 24], ['m', Math.floor(sec / 60) % 60], ['s', sec % 60]];
  const i = units.findIndex(([, n]) => n > 0);
  return units.slice(i, i + 2).map(([u, n]) => `${n}${u}`).join(' ');
}

// Nested field by dotted path, as RabbitMQ's sort parameter names them.
export function pick(obj, dotted) {
  return dotted.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

export const rateOf = (stats, name) => stats?.[`${name}_details`]?.rate;

// ---- banner (errors) and status line (successes) ----------------------------

// Errors stay until dismissed, or, for a keyed error such as "refresh", until
// the same operation succeeds: nothing is swallowed.
const bannerEntries = new Map();
let bannerSeq = 0;

export function showError(err, key) {
  const banner = document.getElementById('banner');
  key = key || `e${++bannerSeq}`;
  bannerEntries.get(key)?.remove();
  const text = err?.status !== undefined ? describeApiError(err) : String(err?.message || err);
  const entry = h(
    'div',
    { class: 'banner-entry', role: 'alert' },
    h('span', { class: 'banner-text' }, text),
    h('button', { type: 'button', class: 'link', onclick: () => clearError(key), 'aria-label': 'Dismiss error' }, 'Dismiss'),
  );
  bannerEntries.set(key, entry);
  banner.append(entry);
  banner.hidden = false;
}

export function clearError(key) {
  const entry = bannerEntries.get(key);
  if (!entry) return;
  entry.remove();
  bannerEntries.delete(key);
  document.getElementById('banner').hidden = bannerEntries.size === 0;
}

export function clearAllErrors() {
  for (const k of [...bannerEntries.keys()]) clearError(k);
}

export function describeApiError(e) {
  if (e.status === 0) return `Network error: ${e.reason}`;
  return `HTTP ${e.status}${e.error ? ` ${e.error}` : ''}${e.reason ? `: ${e.reason}` : ''} (${e.method} ${decodeURI(e.path)})`;
}

// ---- dialogs ------------------------------------------------------------------

// A modal <dialog>: the browser traps focus in it and Esc cancels. Resolves to
// the values of its fields (an object) on confirm, or null on cancel.
export function confirmDialog({ title, text, confirm = 'OK', danger = false, fields = [] }) {
  return new Promise((resolve) => {
    const inputs = fields.map((f) => ({ ...f, el: h('input', { name: f.name, value: f.value ?? '', type: f.type || 'text' }) }));
    const form = h(
      'form',
      { method: 'dialog' },
      h('h2', {}, title),
      text && h('p', {}, text),
      inputs.map((f) => h('label', { class: 'field' }, h('span', {}, f.label), f.el)),
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'submit', value: 'ok', class: danger ? 'danger' : 'primary' }, confirm),
        h('button', { type: 'submit', value: 'cancel', formnovalidate: true }, 'Cancel'),
      ),
    );
    const dlg = h('dialog', { class: 'dialog' }, form);
    dlg.addEventListener('close', () => {
      const ok = dlg.returnValue === 'ok';
      dlg.remove();
      resolve(ok ? Object.fromEntries(inputs.map((f) => [f.name, f.el.value])) : null);
    });
    document.body.append(dlg);
    dlg.showModal();
    (inputs[0]?.el || form.querySelector('button[value=ok]')).focus();
  });
}

// ---- tables ---------------------------------------------------------------------

// Object names stay on one line unless they are very long, so the name
// column is never squeezed into "www-test-" / "queue-a" fragments.
export const nameCls = (name) => (String(name).length <= 48 ? 'name nowrap' : 'name');

// A table whose header is built once and whose body is replaced on each
// refresh. Columns: {label, key, num, sort, title, render(row) -> node|string}.
// Sorting is either server-side (onSort callback) or, with clientSort, local.
export class Table {
  constructor({ columns, rowKey, empty = 'Nothing here yet.', caption, sort, onSort, clientSort, rowClass }) {
    Object.assign(this, { columns, rowKey, empty, onSort, clientSort, rowClass });
    this.sort = sort || { key: null, reverse: false };
    this.tbody = h('tbody');
    this.thead = h('thead');
    this.el = h('div', { class: 'table-wrap' }, h('table', {}, caption && h('caption', {}, caption), this.thead, this.tbody));
    this.rows = [];
    this.renderHead();
  }

  renderHead() {
    const ths = this.columns.map((c) => {
      const sortKey = c.sort === true ? c.key : c.sort;
      const cls = c.num ? 'num' : '';
      if (!sortKey) return h('th', { class: cls, scope: 'col', title: c.title }, c.label);
      const active = this.sort.key === sortKey;
      const arrow = active ? (this.sort.reverse ? ' ▼' : ' ▲') : '';
      return h(
        'th',
        { class: cls, scope: 'col', 'aria-sort': active ? (this.sort.reverse ? 'descending' : 'ascending') : 'none' },
        h(
          'button',
          { type: 'button', class: 'sort', title: c.title || `Sort by ${c.label}`, dataset: { fk: `sort:${sortKey}` }, onclick: () => this.toggleSort(sortKey) },
          c.label,
          arrow,
        ),
      );
    });
    keepFocus(this.thead, () => this.thead.replaceChildren(h('tr', {}, ths)));
  }

  toggleSort(key) {
    this.sort = { key, reverse: this.sort.key === key ? !this.sort.reverse : false };
    this.renderHead();
    if (this.clientSort) this.update(this.rows);
    this.onSort?.(this.sort);
  }

  update(rows) {
    this.rows = rows;
    let list = rows;
    if (this.clientSort && this.sort.key) {
      const col = this.columns.find((c) => (c.sort === true ? c.key : c.sort) === this.sort.key);
      const val = col?.value || ((r) => pick(r, this.sort.key));
      list = [...rows].sort((a, b) => compare(val(a), val(b)) * (this.sort.reverse ? -1 : 1));
    }
    const trs = list.length
      ? list.map((r) =>
          h(
            'tr',
            { class: this.rowClass?.(r), dataset: this.rowKey ? { key: this.rowKey(r) } : undefined },
            this.columns.map((c) => h('td', { class: c.num ? 'num' : typeof c.cls === 'function' ? c.cls(r) : c.cls }, c.render ? c.render(r) : String(pick(r, c.key) ?? ''))),
          ),
        )
      : [h('tr', { class: 'empty' }, h('td', { colspan: this.columns.length }, this.empty))];
    keepFocus(this.tbody, () => this.tbody.replaceChildren(...trs));
  }
}

function compare(a, b) {
  if (a === b) return 0;
  if (a === undefined || a === null) return -1;
  if (b === undefined || b === null) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b));
}

// Rebuilding part of the page on a refresh would drop keyboard focus to
// <body>. Elements that can hold focus carry data-fk; after the rebuild the
// element with the same key gets focus back.
export function keepFocus(container, rebuild) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset?.fk : null;
  rebuild();
  if (key) container.querySelector(`[data-fk="${CSS.escape(key)}"]`)?.focus();
}

// Pager for RabbitMQ's paged answers.
export function pager(info, onPage, onSize) {
  const { page = 1, page_count = 1, filtered_count = 0, total_count = 0, page_size = 50 } = info || {};
  const sizes = [20, 50, 100, 500];
  return h(
    'nav',
    { class: 'pager', 'aria-label': 'Pages' },
    h('button', { type: 'button', disabled: page <= 1, onclick: () => onPage(page - 1), dataset: { fk: 'prev' } }, '‹ Previous'),
    h('span', { class: 'pager-info' }, `Page ${fmtNum(page)} of ${fmtNum(Math.max(page_count, 1))} · `, filtered_count === total_count ? `${fmtNum(total_count)} items` : `${fmtNum(filtered_count)} of ${fmtNum(total_count)} match`),
    h('button', { type: 'button', disabled: page >= page_count, onclick: () => onPage(page + 1), dataset: { fk: 'next' } }, 'Next ›'),
    onSize &&
      h(
        'label',
        { class: 'inline' },
        'Per page ',
        h('select', { onchange: (e) => onSize(Number(e.target.value)), dataset: { fk: 'size' } }, sizes.map((n) => h('option', { value: n, selected: n === page_size }, n))),
      ),
  );
}

// ---- small pieces -------------------------------------------------------------------

export const badge = (text, title, kind = '') => h('abbr', { class: `badge ${kind}`, title }, text);

export function kv(pairs) {
  return h(
    'dl',
    { class: 'kv' },
    pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v === undefined || v === null || v === '' ? '—' : v)]),
  );
}

export function section(title, ...children) {
  return h('section', { class: 'panel' }, h('h2', {}, title), ...children);
}

// A labelled control. Wrapping the control in its <label> names it for
// screen readers and lets a click on the text focus it.
export function field(label, control, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'field-label' }, label), control, hint && h('small', {}, hint));
}

export function checkbox(label, attrs) {
  return h('label', { class: 'check' }, h('input', { type: 'checkbox', ...attrs }), ' ', label);
}

// Arguments and other small tables of the broker, shown as "key: value".
export function fmtArgs(obj) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return '';
  return h('code', { class: 'args' }, entries.map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`).join('\n'));
}

// Message body: monospace, text as is; base64 labelled so nobody mistakes it.
export function payloadBlock(m) {
  return h(
    'div',
    { class: 'payload-wrap' },
    h('pre', { class: 'payload' }, m.payload ?? ''),
    h('small', { class: 'muted' }, `${fmtNum(m.payload_bytes)} bytes${m.payload_encoding === 'base64' ? ', shown as base64' : ''}`),
  );
}

// Result line next to a form (role=status is announced by screen readers).
export function output() {
  return h('output', { class: 'result', role: 'status' });
}

export function link(href, text, fk) {
  return h('a', { href, dataset: fk ? { fk } : undefined }, text);
}

// Hash links to objects; names are percent-encoded the same way as API paths.
export const qHref = (vhost, name) => `#/queues/${encodeURIComponent(vhost)}/${encodeURIComponent(name)}`;
export const xHref = (vhost, name) => `#/exchanges/${encodeURIComponent(vhost)}/${encodeURIComponent(name || 'amq.default')}`;

// Server-side paged lists (queues, exchanges). Only one page is ever fetched,
// so a broker with 10,000 queues costs the same as one with 10. Page, filter
// and sort live in the URL (#/queues?page=2&name=x&sort=messages&rev=1).

import { getPage, ApiError } from './api.js';
import { h, Table, pager, field, checkbox, keepFocus } from './ui.js';

export function pagedList(ctx, { path, columns, defaultSort = 'name', noun, rowKey, fetchColumns }) {
  const q = ctx.query;
  const state = {
    page: Number(q.get('page')) || 1,
    pageSize: Math.min(Number(q.get('size')) || 50, 500), // RabbitMQ refuses more than 500
    name: q.get('name') || '',
    regex: q.get('regex') === '1',
    sort: q.get('sort') || defaultSort,
    reverse: q.get('rev') === '1',
  };
  const saveState = () =>
    ctx.setQuery({ page: state.page > 1 ? state.page : '', size: state.pageSize !== 50 ? state.pageSize : '', name: state.name, regex: state.regex ? 1 : '', sort: state.sort !== defaultSort ? state.sort : '', rev: state.reverse ? 1 : '' });

  const table = new Table({
    columns,
    rowKey,
    sort: { key: state.sort, reverse: state.reverse },
    empty: `No ${noun} match.`,
    onSort: (s) => {
      Object.assign(state, { sort: s.key, reverse: s.reverse, page: 1 });
      saveState();
      ctx.refresh();
    },
  });
  const pagerBox = h('div', { class: 'pager-box' });
  const pagerBottom = h('div', { class: 'pager-box' });
  const filterInput = h('input', { type: 'search', value: state.name, placeholder: `Filter ${noun} by name`, 'aria-describedby': 'filter-msg' });
  const regexBox = checkbox('Regular expression', { checked: state.regex });
  const filterMsg = h('small', { id: 'filter-msg', class: 'field-error', 'aria-live': 'polite' });

  // Typing waits 300 ms before asking the server, so a fast typist sends one
  // request instead of one per key.
  let debounce = null;
  const onFilter = () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      state.name = filterInput.value;
      state.regex = regexBox.querySelector('input').checked;
      filterMsg.textContent = '';
      if (state.regex && state.name) {
        try {
          new RegExp(state.name);
        } catch (e) {
          filterMsg.textContent = `Not a valid regular expression: ${e.message}`;
          return;
        }
      }
      state.page = 1;
      saveState();
      ctx.refresh();
    }, 300);
  };
  filterInput.addEventListener('input', onFilter);
  regexBox.querySelector('input').addEventListener('change', onFilter);
  // Enter in the filter box applies it at once.
  filterInput.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      onFilter();
    }
  });

  const toolbar = h('div', { class: 'toolbar' }, field('Filter', filterInput), regexBox, filterMsg);
  const el = h('section', { class: 'panel paged', 'aria-label': noun }, toolbar, pagerBox, table.el, pagerBottom);

  const goPage = (n) => {
    state.page = n;
    saveState();
    ctx.refresh();
  };
  const setSize = (n) => {
    state.pageSize = n;
    state.page = 1;
    saveState();
    ctx.refresh();
  };

  async function fetchPage() {
    const vh = ctx.vhost();
    const url = vh ? `${path}/${encodeURIComponent(vh)}` : path;
    const args = { ...state, columns: fetchColumns };
    try {
      return await getPage(url, args);
    } catch (e) {
      // The page may vanish under us (queues deleted, filter narrowed):
      // fall back to the first page instead of showing an error forever.
      if (e instanceof ApiError && e.status === 400 && state.page > 1) {
        state.page = 1;
        saveState();
        return getPage(url, { ...args, page: 1 });
      }
      throw e;
    }
  }

  return {
    el,
    table,
    state,
    async refresh() {
      const res = await fetchPage();
      table.update(res.items || []);
      keepFocus(pagerBox, () => pagerBox.replaceChildren(pager(res, goPage, setSize)));
      // A second pager under a long page saves scrolling back up.
      keepFocus(pagerBottom, () => pagerBottom.replaceChildren((res.items || []).length > 20 ? pager(res, goPage) : ''));
    },
  };
}

// "Arguments (JSON)" textareas: empty is {}, anything else must be an object.
export function parseJsonObject(text, what = 'Arguments') {
  if (!text.trim()) return {};
  let v;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`${what}: not valid JSON (${e.message})`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${what}: must be a JSON object like {"key": "value"}`);
  return v;
}

// A numeric argument input: blank means "not set".
export function intOrUndefined(input, name) {
  const t = input.value.trim();
  if (!t) return undefined;
  const n = Number(t);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number ≥ 0`);
  return n;
}

// The <select> of vhosts used by the declare forms.
export async function vhostPicker(ctx, selected) {
  const list = await ctx.vhosts();
  const sel = h('select', { name: 'vhost', required: true }, list.map((v) => h('option', { value: v.name, selected: v.name === selected }, v.name)));
  return sel;
}

// Admin: users, virtual hosts, permissions, policies, vhost limits,
// definitions export / import. One tab per route: #/admin/<tab>.

import { get, put, post, del, p, api } from './api.js';
import { h, Table, fmtNum, field, checkbox, output, section, confirmDialog, fmtArgs, link } from './ui.js';
import { parseJsonObject } from './paged.js';

const TABS = [
  ['users', 'Users'],
  ['vhosts', 'Virtual hosts'],
  ['permissions', 'Permissions'],
  ['policies', 'Policies'],
  ['limits', 'Limits'],
  ['definitions', 'Definitions'],
];

export function adminView(root, ctx) {
  const tab = TABS.some(([k]) => k === ctx.segs[1]) ? ctx.segs[1] : 'users';
  const body = h('div');
  root.append(
    h('h1', {}, 'Admin'),
    h('nav', { class: 'tabs', 'aria-label': 'Admin sections' }, TABS.map(([k, label]) => h('a', { href: `#/admin/${k}`, 'aria-current': k === tab ? 'page' : null }, label))),
    body,
  );
  const make = { users, vhosts, permissions, policies, limits, definitions }[tab];
  return make(body, ctx);
}

// Delete button with a confirmation; refreshes the view afterwards.
function deleteButton(ctx, what, path, fk, after) {
  return h(
    'button',
    {
      type: 'button',
      class: 'small danger',
      dataset: { fk },
      onclick: async () => {
        if (!(await confirmDialog({ title: 'Delete', text: `Delete ${what}?`, confirm: 'Delete', danger: true }))) return;
        await ctx.run(() => del(path));
        after?.();
        ctx.refresh();
      },
    },
    'Delete',
  );
}

// A form whose submit runs `action` through ctx.run and prints its result.
function actionForm(ctx, rows, label, action) {
  const result = output();
  return h(
    'form',
    {
      class: 'form',
      onsubmit: async (e) => {
        e.preventDefault();
        result.textContent = '';
        const msg = await ctx.run(action);
        if (msg) result.textContent = msg;
        ctx.refresh();
      },
    },
    rows,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, label), result),
  );
}

const select = (name, values, selected) => h('select', { name }, values.map((v) => h('option', { value: v, selected: v === selected }, v)));

async function vhostSelect(ctx) {
  return select('vhost', (await ctx.vhosts()).map((v) => v.name), ctx.vhost() || '/');
}

// ---- users ------------------------------------------------------------------------

const STD_TAGS = ['administrator', 'monitoring', 'policymaker', 'management'];

function users(root, ctx) {
  let known = [];
  const table = new Table({
    rowKey: (u) => u.name,
    clientSort: true,
    sort: { key: 'name' },
    columns: [
      { label: 'Name', key: 'name', sort: true },
      { label: 'Tags', render: (u) => tagList(u.tags).join(', ') || '—' },
      { label: 'Password hash', render: (u) => h('small', { class: 'muted' }, u.hashing_algorithm?.replace('rabbit_password_hashing_', '') || '') },
      { label: 'Limits', render: (u) => fmtArgs(u.limits) },
      { label: 'Actions', render: (u) => [h('button', { type: 'button', class: 'small', onclick: () => edit(u), dataset: { fk: `edit:${u.name}` } }, 'Edit'), ' ', deleteButton(ctx, `user "${u.name}"`, p('users', u.name), `del:${u.name}`)] },
    ],
  });
  const name = h('input', { name: 'name', required: true, autocomplete: 'off' });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'new-password' });
  const boxes = STD_TAGS.map((t) => checkbox(t, { value: t }));
  const otherTags = h('input', { name: 'tags', autocomplete: 'off', placeholder: 'comma-separated' });
  const edit = (u) => {
    name.value = u.name;
    pass.value = '';
    const tags = tagList(u.tags);
    for (const b of boxes) b.querySelector('input').checked = tags.includes(b.querySelector('input').value);
    otherTags.value = tags.filter((t) => !STD_TAGS.includes(t)).join(',');
    pass.focus();
  };
  const form = actionForm(
    ctx,
    [
      h('div', { class: 'form-row' }, field('Username', name), field('Password', pass, 'Leave empty to keep the current password of an existing user.')),
      h('fieldset', { class: 'form-row' }, h('legend', {}, 'Tags'), boxes, field('Other tags', otherTags)),
    ],
    'Add or update user',
    async () => {
      const tags = [...boxes.filter((b) => b.querySelector('input').checked).map((b) => b.querySelector('input').value), ...otherTags.value.split(',').map((t) => t.trim()).filter(Boolean)];
      const body = { tags: tags.join(',') };
      const existing = known.find((u) => u.name === name.value);
      if (pass.value) body.password = pass.value;
      else if (existing?.password_hash !== undefined) Object.assign(body, { password_hash: existing.password_hash, hashing_algorithm: existing.hashing_algorithm });
      else throw new Error('A new user needs a password.');
      await put(p('users', name.value), body);
      pass.value = '';
      return `Saved user ${name.value}.`;
    },
  );
  root.append(section('Users', table.el), section('Add or update a user', form));
  return {
    async refresh() {
      known = (await get('/api/users')) || [];
      table.update(known);
    },
  };
}

// Tags come as a list from RabbitMQ 3.10 and as "a,b" from older versions.
const tagList = (t) => (Array.isArray(t) ? t : String(t || '').split(',').map((x) => x.trim()).filter(Boolean));

// ---- vhosts ------------------------------------------------------------------------

function vhosts(root, ctx) {
  const table = new Table({
    rowKey: (v) => v.name,
    clientSort: true,
    sort: { key: 'name' },
    columns: [
      { label: 'Name', key: 'name', sort: true, render: (v) => link(`#/queues`, v.name, `vh:${v.name}`) },
      { label: 'Description', key: 'description' },
      { label: 'Ready', key: 'messages_ready', num: true, sort: true, render: (v) => fmtNum(v.messages_ready ?? 0) },
      { label: 'Unacked', key: 'messages_unacknowledged', num: true, sort: true, render: (v) => fmtNum(v.messages_unacknowledged ?? 0) },
      { label: 'Total', key: 'messages', num: true, sort: true, render: (v) => fmtNum(v.messages ?? 0) },
      { label: 'Actions', render: (v) => deleteButton(ctx, `virtual host "${v.name}" and everything in it`, p('vhosts', v.name), `del:${v.name}`, () => ctx.invalidateVhosts()) },
    ],
  });
  // Clicking a vhost name opens its queues: set the global vhost filter first.
  table.el.addEventListener('click', (e) => {
    const a = e.target.closest('a[data-fk^="vh:"]');
    if (!a) return;
    sessionStorage.setItem('tern.vhost', a.dataset.fk.slice(3));
    const sel = document.getElementById('vhost-filter');
    sel.value = a.dataset.fk.slice(3);
  });
  const name = h('input', { name: 'name', required: true, autocomplete: 'off' });
  const desc = h('input', { name: 'description', autocomplete: 'off' });
  const form = actionForm(ctx, h('div', { class: 'form-row' }, field('Name', name), field('Description', desc)), 'Add virtual host', async () => {
    await put(p('vhosts', name.value), { description: desc.value });
    ctx.invalidateVhosts();
    const n = name.value;
    name.value = '';
    desc.value = '';
    return `Added virtual host ${n}.`;
  });
  root.append(section('Virtual hosts', table.el), section('Add a virtual host', form));
  return {
    async refresh() {
      table.update((await get('/api/vhosts')) || []);
    },
  };
}

// ---- permissions ----------------------------------------------------------------------

function permissions(root, ctx) {
  const table = new Table({
    rowKey: (x) => `${x.vhost}/${x.user}`,
    clientSort: true,
    sort: { key: 'user' },
    columns: [
      { label: 'User', key: 'user', sort: true },
      { label: 'Vhost', key: 'vhost', sort: true },
      { label: 'Configure', render: (x) => regexp(x.configure) },
      { label: 'Write', render: (x) => regexp(x.write) },
      { label: 'Read', render: (x) => regexp(x.read) },
      { label: 'Actions', render: (x) => deleteButton(ctx, `the permissions of "${x.user}" in "${x.vhost}"`, p('permissions', x.vhost, x.user), `del:${x.vhost}/${x.user}`) },
    ],
  });
  const formBox = h('div');
  root.append(section('Permissions', table.el), formBox);
  (async () => {
    const [vh, us] = await Promise.all([vhostSelect(ctx), get('/api/users')]);
    const user = select('user', us.map((u) => u.name));
    const re = (n) => h('input', { name: n, value: '.*', class: 'mono', autocomplete: 'off' });
    const [c, w, r] = [re('configure'), re('write'), re('read')];
    const form = actionForm(
      ctx,
      h('div', { class: 'form-row' }, field('User', user), field('Virtual host', vh), field('Configure regexp', c), field('Write regexp', w), field('Read regexp', r)),
      'Set permission',
      async () => {
        await put(p('permissions', vh.value, user.value), { configure: c.value, write: w.value, read: r.value });
        return `Set permissions of ${user.value} in ${vh.value}.`;
      },
    );
    formBox.append(section('Set a permission', form));
  })().catch((e) => ctx.run(() => Promise.reject(e)));
  return {
    async refresh() {
      table.update((await get('/api/permissions')) || []);
    },
  };
}

// An empty permission regexp matches nothing: say so rather than show a blank.
const regexp = (re) => (re ? h('code', {}, re) : h('span', { class: 'muted' }, 'nothing'));

// ---- policies ----------------------------------------------------------------------------

function policies(root, ctx) {
  const table = new Table({
    rowKey: (x) => `${x.vhost}/${x.name}`,
    clientSort: true,
    sort: { key: 'name' },
    columns: [
      { label: 'Vhost', key: 'vhost', sort: true },
      { label: 'Name', key: 'name', sort: true },
      { label: 'Pattern', render: (x) => h('code', {}, x.pattern) },
      { label: 'Apply to', key: 'apply-to' },
      { label: 'Definition', render: (x) => fmtArgs(x.definition) },
      { label: 'Priority', key: 'priority', num: true, sort: true },
      { label: 'Actions', render: (x) => deleteButton(ctx, `policy "${x.name}" in "${x.vhost}"`, p('policies', x.vhost, x.name), `del:${x.vhost}/${x.name}`) },
    ],
  });
  const formBox = h('div');
  root.append(section('Policies', table.el), formBox);
  vhostSelect(ctx).then((vh) => {
    const name = h('input', { name: 'name', required: true, autocomplete: 'off' });
    const pattern = h('input', { name: 'pattern', required: true, class: 'mono', placeholder: '^orders\\.', autocomplete: 'off' });
    const applyTo = select('apply-to', ['all', 'queues', 'exchanges'], 'all');
    const priority = h('input', { name: 'priority', type: 'number', value: 0 });
    const def = h('textarea', { name: 'definition', rows: 3, required: true, class: 'mono', placeholder: '{"max-length": 10000, "dead-letter-exchange": "dlx"}' });
    const form = actionForm(
      ctx,
      [
        h('div', { class: 'form-row' }, field('Virtual host', vh), field('Name', name), field('Pattern (regexp)', pattern), field('Apply to', applyTo), field('Priority', priority)),
        field('Definition (JSON)', def),
      ],
      'Add or update policy',
      async () => {
        const definition = parseJsonObject(def.value, 'Definition');
        await put(p('policies', vh.value, name.value), { pattern: pattern.value, definition, priority: Number(priority.value) || 0, 'apply-to': applyTo.value });
        return `Saved policy ${name.value}.`;
      },
    );
    formBox.append(section('Add or update a policy', form));
  }, (e) => ctx.run(() => Promise.reject(e)));
  return {
    async refresh() {
      table.update((await get('/api/policies')) || []);
    },
  };
}

// ---- vhost limits ---------------------------------------------------------------------------

function limits(root, ctx) {
  const table = new Table({
    rowKey: (x) => `${x.vhost}/${x.name}`,
    empty: 'No virtual host has a limit.',
    columns: [
      { label: 'Vhost', key: 'vhost' },
      { label: 'Limit', key: 'name' },
      { label: 'Value', key: 'value', num: true, render: (x) => fmtNum(x.value) },
      { label: 'Actions', render: (x) => deleteButton(ctx, `limit ${x.name} of "${x.vhost}"`, p('vhost-limits', x.vhost, x.name), `del:${x.vhost}/${x.name}`) },
    ],
  });
  const formBox = h('div');
  root.append(section('Virtual host limits', table.el), formBox);
  vhostSelect(ctx).then((vh) => {
    const name = select('name', ['max-connections', 'max-queues']);
    const value = h('input', { name: 'value', type: 'number', required: true, min: -1 });
    const form = actionForm(ctx, h('div', { class: 'form-row' }, field('Virtual host', vh), field('Limit', name), field('Value', value, 'A negative value removes the limit.')), 'Set limit', async () => {
      await put(p('vhost-limits', vh.value, name.value), { value: Number(value.value) });
      return `Set ${name.value} of ${vh.value} to ${value.value}.`;
    });
    formBox.append(section('Set a limit', form));
  }, (e) => ctx.run(() => Promise.reject(e)));
  return {
    async refresh() {
      const list = (await get('/api/vhost-limits')) || [];
      // One row per limit rather than per vhost.
      table.update(list.flatMap((l) => Object.entries(l.value || {}).map(([name, value]) => ({ vhost: l.vhost, name, value }))));
    },
  };
}

// ---- definitions ---------------------------------------------------------------------------------

function definitions(root, ctx) {
  const dlResult = output();
  const download = h(
    'button',
    {
      type: 'button',
      class: 'primary',
      onclick: async () => {
        const text = await ctx.run(() => api('GET', '/api/definitions', { raw: true }));
        if (text === undefined) return;
        // A Blob URL lets the authenticated answer be saved as a file; a plain
        // link could not send the Authorization header.
        const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
        const a = h('a', { href: url, download: `definitions-${location.hostname}-${new Date().toISOString().slice(0, 10)}.json` });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
        dlResult.textContent = `Saved ${fmtNum(text.length)} bytes.`;
      },
    },
    'Download definitions',
  );
  const file = h('input', { type: 'file', name: 'file', accept: '.json,application/json', required: true });
  const upResult = output();
  const upload = h(
    'form',
    {
      class: 'form',
      onsubmit: async (e) => {
        e.preventDefault();
        upResult.textContent = '';
        await ctx.run(async () => {
          const f = file.files[0];
          if (!f) throw new Error('Choose a definitions file first.');
          const text = await f.text();
          let defs;
          try {
            defs = JSON.parse(text);
          } catch (err) {
            throw new Error(`${f.name} is not valid JSON: ${err.message}`);
          }
          await post('/api/definitions', text);
          ctx.invalidateVhosts();
          const count = (k) => (Array.isArray(defs[k]) ? `${defs[k].length} ${k}` : null);
          const parts = ['vhosts', 'users', 'queues', 'exchanges', 'bindings', 'policies'].map(count).filter(Boolean);
          upResult.replaceChildren(`Imported ${f.name}${parts.length ? ` (${parts.join(', ')})` : ''}. `, link('#/admin/vhosts', 'See the virtual hosts'), '.');
        });
      },
    },
    field('Definitions file (JSON)', file),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Upload definitions'), upResult),
  );
  root.append(
    section('Export', h('p', { class: 'muted' }, 'All users, vhosts, permissions, policies, queues, exchanges and bindings as one JSON file, as RabbitMQ exports them.'), h('div', { class: 'actions' }, download, dlResult)),
    section('Import', h('p', { class: 'muted' }, 'Adds or updates what the file defines; nothing missing from the file is deleted.'), upload),
  );
  return { refresh: async () => {} };
}

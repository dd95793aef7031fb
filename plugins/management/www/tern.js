// Tern's extras under /api/tern: browse a queue without consuming, delete one
// message, move, redrive a dead-letter queue, unacked messages and who holds
// them, delayed messages. RabbitMQ answers 404 there; the panels then show a
// note instead of an error.

import { get, post, del, withQuery, getPage, p, tern, ApiError } from './api.js';
import { h, badge, Table, fmtNum, fmtDuration, link, qHref, field, output, section, payloadBlock, confirmDialog, fmtArgs } from './ui.js';

const PAGE = 50;

export const notAvailable = () => h('p', { class: 'note' }, 'Not available on this broker: it has no /api/tern extensions (RabbitMQ has none). Tern provides this.');

// RabbitMQ has no /api/tern: it answers 404 with its JSON error body, or,
// when the path holds %2F (the default vhost), a bare 400 from its router.
const isMissingEndpoint = (e) => e.status === 404 || (e.status >= 400 && e.status < 500 && e.status !== 401 && !e.json);

// Calls an /api/tern endpoint. A 404 while the object itself exists means
// the broker lacks the extension: remembered for the session. Resolves to
// undefined then (the caller shows the note); other errors are thrown.
async function ternCall(fn) {
  try {
    const r = await fn();
    tern.available = true;
    return r;
  } catch (e) {
    if (e instanceof ApiError && isMissingEndpoint(e) && tern.available !== true) {
      tern.available = false;
      return undefined;
    }
    throw e;
  }
}

// ---- browse -----------------------------------------------------------------------

export function browsePanel(ctx, vhost, name, onChange) {
  const base = p('tern', 'queues', vhost, name, 'messages');
  let offset = 0;
  const body = h('div');
  const status = output();
  const table = new Table({
    empty: 'The queue has no ready messages.',
    rowKey: (m) => m.id,
    columns: [
      { label: '#', key: 'position', num: true },
      { label: 'Id', key: 'id', num: true },
      { label: 'Exchange', render: (m) => (m.exchange === '' ? '(default)' : m.exchange) },
      { label: 'Routing key', render: (m) => h('code', {}, m.routing_key) },
      { label: 'Deliveries', num: true, title: 'delivery_count; R = redelivered', render: (m) => [m.redelivered ? badge('R', 'Redelivered') : '', ' ', fmtNum(m.delivery_count)] },
      { label: 'Properties', render: (m) => fmtArgs(m.properties) },
      { label: 'Payload', cls: 'payload-cell', render: payloadBlock },
      {
        label: 'Actions',
        render: (m) => h('button', { type: 'button', class: 'small danger', dataset: { fk: `del:${m.id}` }, onclick: () => removeOne(m) }, 'Delete'),
      },
    ],
  });
  const nav = h('div', { class: 'pager' });

  async function removeOne(m) {
    const ok = await confirmDialog({ title: 'Delete message', text: `Delete message ${m.id} (position ${m.position}) from "${name}"? It is gone for good.`, confirm: 'Delete message', danger: true });
    if (!ok) return;
    await ctx.run(async () => {
      try {
        await del(`${base}/${encodeURIComponent(m.id)}`);
        status.textContent = `Deleted message ${m.id}.`;
      } catch (e) {
        // 404 here means someone consumed it first: say so, not an error.
        if (e instanceof ApiError && e.status === 404) status.textContent = `Message ${m.id} was already gone.`;
        else throw e;
      }
      await load();
      onChange?.();
    });
  }

  async function load() {
    const res = await ternCall(() => get(base, { offset, count: PAGE, truncate: 2048 }));
    if (res === undefined) return body.replaceChildren(notAvailable());
    const total = res.total ?? 0;
    if (offset > 0 && offset >= total) {
      offset = Math.max(0, total - PAGE);
      return load();
    }
    table.update(res.messages || []);
    const last = Math.min(offset + (res.messages?.length || 0), total);
    nav.replaceChildren(
      h('button', { type: 'button', disabled: offset === 0, onclick: () => go(offset - PAGE), dataset: { fk: 'bprev' } }, '‹ Previous'),
      h('span', { class: 'pager-info' }, total ? `Messages ${fmtNum(offset + 1)}–${fmtNum(last)} of ${fmtNum(total)} ready` : 'No ready messages'),
      h('button', { type: 'button', disabled: last >= total, onclick: () => go(offset + PAGE), dataset: { fk: 'bnext' } }, 'Next ›'),
      h('button', { type: 'button', onclick: () => ctx.run(load), dataset: { fk: 'breload' } }, 'Reload'),
    );
    if (!body.firstChild || body.firstChild.classList?.contains('note')) body.replaceChildren(nav, table.el, status);
  }
  const go = (o) => {
    offset = Math.max(0, o);
    ctx.run(load);
  };

  const el = section('Browse messages', h('p', { class: 'muted' }, 'Ready messages from the head of the queue, without consuming them. Payloads over 2 KiB are cut.'), body);
  // Browsing is a snapshot a person reads: it reloads on demand, not every 5 s.
  return { el, load: () => ctx.run(load) };
}

// ---- move and redrive --------------------------------------------------------------

export function movePanel(ctx, vhost, name, onChange) {
  const dest = h('input', { name: 'destination', required: true, autocomplete: 'off', list: 'move-dest-list' });
  const options = h('datalist', { id: 'move-dest-list' });
  const count = h('input', { name: 'count', inputmode: 'numeric', pattern: '[0-9]*', placeholder: 'all', autocomplete: 'off' });
  const result = output();
  // Suggest destinations by asking the server for a few matching names
  // (never the whole list: there may be 10,000 queues).
  let t = null;
  dest.addEventListener('input', () => {
    clearTimeout(t);
    t = setTimeout(async () => {
      try {
        const res = await getPage(p('queues', vhost), { page: 1, pageSize: 20, name: dest.value, columns: 'name' });
        options.replaceChildren(...(res.items || []).filter((q) => q.name !== name).map((q) => h('option', { value: q.name })));
      } catch {
        // Suggestions are a convenience; the move itself reports its errors.
      }
    }, 250);
  });
  const form = h(
    'form',
    {
      class: 'form',
      onsubmit: async (e) => {
        e.preventDefault();
        result.textContent = '';
        await ctx.run(async () => {
          const n = count.value.trim();
          if (n && !/^[0-9]+$/.test(n)) throw new Error('Count must be a whole number, or empty for all messages');
          const bodyObj = { destination: dest.value };
          if (n) bodyObj.count = Number(n);
          const res = await ternCall(() => post(`${p('tern', 'queues', vhost, name)}/move`, bodyObj));
          if (res === undefined) return result.replaceChildren(notAvailable());
          result.replaceChildren(`Moved ${fmtNum(res.moved)} message${res.moved === 1 ? '' : 's'} to `, link(qHref(vhost, dest.value), dest.value), '.');
          onChange?.();
        });
      },
    },
    h('div', { class: 'form-row' }, field('Destination queue', dest), options, field('How many (empty = all)', count)),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Move messages'), result),
  );
  return section('Move messages', h('p', { class: 'muted' }, 'Moves ready messages from the head of this queue to another queue in the same virtual host.'), form);
}

export function redrivePanel(ctx, vhost, name, onChange) {
  const count = h('input', { name: 'count', inputmode: 'numeric', pattern: '[0-9]*', placeholder: 'all', autocomplete: 'off' });
  const result = output();
  const form = h(
    'form',
    {
      class: 'form',
      onsubmit: async (e) => {
        e.preventDefault();
        result.textContent = '';
        await ctx.run(async () => {
          const n = count.value.trim();
          if (n && !/^[0-9]+$/.test(n)) throw new Error('Count must be a whole number, or empty for all messages');
          const res = await ternCall(() => post(`${p('tern', 'queues', vhost, name)}/redrive`, n ? { count: Number(n) } : {}));
          if (res === undefined) return result.replaceChildren(notAvailable());
          result.textContent = `Sent back ${fmtNum(res.moved)}; skipped ${fmtNum(res.skipped)} (no x-death naming a queue that still exists).`;
          onChange?.();
        });
      },
    },
    field('How many (empty = all)', count),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Redrive'), result),
  );
  return section('Redrive dead letters', h('p', { class: 'muted' }, 'For a dead-letter queue: sends each message back to the queue named in its x-death header.'), form);
}

// ---- unacked ------------------------------------------------------------------------

export function unackedPanel(ctx, vhost, name) {
  const body = h('div');
  const table = new Table({
    empty: 'No unacknowledged messages.',
    rowKey: (u) => u.id,
    columns: [
      { label: 'Id', key: 'id', num: true },
      { label: 'Connection', render: (u) => link(`#/connections?name=${encodeURIComponent(u.connection)}`, u.connection, `conn:${u.id}`) },
      { label: 'Channel', key: 'channel', num: true },
      { label: 'Consumer tag', render: (u) => h('code', {}, u.consumer_tag || '') },
      { label: 'Delivery tag', key: 'delivery_tag', num: true },
      { label: 'Held for', num: true, render: (u) => fmtDuration(u.held_ms) },
    ],
  });
  return {
    el: section('Unacknowledged messages', body),
    async refresh() {
      if (tern.available === false) return body.firstChild?.classList?.contains('note') || body.replaceChildren(notAvailable());
      const res = await ternCall(() => get(`${p('tern', 'queues', vhost, name)}/unacked`));
      if (res === undefined) return body.replaceChildren(notAvailable());
      table.update(res || []);
      if (body.firstChild !== table.el) body.replaceChildren(table.el);
    },
  };
}

// ---- delayed messages of an x-delayed-message exchange -----------------------------------

export function delayedPanel(ctx, vhost, name) {
  const base = p('tern', 'exchanges', vhost, name, 'delayed');
  let offset = 0;
  const body = h('div');
  const info = h('span', { class: 'pager-info' });
  const status = output();
  const table = new Table({
    empty: 'No delayed messages waiting.',
    rowKey: (m) => m.id,
    columns: [
      { label: 'Id', key: 'id', num: true },
      { label: 'Due', render: (m) => (m.due ? new Date(m.due).toLocaleString() : '') },
      { label: 'Due in', num: true, render: (m) => fmtDuration(Math.max(0, m.due_in_ms ?? 0)) },
      { label: 'Routing key', render: (m) => h('code', {}, m.routing_key) },
      { label: 'Payload', cls: 'payload-cell', render: payloadBlock },
      { label: 'Actions', render: (m) => h('button', { type: 'button', class: 'small danger', dataset: { fk: `cancel:${m.id}` }, onclick: () => cancel(m) }, 'Cancel') },
    ],
  });
  const prev = h('button', { type: 'button', onclick: () => go(offset - PAGE) }, '‹ Previous');
  const next = h('button', { type: 'button', onclick: () => go(offset + PAGE) }, 'Next ›');
  const go = (o) => {
    offset = Math.max(0, o);
    ctx.run(refresh);
  };
  async function cancel(m) {
    const ok = await confirmDialog({ title: 'Cancel delayed message', text: `Cancel message ${m.id}? It will never be delivered.`, confirm: 'Cancel message', danger: true });
    if (!ok) return;
    await ctx.run(async () => {
      try {
        await del(`${base}/${encodeURIComponent(m.id)}`);
        status.textContent = `Cancelled message ${m.id}.`;
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) status.textContent = `Message ${m.id} was already delivered or cancelled.`;
        else throw e;
      }
      await refresh();
    });
  }
  async function refresh() {
    if (tern.available === false) return body.firstChild?.classList?.contains('note') || body.replaceChildren(notAvailable());
    const res = await ternCall(() => get(withQuery(base, { offset, count: PAGE })));
    if (res === undefined) return body.replaceChildren(notAvailable());
    const total = res.total ?? 0;
    const n = res.messages?.length || 0;
    info.textContent = total ? `${fmtNum(offset + 1)}–${fmtNum(offset + n)} of ${fmtNum(total)} waiting` : 'Nothing waiting';
    prev.disabled = offset === 0;
    next.disabled = offset + n >= total;
    table.update(res.messages || []);
    if (body.firstChild?.classList?.contains('pager') !== true) body.replaceChildren(h('div', { class: 'pager' }, prev, info, next), table.el, status);
  }
  const hint = h('p', { class: 'muted' }, 'Messages published here with a header x-delay (milliseconds) wait in the exchange until due. Cancelling one drops it.');
  return { el: section('Delayed messages', hint, body), refresh };
}


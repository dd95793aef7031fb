// Exchanges list, one exchange (bindings, publish, delete), and the publish
// form that the queue page reuses through the default exchange.

import { get, put, post, del, p } from './api.js';
import { h, nameCls, Table, fmtRate, rateOf, badge, link, qHref, xHref, kv, fmtArgs, field, checkbox, output, section, confirmDialog } from './ui.js';
import { pagedList, parseJsonObject, vhostPicker } from './paged.js';
import { delayedPanel } from './tern.js';

const COLUMNS = ['vhost', 'name', 'type', 'durable', 'auto_delete', 'internal', 'arguments', 'policy', 'message_stats'].join(',');

export const exchangeLabel = (name) => (name === '' || name === 'amq.default' ? '(AMQP default)' : name);

function exchangeBadges(x) {
  const a = x.arguments || {};
  return [
    x.durable && badge('D', 'Durable: survives a broker restart'),
    x.auto_delete && badge('AD', 'Auto-delete: deleted when its last binding goes'),
    x.internal && badge('I', 'Internal: clients cannot publish to it directly'),
    a['alternate-exchange'] && badge('AE', `Alternate exchange: ${a['alternate-exchange']}`, 'info'),
    a['x-delayed-type'] && badge('Delayed', `Delayed messages, routed as ${a['x-delayed-type']} when due`, 'info'),
    x.policy && badge(x.policy, `Policy: ${x.policy}`, 'policy'),
  ];
}

export function exchangesView(root, ctx) {
  const list = pagedList(ctx, {
    path: '/api/exchanges',
    noun: 'exchanges',
    fetchColumns: COLUMNS,
    rowKey: (x) => `${x.vhost}/${x.name}`,
    columns: [
      { label: 'Vhost', key: 'vhost', sort: true },
      { label: 'Name', key: 'name', sort: true, cls: (x) => nameCls(x.name), render: (x) => link(xHref(x.vhost, x.name), exchangeLabel(x.name), `x:${x.vhost}/${x.name}`) },
      { label: 'Type', key: 'type', sort: true },
      { label: 'Features', cls: 'features', render: exchangeBadges },
      { label: 'Rate in', num: true, sort: 'message_stats.publish_in_details.rate', render: (x) => fmtRate(rateOf(x.message_stats, 'publish_in') ?? 0) },
      { label: 'Rate out', num: true, sort: 'message_stats.publish_out_details.rate', render: (x) => fmtRate(rateOf(x.message_stats, 'publish_out') ?? 0) },
    ],
  });
  const declare = h('div');
  root.append(h('h1', {}, 'Exchanges'), list.el, declare);
  declareForm(ctx).then((f) => declare.append(f), (e) => ctx.run(() => Promise.reject(e)));
  return { refresh: list.refresh };
}

async function declareForm(ctx) {
  const [vhost, ov] = await Promise.all([vhostPicker(ctx, ctx.vhost() || '/'), get('/api/overview')]);
  const types = (ov.exchange_types || []).map((t) => t.name);
  for (const t of ['direct', 'fanout', 'topic', 'headers']) if (!types.includes(t)) types.push(t);
  const name = h('input', { name: 'name', required: true, autocomplete: 'off' });
  const type = h('select', { name: 'type' }, types.map((t) => h('option', { value: t }, t)));
  const durable = checkbox('Durable', { checked: true });
  const autoDelete = checkbox('Auto-delete', {});
  const internal = checkbox('Internal', {});
  const ae = h('input', { name: 'alternate-exchange', autocomplete: 'off' });
  const delayedType = h('select', { name: 'x-delayed-type' }, ['direct', 'fanout', 'topic', 'headers'].map((t) => h('option', { value: t }, t)));
  const delayedField = field('Delayed type (routes due messages as)', delayedType);
  const other = h('textarea', { rows: 2, class: 'mono', placeholder: '{}' });
  const result = output();
  const syncType = () => (delayedField.hidden = type.value !== 'x-delayed-message');
  type.addEventListener('change', syncType);
  syncType();
  const form = h(
    'form',
    {
      class: 'form',
      onsubmit: async (e) => {
        e.preventDefault();
        result.textContent = '';
        await ctx.run(async () => {
          const args = parseJsonObject(other.value);
          if (ae.value.trim()) args['alternate-exchange'] = ae.value.trim();
          if (type.value === 'x-delayed-message') args['x-delayed-type'] = delayedType.value;
          await put(p('exchanges', vhost.value, name.value), {
            type: type.value,
            durable: durable.querySelector('input').checked,
            auto_delete: autoDelete.querySelector('input').checked,
            internal: internal.querySelector('input').checked,
            arguments: args,
          });
          result.replaceChildren('Declared ', link(xHref(vhost.value, name.value), name.value), '.');
          name.value = '';
          ctx.refresh();
        });
      },
    },
    h('div', { class: 'form-row' }, field('Virtual host', vhost), field('Name', name), field('Type', type), durable, autoDelete, internal),
    h('div', { class: 'form-row' }, field('Alternate exchange', ae), delayedField, field('Other arguments (JSON)', other)),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Declare exchange'), result),
  );
  return section('Add an exchange', form);
}

export function exchangeView(root, ctx) {
  const [, vhost, name] = ctx.segs;
  const path = p('exchanges', vhost, name);
  const info = h('div');
  const bindings = new Table({
    empty: 'This exchange routes to nothing: no bindings.',
    columns: [
      { label: 'To', render: (b) => (b.destination_type === 'queue' ? link(qHref(b.vhost, b.destination), b.destination) : link(xHref(b.vhost, b.destination), b.destination)) },
      { label: 'Type', key: 'destination_type' },
      { label: 'Routing key', render: (b) => h('code', {}, b.routing_key) },
      { label: 'Arguments', render: (b) => fmtArgs(b.arguments) },
    ],
  });
  const delayedBox = h('div');
  let delayed = null;
  const remove = async () => {
    const ok = await confirmDialog({ title: 'Delete exchange', text: `Delete exchange "${name}" in vhost "${vhost}" and all its bindings?`, confirm: 'Delete', danger: true });
    if (!ok) return;
    const done = await ctx.run(() => del(path).then(() => true));
    if (done) location.hash = '#/exchanges';
  };
  const parts = [
    h('p', { class: 'crumbs' }, link('#/exchanges', 'Exchanges'), ' › ', vhost, ' › ', exchangeLabel(name)),
    h('h1', {}, `Exchange ${exchangeLabel(name)}`),
    info,
    section('Bindings from this exchange', bindings.el),
    delayedBox,
    section('Publish a message', publishForm(ctx, { vhost, exchange: name })),
    name !== 'amq.default' && !name.startsWith('amq.')
      ? section('Delete', h('button', { type: 'button', class: 'danger', onclick: remove }, 'Delete this exchange'))
      : null,
  ];
  root.append(...parts.filter(Boolean));
  return {
    async refresh() {
      const [x, b] = await Promise.all([get(path), get(`${path}/bindings/source`)]);
      info.replaceChildren(
        section(
          'Details',
          kv([
            ['Virtual host', x.vhost],
            ['Type', x.type],
            ['Features', exchangeBadges(x)],
            ['Policy', x.policy],
            ['Arguments', fmtArgs(x.arguments)],
            ['Rate in', fmtRate(rateOf(x.message_stats, 'publish_in') ?? 0)],
            ['Rate out', fmtRate(rateOf(x.message_stats, 'publish_out') ?? 0)],
          ]),
        ),
      );
      bindings.update(b || []);
      // An x-delayed-message exchange holds messages until due: list them.
      if (x.type === 'x-delayed-message' && !delayed) {
        delayed = delayedPanel(ctx, vhost, name);
        delayedBox.append(delayed.el);
      }
      await delayed?.refresh();
    },
  };
}

const wide = (el) => {
  el.classList.add('wide');
  return el;
};

// Publish through an exchange. With `routingKey` fixed (the queue page, via
// the default exchange) the key is shown but not editable.
export function publishForm(ctx, { vhost, exchange, routingKey }) {
  const rk = h('input', { name: 'routing_key', value: routingKey ?? '', readonly: routingKey !== undefined, autocomplete: 'off' });
  const persistent = checkbox('Persistent (delivery_mode 2)', { name: 'persistent' });
  const contentType = h('input', { name: 'content_type', placeholder: 'text/plain', autocomplete: 'off' });
  const headers = h('textarea', { name: 'headers', rows: 2, class: 'mono', placeholder: '{"x-retry": 1}' });
  const props = h('textarea', { name: 'properties', rows: 2, class: 'mono', placeholder: '{"correlation_id": "abc", "expiration": "60000"}' });
  const payload = h('textarea', { name: 'payload', rows: 4, class: 'mono' });
  const result = output();
  const form = h(
    'form',
    {
      class: 'form publish-form',
      onsubmit: async (e) => {
        e.preventDefault();
        result.textContent = '';
        await ctx.run(async () => {
          const properties = parseJsonObject(props.value, 'Properties');
          const hdrs = parseJsonObject(headers.value, 'Headers');
          if (Object.keys(hdrs).length) properties.headers = hdrs;
          if (contentType.value.trim()) properties.content_type = contentType.value.trim();
          if (persistent.querySelector('input').checked) properties.delivery_mode = 2;
          const res = await post(`${p('exchanges', vhost, exchange || 'amq.default')}/publish`, {
            properties,
            routing_key: rk.value,
            payload: payload.value,
            payload_encoding: 'string',
          });
          // routed:false is not an HTTP error, but the message is gone: say so.
          result.className = `result ${res?.routed ? 'ok' : 'warn'}`;
          result.textContent = res?.routed ? 'Message published and routed.' : 'Message published, but no queue was bound for it: it was dropped (or sent to an alternate exchange).';
          ctx.refresh();
        });
      },
    },
    h('div', { class: 'form-row' }, wide(field('Routing key', rk)), field('Content type', contentType)),
    h('div', { class: 'form-row' }, field('Headers (JSON)', headers), field('Other properties (JSON)', props)),
    field('Payload', payload),
    h('div', { class: 'actions' }, persistent, h('button', { type: 'submit', class: 'primary' }, 'Publish message'), result),
  );
  return form;
}

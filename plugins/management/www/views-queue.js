// One queue: stats, live charts, consumers, bindings, publish, get, purge,
// delete, and Tern's browse / move / redrive / unacked panels.

import { get, post, del, p } from './api.js';
import { h, Table, fmtNum, fmtRate, fmtBytes, rateOf, kv, fmtArgs, link, xHref, field, output, section, payloadBlock, confirmDialog, badge } from './ui.js';
import { History, lineChart, compact } from './chart.js';
import { queueBadges, stateBadge } from './views-queues.js';
import { publishForm, exchangeLabel } from './views-exchanges.js';
import { browsePanel, movePanel, redrivePanel, unackedPanel } from './tern.js';

const RATES = [
  { key: 'publish', label: 'Publish' },
  { key: 'deliver_get', label: 'Deliver / get' },
  { key: 'ack', label: 'Ack' },
  { key: 'redeliver', label: 'Redeliver' },
];
const DEPTH = [
  { key: 'messages_ready', label: 'Ready' },
  { key: 'messages_unacknowledged', label: 'Unacked' },
  { key: 'messages', label: 'Total' },
];

export function queueView(root, ctx) {
  const [, vhost, name] = ctx.segs;
  const path = p('queues', vhost, name);
  // The broker keeps no history we can ask for per sample, so the charts are
  // built from what this page sees while it is open.
  const rates = new History(120);
  const depth = new History(120);

  const stats = h('div', { class: 'grid2' });
  const charts = h('div', { class: 'charts' });
  const consumers = new Table({
    empty: 'No consumers.',
    rowKey: (c) => `${c.channel_details?.name}/${c.consumer_tag}`,
    columns: [
      { label: 'Channel', render: (c) => c.channel_details?.name || '' },
      { label: 'Consumer tag', render: (c) => h('code', {}, c.consumer_tag) },
      { label: 'Ack required', render: (c) => (c.ack_required ? 'yes' : 'no (auto-ack)') },
      { label: 'Exclusive', render: (c) => (c.exclusive ? 'yes' : 'no') },
      { label: 'Prefetch', num: true, render: (c) => fmtNum(c.prefetch_count) },
      { label: 'Active', render: (c) => (c.active === false ? badge('waiting', 'Single active consumer: standing by', 'warn') : 'yes') },
      { label: 'Arguments', render: (c) => fmtArgs(c.arguments) },
    ],
  });
  const bindings = new Table({
    empty: 'No bindings.',
    columns: [
      { label: 'From exchange', render: (b) => link(xHref(b.vhost, b.source), exchangeLabel(b.source)) },
      { label: 'Routing key', render: (b) => h('code', {}, b.routing_key) },
      { label: 'Arguments', render: (b) => fmtArgs(b.arguments) },
    ],
  });

  const afterChange = () => ctx.refresh();
  const browse = browsePanel(ctx, vhost, name, afterChange);
  const unacked = unackedPanel(ctx, vhost, name);
  const changed = () => {
    browse.load();
    afterChange();
  };

  root.append(
    h('p', { class: 'crumbs' }, link('#/queues', 'Queues'), ' › ', vhost, ' › ', name),
    h('h1', {}, `Queue ${name}`),
    stats,
    section('Live charts', charts),
    h('div', { class: 'grid2' }, section('Publish a message', publishForm(ctx, { vhost, exchange: 'amq.default', routingKey: name })), section('Get messages', getForm(ctx, path, changed))),
    browse.el,
    h('div', { class: 'grid2' }, movePanel(ctx, vhost, name, changed), redrivePanel(ctx, vhost, name, changed)),
    unacked.el,
    section('Consumers', consumers.el),
    section('Bindings', bindings.el),
    section('Purge or delete', dangerZone(ctx, path, vhost, name, changed)),
  );
  browse.load();

  return {
    async refresh() {
      const [q, b] = await Promise.all([get(path), get(`${path}/bindings`)]);
      const ms = q.message_stats || {};
      rates.push(Object.fromEntries(RATES.map((s) => [s.key, rateOf(ms, s.key) ?? 0])));
      depth.push(Object.fromEntries(DEPTH.map((s) => [s.key, q[s.key] ?? 0])));
      stats.replaceChildren(
        section(
          'Details',
          kv([
            ['Virtual host', q.vhost],
            ['Type', q.type],
            ['State', stateBadge(q.state)],
            ['Features', queueBadges(q)],
            ['Arguments', fmtArgs(q.arguments)],
            ['Policy', q.policy],
            q.operator_policy && ['Operator policy', q.operator_policy],
            ['Effective policy', fmtArgs(q.effective_policy_definition)],
            q.exclusive_consumer_tag && ['Exclusive consumer', q.exclusive_consumer_tag],
            ['Node', q.node],
          ]),
        ),
        section(
          'Messages',
          kv([
            ['Ready', h('span', { class: 'num' }, fmtNum(q.messages_ready))],
            ['Unacked', h('span', { class: 'num' }, fmtNum(q.messages_unacknowledged))],
            ['Total', h('span', { class: 'num' }, fmtNum(q.messages))],
            ['Bytes', `${fmtBytes(q.message_bytes ?? 0)} (ready ${fmtBytes(q.message_bytes_ready ?? 0)}, unacked ${fmtBytes(q.message_bytes_unacknowledged ?? 0)})`],
            ['Consumers', fmtNum(q.consumers)],
            q.consumer_utilisation !== undefined && ['Consumer utilisation', `${Math.round((q.consumer_utilisation || 0) * 100)}%`],
            ['Memory', fmtBytes(q.memory)],
            ['Publish', fmtRate(rateOf(ms, 'publish') ?? 0)],
            ['Deliver / get', fmtRate(rateOf(ms, 'deliver_get') ?? 0)],
            ['Ack', fmtRate(rateOf(ms, 'ack') ?? 0)],
            ['Redeliver', fmtRate(rateOf(ms, 'redeliver') ?? 0)],
          ]),
        ),
      );
      charts.replaceChildren(
        lineChart({ title: 'Queue depth', history: depth, series: DEPTH, fmt: compact, integer: true }),
        lineChart({ title: 'Message rates (per second)', history: rates, series: RATES, fmt: compact }),
      );
      consumers.update(q.consumer_details || []);
      bindings.update(b || []);
      await unacked.refresh();
    },
  };
}

// Get messages: RabbitMQ's basic.get over HTTP. "Nack, requeue" leaves the
// messages in the queue (redelivered); the other modes take them out.
function getForm(ctx, path, changed) {
  const count = h('input', { name: 'count', type: 'number', min: 1, max: 1000, value: 1 });
  const ackmode = h(
    'select',
    { name: 'ackmode' },
    h('option', { value: 'ack_requeue_true' }, 'Nack, requeue (keeps them)'),
    h('option', { value: 'reject_requeue_true' }, 'Reject, requeue (keeps them)'),
    h('option', { value: 'ack_requeue_false' }, 'Ack (removes them)'),
  );
  const encoding = h('select', { name: 'encoding' }, h('option', { value: 'auto' }, 'Auto: text, or base64 if binary'), h('option', { value: 'base64' }, 'Base64'));
  const truncate = h('input', { name: 'truncate', type: 'number', min: 0, value: 50000 });
  const result = output();
  const list = h('div', { class: 'messages' });
  const form = h(
    'form',
    {
      class: 'form',
      onsubmit: async (e) => {
        e.preventDefault();
        result.textContent = '';
        await ctx.run(async () => {
          const body = { count: Number(count.value) || 1, ackmode: ackmode.value, encoding: encoding.value };
          if (truncate.value !== '') body.truncate = Number(truncate.value);
          const msgs = (await post(`${path}/get`, body)) || [];
          result.textContent = msgs.length ? `Got ${msgs.length} message${msgs.length === 1 ? '' : 's'}.` : 'The queue is empty: no message to get.';
          list.replaceChildren(...msgs.map(messageCard));
          changed();
        });
      },
    },
    h('div', { class: 'form-row' }, field('Messages', count), field('Ack mode', ackmode)),
    h('div', { class: 'form-row' }, field('Encoding', encoding), field('Truncate after (bytes)', truncate)),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Get messages'), result),
    list,
  );
  return form;
}

function messageCard(m, i) {
  const props = { ...(m.properties || {}) };
  const headers = props.headers;
  delete props.headers;
  return h(
    'article',
    { class: 'message' },
    h('h3', {}, `Message ${i + 1}`),
    kv([
      ['Exchange', exchangeLabel(m.exchange)],
      ['Routing key', h('code', {}, m.routing_key)],
      ['Redelivered', m.redelivered ? 'yes' : 'no'],
      ['Left in queue', fmtNum(m.message_count)],
      ['Properties', fmtArgs(props)],
      headers && ['Headers', fmtArgs(headers)],
    ]),
    payloadBlock(m),
  );
}

function dangerZone(ctx, path, vhost, name, changed) {
  const result = output();
  const purge = async () => {
    const ok = await confirmDialog({ title: 'Purge queue', text: `Remove all ready messages from "${name}"? Unacked messages stay.`, confirm: 'Purge', danger: true });
    if (!ok) return;
    const done = await ctx.run(() => del(`${path}/contents`).then(() => true));
    if (done) {
      result.textContent = 'Queue purged.';
      changed();
    }
  };
  const remove = async () => {
    const ok = await confirmDialog({ title: 'Delete queue', text: `Delete queue "${name}" in vhost "${vhost}" with all its messages?`, confirm: 'Delete queue', danger: true });
    if (!ok) return;
    const done = await ctx.run(() => del(path).then(() => true));
    if (done) location.hash = '#/queues';
  };
  return h(
    'div',
    { class: 'actions' },
    h('button', { type: 'button', class: 'danger', onclick: purge }, 'Purge messages'),
    h('button', { type: 'button', class: 'danger', onclick: remove }, 'Delete queue'),
    result,
  );
}


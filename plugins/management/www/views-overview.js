// Overview (totals, live charts, nodes, listeners), connections, channels.

import { get, del, p } from './api.js';
import { h, keepFocus, Table, fmtNum, fmtRate, fmtBytes, fmtDuration, rateOf, section, kv, badge, field, confirmDialog } from './ui.js';
import { History, lineChart, compact } from './chart.js';

// Module-level so the samples survive a visit to another view and back.
const rates = new History(120);
const depth = new History(120);

const RATE_SERIES = [
  { key: 'publish', label: 'Publish' },
  { key: 'deliver_get', label: 'Deliver / get' },
  { key: 'ack', label: 'Ack' },
  { key: 'redeliver', label: 'Redeliver' },
];
const DEPTH_SERIES = [
  { key: 'messages_ready', label: 'Ready' },
  { key: 'messages_unacknowledged', label: 'Unacked' },
  { key: 'messages', label: 'Total' },
];

export function overviewView(root) {
  const alarms = h('div', { class: 'banner-entry alarm-banner', role: 'alert', id: 'alarm-banner' });
  alarms.hidden = true;
  const totals = h('div', { class: 'cards' });
  const charts = h('div', { class: 'charts' });
  const info = h('div');
  const nodes = new Table({
    caption: 'Nodes',
    empty: 'No nodes reported.',
    columns: [
      { label: 'Name', key: 'name' },
      { label: 'Memory', render: (n) => gauge(n.mem_used, n.mem_limit, n.mem_alarm, 'memory alarm') },
      { label: 'Disk free', render: (n) => diskGauge(n) },
      { label: 'File descriptors', num: true, render: (n) => usedOf(n.fd_used, n.fd_total) },
      { label: 'Sockets', num: true, render: (n) => usedOf(n.sockets_used, n.sockets_total) },
      { label: 'Processes', num: true, render: (n) => usedOf(n.proc_used, n.proc_total) },
      { label: 'Uptime', num: true, render: (n) => fmtDuration(n.uptime) },
      { label: 'State', render: (n) => (n.running === false ? badge('down', 'Node is not running', 'bad') : badge('running', 'Node is running', 'good')) },
    ],
  });
  const listeners = new Table({
    caption: 'Listeners',
    empty: 'No listeners reported.',
    columns: [
      { label: 'Protocol', key: 'protocol' },
      { label: 'Bound to', key: 'ip_address' },
      { label: 'Port', key: 'port', num: true },
      { label: 'Node', key: 'node' },
    ],
  });
  root.append(
    h('h1', {}, 'Overview'),
    alarms,
    totals,
    section('Live charts', charts),
    h('section', { class: 'panel' }, nodes.el),
    h('section', { class: 'panel' }, listeners.el),
    info,
  );

  return {
    async refresh() {
      const [ov, nodeList] = await Promise.all([get('/api/overview'), get('/api/nodes')]);
      const ot = ov.object_totals || {};
      const qt = ov.queue_totals || {};
      const ms = ov.message_stats || {};
      rates.push(Object.fromEntries(RATE_SERIES.map((se) => [se.key, rateOf(ms, se.key) ?? 0])));
      depth.push(Object.fromEntries(DEPTH_SERIES.map((se) => [se.key, qt[se.key] ?? 0])));

      keepFocus(totals, () => totals.replaceChildren(
        card('Connections', fmtNum(ot.connections), '#/connections'),
        card('Channels', fmtNum(ot.channels), '#/channels'),
        card('Exchanges', fmtNum(ot.exchanges), '#/exchanges'),
        card('Queues', fmtNum(ot.queues), '#/queues'),
        card('Consumers', fmtNum(ot.consumers)),
        card('Ready', fmtNum(qt.messages_ready)),
        card('Unacked', fmtNum(qt.messages_unacknowledged)),
        card('Total messages', fmtNum(qt.messages)),
        card('Publish rate', fmtRate(rateOf(ms, 'publish') ?? 0)),
        card('Deliver rate', fmtRate(rateOf(ms, 'deliver_get') ?? 0)),
      ));
      charts.replaceChildren(
        lineChart({ title: 'Message rates (per second)', history: rates, series: RATE_SERIES, fmt: compact }),
        lineChart({ title: 'Queued messages', history: depth, series: DEPTH_SERIES, fmt: compact, integer: true }),
      );
      showAlarms(alarms, nodeList || []);
      nodes.update(nodeList || []);
      listeners.update(ov.listeners || []);
      info.replaceChildren(
        section(
          'Broker',
          kv([
            ['Product', `${ov.product_name || ''} ${ov.product_version || ''}`],
            ['Cluster', ov.cluster_name],
            ['Management API', ov.management_version],
            ['Node', ov.node],
            ov.erlang_version && ['Erlang', ov.erlang_version],
            ['Rates mode', ov.rates_mode],
          ]),
        ),
      );
    },
  };
}

function card(label, value, href) {
  const inner = [h('span', { class: 'card-value' }, value || '0'), h('span', { class: 'card-label' }, label)];
  return href ? h('a', { class: 'card', href, dataset: { fk: `card:${label}` } }, inner) : h('div', { class: 'card' }, inner);
}

const usedOf = (used, total) => (used === undefined ? '—' : total ? `${fmtNum(used)} / ${fmtNum(total)}` : fmtNum(used));

// A resource alarm in effect (RabbitMQ's memory and disk alarms): a banner
// above the totals, gone when the alarms clear.
function showAlarms(el, nodeList) {
  const lines = [];
  for (const n of nodeList) {
    if (n.mem_alarm) lines.push(`Memory alarm on ${n.name}: ${fmtBytes(n.mem_used)} used, above the watermark of ${fmtBytes(n.mem_limit)}.`);
    if (n.disk_free_alarm) {
      lines.push(n.disk_free < n.disk_free_limit
        ? `Disk alarm on ${n.name}: ${fmtBytes(n.disk_free)} free, below the limit of ${fmtBytes(n.disk_free_limit)}.`
        : `Disk alarm on ${n.name}: store writes are failing.`);
    }
  }
  el.hidden = lines.length === 0;
  if (lines.length) lines.push('Publishing connections are blocked until the alarm clears; consumers keep receiving.');
  el.replaceChildren(...lines.map((t) => h('div', {}, t)));
}

// Memory: a meter of used against the limit, red when the alarm is on.
function gauge(used, limit, alarm, alarmText) {
  if (used === undefined) return '—';
  return h(
    'span',
    { class: 'gauge' },
    limit ? h('meter', { min: 0, max: limit, value: Math.min(used, limit), high: limit * 0.8, optimum: 0, 'aria-label': 'Memory used of limit' }) : null,
    h('span', {}, `${fmtBytes(used)}${limit ? ` of ${fmtBytes(limit)}` : ''}`),
    alarm ? badge('ALARM', alarmText, 'bad') : null,
  );
}

// Disk: free space, with the limit under which publishers are blocked.
function diskGauge(n) {
  if (n.disk_free === undefined) return '—';
  return h(
    'span',
    { class: 'gauge' },
    h('span', {}, `${fmtBytes(n.disk_free)} free (limit ${fmtBytes(n.disk_free_limit)})`),
    n.disk_free_alarm ? badge('ALARM', 'disk free alarm: publishers are blocked', 'bad') : null,
  );
}

// ---- connections and channels -------------------------------------------------

// Connections and channels are plain lists in the API. They are filtered and
// sorted here; only the first MAX rows are drawn so a busy broker stays usable.
const MAX = 500;

function clientList(root, ctx, { title, path, columns, rowKey, noun }) {
  const filter = h('input', { type: 'search', placeholder: 'Filter by name', value: ctx.query.get('name') || '' });
  const note = h('p', { class: 'muted' });
  const table = new Table({ columns, rowKey, clientSort: true, sort: { key: 'name', reverse: false }, empty: `No ${noun}.` });
  let all = [];
  const draw = () => {
    const f = filter.value.toLowerCase();
    const vh = ctx.vhost();
    const rows = all.filter((r) => (!vh || r.vhost === vh) && (!f || String(r.name).toLowerCase().includes(f)));
    table.update(rows.slice(0, MAX));
    note.textContent = `${fmtNum(rows.length)} of ${fmtNum(all.length)} ${noun}${rows.length > MAX ? ` — showing the first ${MAX}; narrow the filter` : ''}${vh ? ` in vhost ${vh}` : ''}.`;
  };
  filter.addEventListener('input', () => {
    ctx.setQuery({ name: filter.value });
    draw();
  });
  root.append(h('h1', {}, title), h('section', { class: 'panel', 'aria-label': noun }, h('div', { class: 'toolbar' }, field('Filter', filter)), note, table.el));
  return {
    async refresh() {
      all = (await get(path)) || [];
      draw();
    },
  };
}

export function connectionsView(root, ctx) {
  const close = async (c) => {
    const v = await confirmDialog({
      title: 'Close connection',
      text: `Close ${c.name}? The client is told the reason below.`,
      confirm: 'Close connection',
      danger: true,
      fields: [{ name: 'reason', label: 'Reason', value: 'Closed from the management page' }],
    });
    if (!v) return;
    // X-Reason becomes the text of the connection.close the client receives.
    await ctx.run(() => del(p('connections', c.name), { 'X-Reason': v.reason }));
    ctx.refresh();
  };
  return clientList(root, ctx, {
    title: 'Connections',
    path: '/api/connections',
    noun: 'connections',
    rowKey: (c) => c.name,
    columns: [
      { label: 'Name', key: 'name', sort: true, render: (c) => [c.name, c.client_properties?.product ? h('small', { class: 'muted block' }, `${c.client_properties.product} ${c.client_properties.version || ''}`) : null] },
      { label: 'User', key: 'user', sort: true },
      { label: 'Vhost', key: 'vhost', sort: true },
      { label: 'Protocol', key: 'protocol', sort: true, cls: 'nowrap' },
      { label: 'TLS', render: (c) => (c.ssl ? [badge('TLS', tlsTitle(c)), c.auth_mechanism === 'EXTERNAL' ? badge('cert', `Logged in by client certificate ${c.peer_cert_subject || ''}`) : null] : '') },
      { label: 'State', key: 'state', sort: true },
      { label: 'Channels', key: 'channels', num: true, sort: true },
      { label: 'From client', num: true, sort: 'recv_oct_details.rate', value: (c) => rateOf(c, 'recv_oct'), render: (c) => byteRate(rateOf(c, 'recv_oct')) },
      { label: 'To client', num: true, sort: 'send_oct_details.rate', value: (c) => rateOf(c, 'send_oct'), render: (c) => byteRate(rateOf(c, 'send_oct')) },
      { label: 'Connected', sort: 'connected_at', cls: 'nowrap', render: (c) => (c.connected_at ? new Date(c.connected_at).toLocaleString() : '') },
      { label: 'Actions', render: (c) => h('button', { type: 'button', class: 'small danger', dataset: { fk: `close:${c.name}` }, onclick: () => close(c) }, 'Close') },
    ],
  });
}

// The TLS badge's tooltip: version, cipher and the client certificate, if any.
const tlsTitle = (c) =>
  `Encrypted with TLS: ${c.ssl_protocol || '?'}, ${c.ssl_cipher || '?'}` +
  (c.peer_cert_subject ? `; client certificate ${c.peer_cert_subject}, issued by ${c.peer_cert_issuer}` : '');

const byteRate = (r) => (r === undefined ? '' : `${fmtBytes(Math.round(r))}/s`);

export function channelsView(root, ctx) {
  return clientList(root, ctx, {
    title: 'Channels',
    path: '/api/channels',
    noun: 'channels',
    rowKey: (c) => c.name,
    columns: [
      { label: 'Channel', key: 'name', sort: true },
      { label: 'User', key: 'user', sort: true },
      { label: 'Vhost', key: 'vhost', sort: true },
      { label: 'Mode', render: (c) => [c.confirm ? badge('C', 'Publisher confirms') : null, c.transactional ? badge('T', 'Transactional') : null] },
      { label: 'State', key: 'state', sort: true },
      { label: 'Prefetch', key: 'prefetch_count', num: true, sort: true },
      { label: 'Unacked', key: 'messages_unacknowledged', num: true, sort: true, render: (c) => fmtNum(c.messages_unacknowledged) },
      { label: 'Unconfirmed', key: 'messages_unconfirmed', num: true, sort: true, render: (c) => fmtNum(c.messages_unconfirmed) },
      { label: 'Consumers', key: 'consumer_count', num: true, sort: true },
      { label: 'Publish', num: true, sort: 'message_stats.publish_details.rate', render: (c) => fmtRate(rateOf(c.message_stats, 'publish') ?? 0) },
      { label: 'Deliver / get', num: true, sort: 'message_stats.deliver_get_details.rate', render: (c) => fmtRate(rateOf(c.message_stats, 'deliver_get') ?? 0) },
      { label: 'Ack', num: true, sort: 'message_stats.ack_details.rate', render: (c) => fmtRate(rateOf(c.message_stats, 'ack') ?? 0) },
    ],
  });
}

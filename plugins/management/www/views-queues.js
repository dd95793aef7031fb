// The queues list (server-side paging, filter, sort) and the declare form.

import { put, p } from './api.js';
import { h, nameCls, fmtNum, fmtRate, rateOf, badge, link, qHref, field, checkbox, output, section } from './ui.js';
import { pagedList, parseJsonObject, intOrUndefined, vhostPicker } from './paged.js';

// Only the fields the table shows; a queue's full record is much larger.
const COLUMNS = [
  'vhost', 'name', 'type', 'state', 'durable', 'auto_delete', 'exclusive', 'arguments', 'policy', 'operator_policy',
  'messages', 'messages_ready', 'messages_unacknowledged', 'consumers', 'message_stats',
].join(',');

// Feature badges, short as in a dense table; the title says it in full.
export function queueBadges(q) {
  const a = q.arguments || {};
  const out = [];
  // Quorum and stream queues say so; classic is the default and needs no badge.
  if (q.type && q.type !== 'classic') out.push(badge(q.type, `Queue type: ${q.type}`, 'info'));
  if (q.durable) out.push(badge('D', 'Durable: survives a broker restart'));
  if (q.auto_delete) out.push(badge('AD', 'Auto-delete: deleted when its last consumer goes'));
  if (q.exclusive) out.push(badge('Excl', 'Exclusive to the connection that declared it'));
  if (a['x-max-priority'] !== undefined) out.push(badge('Pri', `Priority queue, x-max-priority: ${a['x-max-priority']}`, 'info'));
  if (a['x-message-ttl'] !== undefined) out.push(badge('TTL', `Message TTL, x-message-ttl: ${a['x-message-ttl']} ms`, 'info'));
  if (a['x-expires'] !== undefined) out.push(badge('Exp', `Queue expires when unused, x-expires: ${a['x-expires']} ms`, 'info'));
  if (a['x-dead-letter-exchange'] !== undefined) {
    const rk = a['x-dead-letter-routing-key'];
    out.push(badge('DLX', `Dead letters go to exchange "${a['x-dead-letter-exchange']}"${rk ? ` with routing key "${rk}"` : ''}`, 'info'));
  }
  const lim = [];
  if (a['x-max-length'] !== undefined) lim.push(`x-max-length: ${a['x-max-length']}`);
  if (a['x-max-length-bytes'] !== undefined) lim.push(`x-max-length-bytes: ${a['x-max-length-bytes']}`);
  if (lim.length) out.push(badge('Lim', `Length limit, ${lim.join(', ')}${a['x-overflow'] ? `, x-overflow: ${a['x-overflow']}` : ''}`, 'info'));
  if (a['x-single-active-consumer']) out.push(badge('SAC', 'Single active consumer', 'info'));
  if (q.policy) out.push(badge(q.policy, `Policy: ${q.policy}`, 'policy'));
  if (q.operator_policy) out.push(badge(q.operator_policy, `Operator policy: ${q.operator_policy}`, 'policy'));
  return out;
}

export function queuesView(root, ctx) {
  const list = pagedList(ctx, {
    path: '/api/queues',
    noun: 'queues',
    fetchColumns: COLUMNS,
    rowKey: (q) => `${q.vhost}/${q.name}`,
    columns: [
      { label: 'Vhost', key: 'vhost', sort: true },
      { label: 'Name', key: 'name', sort: true, cls: (q) => nameCls(q.name), render: (q) => link(qHref(q.vhost, q.name), q.name, `q:${q.vhost}/${q.name}`) },
      { label: 'Features', cls: 'features', render: queueBadges },
      { label: 'State', key: 'state', render: (q) => stateBadge(q.state) },
      { label: 'Ready', key: 'messages_ready', num: true, sort: true, render: (q) => fmtNum(q.messages_ready) },
      { label: 'Unacked', key: 'messages_unacknowledged', num: true, sort: true, render: (q) => fmtNum(q.messages_unacknowledged) },
      { label: 'Total', key: 'messages', num: true, sort: true, render: (q) => fmtNum(q.messages) },
      { label: 'Consumers', key: 'consumers', num: true, sort: true, render: (q) => fmtNum(q.consumers) },
      { label: 'Incoming', num: true, sort: 'message_stats.publish_details.rate', title: 'Publish rate', render: (q) => fmtRate(rateOf(q.message_stats, 'publish') ?? 0) },
      { label: 'Deliver', num: true, sort: 'message_stats.deliver_get_details.rate', title: 'Deliver and get rate', render: (q) => fmtRate(rateOf(q.message_stats, 'deliver_get') ?? 0) },
      { label: 'Ack', num: true, sort: 'message_stats.ack_details.rate', render: (q) => fmtRate(rateOf(q.message_stats, 'ack') ?? 0) },
    ],
  });
  const declare = h('div');
  root.append(h('h1', {}, 'Queues'), list.el, declare);
  declareForm(ctx).then((f) => declare.append(f), (e) => ctx.run(() => Promise.reject(e)));
  return { refresh: list.refresh };
}

export function stateBadge(state) {
  if (!state) return '';
  return badge(state, `Queue state: ${state}`, state === 'running' || state === 'idle' ? 'good' : 'warn');
}

async function declareForm(ctx) {
  const vhost = await vhostPicker(ctx, ctx.vhost() || '/');
  const name = h('input', { name: 'name', required: true, autocomplete: 'off' });
  const durable = checkbox('Durable', { name: 'durable', checked: true });
  const autoDelete = checkbox('Auto-delete', { name: 'auto_delete' });
  const num = (n) => h('input', { name: n, inputmode: 'numeric', pattern: '[0-9]*', autocomplete: 'off' });
  const ttl = num('x-message-ttl');
  const maxLen = num('x-max-length');
  const maxBytes = num('x-max-length-bytes');
  const maxPri = num('x-max-priority');
  const expires = num('x-expires');
  const dlx = h('input', { name: 'x-dead-letter-exchange', autocomplete: 'off' });
  const dlrk = h('input', { name: 'x-dead-letter-routing-key', autocomplete: 'off' });
  const other = h('textarea', { name: 'arguments', rows: 2, placeholder: '{"x-queue-mode": "lazy"}', class: 'mono' });
  const result = output();

  const form = h(
    'form',
    {
      class: 'form',
      onsubmit: async (e) => {
        e.preventDefault();
        result.textContent = '';
        await ctx.run(async () => {
          const args = parseJsonObject(other.value);
          const set = (k, v) => v !== undefined && v !== '' && (args[k] = v);
          set('x-message-ttl', intOrUndefined(ttl, 'Message TTL'));
          set('x-max-length', intOrUndefined(maxLen, 'Max length'));
          set('x-max-length-bytes', intOrUndefined(maxBytes, 'Max length bytes'));
          set('x-max-priority', intOrUndefined(maxPri, 'Max priority'));
          set('x-expires', intOrUndefined(expires, 'Expires'));
          set('x-dead-letter-exchange', dlx.value.trim());
          set('x-dead-letter-routing-key', dlrk.value.trim());
          const body = {
            durable: durable.querySelector('input').checked,
            auto_delete: autoDelete.querySelector('input').checked,
            arguments: args,
          };
          await put(p('queues', vhost.value, name.value), body);
          result.replaceChildren('Declared ', link(qHref(vhost.value, name.value), name.value), '.');
          name.value = '';
          ctx.refresh();
        });
      },
    },
    h('div', { class: 'form-row' }, field('Virtual host', vhost), field('Name', name), durable, autoDelete),
    h(
      'div',
      { class: 'form-row' },
      field('Message TTL (ms)', ttl),
      field('Max length', maxLen),
      field('Max length bytes', maxBytes),
      field('Max priority', maxPri),
      field('Expires (ms)', expires),
    ),
    h('div', { class: 'form-row' }, field('Dead-letter exchange', dlx), field('Dead-letter routing key', dlrk), field('Other arguments (JSON)', other)),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Declare queue'), result),
  );
  return section('Add a queue', form);
}

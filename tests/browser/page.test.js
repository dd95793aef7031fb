// Browser test of the management page (plugins/management/www) in headless
// Chromium, against a live management API.
//
//   cd tests/browser && npm ci && node --test
//
// TERN_MGMT_URL   the page's origin (default: start devserver.js here, which
//                 forwards /api to 127.0.0.1:15672, i.e. RabbitMQ)
// TERN_MGMT_USER / TERN_MGMT_PASS   default guest / guest
// TERN_MGMT_VHOST the vhost the test queues go in (default "/")
//
// Steps that need Tern's /api/tern extras are skipped when the broker lacks
// them (RabbitMQ). Screenshots of each view land in build/screenshots/.

'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const USER = process.env.TERN_MGMT_USER || 'guest';
const PASS = process.env.TERN_MGMT_PASS || 'guest';
const VHOST = process.env.TERN_MGMT_VHOST || '/';
const SHOTS = path.resolve(__dirname, '../../build/screenshots');
const RUN = `${Date.now().toString(36)}${process.pid}`;
const QA = `www-test-${RUN}-a`;
const QB = `www-test-${RUN}-b`;
const QC = `www-test-${RUN}-c`;
const DEF_VHOST = `www-test-${RUN}-vh`;

let base;
let devServer;
let context;
let page;
let profileDir;
const problems = []; // page errors and console errors: any one fails the test

// Requests the page is expected to see fail, which Chromium also logs as
// console errors ("Failed to load resource"): the 401 of the wrong-password
// step, and 404s from /api/tern on a broker without the extras.
const expectedFailures = [/\/api\/tern\//];

async function apiCall(method, p, body) {
  const res = await fetch(base + p, {
    method,
    headers: {
      Authorization: `Basic ${Buffer.from(`${USER}:${PASS}`).toString('base64')}`,
      'Content-Type': 'application/json',
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok && !(method === 'DELETE' && res.status === 404)) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}
const enc = encodeURIComponent;

async function shot(name) {
  // Let the page settle (fonts, a refresh in flight) before the picture.
  await page.waitForLoadState('networkidle').catch(() => {});
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function until(fn, what, ms = 10000) {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Follows a hash route and waits for the view's first refresh to land.
async function go(hash, heading) {
  await page.evaluate((h) => {
    location.hash = h;
  }, hash);
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  await page.locator('#refresh-state').filter({ hasText: 'Updated' }).waitFor();
}

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  if (process.env.TERN_MGMT_URL) {
    base = process.env.TERN_MGMT_URL.replace(/\/$/, '');
  } else {
    devServer = await require('./devserver').start(0);
    base = `http://127.0.0.1:${devServer.address().port}`;
  }
  await apiCall('PUT', `/api/queues/${enc(VHOST)}/${enc(QA)}`, { durable: true, auto_delete: false, arguments: { 'x-max-priority': 5, 'x-message-ttl': 600000 } });
  await apiCall('PUT', `/api/queues/${enc(VHOST)}/${enc(QB)}`, { durable: false, auto_delete: false, arguments: {} });

  profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-www-chromium-'));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 1366, height: 900 },
    acceptDownloads: true,
  });
  page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const url = msg.location()?.url || '';
    if (/Failed to load resource/.test(msg.text()) && expectedFailures.some((re) => re.test(url))) return;
    problems.push(`console.error: ${msg.text()} (${url})`);
  });
});

after(async () => {
  await context?.close();
  if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
  for (const q of [QA, QB, QC]) await apiCall('DELETE', `/api/queues/${enc(VHOST)}/${enc(q)}`).catch(() => {});
  await apiCall('DELETE', `/api/vhosts/${enc(DEF_VHOST)}`).catch(() => {});
  devServer?.close();
});

test('management page', async (t) => {
  let ternAvailable = false;

  await t.test('a wrong password returns to the login form with the error', async () => {
    await page.goto(`${base}/`);
    expectedFailures.push(/\/api\/whoami/);
    await page.getByLabel('Username').fill(USER);
    await page.getByLabel('Password').fill(`${PASS}-wrong`);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('.login-error').filter({ hasText: '401' }).waitFor();
    await shot('login-error');
    expectedFailures.pop();
  });

  await t.test('logs in (Enter submits) and shows the overview', async () => {
    await page.getByLabel('Password').fill(PASS);
    await page.getByLabel('Password').press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    await page.locator('.card', { hasText: 'Queues' }).waitFor();
    await page.getByRole('table', { name: 'Nodes' }).locator('tbody tr').first().waitFor();
    // Three refreshes, so the live charts have lines to draw.
    await page.waitForTimeout(11000);
    assert.ok((await page.locator('svg.chart polyline').count()) > 0, 'charts draw lines');
    await shot('overview');
  });

  const panel = (title) => page.locator('section.panel', { has: page.getByRole('heading', { level: 2, name: title, exact: true }) });

  await t.test('declares a queue through the form; a refused declare shows the API error', async () => {
    await go('#/queues', 'Queues');
    const form = panel('Add a queue');
    await form.getByLabel('Virtual host').selectOption(VHOST);
    await form.getByLabel('Name', { exact: true }).fill(QC);
    await form.getByLabel('Max length', { exact: true }).fill('100');
    await form.getByLabel('Dead-letter exchange').fill('amq.fanout');
    await form.getByRole('button', { name: 'Declare queue' }).click();
    await form.getByText('Declared').waitFor();
    const c = await apiCall('GET', `/api/queues/${enc(VHOST)}/${enc(QC)}`);
    assert.equal(c.arguments['x-max-length'], 100);
    assert.equal(c.durable, true);
    // QB exists as non-durable: declaring it durable is refused with 400.
    expectedFailures.push(new RegExp(`/api/queues/.*/${QB}$`));
    await form.getByLabel('Name', { exact: true }).fill(QB);
    await form.getByLabel('Name', { exact: true }).press('Enter');
    const banner = page.locator('#banner [role=alert]', { hasText: 'inequivalent arg' });
    await banner.waitFor();
    assert.match(await banner.innerText(), /HTTP 400/);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(SHOTS, 'error-banner.png') });
    await banner.getByRole('button', { name: 'Dismiss error' }).click();
    await banner.waitFor({ state: 'detached' });
    expectedFailures.pop();
  });

  await t.test('finds the test queue on the queues view', async () => {
    await go('#/queues', 'Queues');
    await page.getByLabel('Filter').fill(QA);
    const row = page.locator('tbody tr', { has: page.getByRole('link', { name: QA, exact: true }) });
    await row.waitFor();
    // The filter is applied server-side after a short pause in typing.
    await until(async () => (await page.locator('tbody tr').count()) === 1, 'the filter leaves one row');
    await row.getByText('Pri', { exact: true }).waitFor();
    await row.getByText('TTL', { exact: true }).waitFor();
    // Clear the filter for the screenshot, sorted by depth, so it shows a real list.
    await page.getByLabel('Filter').fill('');
    await page.getByRole('button', { name: /^Total/ }).click();
    await page.waitForTimeout(800);
    await shot('queues');
    await page.getByLabel('Filter').fill(QA);
    await row.getByRole('link', { name: QA, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: `Queue ${QA}` }).waitFor();
  });

  const payload = `hello from the browser test ${RUN}`;

  await t.test('publishes a message through the page', async () => {
    const form = panel('Publish a message');
    await form.getByLabel('Payload').fill(payload);
    await form.getByLabel('Headers (JSON)').fill('{"x-test": "www"}');
    await form.getByRole('button', { name: 'Publish message' }).click();
    await form.getByText('Message published and routed.').waitFor();
  });

  await t.test('gets the message through the page', async () => {
    const form = panel('Get messages');
    await form.getByRole('button', { name: 'Get messages' }).click();
    await form.getByText('Got 1 message.').waitFor();
    await form.locator('pre.payload', { hasText: payload }).waitFor();
  });

  await t.test('browses the queue (Tern only)', async (st) => {
    const box = panel('Browse messages');
    await box.locator('table, .note').first().waitFor();
    if (await box.locator('.note', { hasText: 'Not available on this broker' }).count()) {
      st.skip('the broker has no /api/tern (RabbitMQ)');
      return;
    }
    ternAvailable = true;
    await box.getByRole('button', { name: 'Reload' }).click();
    await box.locator('pre.payload', { hasText: payload }).waitFor();
  });

  await t.test('moves the message to a second queue (Tern only)', async (st) => {
    if (!ternAvailable) {
      st.skip('the broker has no /api/tern (RabbitMQ)');
      return;
    }
    const form = panel('Move messages');
    await form.getByLabel('Destination queue').fill(QB);
    await form.getByRole('button', { name: 'Move messages' }).click();
    await form.getByText('Moved 1 message to').waitFor();
    const b = await apiCall('GET', `/api/queues/${enc(VHOST)}/${enc(QB)}`);
    // Queue counters in the API lag a moment behind; the move's own answer is checked above.
    assert.ok(b, 'destination queue exists');
    // Put one back so the purge step has something to purge.
    await panel('Publish a message').getByRole('button', { name: 'Publish message' }).click();
  });

  await t.test('purges the queue', async () => {
    await panel('Purge or delete').getByRole('button', { name: 'Purge messages' }).click();
    const dlg = page.getByRole('dialog');
    await dlg.getByRole('button', { name: 'Purge' }).click();
    await panel('Purge or delete').getByText('Queue purged.').waitFor();
    const got = await apiCall('POST', `/api/queues/${enc(VHOST)}/${enc(QA)}/get`, { count: 1, ackmode: 'ack_requeue_true', encoding: 'auto' });
    assert.deepEqual(got, [], 'the queue is empty after the purge');
    await page.waitForTimeout(5500); // one more refresh for the chart and the counters
    await shot('queue');
  });

  await t.test('exchanges, connections, channels render', async () => {
    await go('#/exchanges', 'Exchanges');
    await page.getByRole('link', { name: 'amq.direct' }).first().waitFor();
    await shot('exchanges');
    await go(`#/exchanges/${enc(VHOST)}/amq.direct`, 'Exchange amq.direct');
    await shot('exchange');
    await go('#/connections', 'Connections');
    await shot('connections');
    await go('#/channels', 'Channels');
    await shot('channels');
  });

  await t.test('uploads a definitions file and sees its vhost', async () => {
    await go('#/admin/definitions', 'Admin');
    const defs = {
      vhosts: [{ name: DEF_VHOST }],
      permissions: [{ user: USER, vhost: DEF_VHOST, configure: '.*', write: '.*', read: '.*' }],
      queues: [{ name: 'imported', vhost: DEF_VHOST, durable: true, auto_delete: false, arguments: {} }],
    };
    await page.getByLabel('Definitions file (JSON)').setInputFiles({ name: 'small-definitions.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(defs)) });
    await page.getByRole('button', { name: 'Upload definitions' }).click();
    await page.getByText('Imported small-definitions.json').waitFor();
    await shot('admin-definitions');
    await page.getByRole('link', { name: 'See the virtual hosts' }).click();
    await page.getByRole('cell', { name: DEF_VHOST, exact: true }).waitFor();
    await shot('admin-vhosts');
    // The header's vhost filter learned about it too.
    await page.locator(`#vhost-filter option[value="${DEF_VHOST}"]`).waitFor({ state: 'attached' });
    for (const tab of ['users', 'permissions', 'policies', 'limits']) {
      await go(`#/admin/${tab}`, 'Admin');
      await shot(`admin-${tab}`);
    }
  });

  // The Tern panels against the documented /api/tern shapes, answered inside
  // the browser (page.route), so they are exercised on any broker. This
  // checks the page's side of the contract: the requests it sends and what
  // it shows for the answers. It is not a test of Tern's server.
  await t.test('Tern panels with stubbed /api/tern answers', async () => {
    const seen = [];
    const json = (route, status, body) => route.fulfill({ status, contentType: 'application/json', body: body === undefined ? '' : JSON.stringify(body) });
    const DX = `www-delayed-${RUN}`;
    await page.route('**/api/tern/**', (route) => {
      const req = route.request();
      const u = new URL(req.url());
      seen.push({ method: req.method(), path: u.pathname, search: u.search, body: req.postData() });
      const qa = `/api/tern/queues/${enc(VHOST)}/${enc(QA)}`;
      if (req.method() === 'GET' && u.pathname === `${qa}/messages`)
        return json(route, 200, {
          total: 2,
          offset: 0,
          messages: [
            { position: 0, id: 17, exchange: '', routing_key: QA, redelivered: false, delivery_count: 0, payload: '{"order": 42}', payload_bytes: 13, payload_encoding: 'string', properties: { content_type: 'application/json', headers: { 'x-death': [{ queue: 'orders', count: 1 }] } } },
            { position: 1, id: 18, exchange: 'amq.direct', routing_key: 'k', redelivered: true, delivery_count: 2, payload: 'AAECAw==', payload_bytes: 4, payload_encoding: 'base64', properties: {} },
          ],
        });
      if (req.method() === 'DELETE' && u.pathname === `${qa}/messages/17`) return route.fulfill({ status: 204 });
      if (req.method() === 'POST' && u.pathname === `${qa}/move`) return json(route, 200, { moved: 2 });
      if (req.method() === 'POST' && u.pathname === `${qa}/redrive`) return json(route, 200, { moved: 3, skipped: 1 });
      if (req.method() === 'GET' && u.pathname === `${qa}/unacked`)
        return json(route, 200, [{ id: 19, connection: '127.0.0.1:5555 -> 127.0.0.1:5672', channel: 1, consumer_tag: 'ctag-1', delivery_tag: 3, held_ms: 83000 }]);
      const dx = `/api/tern/exchanges/${enc(VHOST)}/${enc(DX)}/delayed`;
      if (req.method() === 'GET' && u.pathname === dx)
        return json(route, 200, {
          total: 2,
          messages: [
            { id: 5, due: '2026-12-01T10:00:00Z', due_in_ms: 1200, routing_key: 'later', payload: 'tick', payload_encoding: 'string', payload_bytes: 4 },
            { id: 6, due: '2026-12-01T11:00:00Z', due_in_ms: 3601200, routing_key: 'later', payload: 'tock', payload_encoding: 'string', payload_bytes: 4 },
          ],
        });
      if (req.method() === 'DELETE' && u.pathname === `${dx}/5`) return route.fulfill({ status: 204 });
      return json(route, 404, { error: 'Object Not Found', reason: 'Not Found' });
    });
    // An x-delayed-message exchange, which RabbitMQ without its plugin cannot declare.
    await page.route(`**/api/exchanges/${enc(VHOST)}/${DX}`, (route) =>
      json(route, 200, { name: DX, vhost: VHOST, type: 'x-delayed-message', durable: true, auto_delete: false, internal: false, arguments: { 'x-delayed-type': 'direct' } }),
    );
    await page.route(`**/api/exchanges/${enc(VHOST)}/${DX}/bindings/source`, (route) => json(route, 200, []));
    try {
      // A reload forgets that this broker lacked the extras.
      await page.goto(`${base}/#/queues/${enc(VHOST)}/${enc(QA)}`);
      await page.getByRole('heading', { level: 1, name: `Queue ${QA}` }).waitFor();
      const browse = panel('Browse messages');
      await browse.locator('pre.payload', { hasText: '{"order": 42}' }).waitFor();
      await browse.getByText('shown as base64').waitFor();
      await browse.getByText('Messages 1–2 of 2 ready').waitFor();
      await panel('Unacknowledged messages').getByRole('link', { name: '127.0.0.1:5555 -> 127.0.0.1:5672' }).waitFor();
      await panel('Unacknowledged messages').getByRole('cell', { name: '1m 23s' }).waitFor();

      await browse.getByRole('row', { name: /17/ }).getByRole('button', { name: 'Delete' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Delete message' }).click();
      await browse.getByText('Deleted message 17.').waitFor();

      const move = panel('Move messages');
      await move.getByLabel('Destination queue').fill(QB);
      await move.getByLabel('How many (empty = all)').fill('2');
      await move.getByLabel('How many (empty = all)').press('Enter');
      await move.getByText('Moved 2 messages to').waitFor();

      const redrive = panel('Redrive dead letters');
      await redrive.getByRole('button', { name: 'Redrive' }).click();
      await redrive.getByText('Sent back 3; skipped 1').waitFor();
      await page.keyboard.press('Tab'); // a visible focus ring in the picture
      await shot('queue-tern-stubbed');

      await go(`#/exchanges/${enc(VHOST)}/${DX}`, `Exchange ${DX}`);
      const delayed = panel('Delayed messages');
      await delayed.getByText('1–2 of 2 waiting').waitFor();
      await delayed.getByRole('cell', { name: '1h 0m' }).waitFor();
      await delayed.getByRole('row', { name: /tick/ }).getByRole('button', { name: 'Cancel' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Cancel message' }).click();
      await delayed.getByText('Cancelled message 5.').waitFor();
      await shot('exchange-delayed-stubbed');
    } finally {
      await page.unrouteAll();
    }
    const has = (method, suffix, check = () => true) => seen.some((r) => r.method === method && r.path.endsWith(suffix) && check(r));
    assert.ok(has('GET', `/${enc(QA)}/messages`, (r) => /offset=0/.test(r.search) && /count=50/.test(r.search) && /truncate=2048/.test(r.search)), 'browse asks offset, count, truncate');
    assert.ok(has('DELETE', `/${enc(QA)}/messages/17`), 'delete one message');
    assert.ok(has('POST', `/${enc(QA)}/move`, (r) => JSON.stringify(JSON.parse(r.body)) === JSON.stringify({ destination: QB, count: 2 })), 'move body');
    assert.ok(has('POST', `/${enc(QA)}/redrive`, (r) => r.body === '{}'), 'redrive body');
    assert.ok(has('GET', `/${enc(QA)}/unacked`), 'unacked');
    assert.ok(has('DELETE', `/${DX}/delayed/5`), 'cancel a delayed message');
  });

  await t.test('a 401 during a refresh returns to the login form', async () => {
    await go('#/queues', 'Queues');
    expectedFailures.push(/\/api\//);
    // As if the password had been changed under a logged-in page.
    await page.evaluate(() => sessionStorage.setItem('tern.auth', JSON.stringify({ user: 'guest', token: btoa('guest:changed-meanwhile') })));
    await page.locator('.login-error', { hasText: 'Logged out: HTTP 401' }).waitFor({ timeout: 8000 });
    assert.equal(await page.locator('#top').isHidden(), true, 'the nav bar is hidden on the login form');
    expectedFailures.pop();
  });

  await t.test('no page errors, no console errors', () => {
    assert.deepEqual(problems, []);
  });
});

#!/usr/bin/env node
// Drives Tern (or any AMQP 0-9-1 broker) with the unmodified amqplib
// client's promise API, as an application would:
//
//   npm ci && node test.js amqp://guest:guest@127.0.0.1:5672/ [NAME-PREFIX]
//
// The queue and exchange it declares are NAME-PREFIX-q and NAME-PREFIX-x
// (default prefix tern-node-amqplib-RANDOM); it deletes them at the end.
// Prints one "step NAME: ok ..." line per step and exits 0, or prints
// "FAIL NAME: why" and exits 1 at the first mismatch (2 when the whole run
// takes longer than its 60 s watchdog). The same steps as ../go/main.go;
// tests/integration/test_other_clients.py runs it and checks the lines.
'use strict';

const crypto = require('node:crypto');
const amqp = require('amqplib');

const WAIT_MS = 5000; // for any one thing the broker should send
const QUIET_MS = 300;
const PREFETCH = 2;
const N_MSGS = 5;
const BIG_SIZE = 1 << 20;

let step = 'start';
let finished = false;

class Failure extends Error {}

function ok(text) {
  console.log(`step ${step}: ok ${text}`);
}

function fail(text) {
  throw new Failure(text);
}

function check(cond, text) {
  if (!cond) fail(text);
}

function withTimeout(promise, what, ms = WAIT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Failure(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Deliveries of one consumer, in order, for awaiting one at a time.
class Inbox {
  constructor() {
    this.items = [];
    this.waiters = [];
  }

  push(msg) {
    const w = this.waiters.shift();
    if (w) w(msg);
    else this.items.push(msg);
  }

  next(what = 'delivery') {
    if (this.items.length) return Promise.resolve(this.items.shift());
    return withTimeout(
      new Promise((resolve) => this.waiters.push(resolve)),
      what,
    );
  }

  async none(why) {
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    if (this.items.length) {
      const m = this.items[0];
      fail(`unexpected delivery ${m ? m.properties.messageId : '(consumer cancelled)'} (${why})`);
    }
  }
}

// Publish on a confirm channel; the promise settles with the broker's ack
// (resolves) or nack (rejects).
function publishConfirmed(ch, exchange, key, body, options) {
  return new Promise((resolve, reject) => {
    ch.publish(exchange, key, body, options, (err) => {
      if (err) reject(new Failure(`publish ${options.messageId} nacked: ${err.message}`));
      else resolve();
    });
  });
}

function once(emitter, event, what) {
  return withTimeout(new Promise((resolve) => emitter.once(event, resolve)), what);
}

async function main(url, prefix) {
  const base = prefix || `tern-node-amqplib-${crypto.randomBytes(6).toString('hex')}`;
  const qname = `${base}-q`;
  const xname = `${base}-x`;
  const key = 'to-q';

  step = 'connect';
  const conn = await withTimeout(
    amqp.connect(url, { clientProperties: { connection_name: 'tern amqplib check' } }),
    `connect to ${url}`,
  );
  const connErrors = [];
  conn.on('error', (e) => connErrors.push(e));
  let connClose = null;
  conn.on('close', (e) => {
    connClose = { error: e };
  });
  const sp = conn.connection.serverProperties || {};
  ok(`server ${sp.product} ${sp.version}`);

  step = 'channel';
  const ch = await withTimeout(conn.createConfirmChannel(), 'channel.open + confirm.select');
  const chErrors = [];
  ch.on('error', (e) => chErrors.push(e));
  const returns = new Inbox();
  ch.on('return', (msg) => returns.push(msg));
  ok('confirm channel open');

  step = 'declare';
  const q = await withTimeout(ch.assertQueue(qname, { durable: false }), 'queue.declare');
  check(
    q.queue === qname && q.messageCount === 0 && q.consumerCount === 0,
    `queue.declare-ok ${JSON.stringify(q)}, want ${qname} with 0 messages and 0 consumers`,
  );
  await withTimeout(ch.assertExchange(xname, 'direct', { durable: false }), 'exchange.declare');
  await withTimeout(ch.bindQueue(qname, xname, key), 'queue.bind');
  ok(`queue ${qname}, direct exchange ${xname}, bound with key ${key}`);

  step = 'confirm-publish';
  const acks = [];
  for (let i = 1; i <= N_MSGS; i++) {
    acks.push(
      publishConfirmed(ch, xname, key, Buffer.from(`message ${i}`), {
        messageId: `m${i}`,
        contentType: 'text/plain',
      }),
    );
  }
  await withTimeout(Promise.all(acks), 'publisher confirms');
  await withTimeout(ch.waitForConfirms(), 'waitForConfirms');
  const q2 = await withTimeout(ch.checkQueue(qname), 'passive queue.declare');
  check(q2.messageCount === N_MSGS, `queue holds ${q2.messageCount} messages after ${N_MSGS} confirmed publishes`);
  ok(`${N_MSGS} publishes acked, queue holds ${q2.messageCount}`);

  step = 'qos';
  await withTimeout(ch.prefetch(PREFETCH), 'basic.qos');
  ok(`prefetch count ${PREFETCH}`);

  step = 'consume';
  const inbox = new Inbox();
  const consumer = await withTimeout(
    ch.consume(qname, (msg) => inbox.push(msg), { noAck: false, consumerTag: 'node-consumer' }),
    'basic.consume',
  );
  check(consumer.consumerTag === 'node-consumer', `consume-ok tag ${consumer.consumerTag}`);
  const first = [await inbox.next(), await inbox.next()];
  first.forEach((m, i) => {
    check(m !== null, 'consumer cancelled by the broker');
    const f = m.fields;
    check(
      m.properties.messageId === `m${i + 1}` &&
        !f.redelivered &&
        m.content.toString() === `message ${i + 1}` &&
        f.consumerTag === 'node-consumer' &&
        f.exchange === xname &&
        f.routingKey === key,
      `delivery ${i}: ${JSON.stringify(f)} id ${m.properties.messageId} body ${m.content}, want m${i + 1}`,
    );
  });
  await inbox.none(`prefetch ${PREFETCH} with ${PREFETCH} unacked`);
  ok(`got m1 m2 (manual ack), no third delivery while ${PREFETCH} are unacked`);

  step = 'nack-requeue';
  ch.nack(first[0], false, true);
  ch.ack(first[1]);
  const seen = new Map();
  while (seen.size < N_MSGS - 1) {
    // m1 again, m3, m4, m5
    const m = await inbox.next();
    check(m !== null, 'consumer cancelled by the broker');
    const id = m.properties.messageId;
    check(!seen.has(id) && id !== 'm2', `delivery ${id} came twice`);
    seen.set(id, m);
    ch.ack(m);
  }
  const again = seen.get('m1');
  check(
    again && again.fields.redelivered === true && again.content.toString() === 'message 1',
    `nacked m1 not redelivered with redelivered=true (${again ? JSON.stringify(again.fields) : 'missing'})`,
  );
  for (const id of ['m3', 'm4', 'm5']) {
    check(seen.has(id) && !seen.get(id).fields.redelivered, `${id} missing or marked redelivered`);
  }
  await inbox.none('all acked');
  ok('m1 nacked with requeue came back with redelivered=true; m3..m5 acked');

  step = 'mandatory-return';
  const returnedAck = publishConfirmed(ch, xname, 'no-such-key', Buffer.from('unroutable'), {
    messageId: 'r1',
    mandatory: true,
  });
  const r = await returns.next('basic.return');
  check(
    r.fields.replyCode === 312 &&
      r.fields.replyText === 'NO_ROUTE' &&
      r.fields.exchange === xname &&
      r.fields.routingKey === 'no-such-key' &&
      r.content.toString() === 'unroutable' &&
      r.properties.messageId === 'r1',
    `basic.return ${JSON.stringify(r.fields)} id ${r.properties.messageId} body ${r.content}, want 312 NO_ROUTE`,
  );
  await withTimeout(returnedAck, 'confirm of the returned publish');
  ok('return event 312 NO_ROUTE, then the publish acked');

  step = 'large-message';
  const big = crypto.randomBytes(BIG_SIZE);
  await withTimeout(publishConfirmed(ch, xname, key, big, { messageId: 'big' }), 'confirm of 1 MiB');
  const bm = await inbox.next('1 MiB delivery');
  check(
    bm && bm.properties.messageId === 'big' && bm.content.equals(big),
    `1 MiB message came back as ${bm && bm.properties.messageId} with ${bm && bm.content.length} bytes`,
  );
  ch.ack(bm);
  ok(`${bm.content.length} bytes round trip intact`);

  step = 'passive-404';
  const ch2 = await withTimeout(conn.createChannel(), 'second channel.open');
  const ch2Errors = [];
  ch2.on('error', (e) => ch2Errors.push(e));
  const ch2Closed = once(ch2, 'close', 'channel close event');
  let err = null;
  try {
    await withTimeout(ch2.checkQueue(`${base}-missing`), 'passive declare of a missing queue');
  } catch (e) {
    err = e;
  }
  check(err !== null && !(err instanceof Failure), `checkQueue of a missing queue: ${err ? err.message : 'succeeded'}`);
  check(
    err.code === 404 && err.classId === 50 && err.methodId === 10,
    `checkQueue error code ${err.code} class ${err.classId} method ${err.methodId} (${err.message}), want 404 on queue.declare (50/10)`,
  );
  await ch2Closed;
  check(
    ch2Errors.length === 1 && ch2Errors[0].code === 404,
    `channel error events ${JSON.stringify(ch2Errors.map((e) => e.message))}, want one 404`,
  );
  let closedOp = null;
  try {
    await ch2.checkQueue(qname);
  } catch (e) {
    closedOp = e;
  }
  check(closedOp !== null, 'operation on the channel closed by a 404 succeeded');
  await withTimeout(ch.checkQueue(qname), "first channel after the other's 404");
  ok(`error code 404 (${err.message}), that channel closed, the other still works`);

  step = 'cleanup';
  const cancelOk = await withTimeout(ch.cancel('node-consumer'), 'basic.cancel');
  check(cancelOk.consumerTag === 'node-consumer', `cancel-ok ${JSON.stringify(cancelOk)}`);
  const del = await withTimeout(ch.deleteQueue(qname), 'queue.delete');
  check(del.messageCount === 0, `queue.delete-ok says ${del.messageCount} messages left`);
  await withTimeout(ch.deleteExchange(xname), 'exchange.delete');
  await withTimeout(ch.close(), 'channel.close');
  check(chErrors.length === 0, `channel errors: ${chErrors.map((e) => e.message)}`);
  ok('consumer cancelled, queue (0 messages) and exchange deleted, channel closed');

  step = 'close';
  await withTimeout(conn.close(), 'connection.close');
  ok('connection.close answered by close-ok');

  step = 'close-notify';
  await new Promise((resolve) => setImmediate(resolve));
  check(connClose !== null, 'no close event after connection.close');
  check(connClose.error === undefined, `close event with an error: ${connClose.error}`);
  check(connErrors.length === 0, `connection errors: ${connErrors.map((e) => e.message)}`);
  ok('close event without an error, no error events');
  finished = true;
  console.log('all steps passed');
}

if (process.argv.length !== 3 && process.argv.length !== 4) {
  console.error('usage: node test.js AMQP-URL [NAME-PREFIX]');
  process.exit(2);
}
const watchdog = setTimeout(() => {
  console.log(`FAIL ${step}: the whole run took longer than 60 s`);
  process.exit(2);
}, 60000);
watchdog.unref();
process.on('exit', (code) => {
  if (!finished && code === 0) {
    // the event loop ran dry with a promise still pending
    console.log(`FAIL ${step}: stopped with nothing left to wait for`);
    process.exitCode = 1;
  }
});
main(process.argv[2], process.argv[3]).then(
  () => process.exit(0),
  (e) => {
    console.log(`FAIL ${step}: ${e instanceof Failure ? e.message : e && e.stack ? e.stack : e}`);
    process.exit(1);
  },
);

<?php
// Drives Tern (or any AMQP 0-9-1 broker) with the unmodified php-amqp
// extension (Debian's php-amqp, on librabbitmq), as a PHP application would:
//
//   php test.php amqp://guest:guest@127.0.0.1:5672/%2F [NAME-PREFIX]
//
// The queue and exchange it declares are NAME-PREFIX-q and NAME-PREFIX-x
// (default prefix tern-php-amqp-RANDOM), the RPC server queue
// NAME-PREFIX-rpc; it deletes them at the end. Prints one "step NAME: ok ..."
// line per step and exits 0, or prints "FAIL NAME: why" and exits 1 at the
// first mismatch (2 when the whole run takes longer than its 60 s watchdog).
// The same steps as ../go/main.go, with these differences:
//  - connect names host, port and vhost instead of the server's product:
//    php-amqp does not expose the server properties;
//  - no close-notify: php-amqp has no close listener;
//  - rpc: request and reply over direct reply-to (amq.rabbitmq.reply-to).
//    php-amqp has no RPC helper, so it is done as RabbitMQ's docs describe;
//    one consume() loop serves both consumers, as the extension dispatches
//    every delivery on the connection to the callback with its own queue.
//    It comes last, on a connection of its own, so that a broker without
//    direct reply-to fails that step alone.
// tests/integration/test_other_clients.py runs it and checks the lines.

const WAIT = 5.0; // seconds, for any one thing the broker should send
const QUIET = 0.3;
const PREFETCH = 2;
const N_MSGS = 5;
const BIG_SIZE = 1 << 20;
const REPLY_TO = 'amq.rabbitmq.reply-to';

$step = 'start';

class Failure extends Exception {}

function ok($text) {
    global $step;
    echo "step $step: ok $text\n";
}

function check($cond, $text) {
    if (!$cond) {
        throw new Failure($text);
    }
}

// Connection settings from an AMQP URI (amqp://user:pass@host:port/vhost).
function credentials($url, $name) {
    $u = parse_url($url);
    check($u !== false && ($u['scheme'] ?? '') === 'amqp', "not an amqp:// URL: $url");
    return [
        'host' => $u['host'] ?? 'localhost',
        'port' => $u['port'] ?? 5672,
        'vhost' => isset($u['path']) ? rawurldecode(substr($u['path'], 1)) : '/',
        'login' => rawurldecode($u['user'] ?? 'guest'),
        'password' => rawurldecode($u['pass'] ?? 'guest'),
        'heartbeat' => 10,
        'connect_timeout' => WAIT,
        'read_timeout' => WAIT,
        'write_timeout' => WAIT,
        'rpc_timeout' => WAIT,
        'connection_name' => $name,
    ];
}

function connect($url, $name) {
    $conn = new AMQPConnection(credentials($url, $name));
    $conn->connect();
    check($conn->isConnected(), "not connected to $url");
    return $conn;
}

// Publisher confirms of one channel. The callbacks stay set: consume()
// also hands them a basic.ack that arrives while it waits for a delivery.
class Confirms {
    public $acked = [];
    public $nacked = [];
    private $want = [];
    private $ch;

    function __construct(AMQPChannel $ch) {
        $this->ch = $ch;
        $ch->setConfirmCallback(
            function ($tag, $multiple) {
                for ($t = $multiple ? 1 : $tag; $t <= $tag; $t++) {
                    $this->acked[$t] = true;
                }
                return (bool)$this->missing(); // false stops waitForConfirm()
            },
            function ($tag, $multiple, $requeue) {
                $this->nacked[] = $tag;
                return false;
            }
        );
    }

    function missing() {
        return array_values(array_filter($this->want, function ($t) { return !isset($this->acked[$t]); }));
    }

    // Waits until each of $tags (delivery tags) is acked.
    function wait(array $tags, $what) {
        $this->want = $tags;
        if ($this->missing() && !$this->nacked) {
            try {
                $this->ch->waitForConfirm(WAIT);
            } catch (AMQPException $e) {
                throw new Failure("$what: " . get_class($e) . " {$e->getMessage()}, acked " .
                    json_encode(array_keys($this->acked)));
            }
        }
        check(!$this->nacked, "$what: nacked " . json_encode($this->nacked));
        check(!$this->missing(), "$what: no ack for " . json_encode($this->missing()));
    }
}

// Up to $n deliveries (for $timeout seconds) from the consumers on the
// connection, as [envelope, queue] pairs. A read timeout ends the wait
// (AMQPQueueException "Consumer timeout exceed") and leaves the connection usable.
function deliveries(AMQPQueue $q, $n, $timeout = WAIT) {
    $got = [];
    $conn = $q->getConnection();
    $conn->setReadTimeout($timeout);
    try {
        // JUST_CONSUME: wait for deliveries to the consumers there are, start none
        $q->consume(function (AMQPEnvelope $env, AMQPQueue $from) use (&$got, $n) {
            $got[] = [$env, $from];
            return count($got) < $n; // false stops consume()
        }, AMQP_JUST_CONSUME);
    } catch (AMQPQueueException $e) {
        check(stripos($e->getMessage(), 'timeout') !== false,
            "consume: {$e->getMessage()} (code {$e->getCode()})");
    } finally {
        $conn->setReadTimeout(WAIT);
    }
    return $got;
}

function next_delivery(AMQPQueue $q, $what = 'delivery') {
    $got = deliveries($q, 1);
    check(count($got) === 1, "$what: nothing within " . WAIT . ' s');
    return $got[0][0];
}

function none(AMQPQueue $q, $why) {
    $got = deliveries($q, 1, QUIET);
    check(!$got, $got ? "unexpected delivery {$got[0][0]->getMessageId()} ($why)" : '');
}

function main($url, $base) {
    global $step;
    $qname = "$base-q";
    $xname = "$base-x";
    $key = 'to-q';

    $step = 'connect';
    $conn = connect($url, 'tern php-amqp check');
    ok(sprintf('%s:%d vhost %s, heartbeat %d, frame max %d, php-amqp %s', $conn->getHost(),
        $conn->getPort(), $conn->getVhost(), $conn->getHeartbeatInterval(),
        $conn->getMaxFrameSize(), phpversion('amqp')));

    $step = 'channel';
    $ch = new AMQPChannel($conn);
    check($ch->isConnected(), 'channel not open');
    ok("channel {$ch->getChannelId()} open");

    $step = 'declare';
    $q = new AMQPQueue($ch);
    $q->setName($qname);
    $q->setFlags(AMQP_NOPARAM);
    $n = $q->declareQueue();
    check($n === 0, "queue.declare-ok says $n messages, want 0");
    $x = new AMQPExchange($ch);
    $x->setName($xname);
    $x->setType(AMQP_EX_TYPE_DIRECT);
    $x->setFlags(AMQP_NOPARAM);
    $x->declareExchange();
    $q->bind($xname, $key);
    ok("queue $qname, direct exchange $xname, bound with key $key");

    $step = 'confirm-publish';
    $returns = [];
    $ch->setReturnCallback(
        function ($code, $text, $exchange, $rkey, AMQPBasicProperties $props, $body) use (&$returns) {
            $returns[] = compact('code', 'text', 'exchange', 'rkey', 'body') + ['id' => $props->getMessageId()];
        }
    );
    $ch->confirmSelect();
    $confirms = new Confirms($ch);
    for ($i = 1; $i <= N_MSGS; $i++) {
        check($x->publish("message $i", $key, AMQP_NOPARAM,
            ['message_id' => "m$i", 'content_type' => 'text/plain']), "publish m$i");
    }
    $confirms->wait(range(1, N_MSGS), 'publisher confirms');
    $p = new AMQPQueue($ch);
    $p->setName($qname);
    $p->setFlags(AMQP_PASSIVE);
    $n = $p->declareQueue();
    check($n === N_MSGS, "queue holds $n messages after " . N_MSGS . ' confirmed publishes');
    ok(N_MSGS . ' publishes acked (tags 1..' . N_MSGS . "), queue holds $n");

    $step = 'qos';
    $ch->qos(0, PREFETCH);
    check($ch->getPrefetchCount() === PREFETCH, "prefetch count {$ch->getPrefetchCount()}");
    ok('prefetch count ' . PREFETCH);

    $step = 'consume';
    // no callback: basic.consume now, deliveries read by the consume() calls below
    $q->consume(null, AMQP_NOPARAM, 'php-consumer');
    check($q->getConsumerTag() === 'php-consumer', "consumer tag {$q->getConsumerTag()}");
    $first = [next_delivery($q), next_delivery($q)];
    foreach ($first as $i => $d) {
        $want = 'm' . ($i + 1);
        check($d->getMessageId() === $want && !$d->isRedelivery() &&
            $d->getBody() === 'message ' . ($i + 1) && $d->getConsumerTag() === 'php-consumer' &&
            $d->getExchangeName() === $xname && $d->getRoutingKey() === $key,
            sprintf('delivery %d: id %s redelivered %d body %s consumer %s exchange %s key %s, want %s',
                $i, $d->getMessageId(), $d->isRedelivery(), $d->getBody(), $d->getConsumerTag(),
                $d->getExchangeName(), $d->getRoutingKey(), $want));
    }
    none($q, sprintf('prefetch %d with %d unacked', PREFETCH, PREFETCH));
    ok(sprintf('got m1 m2 (manual ack), no third delivery while %d are unacked', PREFETCH));

    $step = 'nack-requeue';
    $q->nack($first[0]->getDeliveryTag(), AMQP_REQUEUE);
    $q->ack($first[1]->getDeliveryTag());
    $seen = [];
    while (count($seen) < N_MSGS - 1) { // m1 again, m3, m4, m5
        $d = next_delivery($q);
        $id = $d->getMessageId();
        check(!isset($seen[$id]) && $id !== 'm2', "delivery $id came twice");
        $seen[$id] = $d;
        $q->ack($d->getDeliveryTag());
    }
    $again = $seen['m1'] ?? null;
    check($again && $again->isRedelivery() && $again->getBody() === 'message 1',
        'nacked m1 not redelivered with redelivered=true');
    foreach (['m3', 'm4', 'm5'] as $id) {
        check(isset($seen[$id]) && !$seen[$id]->isRedelivery(), "$id missing or marked redelivered");
    }
    none($q, 'all acked');
    ok('m1 nacked with requeue came back with redelivered=true; m3..m5 acked');

    $step = 'mandatory-return';
    $x->publish('unroutable', 'no-such-key', AMQP_MANDATORY, ['message_id' => 'r1']);
    // a returned message is still acked; the return comes first
    $confirms->wait([N_MSGS + 1], 'confirm of the returned publish');
    check(count($returns) === 1, 'basic.returns: ' . json_encode($returns) . ', want one');
    $r = $returns[0];
    check($r['code'] === 312 && $r['text'] === 'NO_ROUTE' && $r['exchange'] === $xname &&
        $r['rkey'] === 'no-such-key' && $r['body'] === 'unroutable' && $r['id'] === 'r1',
        'basic.return ' . json_encode($r) . ', want 312 NO_ROUTE');
    ok('return callback 312 NO_ROUTE, then the publish acked');

    $step = 'large-message';
    $big = random_bytes(BIG_SIZE);
    $x->publish($big, $key, AMQP_NOPARAM, ['message_id' => 'big']);
    // the delivery first: waitForConfirm() fails on a basic.deliver
    // ("unexpected method received"), while consume() passes a basic.ack
    // that comes first to the confirm callback
    $d = next_delivery($q, '1 MiB delivery');
    $confirms->wait([N_MSGS + 2], 'confirm of 1 MiB');
    check($d->getMessageId() === 'big' && $d->getBody() === $big,
        sprintf('1 MiB message came back as %s with %d bytes', $d->getMessageId(), strlen($d->getBody())));
    $q->ack($d->getDeliveryTag());
    ok(strlen($d->getBody()) . ' bytes round trip intact');

    $step = 'passive-404';
    $ch2 = new AMQPChannel($conn);
    $missing = new AMQPQueue($ch2);
    $missing->setName("$base-missing");
    $missing->setFlags(AMQP_PASSIVE);
    $err = null;
    try {
        $missing->declareQueue();
    } catch (AMQPQueueException $e) {
        $err = $e;
    }
    check($err !== null, 'passive declare of a missing queue succeeded');
    check($err->getCode() === 404 && strpos($err->getMessage(), 'NOT_FOUND') !== false,
        "passive declare error code {$err->getCode()} ({$err->getMessage()}), want 404 NOT_FOUND");
    check(!$ch2->isConnected(), 'channel still open after a 404');
    check($p->declareQueue() === 0, "first channel's queue not empty");
    ok("AMQPQueueException 404 ({$err->getMessage()}), that channel closed, the other still works");

    $step = 'cleanup';
    $q->cancel('php-consumer');
    check(!$ch->getConsumers(), 'consumers left after basic.cancel: ' . json_encode(array_keys($ch->getConsumers())));
    $n = $q->delete();
    check($n === 0, "queue.delete-ok says $n messages left");
    $x->delete();
    $ch->close();
    check(!$ch->isConnected(), 'channel not closed');
    ok('consumer cancelled, queue (0 messages) and exchange deleted, channel closed');

    $step = 'close';
    check($conn->disconnect(), 'connection.close');
    check(!$conn->isConnected(), 'connection not closed after disconnect');
    ok('connection.close answered by close-ok');

    $step = 'rpc';
    rpc($url, "$base-rpc");
    echo "all steps passed\n";
}

// A server consumes $server_queue on one channel and answers each request
// by publishing to its reply_to; the client consumes amq.rabbitmq.reply-to
// without acks on another channel and publishes the request from there.
function rpc($url, $server_queue) {
    $conn = connect($url, 'tern php-amqp rpc check');
    $server_ch = new AMQPChannel($conn);
    $sq = new AMQPQueue($server_ch);
    $sq->setName($server_queue);
    $sq->setFlags(AMQP_AUTODELETE);
    $sq->declareQueue();
    $sq->consume(null, AMQP_NOPARAM, 'rpc-server');
    $server_x = new AMQPExchange($server_ch); // the default exchange

    $client_ch = new AMQPChannel($conn);
    $rq = new AMQPQueue($client_ch);
    $rq->setName(REPLY_TO); // consumed, never declared
    $rq->consume(null, AMQP_AUTOACK, 'rpc-client');
    $client_x = new AMQPExchange($client_ch);
    $client_x->publish('ping', $server_queue, AMQP_NOPARAM,
        ['reply_to' => REPLY_TO, 'correlation_id' => 'c1']);

    $to = null;
    $reply = null;
    $conn->setReadTimeout(WAIT);
    try {
        $sq->consume(function (AMQPEnvelope $env, AMQPQueue $from) use (&$to, &$reply, $server_x, $sq) {
            if ($from->getConsumerTag() === 'rpc-server') {
                $to = $env->getReplyTo();
                $server_x->publish('reply to ' . $env->getBody(), $to, AMQP_NOPARAM,
                    ['correlation_id' => $env->getCorrelationId()]);
                $sq->ack($env->getDeliveryTag());
                return true;
            }
            $reply = $env;
            return false;
        }, AMQP_JUST_CONSUME);
    } catch (AMQPQueueException $e) {
        throw new Failure(($to === null ? 'the request at the server' : 'the reply') .
            ": {$e->getMessage()}");
    }
    check($to !== null && strpos($to, REPLY_TO . '.') === 0 && strlen($to) > strlen(REPLY_TO) + 1,
        'the server saw reply_to ' . json_encode($to) . ', want ' . REPLY_TO . '.SOMETHING');
    check($reply->getBody() === 'reply to ping' && $reply->getCorrelationId() === 'c1' &&
        $reply->getRoutingKey() === $to,
        sprintf('reply %s correlation %s routing key %s', json_encode($reply->getBody()),
            $reply->getCorrelationId(), $reply->getRoutingKey()));
    none($rq, 'one request, one reply');
    $sq->delete();
    $conn->disconnect();
    ok(sprintf('request routed with reply_to %s..., reply came back to the client', substr($to, 0, 32)));
}

if ($argc < 2 || $argc > 3) {
    fwrite(STDERR, "usage: php test.php AMQP-URL [NAME-PREFIX]\n");
    exit(2);
}
if (!extension_loaded('amqp')) {
    echo "FAIL start: the amqp extension is not loaded (Debian package php-amqp)\n";
    exit(1);
}
// The watchdog: SIGALRM interrupts even a blocking read.
pcntl_async_signals(true);
pcntl_signal(SIGALRM, function () {
    global $step;
    echo "FAIL $step: the whole run took longer than 60 s\n";
    exit(2);
});
pcntl_alarm(60);
try {
    main($argv[1], $argv[2] ?? 'tern-php-amqp-' . bin2hex(random_bytes(6)));
} catch (Failure $e) {
    echo "FAIL $step: {$e->getMessage()}\n";
    exit(1);
} catch (Throwable $e) {
    echo "FAIL $step: " . get_class($e) . " {$e->getMessage()} (code {$e->getCode()})\n";
    exit(1);
}
exit(0);

#!/usr/bin/ruby
# Drives Tern (or any AMQP 0-9-1 broker) with the unmodified Bunny client
# (Debian's ruby-bunny), as an application would:
#
#   ruby test.rb amqp://guest:guest@127.0.0.1:5672/ [NAME-PREFIX]
#
# The queue and exchange it declares are NAME-PREFIX-q and NAME-PREFIX-x
# (default prefix tern-ruby-bunny-RANDOM), the RPC server queue
# NAME-PREFIX-rpc; it deletes them at the end. Prints one "step NAME: ok ..."
# line per step and exits 0, or prints "FAIL NAME: why" and exits 1 at the
# first mismatch (2 when the whole run takes longer than its 60 s watchdog).
# The same steps as ../go/main.go, without close-notify (Bunny has no
# close listener that reports a graceful close), plus rpc: request and reply
# over direct reply-to (amq.rabbitmq.reply-to). Bunny has no RPC helper, so
# it is done as RabbitMQ's docs describe. rpc comes last, on a connection of
# its own, so that a broker without direct reply-to fails that step alone.
# tests/integration/test_other_clients.py runs it and checks the lines.
require "bunny"
require "securerandom"

WAIT = 5.0 # seconds, for any one thing the broker should send
QUIET = 0.3
PREFETCH = 2
N_MSGS = 5
BIG_SIZE = 1 << 20
REPLY_TO = "amq.rabbitmq.reply-to"

$stdout.sync = true
$step = "start"

class Failure < StandardError; end

def ok(text)
  puts "step #{$step}: ok #{text}"
end

def fail!(text)
  raise Failure, text
end

def check(cond, text)
  fail!(text) unless cond
end

# Things a consumer thread hands over, in order, awaited one at a time.
class Inbox
  def initialize
    @items = []
    @lock = Mutex.new
    @cond = ConditionVariable.new
  end

  def push(item)
    @lock.synchronize do
      @items << item
      @cond.signal
    end
  end

  def next(what = "delivery")
    deadline = now + WAIT
    @lock.synchronize do
      while @items.empty?
        left = deadline - now
        fail!("#{what}: nothing within #{WAIT} s") if left <= 0
        @cond.wait(@lock, left)
      end
      @items.shift
    end
  end

  def none(why)
    sleep QUIET
    @lock.synchronize do
      fail!("unexpected delivery #{@items.first[:props].message_id} (#{why})") unless @items.empty?
    end
  end

  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end
end

def connect(url, name)
  Bunny.new(url, heartbeat: 10, connection_name: name, log_file: $stderr,
                 automatically_recover: false, continuation_timeout: (WAIT * 1000).to_i,
                 connection_timeout: WAIT).tap(&:start)
end

def wait_confirms(ch, what)
  check(ch.wait_for_confirms, "#{what}: a publish was nacked (#{ch.nacked_set.to_a})")
  check(ch.unconfirmed_set.empty?, "#{what}: unconfirmed #{ch.unconfirmed_set.to_a}")
end

def main(url, base)
  qname = "#{base}-q"
  xname = "#{base}-x"
  key = "to-q"

  $step = "connect"
  conn = connect(url, "tern bunny check")
  sp = conn.server_properties
  ok("server #{sp['product']} #{sp['version']}, bunny #{Bunny::VERSION}")

  $step = "channel"
  ch = conn.create_channel
  check(ch.open?, "channel not open")
  ok("channel #{ch.id} open")

  $step = "declare"
  q = ch.queue(qname, durable: false)
  check(q.name == qname && q.message_count.zero? && q.consumer_count.zero?,
        "queue #{q.name} holds #{q.message_count} messages, #{q.consumer_count} consumers")
  x = ch.direct(xname, durable: false)
  q.bind(x, routing_key: key)
  ok("queue #{qname}, direct exchange #{xname}, bound with key #{key}")

  $step = "confirm-publish"
  returns = Inbox.new
  x.on_return { |info, props, body| returns.push(info: info, props: props, body: body) }
  ch.confirm_select
  (1..N_MSGS).each do |i|
    x.publish("message #{i}", routing_key: key, message_id: "m#{i}", content_type: "text/plain")
  end
  check(ch.next_publish_seq_no == N_MSGS + 1, "next publish seq no #{ch.next_publish_seq_no}")
  wait_confirms(ch, "publisher confirms")
  n = q.message_count
  check(n == N_MSGS, "queue holds #{n} messages after #{N_MSGS} confirmed publishes")
  ok("#{N_MSGS} publishes acked, queue holds #{n}")

  $step = "qos"
  ch.prefetch(PREFETCH)
  check(ch.prefetch_count == PREFETCH, "prefetch_count #{ch.prefetch_count}")
  ok("prefetch count #{PREFETCH}")

  $step = "consume"
  inbox = Inbox.new
  consumer = q.subscribe(manual_ack: true, consumer_tag: "ruby-consumer") do |info, props, body|
    inbox.push(info: info, props: props, body: body)
  end
  check(consumer.consumer_tag == "ruby-consumer", "consumer tag #{consumer.consumer_tag}")
  first = [inbox.next, inbox.next]
  first.each_with_index do |d, i|
    info = d[:info]
    check(d[:props].message_id == "m#{i + 1}" && !info.redelivered? &&
          d[:body] == "message #{i + 1}" && info.consumer_tag == "ruby-consumer" &&
          info.exchange == xname && info.routing_key == key,
          "delivery #{i}: id #{d[:props].message_id} redelivered #{info.redelivered?} body " \
          "#{d[:body]} consumer #{info.consumer_tag} exchange #{info.exchange} key " \
          "#{info.routing_key}, want m#{i + 1}")
  end
  inbox.none("prefetch #{PREFETCH} with #{PREFETCH} unacked")
  ok("got m1 m2 (manual ack), no third delivery while #{PREFETCH} are unacked")

  $step = "nack-requeue"
  ch.nack(first[0][:info].delivery_tag, false, true)
  ch.ack(first[1][:info].delivery_tag)
  seen = {}
  while seen.size < N_MSGS - 1 # m1 again, m3, m4, m5
    d = inbox.next
    id = d[:props].message_id
    check(!seen.key?(id) && id != "m2", "delivery #{id} came twice")
    seen[id] = d
    ch.ack(d[:info].delivery_tag)
  end
  again = seen["m1"]
  check(again && again[:info].redelivered? && again[:body] == "message 1",
        "nacked m1 not redelivered with redelivered=true (#{again ? again[:info].to_hash : 'missing'})")
  %w[m3 m4 m5].each do |id|
    check(seen.key?(id) && !seen[id][:info].redelivered?, "#{id} missing or marked redelivered")
  end
  inbox.none("all acked")
  ok("m1 nacked with requeue came back with redelivered=true; m3..m5 acked")

  $step = "mandatory-return"
  x.publish("unroutable", routing_key: "no-such-key", mandatory: true, message_id: "r1")
  r = returns.next("basic.return")
  info = r[:info]
  check(info.reply_code == 312 && info.reply_text == "NO_ROUTE" && info.exchange == xname &&
        info.routing_key == "no-such-key" && r[:body] == "unroutable" &&
        r[:props].message_id == "r1",
        "basic.return #{info.reply_code} #{info.reply_text} exchange #{info.exchange} key " \
        "#{info.routing_key} body #{r[:body]} id #{r[:props].message_id}, want 312 NO_ROUTE")
  wait_confirms(ch, "confirm of the returned publish") # a returned message is still acked
  ok("on_return 312 NO_ROUTE, then the publish acked")

  $step = "large-message"
  big = SecureRandom.random_bytes(BIG_SIZE)
  x.publish(big, routing_key: key, message_id: "big")
  wait_confirms(ch, "confirm of 1 MiB")
  d = inbox.next("1 MiB delivery")
  check(d[:props].message_id == "big" && d[:body].b == big,
        "1 MiB message came back as #{d[:props].message_id} with #{d[:body].bytesize} bytes")
  ch.ack(d[:info].delivery_tag)
  ok("#{d[:body].bytesize} bytes round trip intact")

  $step = "passive-404"
  ch2 = conn.create_channel
  err = nil
  begin
    ch2.queue("#{base}-missing", passive: true)
  rescue Bunny::NotFound => e
    err = e
  end
  check(!err.nil?, "passive declare of a missing queue succeeded")
  close = err.channel_close
  check(close.reply_code == 404 && close.class_id == 50 && close.method_id == 10,
        "channel.close #{close.reply_code} class #{close.class_id} method #{close.method_id} " \
        "(#{close.reply_text}), want 404 on queue.declare (50/10)")
  check(ch2.closed?, "channel still open after a 404")
  check(ch.queue(qname, passive: true).message_count.zero?, "first channel's queue not empty")
  ok("Bunny::NotFound 404 (#{close.reply_text}), that channel closed, the other still works")

  $step = "cleanup"
  consumer.cancel
  check(ch.consumers.empty?, "consumers left after basic.cancel: #{ch.consumers.keys}")
  ok_del = q.delete
  check(ok_del.message_count.zero?, "queue.delete-ok says #{ok_del.message_count} messages left")
  x.delete
  ch.close
  check(ch.closed?, "channel not closed")
  ok("consumer cancelled, queue (0 messages) and exchange deleted, channel closed")

  $step = "close"
  conn.close
  check(conn.closed?, "connection not closed after close")
  ok("connection.close answered by close-ok")

  $step = "rpc"
  rpc(url, "#{base}-rpc")
  puts "all steps passed"
end

# A server consumes NAME on one channel and answers each request by
# publishing to its reply_to; the client consumes amq.rabbitmq.reply-to
# without acks on another channel and publishes the request from there.
def rpc(url, server_queue)
  conn = connect(url, "tern bunny rpc check")
  server_ch = conn.create_channel
  sq = server_ch.queue(server_queue, durable: false, auto_delete: true)
  requests = Inbox.new
  sq.subscribe(manual_ack: true, consumer_tag: "rpc-server") do |info, props, body|
    requests.push(info: info, props: props, body: body)
    server_ch.default_exchange.publish("reply to #{body}", routing_key: props.reply_to,
                                       correlation_id: props.correlation_id)
    server_ch.ack(info.delivery_tag)
  end

  client_ch = conn.create_channel
  replies = Inbox.new
  # no_declare: the pseudo-queue is consumed, never declared
  client_ch.queue(REPLY_TO, no_declare: true).subscribe(manual_ack: false) do |info, props, body|
    replies.push(info: info, props: props, body: body)
  end
  client_ch.default_exchange.publish("ping", routing_key: server_queue, reply_to: REPLY_TO,
                                              correlation_id: "c1")
  req = requests.next("the request at the server")
  to = req[:props].reply_to.to_s
  check(to.start_with?("#{REPLY_TO}.") && to.length > REPLY_TO.length + 1,
        "the server saw reply_to #{to.inspect}, want #{REPLY_TO}.SOMETHING")
  rep = replies.next("the reply")
  check(rep[:body] == "reply to ping" && rep[:props].correlation_id == "c1" &&
        rep[:info].routing_key == to,
        "reply #{rep[:body].inspect} correlation #{rep[:props].correlation_id} routing key " \
        "#{rep[:info].routing_key}")
  replies.none("one request, one reply")
  server_ch.queue_delete(server_queue)
  conn.close
  ok("request routed with reply_to #{to[0, 32]}..., reply came back to the client")
end

if ARGV.length < 1 || ARGV.length > 2
  warn "usage: ruby test.rb AMQP-URL [NAME-PREFIX]"
  exit 2
end
Thread.new do
  sleep 60
  puts "FAIL #{$step}: the whole run took longer than 60 s"
  exit!(2)
end
begin
  main(ARGV[0], ARGV[1] || "tern-ruby-bunny-#{SecureRandom.hex(6)}")
rescue Failure => e
  puts "FAIL #{$step}: #{e.message}"
  exit!(1)
rescue Exception => e # anything Bunny raised, Interrupt included
  puts "FAIL #{$step}: #{e.class}: #{e.message}\n#{e.backtrace.first(8).join("\n")}"
  exit!(1)
end
exit!(0)

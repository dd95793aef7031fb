#!/bin/sh
# make-shop.sh — how rabbitmq-3.10-shop.json was made: the "shop" topology
# created by hand on a blank RabbitMQ 3.10.8 (rabbitmq_management enabled,
# guest/guest on "/"), then exported with `rabbitmqadmin export`.
#   sh tests/data/definitions/make-shop.sh [OUT.json]
# The plaintext passwords (test_definitions.py knows them too):
#   admin       admin-secret-1   sha256, tag administrator
#   orders-svc  orders-pw-2      sha256, no tag
#   monitor     monitor-pw-3     sha512 (set through the HTTP API with a
#                                hash computed as RabbitMQ does), tag monitoring
#   reader      reader-pw-4      sha256, no tag
set -eu
OUT=${1:-rabbitmq-3.10-shop.json}
API=${MGMT_URL:-http://guest:guest@127.0.0.1:15672}/api
ctl() { rabbitmqctl -q "$@"; }
put() { curl -fsS -X PUT -H 'content-type: application/json' -d "$2" "$API/$1"; }

ctl add_vhost shop
ctl add_vhost billing

ctl add_user admin admin-secret-1
ctl set_user_tags admin administrator
ctl add_user orders-svc orders-pw-2
ctl add_user reader reader-pw-4
# monitor: a sha512 hash (salt ‖ sha512(salt ‖ password), base64) — rabbitmqctl
# add_user always uses the node's configured algorithm (sha256)
HASH=$(/usr/bin/python3 -c 'import base64,hashlib,os; s=os.urandom(4); print(base64.b64encode(s+hashlib.sha512(s+b"monitor-pw-3").digest()).decode())')
put users/monitor "{\"password_hash\":\"$HASH\",\"hashing_algorithm\":\"rabbit_password_hashing_sha512\",\"tags\":\"monitoring\"}"

for v in / shop billing; do ctl set_permissions -p "$v" admin '.*' '.*' '.*'; done
ctl set_permissions -p shop orders-svc '^orders\.' '^(orders\.|amq\.default)' '^orders\.'
ctl set_permissions -p shop reader '' '' '.*'
ctl set_permissions -p / monitor '' '' '.*'
ctl set_topic_permissions -p shop orders-svc orders.events '^{username}\.' '^orders\.'
ctl set_topic_permissions -p shop reader orders.events '' '^orders\.eu\.'

ctl set_vhost_limits -p shop '{"max-connections": 100, "max-queues": 50}'
ctl set_vhost_limits -p billing '{"max-connections": 10}'
ctl set_user_limits orders-svc '{"max-connections": 10, "max-channels": 20}'

# shop: every exchange type, e2e binding, alternate exchange, DLX
A="rabbitmqadmin -q -V shop -u admin -p admin-secret-1"
$A declare exchange name=orders.events type=topic durable=true
$A declare exchange name=orders.fanout type=fanout durable=true
$A declare exchange name=orders.headers type=headers durable=true
$A declare exchange name=orders.unrouted type=fanout durable=true
$A declare exchange name=orders.in type=direct durable=true arguments='{"alternate-exchange": "orders.unrouted"}'
$A declare exchange name=orders.dlx type=direct durable=true
$A declare exchange name=orders.tmp type=direct durable=false auto_delete=true
$A declare exchange name=orders.internal type=topic durable=true internal=true

$A declare queue name=orders.created durable=true arguments='{"x-queue-type": "classic", "x-message-ttl": 3600000, "x-dead-letter-exchange": "orders.dlx", "x-dead-letter-routing-key": "orders.dead"}'
$A declare queue name=orders.priority durable=true arguments='{"x-max-priority": 10}'
$A declare queue name=orders.capped durable=true arguments='{"x-max-length": 1000, "x-overflow": "reject-publish"}'
$A declare queue name=orders.dead durable=true
$A declare queue name=orders.audit durable=true
$A declare queue name=orders.unrouted durable=true
$A declare queue name=orders.eu durable=true
$A declare queue name=orders.vip durable=true
$A declare queue name=orders.transient durable=false

$A declare binding source=orders.events destination=orders.created routing_key='orders.*.created'
$A declare binding source=orders.events destination=orders.priority routing_key='orders.#.urgent'
$A declare binding source=orders.events destination=orders.fanout destination_type=exchange routing_key='orders.#'
$A declare binding source=orders.fanout destination=orders.audit
$A declare binding source=orders.in destination=orders.capped routing_key=capped
$A declare binding source=orders.unrouted destination=orders.unrouted
$A declare binding source=orders.dlx destination=orders.dead routing_key=orders.dead
$A declare binding source=orders.headers destination=orders.eu arguments='{"x-match": "all", "region": "eu", "kind": "order"}'
$A declare binding source=orders.headers destination=orders.vip arguments='{"x-match": "any", "tier": "vip", "priority": 9}'

ctl set_policy -p shop --priority 1 --apply-to queues orders-limits '^orders\.' '{"max-length": 10000, "dead-letter-exchange": "orders.dlx"}'
ctl set_policy -p shop --priority 5 --apply-to exchanges orders-ae '^orders\.in$' '{"alternate-exchange": "orders.unrouted"}'
ctl set_operator_policy -p shop --priority 0 --apply-to queues shop-cap '.*' '{"max-length": 50000, "message-ttl": 86400000}'

# billing: a direct exchange and a queue; "/": a legacy queue
B="rabbitmqadmin -q -V billing -u admin -p admin-secret-1"
$B declare exchange name=billing type=direct durable=true
$B declare queue name=billing.invoices durable=true arguments='{"x-queue-type": "classic", "x-max-length-bytes": 10485760}'
$B declare binding source=billing destination=billing.invoices routing_key=invoice
rabbitmqadmin -q -u admin -p admin-secret-1 declare queue name=legacy durable=true

rabbitmqadmin -q export "$OUT"

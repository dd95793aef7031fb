/* jtable.h — AMQP field tables <-> JSON, as RabbitMQ's definitions and
 * HTTP API show arguments and headers: integers become 'l', reals 'd',
 * booleans 't', strings 'S', arrays 'A', objects 'F', null 'V'; on the
 * way back every integer width is a JSON integer, byte arrays and
 * strings are strings, decimals and floats are reals, timestamps are
 * integers (seconds). */
#ifndef TERN_BROKER_JTABLE_H
#define TERN_BROKER_JTABLE_H

#include <jansson.h>

#include "protocol/wire.h"

/* Encodes a JSON object as a field table (the pairs, without the length
 * prefix) into out (malloc'd; *out NULL and len 0 for an empty or null
 * object). Returns 0, or -1 with err for a non-object, a key longer than
 * 128 octets, or nesting deeper than the codec allows. */
int jtable_from_json(const json_t *obj, struct bytes *out, char *err, size_t errlen);

/* Decodes a validated field table into a new JSON object. */
json_t *jtable_to_json(struct bytes table);

#endif

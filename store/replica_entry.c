/* replica_entry.c — a batch of store writes as one Raft log entry, and
 * back (replica.h). Little-endian fixed-width fields: the entry is read by
 * the same build on every member, and the version byte guards the rest.
 * Cancelled ops are not written; the strings of an op follow it, each
 * read back with the NUL that writer.c's texts rely on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/batch.h"
#include "store/replica.h"

#define HEADER (1 + 2 + 8 + 8 + 4)
#define OP_FIXED (1 + 4 + 8 * 5 + 4 * NSTR)

static uint8_t *put(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return p + n;
}

static uint64_t get(const uint8_t **p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)(*p)[i] << (8 * i);
	*p += n;
	return v;
}

/* Entries are padded with zeros to a multiple of 8 bytes: libraft 0.15
 * pads each entry of a batch to 8 bytes on disk and on the wire, and a
 * follower that received a batch of entries of other sizes (a catch-up
 * after a restart) was handed buffers that started mid-entry. */
#define PAD(n) (((n) + 7) & ~(size_t)7)

size_t entry_size(const struct batch *b)
{
	size_t n = HEADER;
	for (size_t i = 0; i < b->nops; i++) {
		const struct op *o = &b->ops[i];
		if (o->cancelled)
			continue;
		n += OP_FIXED;
		for (int k = 0; k < NSTR; k++)
			n += o->len[k];
	}
	return PAD(n);
}

void entry_write(const struct batch *b, unsigned node, uint64_t nonce, uint8_t *buf)
{
	uint8_t *p = buf;
	p = put(p, ENTRY_VERSION, 1);
	p = put(p, node, 2);
	p = put(p, nonce, 8);
	p = put(p, b->no, 8);
	p = put(p, b->live, 4);
	for (size_t i = 0; i < b->nops; i++) {
		const struct op *o = &b->ops[i];
		if (o->cancelled)
			continue;
		p = put(p, o->kind, 1);
		p = put(p, (uint32_t)o->flags, 4);
		p = put(p, (uint64_t)o->qid, 8);
		p = put(p, o->seq, 8);
		p = put(p, o->id, 8);
		p = put(p, o->n, 8);
		p = put(p, o->expires, 8);
		for (int k = 0; k < NSTR; k++)
			p = put(p, o->len[k], 4);
		for (int k = 0; k < NSTR; k++) {
			if (o->len[k]) /* a batch without strings has no data buffer */
				memcpy(p, b->data + o->off[k], o->len[k]);
			p += o->len[k];
		}
	}
	memset(p, 0, (size_t)(buf + entry_size(b) - p));
}

int entry_read(const uint8_t *buf, size_t len, struct entry_header *h, struct batch *out,
	       char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	const uint8_t *p = buf, *end = buf + len;
	if (len < HEADER || buf[0] != ENTRY_VERSION) {
		snprintf(err, errlen, "log entry of %zu bytes, version %u: this node reads version %d",
			 len, len ? buf[0] : 0, ENTRY_VERSION);
		return -1;
	}
	h->version = (uint8_t)get(&p, 1);
	h->node = (uint16_t)get(&p, 2);
	h->nonce = get(&p, 8);
	h->batch = get(&p, 8);
	h->nops = (uint32_t)get(&p, 4);
	out->no = h->batch;
	/* Each op's strings once more as NULs: the data buffer is at most
	 * the entry plus NSTR bytes per op. */
	if (h->nops > len / OP_FIXED + 1)
		goto bad;
	out->ops = calloc(h->nops ? h->nops : 1, sizeof *out->ops);
	out->data = malloc(len + (size_t)h->nops * NSTR + 1);
	if (!out->ops || !out->data)
		abort();
	for (uint32_t i = 0; i < h->nops; i++) {
		if ((size_t)(end - p) < OP_FIXED)
			goto bad;
		struct op *o = &out->ops[i];
		o->kind = (uint8_t)get(&p, 1);
		o->flags = (int)(uint32_t)get(&p, 4);
		o->qid = (int64_t)get(&p, 8);
		o->seq = get(&p, 8);
		o->id = get(&p, 8);
		o->n = get(&p, 8);
		o->expires = get(&p, 8);
		if (o->kind >= OP_KINDS)
			goto bad;
		for (int k = 0; k < NSTR; k++)
			o->len[k] = get(&p, 4);
		for (int k = 0; k < NSTR; k++) {
			if ((uint64_t)(end - p) < o->len[k])
				goto bad;
			memcpy(out->data + out->used, p, o->len[k]);
			out->data[out->used + o->len[k]] = '\0';
			o->off[k] = out->used;
			out->used += o->len[k] + 1;
			p += o->len[k];
		}
		out->nops++;
		out->live++;
	}
	if (end - p < 8 && (size_t)(end - buf) == PAD((size_t)(p - buf))) {
		for (; p < end; p++)
			if (*p)
				goto bad;
		return 0;
	}
bad:
	snprintf(err, errlen, "log entry of %zu bytes is malformed", len);
	entry_free(out);
	return -1;
}

void entry_free(struct batch *b)
{
	free(b->ops);
	free(b->data);
	b->ops = NULL;
	b->data = NULL;
	b->nops = b->live = b->used = 0;
}

/* cmd_topology.c — `ternctl declare`, `delete` and `purge`: queues,
 * exchanges, bindings and vhosts through PUT/POST/DELETE on /api/queues,
 * /api/exchanges, /api/bindings and /api/vhosts. A queue is declared with
 * "durable" always given: RabbitMQ's API would otherwise make it durable. */
#include <stdlib.h>
#include <string.h>

#include "tools/ternctl/ctl.h"

enum {
	OPT_DURABLE = 256,
	OPT_AUTO_DELETE,
	OPT_INTERNAL,
	OPT_TYPE,
	OPT_ARG,
	OPT_KEY,
	OPT_DEST_TYPE,
	OPT_DESCRIPTION,
	OPT_IF_UNUSED,
	OPT_IF_EMPTY,
};

/* Which options each kind takes, as bits (1 << (opt - 256)). */
#define BIT(o) (1u << ((o)-256))

struct decl {
	unsigned given;
	bool durable, auto_delete, internal, if_unused, if_empty;
	const char *type, *key, *dest_type, *description;
	json_t *args;
};

static int check_given(struct ctl *c, const struct decl *d, unsigned allowed, const char *what)
{
	static const char *const names[] = {
		"--durable", "--auto-delete", "--internal",    "--type",      "--arg",
		"--key",     "--dest-type",   "--description", "--if-unused", "--if-empty"};
	for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
		if ((d->given & ~allowed) & (1u << i))
			return ctl_usage(c, "%s does not apply to %s", names[i], what);
	return CTL_OK;
}

/* Checks that the kind is followed by want names (what: how to say so). */
static int nargs(struct ctl *c, int argc, int want, const char *what)
{
	if (argc - optind - 1 != want)
		return ctl_usage(c, "%s", what);
	return CTL_OK;
}

/* Answers 201 when it created, 204 when it found the same thing there. */
static void said(struct ctl *c, const char *kind, const char *name)
{
	if (c->status == 204)
		printf("%s '%s' already exists in vhost '%s' (unchanged)\n", kind, name, c->vhost);
	else
		printf("declared %s '%s' in vhost '%s'\n", kind, name, c->vhost);
}

static int declare_queue(struct ctl *c, struct decl *d, const char *name)
{
	char nf[512];
	if (d->type)
		json_object_set_new(d->args, "x-queue-type", json_string(d->type));
	json_t *body = json_pack("{s:b, s:b, s:O}", "durable", d->durable, "auto_delete",
				 d->auto_delete, "arguments", d->args);
	char *path = ctl_path("/api/queues/%s/%s", c->vhost, name);
	snprintf(nf, sizeof nf, "no vhost '%s'", c->vhost);
	int rc = api(c, "PUT", path, body, NULL, nf);
	if (rc == CTL_OK)
		said(c, "queue", name);
	free(path);
	json_decref(body);
	return rc;
}

static int declare_exchange(struct ctl *c, struct decl *d, const char *name)
{
	char nf[512];
	if (!d->type)
		return ctl_usage(
			c, "declare exchange wants --type (direct, fanout, topic, headers, or "
			   "a plugin's type)");
	json_t *body = json_pack("{s:s, s:b, s:b, s:b, s:O}", "type", d->type, "durable",
				 d->durable, "auto_delete", d->auto_delete, "internal", d->internal,
				 "arguments", d->args);
	char *path = ctl_path("/api/exchanges/%s/%s", c->vhost, name);
	snprintf(nf, sizeof nf, "no vhost '%s'", c->vhost);
	int rc = api(c, "PUT", path, body, NULL, nf);
	if (rc == CTL_OK)
		said(c, "exchange", name);
	free(path);
	json_decref(body);
	return rc;
}

/* "q" or "e" for --dest-type, or NULL when it is neither. */
static const char *dest_letter(const char *t)
{
	if (!t || strcmp(t, "queue") == 0)
		return "q";
	if (strcmp(t, "exchange") == 0)
		return "e";
	return NULL;
}

static int declare_binding(struct ctl *c, struct decl *d, const char *src, const char *dst)
{
	char nf[1024];
	const char *letter = dest_letter(d->dest_type);
	if (!letter)
		return ctl_usage(c, "--dest-type is queue or exchange, not '%s'", d->dest_type);
	json_t *body =
		json_pack("{s:s, s:O}", "routing_key", d->key ? d->key : "", "arguments", d->args);
	char *path = ctl_path("/api/bindings/%s/e/%s/%r/%s", c->vhost, src, letter, dst);
	snprintf(nf, sizeof nf, "no exchange '%s' or %s '%s' in vhost '%s'", src,
		 *letter == 'q' ? "queue" : "exchange", dst, c->vhost);
	int rc = api(c, "POST", path, body, NULL, nf);
	if (rc == CTL_OK)
		printf("bound %s '%s' to exchange '%s' with key '%s' in vhost '%s'\n",
		       *letter == 'q' ? "queue" : "exchange", dst, src, d->key ? d->key : "",
		       c->vhost);
	free(path);
	json_decref(body);
	return rc;
}

static int declare_vhost(struct ctl *c, struct decl *d, const char *name)
{
	json_t *body =
		d->description ? json_pack("{s:s}", "description", d->description) : json_object();
	char *path = ctl_path("/api/vhosts/%s", name);
	int rc = api(c, "PUT", path, body, NULL, NULL);
	if (rc == CTL_OK)
		printf(c->status == 204 ? "vhost '%s' already exists\n" : "declared vhost '%s'\n",
		       name);
	free(path);
	json_decref(body);
	return rc;
}

/* The options of declare and delete together; each kind checks its own. */
static const struct option topo_opts[] = {
	{"durable", no_argument, NULL, OPT_DURABLE},
	{"auto-delete", no_argument, NULL, OPT_AUTO_DELETE},
	{"internal", no_argument, NULL, OPT_INTERNAL},
	{"type", required_argument, NULL, OPT_TYPE},
	{"arg", required_argument, NULL, OPT_ARG},
	{"key", required_argument, NULL, OPT_KEY},
	{"dest-type", required_argument, NULL, OPT_DEST_TYPE},
	{"description", required_argument, NULL, OPT_DESCRIPTION},
	{"if-unused", no_argument, NULL, OPT_IF_UNUSED},
	{"if-empty", no_argument, NULL, OPT_IF_EMPTY},
	{NULL, 0, NULL, 0},
};

/* Parses argv into d: 0 to go on, or -1 to exit with c->rc (--help, or a
 * usage error already printed). */
static int parse_topo(struct ctl *c, int argc, char **argv, struct decl *d)
{
	int o;
	while ((o = ctl_getopt(c, argc, argv, topo_opts)) != CTL_OPT_END) {
		if (o == CTL_OPT_EXIT)
			return -1;
		d->given |= BIT(o);
		switch (o) {
		case OPT_DURABLE: d->durable = true; break;
		case OPT_AUTO_DELETE: d->auto_delete = true; break;
		case OPT_INTERNAL: d->internal = true; break;
		case OPT_TYPE: d->type = optarg; break;
		case OPT_ARG:
			if (ctl_keyvalue(c, "--arg", optarg, d->args) < 0) {
				c->rc = CTL_EUSAGE;
				return -1;
			}
			break;
		case OPT_KEY: d->key = optarg; break;
		case OPT_DEST_TYPE: d->dest_type = optarg; break;
		case OPT_DESCRIPTION: d->description = optarg; break;
		case OPT_IF_UNUSED: d->if_unused = true; break;
		case OPT_IF_EMPTY: d->if_empty = true; break;
		}
	}
	if (optind >= argc) {
		c->rc = ctl_usage(c, "%s what?", argv[0]);
		return -1;
	}
	return 0;
}

static int run_declare(struct ctl *c, int argc, char **argv)
{
	struct decl d = {.args = json_object()};
	int rc = CTL_OK;
	if (parse_topo(c, argc, argv, &d) < 0) {
		rc = c->rc;
		goto done;
	}
	const char *kind = argv[optind];
	const char *a = optind + 1 < argc ? argv[optind + 1] : NULL;
	const char *b = optind + 2 < argc ? argv[optind + 2] : NULL;
	unsigned common = BIT(OPT_DURABLE) | BIT(OPT_AUTO_DELETE) | BIT(OPT_ARG) | BIT(OPT_TYPE);
	if (strcmp(kind, "queue") == 0) {
		if ((rc = check_given(c, &d, common, "a queue")) ||
		    (rc = nargs(c, argc, 1, "declare queue wants one NAME")))
			goto done;
		rc = declare_queue(c, &d, a);
	} else if (strcmp(kind, "exchange") == 0) {
		if ((rc = check_given(c, &d, common | BIT(OPT_INTERNAL), "an exchange")) ||
		    (rc = nargs(c, argc, 1, "declare exchange wants one NAME")))
			goto done;
		rc = declare_exchange(c, &d, a);
	} else if (strcmp(kind, "binding") == 0) {
		if ((rc = check_given(c, &d, BIT(OPT_KEY) | BIT(OPT_DEST_TYPE) | BIT(OPT_ARG),
				      "a binding")) ||
		    (rc = nargs(c, argc, 2, "declare binding wants SOURCE (an exchange) and DEST")))
			goto done;
		rc = declare_binding(c, &d, a, b);
	} else if (strcmp(kind, "vhost") == 0) {
		if ((rc = check_given(c, &d, BIT(OPT_DESCRIPTION), "a vhost")) ||
		    (rc = nargs(c, argc, 1, "declare vhost wants one NAME")))
			goto done;
		rc = declare_vhost(c, &d, a);
	} else {
		rc = ctl_usage(c, "cannot declare '%s' (queue, exchange, binding or vhost)", kind);
	}
done:
	json_decref(d.args);
	return rc;
}

/* Deletes the bindings from src to dst that have routing key key (whatever
 * their arguments), found by listing them: the path names a binding by its
 * properties_key, which only the broker computes. */
static int delete_binding(struct ctl *c, struct decl *d, const char *src, const char *dst)
{
	const char *letter = dest_letter(d->dest_type);
	const char *key = d->key ? d->key : "";
	char nf[1024];
	json_t *list = NULL;
	int rc, n = 0;
	if (!letter)
		return ctl_usage(c, "--dest-type is queue or exchange, not '%s'", d->dest_type);
	char *path = ctl_path("/api/bindings/%s/e/%s/%r/%s", c->vhost, src, letter, dst);
	snprintf(nf, sizeof nf, "no exchange '%s' or %s '%s' in vhost '%s'", src,
		 *letter == 'q' ? "queue" : "exchange", dst, c->vhost);
	rc = api(c, "GET", path, NULL, &list, nf);
	if (rc != CTL_OK)
		goto done;
	size_t i;
	json_t *b;
	json_array_foreach(list, i, b)
	{
		const char *rk = json_string_value(json_object_get(b, "routing_key"));
		const char *pk = json_string_value(json_object_get(b, "properties_key"));
		if (!rk || !pk || strcmp(rk, key) != 0)
			continue;
		char *one = ctl_path("%r/%s", path, pk);
		rc = api(c, "DELETE", one, NULL, NULL, nf);
		free(one);
		if (rc != CTL_OK)
			goto done;
		n++;
	}
	if (n == 0) {
		fprintf(stderr,
			"ternctl: no binding from exchange '%s' to %s '%s' with key '%s' in "
			"vhost '%s'\n",
			src, *letter == 'q' ? "queue" : "exchange", dst, key, c->vhost);
		rc = CTL_EBROKER;
	} else {
		printf("deleted %d binding%s from exchange '%s' to '%s' with key '%s'\n", n,
		       n > 1 ? "s" : "", src, dst, key);
	}
done:
	free(path);
	json_decref(list);
	return rc;
}

static int delete_one(struct ctl *c, struct decl *d, const char *kind, const char *name)
{
	char nf[1024];
	char *path;
	if (strcmp(kind, "vhost") == 0) {
		path = ctl_path("/api/vhosts/%s", name);
		snprintf(nf, sizeof nf, "no vhost '%s'", name);
	} else {
		const char *q = d->if_unused && d->if_empty ? "?if-unused=true&if-empty=true"
				: d->if_unused              ? "?if-unused=true"
				: d->if_empty               ? "?if-empty=true"
							    : "";
		path = ctl_path(strcmp(kind, "queue") == 0 ? "/api/queues/%s/%s%r"
							   : "/api/exchanges/%s/%s%r",
				c->vhost, name, q);
		snprintf(nf, sizeof nf, "no %s '%s' in vhost '%s'", kind, name, c->vhost);
	}
	int rc = api(c, "DELETE", path, NULL, NULL, nf);
	if (rc == CTL_OK)
		printf("deleted %s '%s'\n", kind, name);
	free(path);
	return rc;
}

static int run_delete(struct ctl *c, int argc, char **argv)
{
	struct decl d = {.args = json_object()};
	int rc = CTL_OK;
	if (parse_topo(c, argc, argv, &d) < 0) {
		rc = c->rc;
		goto done;
	}
	const char *kind = argv[optind];
	if (strcmp(kind, "queue") == 0) {
		if ((rc = check_given(c, &d, BIT(OPT_IF_UNUSED) | BIT(OPT_IF_EMPTY), "a queue")) ||
		    (rc = nargs(c, argc, 1, "delete queue wants one NAME")))
			goto done;
	} else if (strcmp(kind, "exchange") == 0) {
		if ((rc = check_given(c, &d, BIT(OPT_IF_UNUSED), "an exchange")) ||
		    (rc = nargs(c, argc, 1, "delete exchange wants one NAME")))
			goto done;
	} else if (strcmp(kind, "vhost") == 0) {
		if ((rc = check_given(c, &d, 0, "a vhost")) ||
		    (rc = nargs(c, argc, 1, "delete vhost wants one NAME")))
			goto done;
	} else if (strcmp(kind, "binding") == 0) {
		if ((rc = check_given(c, &d, BIT(OPT_KEY) | BIT(OPT_DEST_TYPE), "a binding")) ||
		    (rc = nargs(c, argc, 2, "delete binding wants SOURCE (an exchange) and DEST")))
			goto done;
		rc = delete_binding(c, &d, argv[optind + 1], argv[optind + 2]);
		goto done;
	} else {
		rc = ctl_usage(c, "cannot delete '%s' (queue, exchange, binding or vhost)", kind);
		goto done;
	}
	rc = delete_one(c, &d, kind, argv[optind + 1]);
done:
	json_decref(d.args);
	return rc;
}

static int run_purge(struct ctl *c, int argc, char **argv)
{
	char nf[1024];
	int o;
	while ((o = ctl_getopt(c, argc, argv, NULL)) != CTL_OPT_END)
		if (o == CTL_OPT_EXIT)
			return c->rc;
	if (argc - optind != 1)
		return ctl_usage(c, "purge wants one queue name");
	const char *name = argv[optind];
	char *path = ctl_path("/api/queues/%s/%s/contents", c->vhost, name);
	snprintf(nf, sizeof nf, "no queue '%s' in vhost '%s'", name, c->vhost);
	int rc = api(c, "DELETE", path, NULL, NULL, nf);
	if (rc == CTL_OK)
		printf("purged queue '%s'\n", name);
	free(path);
	return rc;
}

const struct cmd cmd_declare = {
	.name = "declare",
	.summary = "declare a queue, exchange, binding or vhost",
	.usage = "declare queue NAME [--durable] [--auto-delete] [--type T] [--arg K=V ...]\n"
		 "declare exchange NAME --type T [--durable] [--auto-delete] [--internal]\n"
		 "        [--arg K=V ...]\n"
		 "declare binding SOURCE DEST [--key K] [--dest-type queue|exchange] [--arg K=V]\n"
		 "declare vhost NAME [--description TEXT]",
	.help = "Declares a queue, an exchange, a binding from exchange SOURCE to queue (or\n"
		"exchange) DEST, or a vhost. Queues and exchanges are in the vhost of -V.\n\n"
		"  --durable         survives a broker restart (default: not durable)\n"
		"  --auto-delete     deleted when its last consumer (or binding) goes\n"
		"  --type T          exchange type; for a queue, x-queue-type (classic, quorum)\n"
		"  --internal        an exchange only other exchanges publish to\n"
		"  --arg KEY=VALUE   an x-argument, repeatable: whole numbers become numbers,\n"
		"                    true/false booleans, anything else a string\n"
		"                    (e.g. --arg x-max-length=1000 --arg x-queue-mode=lazy)\n"
		"  --key K           the binding's routing key (default empty)\n"
		"  --dest-type T     what DEST is: queue (default) or exchange\n",
	.run = run_declare,
};

const struct cmd cmd_delete = {
	.name = "delete",
	.summary = "delete a queue, exchange, binding or vhost",
	.usage = "delete queue NAME [--if-unused] [--if-empty]\n"
		 "delete exchange NAME [--if-unused]\n"
		 "delete binding SOURCE DEST [--key K] [--dest-type queue|exchange]\n"
		 "delete vhost NAME",
	.help = "Deletes a queue (with its messages), an exchange, the bindings from SOURCE\n"
		"to DEST with routing key K (default empty), or a vhost with all it holds.\n\n"
		"  --if-unused   only if the queue has no consumers (the exchange no bindings)\n"
		"  --if-empty    only if the queue has no messages\n",
	.run = run_delete,
};

const struct cmd cmd_purge = {
	.name = "purge",
	.summary = "remove the ready messages of a queue",
	.usage = "purge QUEUE",
	.help = "Removes every ready message from QUEUE (DELETE .../contents); messages\n"
		"delivered and not yet acknowledged stay.\n",
	.run = run_purge,
};

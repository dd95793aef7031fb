/* hooks.c — the extension points' registries; see hooks.h. */
#include "broker/core/hooks.h"

#include <stddef.h>

static publish_hook_fn publish_hooks[8];
static size_t npublish;

void hook_publish_add(publish_hook_fn fn)
{
	if (npublish < sizeof publish_hooks / sizeof publish_hooks[0])
		publish_hooks[npublish++] = fn;
}

bool hook_publish_run(struct channel *ch, struct bexchange *x, struct message *m,
		      bool mandatory, uint64_t seq)
{
	for (size_t i = 0; i < npublish; i++)
		if (publish_hooks[i](ch, x, m, mandatory, seq))
			return true;
	return false;
}

/* plugins.c — the built-in plugins and their start-up; see plugins.h. */
#include "plugins/plugins.h"

#include "broker/core/log.h"
#include "plugins/tern_plugin.h"

extern const struct tern_plugin delayed_plugin, management_plugin;

static const struct tern_plugin *const builtins[] = {&delayed_plugin, &management_plugin};
#define NPLUGINS (sizeof builtins / sizeof builtins[0])

int plugins_init(void)
{
	for (size_t i = 0; i < NPLUGINS; i++) {
		const struct tern_plugin *p = builtins[i];
		if (p->abi != TERN_PLUGIN_ABI) {
			log_error("plugin %s: ABI %d, expected %d", p->name, p->abi, TERN_PLUGIN_ABI);
			return -1;
		}
		if (p->init() < 0) {
			log_error("plugin %s failed to initialise", p->name);
			return -1;
		}
	}
	return 0;
}

void plugins_stop(void)
{
	for (size_t i = NPLUGINS; i-- > 0;)
		if (builtins[i]->stop)
			builtins[i]->stop();
}

int plugins_start(void)
{
	for (size_t i = 0; i < NPLUGINS; i++)
		if (builtins[i]->start && builtins[i]->start() < 0) {
			log_error("plugin %s failed to start", builtins[i]->name);
			return -1;
		}
	return 0;
}

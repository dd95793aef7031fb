/* tern_plugin.h — the plugin ABI (after Mosquitto's v5 plugins): a plugin
 * is a struct with the ABI version it was built for and two callbacks.
 * init runs before the store opens (register exchange types there, so
 * durable exchanges of those types are recovered); start runs after
 * recovery (load state, arm timers, open listeners); stop, at shutdown,
 * releases what start took. Plugins reach the broker through the
 * exchange-type registry (exchanges/exchange.h) and the hooks
 * (broker/core/hooks.h), re-exported here. Built-in plugins are listed in
 * plugins.c. */
#ifndef TERN_PLUGINS_TERN_PLUGIN_H
#define TERN_PLUGINS_TERN_PLUGIN_H

#include "broker/core/hooks.h"
#include "exchanges/exchange.h"

#define TERN_PLUGIN_ABI 1

struct tern_plugin {
	int abi; /* TERN_PLUGIN_ABI */
	const char *name;
	int (*init)(void);  /* 0 or -1 */
	int (*start)(void); /* 0 or -1; may be NULL */
	void (*stop)(void); /* before the event loop is freed; may be NULL */
};

#endif

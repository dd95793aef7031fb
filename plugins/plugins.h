/* plugins.h — starting the built-in plugins (see tern_plugin.h). */
#ifndef TERN_PLUGINS_PLUGINS_H
#define TERN_PLUGINS_PLUGINS_H

/* Runs every plugin's init (before the store opens). Returns 0 or -1. */
int plugins_init(void);
/* Runs every plugin's start (after recovery). Returns 0 or -1. */
int plugins_start(void);
/* Runs every plugin's stop, last first (before the loop is freed). */
void plugins_stop(void);

#endif

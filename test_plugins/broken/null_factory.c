/* libipm_NullFactory.so: the factory exists but returns NULL. */
#include <ipm/plugin.h>

IPM_PLUGIN_DEFINE(NullFactory, NULL)

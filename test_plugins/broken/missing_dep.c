/* libipm_MissingDep.so: an otherwise valid sender that needs
 * libipm_fixture_missing.so, a library that is not on the dynamic linker's
 * path at run time, so dlopen itself fails and the loader must pass on
 * dlerror()'s text (which names the missing library). */
#include "fixture_ops.h"

/* Defined in libipm_fixture_missing.so (missing_dep_lib.c). */
int ipm_fixture_missing_answer(void);

static const ipm_plugin descriptor = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_SENDER,
    .name = "MissingDep",
    .version = "1.0.0",
    .description = "fixture: needs a library that is not installed",
    .keys = fixture_keys,
    .ops = &fixture_sender_ops,
};

/* Written out instead of IPM_PLUGIN_DEFINE so that the factory calls into the
 * dependency: the reference keeps it a DT_NEEDED entry even under
 * --as-needed. */
IPM_EXPORT const ipm_plugin *ipm_plugin_MissingDep(void);
IPM_EXPORT const ipm_plugin *ipm_plugin_MissingDep(void)
{
    return ipm_fixture_missing_answer() == 42 ? &descriptor : NULL;
}

/* libipm_NoFactory.so: an ordinary shared library in the plugin directory,
 * exporting a function but no ipm_plugin_NoFactory factory. The loader must
 * say it is not an ipm plugin and which symbol it looked for. */
#include <ipm/plugin.h>

IPM_EXPORT int no_factory_answer(void);
IPM_EXPORT int no_factory_answer(void)
{
    return 42;
}

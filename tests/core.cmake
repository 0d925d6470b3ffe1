# Core tests: params and connection strings, INI files, the loader's search
# and messages, errors. They need no transport plugin (static descriptors).
ipm_add_test(core_params SOURCES core_params.c LABELS core)
ipm_add_test(core_config SOURCES core_config.c LABELS core)
ipm_add_test(core_loader SOURCES core_loader.c LABELS core threads)

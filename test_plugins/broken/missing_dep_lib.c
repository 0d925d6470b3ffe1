/* libipm_fixture_missing.so: the dependency of MissingDep, built into a
 * directory that nothing puts on the dynamic linker's path. */
int ipm_fixture_missing_answer(void);
int ipm_fixture_missing_answer(void)
{
    return 42;
}

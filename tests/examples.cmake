# The README's example program, built and run so that the README cannot rot.
# It talks over ZeroMQ, so it needs that family.
if(NOT TARGET ipm_ZmqSender)
  return()
endif()
add_executable(example_hello ${PROJECT_SOURCE_DIR}/examples/hello.c)
target_link_libraries(example_hello PRIVATE ipm::ipm)
add_test(NAME example_hello COMMAND example_hello)
set_tests_properties(example_hello PROPERTIES PASS_REGULAR_EXPRESSION "^hello \\(greeting\\)"
                     TIMEOUT 30 LABELS examples)

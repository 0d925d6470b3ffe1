# Plugin SDK tests (label `sdk`): the ABI layout, every loader failure with
# its message, a transport written against plugin.h alone, ipm-plugins, and
# the installed SDK end to end (install, build a third-party plugin against
# the prefix only, exchange messages through it, move the prefix).

ipm_add_test(sdk_abi_layout SOURCES sdk_abi_layout.c LABELS sdk TIMEOUT 60)
ipm_add_test(sdk_loader_errors SOURCES sdk_loader_errors.c LABELS sdk TIMEOUT 60)
ipm_add_test(sdk_loopback SOURCES sdk_loopback.c LABELS sdk TIMEOUT 120
             LIBRARIES Threads::Threads)
foreach(fixture IN LISTS IPM_TEST_PLUGINS)
  if(TARGET ${fixture})
    foreach(t sdk_abi_layout sdk_loader_errors sdk_loopback)
      add_dependencies(${t} ${fixture})
    endforeach()
  endif()
endforeach()

# A generic application that sends/receives by connection spec; it is built
# here, before (and without knowing of) the example plugin it talks through.
add_executable(sdk_xfer sdk_xfer.c)
target_link_libraries(sdk_xfer PRIVATE ipm::ipm)

# Types of the plugins this build ships, for the tests that must see them all.
string(REPLACE ";" "," _ipm_shipped "${IPM_SHIPPED_PLUGINS}")

if(TARGET ipm-plugins)
  add_test(NAME sdk_ipm_plugins
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/sdk/ipm_plugins_test.sh
            $<TARGET_FILE:ipm-plugins> ${PROJECT_BINARY_DIR}/test_plugins "${_ipm_shipped}")
  set_tests_properties(sdk_ipm_plugins PROPERTIES LABELS sdk TIMEOUT 60
    ENVIRONMENT "IPM_PLUGIN_PATH=")
endif()

# Installs the whole build, so it needs everything built (as ctest after a
# full build has). Sanitizer flags are passed on so that what the test
# compiles can load the instrumented libipm.so.
set(_ipm_san_flags "")
if(IPM_SANITIZE STREQUAL "address")
  set(_ipm_san_flags "-fsanitize=address,undefined -fno-omit-frame-pointer")
elseif(IPM_SANITIZE STREQUAL "thread")
  set(_ipm_san_flags "-fsanitize=thread -fno-omit-frame-pointer")
endif()
add_test(NAME sdk_install
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/sdk/install_test.sh
          ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR} ${CMAKE_C_COMPILER}
          $<TARGET_FILE:sdk_xfer> "${_ipm_shipped}" "${_ipm_san_flags}")
set_tests_properties(sdk_install PROPERTIES LABELS sdk TIMEOUT 600
  ENVIRONMENT "IPM_PLUGIN_PATH=")

# docs/writing-a-plugin.md quotes the example verbatim; this keeps it honest.
add_test(NAME sdk_doc
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/sdk/doc_test.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(sdk_doc PROPERTIES LABELS sdk TIMEOUT 30)

# The example plugin built against the headers of ipm 1.0.0, the previous
# release, frozen in tests/abi/v1.0 (never edit them: they are what plugins
# in the field were compiled with). Such a plugin must load into this core,
# zero-extended, and pass ipm-conformance (tests/conformance.cmake).
set(IPM_ABI_1_0_PLUGIN_DIR ${PROJECT_BINARY_DIR}/abi-1.0)
set(_ipm_uds ${PROJECT_SOURCE_DIR}/examples/third_party_plugin)
foreach(role Sender Receiver)
  string(TOLOWER ${role} _file)
  add_library(abi10_Uds${role} MODULE ${_ipm_uds}/uds_${_file}.c ${_ipm_uds}/uds_address.c)
  target_include_directories(abi10_Uds${role} BEFORE PRIVATE
    ${CMAKE_CURRENT_SOURCE_DIR}/abi/v1.0/include)
  target_link_libraries(abi10_Uds${role} PRIVATE ipm)
  target_compile_definitions(abi10_Uds${role} PRIVATE UDS_PLUGIN_VERSION="1.0-abi")
  set_target_properties(abi10_Uds${role} PROPERTIES PREFIX "lib" OUTPUT_NAME ipm_Uds${role}
    LIBRARY_OUTPUT_DIRECTORY ${IPM_ABI_1_0_PLUGIN_DIR} C_VISIBILITY_PRESET hidden)
  target_link_options(abi10_Uds${role} PRIVATE "LINKER:--no-undefined")
endforeach()
if(TARGET ipm-plugins)
  add_test(NAME sdk_abi_1_0_loads COMMAND $<TARGET_FILE:ipm-plugins> show UdsSender)
  set_tests_properties(sdk_abi_1_0_loads PROPERTIES LABELS sdk TIMEOUT 30
    ENVIRONMENT "IPM_PLUGIN_PATH=${IPM_ABI_1_0_PLUGIN_DIR}"
    PASS_REGULAR_EXPRESSION "UdsSender  \\(sender, version 1.0-abi, ABI 1\\.0\\)")
  add_dependencies(sdk_xfer abi10_UdsSender abi10_UdsReceiver)
endif()

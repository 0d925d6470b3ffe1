# Warning flags and sanitizer options applied to every target of the project.
# -Wstrict-prototypes and -Wmissing-prototypes are C-only (GCC warns about
# them on C++ sources, which the bindings' tests are).
add_compile_options(-Wall -Wextra -Wshadow -Wno-unused-parameter
                    $<$<COMPILE_LANGUAGE:C>:-Wstrict-prototypes>
                    $<$<COMPILE_LANGUAGE:C>:-Wmissing-prototypes>)
if(IPM_WERROR)
  add_compile_options(-Werror)
endif()
if(IPM_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  # A program that is not built with the sanitizer (python3 loading libipm.so
  # through ctypes, a consumer project's test program) needs the runtime
  # first in its library list: tests preload this file. Empty if the
  # compiler does not name one (then those tests are not run).
  set(IPM_SANITIZER_FLAGS "-fsanitize=address,undefined")
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
                  OUTPUT_VARIABLE IPM_SANITIZER_RUNTIME OUTPUT_STRIP_TRAILING_WHITESPACE
                  ERROR_QUIET)
  if(NOT IS_ABSOLUTE "${IPM_SANITIZER_RUNTIME}" OR NOT EXISTS "${IPM_SANITIZER_RUNTIME}")
    set(IPM_SANITIZER_RUNTIME "")
  endif()
elseif(IPM_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT IPM_SANITIZE STREQUAL "")
  message(FATAL_ERROR "IPM_SANITIZE must be '', 'address' or 'thread'")
endif()

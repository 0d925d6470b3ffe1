# ipm-cxx-bench: what the C++ wrapper (ipm.hpp) costs over the C API, 64 B
# send + receive pairs over shm in one process, both measured in one run.
if(IPM_HAVE_CXX)
  add_executable(ipm-cxx-bench ${CMAKE_CURRENT_LIST_DIR}/cxx_bench.cpp)
  target_link_libraries(ipm-cxx-bench PRIVATE ipm::ipmcxx)
  set_target_properties(ipm-cxx-bench PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON
                                                 CXX_EXTENSIONS OFF)
endif()

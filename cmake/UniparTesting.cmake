# unipar_add_test(<name> FILES <sources...> [PROCS <n...>] [LIBS <targets...>]
#                 [LABELS <labels...>] [TIMEOUT <seconds>])
#
# Builds one GoogleTest program and registers it once per backend and size:
#   <name>.serial, <name>.fork.<n> for each n in PROCS (default 1 2 3 4).
# The program finds its backend in UNIPAR_BACKEND (see unipar::testing::backend()).
include_guard(GLOBAL)
find_package(GTest REQUIRED)

function(unipar_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "FILES;PROCS;LIBS;LABELS" ${ARGN})
  if(NOT ARG_PROCS)
    set(ARG_PROCS 1 2 3 4)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  set(exe ${name}_test)
  add_executable(${exe} ${ARG_FILES})
  target_link_libraries(${exe} PRIVATE unipar::unipar unipar_test_support GTest::gtest
                                       ${ARG_LIBS})
  unipar_set_warnings(${exe})

  add_test(NAME ${name}.serial COMMAND ${exe})
  set_tests_properties(${name}.serial PROPERTIES ENVIRONMENT "UNIPAR_BACKEND=serial"
                       LABELS "serial;${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
  foreach(n IN LISTS ARG_PROCS)
    add_test(NAME ${name}.fork.${n} COMMAND ${exe})
    set_tests_properties(${name}.fork.${n} PROPERTIES ENVIRONMENT "UNIPAR_BACKEND=fork:${n}"
                         LABELS "fork;${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
  endforeach()
endfunction()

# Runs one libFuzzer harness (the test fuzz.<name>, tests/fuzz/CMakeLists.txt):
#   cmake -DHARNESS=<program> -DSEEDS=<dir;dir> -DWORK_DIR=<dir> -DSECONDS=<n> -P run_fuzz.cmake
# The seeds are copied into WORK_DIR/corpus (the source tree is never written; what the fuzzer
# finds stays there for the next run), the harness fuzzes it for SECONDS, and its output goes to
# WORK_DIR/fuzz.log (quickstart.sh's summary reads it). An input that breaks the harness is saved
# in WORK_DIR/artifacts/ and fails the test.
foreach(var HARNESS SEEDS WORK_DIR SECONDS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzz.cmake: -D${var}=... is missing")
  endif()
endforeach()
file(MAKE_DIRECTORY ${WORK_DIR}/corpus ${WORK_DIR}/artifacts)
foreach(dir IN LISTS SEEDS)
  file(GLOB seeds LIST_DIRECTORIES false ${dir}/*)
  if(seeds)
    file(COPY ${seeds} DESTINATION ${WORK_DIR}/corpus)
  endif()
endforeach()
set(log ${WORK_DIR}/fuzz.log)
execute_process(
  COMMAND ${HARNESS} -max_total_time=${SECONDS} -rss_limit_mb=2048 -timeout=10
          -print_final_stats=1 -artifact_prefix=${WORK_DIR}/artifacts/ ${WORK_DIR}/corpus
  RESULT_VARIABLE status OUTPUT_FILE ${log} ERROR_FILE ${log})
# The end of the log (the whole report of a finding: the input, the finding, its stack).
file(READ ${log} text)
string(LENGTH "${text}" length)
if(NOT status EQUAL 0)
  set(keep 16000)
else()
  set(keep 1200)
endif()
if(length GREATER keep)
  math(EXPR from "${length} - ${keep}")
  string(SUBSTRING "${text}" ${from} -1 text)
endif()
message("${text}")
if(NOT status EQUAL 0)
  file(GLOB artifacts ${WORK_DIR}/artifacts/*)
  message(FATAL_ERROR "${HARNESS} failed (exit code ${status}); inputs: ${artifacts}; log: ${log}")
endif()

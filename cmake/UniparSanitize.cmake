# With UNIPAR_SANITIZE=ON every target builds and links with ASan + UBSan; UBSan findings abort.
# With UNIPAR_SANITIZE_THREAD=ON, with ThreadSanitizer (the two cannot be combined).
# With UNIPAR_FUZZ=ON (clang only) every target is compiled with libFuzzer's coverage
# instrumentation besides ASan + UBSan (-fsanitize=fuzzer-no-link,address,undefined); the
# harnesses of tests/fuzz link libFuzzer's driver on top (-fsanitize=fuzzer).
# UNIPAR_SANITIZER_FLAGS holds the -fsanitize flags (empty without a sanitizer).
if(UNIPAR_SANITIZE AND UNIPAR_SANITIZE_THREAD)
  message(FATAL_ERROR "UNIPAR_SANITIZE and UNIPAR_SANITIZE_THREAD cannot be combined: build "
                      "each in its own directory (bash cmake/quickstart.sh sanitize / tsan)")
endif()
if(UNIPAR_FUZZ AND UNIPAR_SANITIZE_THREAD)
  message(FATAL_ERROR "UNIPAR_FUZZ (ASan + UBSan) and UNIPAR_SANITIZE_THREAD cannot be combined")
endif()
if(UNIPAR_FUZZ AND NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "UNIPAR_FUZZ=ON needs clang++ (libFuzzer is part of clang), but this build "
                      "directory uses ${CMAKE_CXX_COMPILER_ID} (${CMAKE_CXX_COMPILER}): configure "
                      "a fresh one with CC=clang CXX=clang++, or run bash cmake/quickstart.sh fuzz")
endif()
set(UNIPAR_SANITIZER_FLAGS)
set(unipar_sanitizer_compile_only)
if(UNIPAR_SANITIZE OR UNIPAR_FUZZ)
  set(UNIPAR_SANITIZER_FLAGS -fsanitize=address,undefined)
  set(unipar_sanitizer_compile_only -fno-sanitize-recover=undefined)
  if(UNIPAR_FUZZ)
    list(APPEND unipar_sanitizer_compile_only -fsanitize=fuzzer-no-link)
  endif()
elseif(UNIPAR_SANITIZE_THREAD)
  set(UNIPAR_SANITIZER_FLAGS -fsanitize=thread)
endif()
if(UNIPAR_SANITIZER_FLAGS)
  add_compile_options(${UNIPAR_SANITIZER_FLAGS} -fno-omit-frame-pointer
                      ${unipar_sanitizer_compile_only})
  add_link_options(${UNIPAR_SANITIZER_FLAGS})
endif()

# With UNIPAR_SANITIZE=ON every target builds and links with ASan + UBSan; UBSan findings abort.
if(UNIPAR_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

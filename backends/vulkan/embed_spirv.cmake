# cmake -DNAME=<shader> -DSPV=<file.spv> -DOUT=<file.inc> -P embed_spirv.cmake
#
# Turns one SPIR-V module into a C fragment, `static const uint32_t
# vk_spv_<NAME>[] = {...};`, which the generated vk_shaders.c includes.
# SPIR-V is a stream of 32-bit words in the byte order of the machine that
# wrote it (glslc on a little-endian host), so each group of four bytes is
# read back little-endian.
file(READ "${SPV}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR rem "${n} % 8")
if(n EQUAL 0 OR NOT rem EQUAL 0)
  message(FATAL_ERROR "${SPV}: not a whole number of 32-bit words")
endif()
string(REGEX REPLACE "(..)(..)(..)(..)" "0x\\4\\3\\2\\1u," words "${hex}")
# Eight words to a line keeps the file readable in a diff.
string(REGEX REPLACE "(([^,]*,){8})" "\\1\n    " words "${words}")
file(WRITE "${OUT}.tmp"
  "/* Generated from ${NAME}.spv by embed_spirv.cmake. Do not edit. */\n"
  "static const uint32_t vk_spv_${NAME}[] = {\n    ${words}\n};\n")
file(RENAME "${OUT}.tmp" "${OUT}")

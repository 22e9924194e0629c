# cmake "-DFILES=a.cl;b.cl" -DOUT=cl_sources.c -P embed_cl.cmake
#
# Writes the OpenCL C sources as C strings, in the order given (the
# program's order), with their base names:
#   const char *const cl_source_text[]; const char *const cl_source_name[];
#   const unsigned cl_n_sources;
# Each file becomes a char array of its bytes and a terminating NUL, so no
# character of the source needs escaping and no string-length limit of a
# compiler applies.
set(arrays "")
set(texts "")
set(names "")
set(i 0)
foreach(f IN LISTS FILES)
  file(READ "${f}" hex HEX)
  string(REGEX REPLACE "(..)" "0x\\1," bytes "${hex}")
  # Sixteen bytes to a line keeps the file readable in an editor.
  string(REGEX REPLACE "(([^,]*,){16})" "\\1\n    " bytes "${bytes}")
  get_filename_component(base "${f}" NAME)
  string(APPEND arrays "/* ${base} */\nstatic const char src_${i}[] = {\n    ${bytes}0x00\n};\n\n")
  string(APPEND texts "    src_${i},\n")
  string(APPEND names "    \"${base}\",\n")
  math(EXPR i "${i} + 1")
endforeach()
file(WRITE "${OUT}.tmp"
  "/* Generated from backends/opencl/kernels/ *.cl by embed_cl.cmake. Do not edit. */\n"
  "#include \"cl_device.h\"\n\n"
  "${arrays}"
  "const char *const cl_source_text[] = {\n${texts}};\n\n"
  "const char *const cl_source_name[] = {\n${names}};\n\n"
  "const unsigned cl_n_sources = ${i};\n")
file(RENAME "${OUT}.tmp" "${OUT}")

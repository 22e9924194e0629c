# The SDK as a vendor and an application developer meet it: install slm into
# a fresh prefix, then, against that prefix alone,
#   - compile each public header on its own as C11 and as C++, and link a C++
#     program that includes all three;
#   - copy plugins/template out of the tree and build it with CMake
#     (find_package(slm)) and with its pkg-config Makefile;
#   - pass slm-conform on both builds, see slm-probe list the plugin, and
#     generate text with the template running its ops (SLM_BACKEND=template,cpu);
#   - copy the NPU shims out of the tree and build them; slm-probe lists
#     them with no device and the reason (no vendor runtime here);
#   - build docs/examples/stream.c with pkg-config and stream a story.
#
# cmake -DSOURCE_DIR=... -DBUILD_DIR=... -DWORK=... -DMODEL=... -DLIBDIR=...
#       -DCC=... -P install_test.cmake

foreach(_var SOURCE_DIR BUILD_DIR WORK MODEL LIBDIR CC)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "install_test.cmake: pass -D${_var}=...")
  endif()
endforeach()
find_program(CXX NAMES c++ g++ clang++ REQUIRED)
find_program(MAKE NAMES make gmake REQUIRED)

set(PREFIX ${WORK}/prefix)
set(WARN -Wall -Wextra -Werror -pedantic)
# Nothing from the developer's own environment: no config, no cache, no
# plugins but those the steps name.
set(ENV{XDG_CONFIG_HOME} ${WORK}/xdg-config)
set(ENV{XDG_CACHE_HOME} ${WORK}/xdg-cache)
set(ENV{PKG_CONFIG_PATH} ${PREFIX}/${LIBDIR}/pkgconfig)

# run(NAME cmd...): run a step, fail with its output unless it exits 0;
# its stdout and stderr are left in NAME_out and NAME_err.
function(run name)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "${name}: `${cmd}` exited ${rc}\n${out}\n${err}")
  endif()
  set(${name}_out "${out}" PARENT_SCOPE)
  set(${name}_err "${err}" PARENT_SCOPE)
endfunction()

# expect(NAME TEXT REGEX): TEXT must match REGEX.
function(expect name text regex)
  if(NOT text MATCHES "${regex}")
    message(FATAL_ERROR "${name}: expected /${regex}/ in:\n${text}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
run(install ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX})

# ---- headers: each alone, in both languages
foreach(_h slm graph backend)
  file(WRITE ${WORK}/h_${_h}.c "#include <slm/${_h}.h>\n")
  file(WRITE ${WORK}/h_${_h}.cpp "#include <slm/${_h}.h>\n")
  run(header_c_${_h} ${CC} -std=c11 ${WARN} -fsyntax-only -I${PREFIX}/include ${WORK}/h_${_h}.c)
  run(header_cxx_${_h} ${CXX} -std=c++11 ${WARN} -fsyntax-only -I${PREFIX}/include
      ${WORK}/h_${_h}.cpp)
endforeach()
run(headers_cxx_link ${CXX} -std=c++11 ${WARN} -I${PREFIX}/include
    ${SOURCE_DIR}/tests/install/headers.cpp -L${PREFIX}/${LIBDIR} -lslm
    -Wl,-rpath,${PREFIX}/${LIBDIR} -o ${WORK}/headers_cxx)
run(headers_cxx_run ${WORK}/headers_cxx)

# ---- the template, copied out of the tree as a vendor starts
file(COPY ${SOURCE_DIR}/plugins/template DESTINATION ${WORK})
set(TEMPLATE ${WORK}/template)
run(template_configure ${CMAKE_COMMAND} -S ${TEMPLATE} -B ${WORK}/tb
    -DCMAKE_PREFIX_PATH=${PREFIX} -DCMAKE_BUILD_TYPE=Release)
run(template_build ${CMAKE_COMMAND} --build ${WORK}/tb)
run(template_make ${MAKE} -C ${TEMPLATE} CC=${CC})
set(PLUGIN ${WORK}/tb/libslm-backend-template.so)

foreach(_so ${PLUGIN} ${TEMPLATE}/libslm-backend-template.so)
  run(conform ${PREFIX}/bin/slm-conform --plugin ${_so})
  foreach(_re "\n +ADD +pass" "\n +MUL +pass" "\n +RMS_NORM +pass"
              "template:0: [0-9]+ pass, 0 FAIL")
    expect(conform "${conform_out}" "${_re}")
  endforeach()
endforeach()

set(ENV{SLM_PLUGIN_PATH} ${WORK}/tb)
run(probe ${PREFIX}/bin/slm-probe)
# The path, then the rule that found it, on its line or the next.
string(REGEX REPLACE "([][+.*?^$()|\\])" "\\\\\\1" _plugin_re "${PLUGIN}")
expect(probe "${probe_out}" "loaded +template ")
expect(probe "${probe_out}" "${_plugin_re}[^\n]*\n?[^\n]*SLM_PLUGIN_PATH")
expect(probe "${probe_out}" "template:0 ")

# The template first, the CPU for the ops it declines: a real mix, every
# RMS_NORM, ADD and MUL moved to its memory and back. Greedy decoding gives
# the scalar reference's text.
set(ENV{SLM_BACKEND} template,cpu)
run(generate ${PREFIX}/bin/slm-run -m ${MODEL} -p "Once upon a time" -n 24 --temp 0)
expect(generate "${generate_out}" "^Once upon a time, there was a little girl named Lily")
expect(generate "${generate_err}" "on template:0")
unset(ENV{SLM_BACKEND})
unset(ENV{SLM_PLUGIN_PATH})

# ---- found through its manifest: installed as a package would, with the
# install's data folder as XDG_DATA_HOME, no path given
run(template_install ${CMAKE_COMMAND} --install ${WORK}/tb --prefix ${WORK}/vendor)
set(ENV{XDG_DATA_HOME} ${WORK}/vendor/share)
run(probe_manifest ${PREFIX}/bin/slm-probe)
expect(probe_manifest "${probe_manifest_out}" "loaded +template ")
expect(probe_manifest "${probe_manifest_out}" "manifest [^\n]*vendor/share/slm/backends.d/template.ini")
set(ENV{SLM_BACKEND} template,cpu)
run(generate_manifest ${PREFIX}/bin/slm-run -m ${MODEL} -p "Once upon a time" -n 8 --temp 0)
expect(generate_manifest "${generate_manifest_err}" "on template:0")
unset(ENV{SLM_BACKEND})
unset(ENV{XDG_DATA_HOME})

# ---- the NPU shims, copied out of the tree with the source they share and
# built against the prefix alone. Here no vendor runtime is installed: the
# installed slm-probe lists each loaded, with no device and the reason.
file(COPY ${SOURCE_DIR}/plugins/npu-common ${SOURCE_DIR}/plugins/npu-rknn
     ${SOURCE_DIR}/plugins/npu-qnn DESTINATION ${WORK}/npu)
foreach(_shim npu-rknn npu-qnn)
  run(${_shim}_configure ${CMAKE_COMMAND} -S ${WORK}/npu/${_shim} -B ${WORK}/npu/${_shim}-build
      -DCMAKE_PREFIX_PATH=${PREFIX} -DCMAKE_BUILD_TYPE=Release
      "-DCMAKE_C_FLAGS=-Werror")
  run(${_shim}_build ${CMAKE_COMMAND} --build ${WORK}/npu/${_shim}-build)
endforeach()
set(ENV{SLM_PLUGIN_PATH}
    "${WORK}/npu/npu-rknn-build/libslm-backend-npu-rknn.so:${WORK}/npu/npu-qnn-build/libslm-backend-npu-qnn.so")
run(probe_npu ${PREFIX}/bin/slm-probe)
expect(probe_npu "${probe_npu_out}" "npu-rknn-build/libslm-backend-npu-rknn.so[^\n]*\n?[^\n]*SLM_PLUGIN_PATH")
expect(probe_npu "${probe_npu_out}" "npu-qnn-build/libslm-backend-npu-qnn.so[^\n]*\n?[^\n]*SLM_PLUGIN_PATH")
expect(probe_npu "${probe_npu_out}" "loaded +npu-rknn [^\n]*0 devices")
expect(probe_npu "${probe_npu_out}" "0 devices: librknnrt.so: ")
expect(probe_npu "${probe_npu_out}" "loaded +npu-qnn [^\n]*0 devices")
expect(probe_npu "${probe_npu_out}" "0 devices: libQnnHtp.so: ")
unset(ENV{SLM_PLUGIN_PATH})

# ---- embedding: the program of docs/embedding.md, built as it says
run(pc_flags pkg-config --cflags --libs slm)
separate_arguments(_pc UNIX_COMMAND "${pc_flags_out}")
run(stream_build ${CC} -std=c11 ${WARN} ${SOURCE_DIR}/docs/examples/stream.c ${_pc}
    -Wl,-rpath,${PREFIX}/${LIBDIR} -o ${WORK}/stream)
run(stream ${WORK}/stream ${MODEL} "Once upon a time")
# Sampled at the default temperature on whichever device ranks first here,
# so the words vary by machine; that there are words is the point.
expect(stream "${stream_out}" "[A-Za-z]+ [A-Za-z]+ [A-Za-z]+")
run(pc_backenddir pkg-config --variable=backenddir slm)
string(STRIP "${pc_backenddir_out}" _dir)
if(NOT EXISTS ${_dir}/libslm-backend-cpu.so)
  message(FATAL_ERROR "slm.pc: backenddir ${_dir} has no libslm-backend-cpu.so")
endif()
message(STATUS "install test: headers, template (cmake and make), slm-conform, "
               "slm-probe, slm-run, the NPU shims and stream.c all passed in ${PREFIX}")

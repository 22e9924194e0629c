# The npu-qnn shim end to end, against the simulated libQnnHtp.so
# (sim_qnn_htp.c) or without it. One case per ctest test:
#   -DCASE=conform|probe_model|fallback|version|device_fail|execute_fail|
#          finalize_fail|cache
#   -DSHIM=libslm-backend-npu-qnn.so -DSIM_DIR=folder of the sim's libQnnHtp.so
#   -DCONFORM=slm-conform -DPROBE=slm-probe -DRUN=slm-run
#   -DCPU=libslm-backend-cpu.so -DMODELS=shared/models/gguf -DWORK=scratch folder
# Each case fails with a message naming what it expected and what it got.

set(model ${MODELS}/stories260K-q8_0.gguf)
set(prompt "Once upon a time, there was a little girl")
file(MAKE_DIRECTORY ${WORK})
# Nothing from the caller's environment: plugins, config and caches are the
# ones named here.
set(ENV{SLM_PLUGIN_PATH} "")
set(ENV{SLM_BACKEND} "")
set(ENV{SIM_QNN_FAIL} "")
set(ENV{SIM_QNN_VERSION} "")
set(ENV{SIM_QNN_STATS} "")
set(ENV{XDG_CACHE_HOME} ${WORK}/xdg-cache)
set(ENV{LD_LIBRARY_PATH} ${SIM_DIR})

# slm-run on the model with the shim first (or, with a second argument
# "default", the runtime's own choice); sets out, err, rc.
function(run_shim ini)
  set(ENV{SLM_PLUGIN_PATH} ${SHIM})
  set(ENV{SLM_CONFIG} ${ini})
  set(sel --backend npu-qnn,cpu)
  if(ARGV1 STREQUAL "default")
    set(sel "")
  endif()
  execute_process(COMMAND ${RUN} -m ${model} -p "${prompt}" --temp 0 -n 12 --no-prompt
                          ${sel} -v
                  OUTPUT_VARIABLE o ERROR_VARIABLE e RESULT_VARIABLE r)
  set(out "${o}" PARENT_SCOPE)
  set(err "${e}" PARENT_SCOPE)
  set(rc "${r}" PARENT_SCOPE)
endfunction()

# The CPU's text for the same prompt, the reference for every run.
function(cpu_text var)
  set(ENV{SLM_PLUGIN_PATH} "")
  set(ENV{SLM_CONFIG} "")
  execute_process(COMMAND ${RUN} -m ${model} -p "${prompt}" --temp 0 -n 12 --no-prompt
                          --backend cpu
                  OUTPUT_VARIABLE o ERROR_VARIABLE e RESULT_VARIABLE r)
  if(NOT r EQUAL 0 OR o STREQUAL "")
    message(FATAL_ERROR "slm-run on the CPU exited ${r}: ${e}")
  endif()
  set(${var} "${o}" PARENT_SCOPE)
endfunction()

# The sim's counters after a run: finalize, binary_load.
function(read_stats file)
  if(NOT EXISTS ${file})
    message(FATAL_ERROR "the simulation wrote no counters to ${file}")
  endif()
  file(STRINGS ${file} lines)
  foreach(l ${lines})
    if(l MATCHES "^([a-z_]+) ([0-9]+)$")
      set(${CMAKE_MATCH_1} ${CMAKE_MATCH_2} PARENT_SCOPE)
    endif()
  endforeach()
endfunction()

function(write_ini file cache)
  file(WRITE ${file} "[backend.npu-qnn]\nmin_batch = 1\ncache_dir = ${cache}\n")
endfunction()

# ------------------------------------------------------------- conform
# Every MUL_MAT dtype the shim claims passes in the npu column, with the
# default min_batch (32: decode shapes refused) and with min_batch 1 (every
# 2-D weight shape, one-row and non-finite activations included); every
# other op is refused, never failed.
if(CASE STREQUAL "conform")
  foreach(run default low)
    set(args --plugin ${SHIM})
    if(run STREQUAL "low")
      list(APPEND args --set npu-qnn.min_batch=1 --set npu-qnn.cache_dir=off)
    endif()
    execute_process(COMMAND ${CONFORM} ${args}
                    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "slm-conform (${run}) exited ${rc}:\n${out}\n${err}")
    endif()
    if(NOT out MATCHES "device +npu, host memory; npu bounds")
      message(FATAL_ERROR "the shim's device is not held to the npu column:\n${out}")
    endif()
    foreach(dt f32 f16 bf16 q8_0 q4_0 q4_K q6_K)
      if(NOT out MATCHES "\n  MUL_MAT ${dt} +pass +([1-9][0-9]*)/([0-9]+)")
        message(FATAL_ERROR "MUL_MAT ${dt} did not pass on the NPU (${run}):\n${out}")
      endif()
      set(${run}_${dt} ${CMAKE_MATCH_1})
      if(run STREQUAL "low" AND NOT low_${dt} GREATER default_${dt})
        message(FATAL_ERROR "MUL_MAT ${dt}: min_batch 1 claims ${low_${dt}} shapes, the "
                            "default ${default_${dt}}: want more")
      endif()
    endforeach()
    if(NOT out MATCHES "\n  MUL_MAT_ID f32 +unsupported" OR NOT out MATCHES "\n  ADD +unsupported")
      message(FATAL_ERROR "the shim claims more than MUL_MAT:\n${out}")
    endif()
  endforeach()
  message(STATUS "${out}")

# --------------------------------------------------------- probe --model
# slm-probe shows the split: the prompt batch's matmuls on the NPU, the
# decoding step's all on the CPU (min_batch 32).
elseif(CASE STREQUAL "probe_model")
  execute_process(COMMAND ${PROBE} --no-config --only --plugin ${SHIM} --plugin ${CPU}
                          --model ${model}
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "slm-probe exited ${rc}: ${err}\n${out}")
  endif()
  string(REGEX MATCH "a one-token decoding step[^\n]*\n(( +[a-z][^\n]*\n)*)" step "${out}")
  string(REGEX MATCH "a 128-token prompt batch[^\n]*\n(( +[a-z][^\n]*\n)*)" batch "${out}")
  if(step STREQUAL "" OR batch STREQUAL "" OR step MATCHES "npu-qnn"
     OR NOT batch MATCHES "npu-qnn:0 +[0-9]+ nodes:[^\n]*MUL_MAT:35")
    message(FATAL_ERROR "want the prompt batch's 35 layer MUL_MAT on npu-qnn:0 and the decoding "
                        "step's on the CPU:\n${out}")
  endif()

# ------------------------------------------------------------ fallback
# Without the runtime: the plugin loads with 0 devices and the reason, and
# slm-run generates the CPU's text.
elseif(CASE STREQUAL "fallback")
  set(ENV{LD_LIBRARY_PATH} "")
  execute_process(COMMAND ${PROBE} --no-config --only --plugin ${SHIM}
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  set(want "libQnnHtp.so: cannot open shared object file")
  if(NOT out MATCHES "loaded +npu-qnn [^\n]*0 devices\n[^\n]*\n +0 devices: ${want}")
    message(FATAL_ERROR "slm-probe (exit ${rc}) does not show npu-qnn loaded with 0 devices: "
                        "${want}:\n${out}\n${err}")
  endif()
  cpu_text(want_text)
  write_ini(${WORK}/fallback.ini ${WORK}/fallback-cache)
  run_shim(${WORK}/fallback.ini default)
  if(NOT rc EQUAL 0 OR NOT out STREQUAL want_text OR NOT err MATCHES "\\) on cpu")
    message(FATAL_ERROR "slm-run without the runtime (exit ${rc}) gave '${out}', the CPU "
                        "'${want_text}':\n${err}")
  endif()

# ------------------------------------------------------------- faults
# An incompatible runtime: no device, and why.
elseif(CASE STREQUAL "version")
  set(ENV{SIM_QNN_VERSION} 3.0.0)
  execute_process(COMMAND ${PROBE} --no-config --only --plugin ${SHIM}
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT out MATCHES "0 devices: libQnnHtp.so: QNN API 3.0.0 [^\n]*not supported")
    message(FATAL_ERROR "slm-probe (exit ${rc}) shows no incompatible-version reason:\n${out}")
  endif()
  set(ENV{SIM_QNN_VERSION} "")
  execute_process(COMMAND ${PROBE} --no-config --only --plugin ${SHIM}
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "loaded +npu-qnn [^\n]*1 device\n.*Qualcomm Hexagon NPU")
    message(FATAL_ERROR "with the compatible simulation, no NPU device (exit ${rc}):\n${out}")
  endif()

elseif(CASE STREQUAL "device_fail")
  set(ENV{SIM_QNN_FAIL} create)
  execute_process(COMMAND ${PROBE} --no-config --only --plugin ${SHIM}
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT out MATCHES "0 devices: libQnnHtp.so: deviceCreate: error 14003")
    message(FATAL_ERROR "slm-probe (exit ${rc}) shows no deviceCreate reason:\n${out}")
  endif()

# A failed graphExecute fails the run with a message naming the call, its
# code and the weight.
elseif(CASE STREQUAL "execute_fail")
  write_ini(${WORK}/execute.ini ${WORK}/execute-cache)
  set(ENV{SIM_QNN_FAIL} execute)
  run_shim(${WORK}/execute.ini)
  if(rc EQUAL 0 OR NOT err MATCHES "graphExecute\\(blk\\.0\\.attn_q\\.weight[^\n]*error 1007 \\(QNN_COMMON_ERROR_SYSTEM_COMMUNICATION\\)")
    message(FATAL_ERROR "slm-run (exit ${rc}) does not fail naming graphExecute and 1007:\n${err}")
  endif()

elseif(CASE STREQUAL "finalize_fail")
  write_ini(${WORK}/finalize.ini off)
  set(ENV{SIM_QNN_FAIL} finalize)
  run_shim(${WORK}/finalize.ini)
  if(rc EQUAL 0 OR NOT err MATCHES "graphFinalize\\(blk\\.0\\.attn_q\\.weight, slm_mm_1\\): error 6022")
    message(FATAL_ERROR "slm-run (exit ${rc}) does not fail naming graphFinalize and 6022:\n${err}")
  endif()

# --------------------------------------------------------------- cache
# Cold: every weight finalized and saved. Warm (a new process): loaded, 0
# finalizes. Another runtime version: refused and rebuilt. A damaged file:
# refused and rebuilt, alone. A binary the runtime refuses: rebuilt. Every
# run gives the CPU's text.
elseif(CASE STREQUAL "cache")
  set(cache ${WORK}/cache-dir)
  file(REMOVE_RECURSE ${cache})
  write_ini(${WORK}/cache.ini ${cache})
  set(ENV{SIM_QNN_STATS} ${WORK}/cache.stats)
  cpu_text(want_text)
  # stories260K-q8_0: 5 layers of 7 matrices and the output: 36 weights, 5
  # buckets each (min_batch 1: 1, 32, 64, 128, 256 rows)
  set(weights 36)
  math(EXPR all "${weights} * 5")
  set(ini ${WORK}/cache.ini)
  macro(expect what fin loads)
    file(REMOVE ${WORK}/cache.stats)
    run_shim(${ini})
    if(NOT rc EQUAL 0 OR NOT out STREQUAL want_text)
      message(FATAL_ERROR "${what}: slm-run exited ${rc}, text '${out}' (CPU: '${want_text}'):\n${err}")
    endif()
    read_stats(${WORK}/cache.stats)
    if(NOT finalize EQUAL ${fin} OR NOT binary_load EQUAL ${loads})
      message(FATAL_ERROR "${what}: ${finalize} finalizes and ${binary_load} binary loads, "
                          "want ${fin} and ${loads}:\n${err}")
    endif()
    message(STATUS "${what}: ${finalize} finalizes, ${binary_load} binary loads")
  endmacro()

  expect("cold" ${all} 0)
  file(GLOB files ${cache}/*.qnnctx)
  list(LENGTH files n)
  if(NOT n EQUAL weights)
    message(FATAL_ERROR "cold: ${n} cache files, want ${weights}")
  endif()
  expect("warm" 0 ${weights})

  set(ENV{SIM_QNN_VERSION} 2.21.0)
  expect("runtime 2.21.0" ${all} 0)
  if(NOT err MATCHES "refused: built by runtime 'qnn 2.20.0 htp 5.20.0 build [^']*', this is 'qnn 2.21.0")
    message(FATAL_ERROR "runtime 2.21.0: no line saying why the cache was refused:\n${err}")
  endif()
  expect("runtime 2.21.0 warm" 0 ${weights})
  set(ENV{SIM_QNN_VERSION} "")
  expect("back to 2.20.0" ${all} 0)

  # one byte of one file's context binary flipped
  list(GET files 0 victim)
  file(SIZE ${victim} size)
  math(EXPR at "${size} - 7")
  file(READ ${victim} byte OFFSET ${at} LIMIT 1 HEX)
  if(byte STREQUAL "00")
    set(octal 377)
  else()
    set(octal 000)
  endif()
  execute_process(COMMAND sh -c "printf '\\${octal}' | dd of='${victim}' bs=1 seek=${at} count=1 conv=notrunc"
                  RESULT_VARIABLE r OUTPUT_QUIET ERROR_QUIET)
  file(READ ${victim} byte2 OFFSET ${at} LIMIT 1 HEX)
  if(NOT r EQUAL 0 OR byte2 STREQUAL byte)
    message(FATAL_ERROR "could not damage ${victim} (dd exited ${r})")
  endif()
  file(SHA256 ${victim} h1)
  math(EXPR rest "${weights} - 1")
  expect("damaged" 5 ${rest})
  if(NOT err MATCHES "refused: damaged: checksum mismatch; rebuilding")
    message(FATAL_ERROR "damaged: no line saying the file was refused:\n${err}")
  endif()
  file(SHA256 ${victim} h2)
  if(h1 STREQUAL h2)
    message(FATAL_ERROR "damaged: the file was not rewritten")
  endif()
  expect("repaired" 0 ${weights})

  # a truncated file
  file(READ ${victim} head LIMIT 100 HEX)
  file(WRITE ${victim} "${head}")
  expect("truncated" 5 ${rest})

  # the runtime refuses a binary the shim's checks pass
  set(ENV{SIM_QNN_FAIL} binary)
  expect("refused by the runtime" ${all} 0)
  if(NOT err MATCHES "refused by contextCreateFromBinary: error 5005")
    message(FATAL_ERROR "no line naming contextCreateFromBinary's refusal:\n${err}")
  endif()
  set(ENV{SIM_QNN_FAIL} "")

  # a cache folder that cannot be made: one warning, and the run goes on
  write_ini(${WORK}/unwritable.ini /dev/null/qnn)
  set(ini ${WORK}/unwritable.ini)
  expect("unwritable" ${all} 0)
  string(REGEX MATCHALL "context binary not cached \\(cannot create /dev/null/qnn" warned "${err}")
  list(LENGTH warned n)
  if(NOT n EQUAL 1)
    message(FATAL_ERROR "unwritable: ${n} warnings, want 1:\n${err}")
  endif()
else()
  message(FATAL_ERROR "unknown CASE ${CASE}")
endif()

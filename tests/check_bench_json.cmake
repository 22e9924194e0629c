# slm-bench end to end, without timing assertions.
#
# MODE=json (default): write the "tiny" synthetic model of TYPE into WORK_DIR
# with slm-bench itself, benchmark it with --json, parse the output and check
# that every backend that ran reports positive figures, and that fewer bytes
# are read per token than the file holds (the embedding table is not).
# MODE=errors: bad arguments and files fail with a message naming them.
#
# -DBENCH=path/to/slm-bench -DWORK_DIR=dir [-DTYPE=q8_0] [-DMODE=json|errors]

if(NOT MODE)
  set(MODE json)
endif()

# WORK_DIR inside a regular expression, its special characters escaped.
string(REGEX REPLACE "([][+.*()^$?|\\])" "\\\\\\1" work_re "${WORK_DIR}")

function(expect_failure what pattern)
  execute_process(COMMAND ${BENCH} ${ARGN} RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc EQUAL 0)
    message(FATAL_ERROR "${what}: slm-bench ${ARGN} succeeded")
  endif()
  if(NOT err MATCHES "${pattern}")
    message(FATAL_ERROR "${what}: expected an error matching '${pattern}', got:\n${err}")
  endif()
endfunction()

if(MODE STREQUAL "errors")
  file(WRITE ${WORK_DIR}/bench-not-gguf.txt "plain text, no magic\n")
  expect_failure("missing model" "no model" -p 4)
  expect_failure("absent file" "cannot open '${work_re}/no-such-model\\.gguf'"
                 -m ${WORK_DIR}/no-such-model.gguf)
  expect_failure("bad type" "--type 'q5_9': unknown type"
                 --write-synthetic ${WORK_DIR}/bench-bad.gguf --type q5_9)
  expect_failure("bad shape" "--shape 'huge': unknown shape"
                 --write-synthetic ${WORK_DIR}/bench-bad.gguf --shape huge --type q8_0)
  expect_failure("bad thread list" "-t 'x': expected an integer" -m x.gguf -t 1,x)
  expect_failure("empty list entry" "--backend: empty entry" -m x.gguf --backend cpu,,cpu)
  expect_failure("not a GGUF file" "${work_re}/bench-not-gguf\\.txt: not a GGUF file"
                 -m ${WORK_DIR}/bench-not-gguf.txt)
  expect_failure("bad repetitions" "-r '0': expected an integer" -m x.gguf -r 0)
  expect_failure("unwritable path" "cannot create '${work_re}/no-such-dir/x\\.gguf'"
                 --write-synthetic ${WORK_DIR}/no-such-dir/x.gguf --shape tiny --type q8_0)
  return()
endif()

set(model ${WORK_DIR}/bench-tiny-${TYPE}.gguf)
execute_process(COMMAND ${BENCH} --write-synthetic ${model} --shape tiny --type ${TYPE} --seed 3
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "writing ${model} failed (${rc}):\n${err}")
endif()

# A small bandwidth buffer: the figure is not checked, only that it is there.
execute_process(COMMAND ${BENCH} -m ${model} -p 16 -n 8 -r 1 -t 1,2 --bw-size 8 --json
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "slm-bench on ${model} exited ${rc}:\n${err}\n${out}")
endif()

string(JSON type GET "${out}" model type)
string(TOLOWER "${type}" type)
if(NOT type STREQUAL TYPE)
  message(FATAL_ERROR "model type '${type}', expected '${TYPE}'")
endif()
string(JSON n_bytes GET "${out}" model n_bytes)
string(JSON per_token GET "${out}" model bytes_per_token)
if(NOT per_token GREATER 0 OR NOT per_token LESS n_bytes)
  message(FATAL_ERROR "bytes per token ${per_token} of ${n_bytes}")
endif()

string(JSON n_results LENGTH "${out}" results)
if(n_results LESS 2)
  message(FATAL_ERROR "expected results for 1 and 2 threads at least:\n${out}")
endif()
math(EXPR last "${n_results} - 1")
foreach(i RANGE ${last})
  string(JSON backend GET "${out}" results ${i} backend)
  foreach(key load_ms ttft_ms peak_rss_bytes bandwidth_gbps roofline_tps tg_roofline_fraction)
    string(JSON v GET "${out}" results ${i} ${key})
    if(NOT v GREATER 0)
      message(FATAL_ERROR "${backend}: ${key} = ${v}, expected > 0")
    endif()
  endforeach()
  foreach(test pp tg)
    string(JSON tps GET "${out}" results ${i} ${test} tps)
    string(JSON n_samples LENGTH "${out}" results ${i} ${test} samples_tps)
    if(NOT tps GREATER 0 OR NOT n_samples EQUAL 1)
      message(FATAL_ERROR "${backend}: ${test} tokens/s ${tps} from ${n_samples} samples")
    endif()
  endforeach()
endforeach()

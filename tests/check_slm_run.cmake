# check_slm_run.cmake -- slm-run's command line: exit codes, where messages go,
# and one greedy generation whose text is known.
#
# cmake -DSLM_RUN=path/to/slm-run -DSHARED=path/to/shared -DNOT_GGUF=some/text/file
#       -DWORK_DIR=dir -P check_slm_run.cmake

foreach(var SLM_RUN SHARED NOT_GGUF WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_slm_run.cmake: pass -D${var}=...")
  endif()
endforeach()

# run(<args...>): run slm-run in WORK_DIR (so no stray ./slm.ini is read),
# leaving RC, OUT and ERR set in the caller.
function(run)
  execute_process(COMMAND ${SLM_RUN} ${ARGN}
    WORKING_DIRECTORY ${WORK_DIR}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
    TIMEOUT 120)
  set(RC "${rc}" PARENT_SCOPE)
  set(OUT "${out}" PARENT_SCOPE)
  set(ERR "${err}" PARENT_SCOPE)
endfunction()

set(failures 0)
set(empty "")
# check(<what> <condition...>): count a failure, with everything seen, when
# the if() condition is false.
macro(check what)
  if(NOT (${ARGN}))
    message(SEND_ERROR "slm-run ${what}\n  exit: ${RC}\n  stdout: ${OUT}\n  stderr: ${ERR}")
    math(EXPR failures "${failures} + 1")
  endif()
endmacro()

# A path that does not exist: an error naming it.
set(missing /nonexistent/dir/model.gguf)
run(-m ${missing} -p hi -n 1)
check("-m ${missing}: should fail" NOT RC EQUAL 0)
string(FIND "${ERR}" "${missing}" at)
check("-m ${missing}: stderr should name the path" at GREATER -1)
check("-m ${missing}: nothing on stdout" OUT STREQUAL empty)

# A file that is not GGUF.
run(-m ${NOT_GGUF} -n 1)
check("-m ${NOT_GGUF}: should fail" NOT RC EQUAL 0)
string(FIND "${ERR}" "not a GGUF file" at)
check("-m ${NOT_GGUF}: stderr should say 'not a GGUF file'" at GREATER -1)
string(FIND "${ERR}" "${NOT_GGUF}" at)
check("-m ${NOT_GGUF}: stderr should name the file" at GREATER -1)

# No model: usage on stderr, failure.
run(-p hello)
check("without -m: should fail" NOT RC EQUAL 0)
string(FIND "${ERR}" "usage: slm-run" at)
check("without -m: usage on stderr" at GREATER -1)
string(FIND "${ERR}" "-m" at)
check("without -m: stderr should mention -m" at GREATER -1)

# An unknown option.
run(--no-such-option 1)
check("--no-such-option: should fail" NOT RC EQUAL 0)
string(FIND "${ERR}" "--no-such-option" at)
check("--no-such-option: stderr should name the option" at GREATER -1)

# --help: usage on stdout, success.
run(--help)
check("--help: should succeed" RC EQUAL 0)
string(FIND "${OUT}" "usage: slm-run" at)
check("--help: usage on stdout" at GREATER -1)
check("--help: nothing on stderr" ERR STREQUAL empty)

# A real model, greedy: exactly the text llama.cpp gives, timings on stderr.
set(model ${SHARED}/models/gguf/stories260K-f32.gguf)
if(NOT EXISTS ${model})
  message(FATAL_ERROR "${model} not found (is ../shared beside the repository?)")
endif()
run(-m ${model} -p "Once upon a time" -n 48 --temp 0)
check("stories260K-f32: should succeed" RC EQUAL 0)
set(expected "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it,\n")
check("stories260K-f32: stdout should be exactly the greedy story" OUT STREQUAL expected)
foreach(word "prompt" "generation" "tokens/s" "load")
  string(FIND "${ERR}" "${word}" at)
  check("stories260K-f32: stderr should have the timing line '${word}'" at GREATER -1)
endforeach()
string(FIND "${OUT}" "tokens/s" at)
check("stories260K-f32: timings belong on stderr, not stdout" at EQUAL -1)

if(failures GREATER 0)
  message(FATAL_ERROR "${failures} slm-run check(s) failed")
endif()
message(STATUS "slm-run: all command-line checks passed")

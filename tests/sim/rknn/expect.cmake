# cmake -DCMD="prog|arg|..." [-DRC=0] -DMATCH="re1|re2|..." [-DNOMATCH="re|..."]
#       -P expect.cmake
# ('|' separates, since add_test would split a ';' list into arguments; so
# no regex here may use '|'.) Runs CMD; passes when it exits with RC (default 0) and its output (stdout
# and stderr together) holds every MATCH regex and none of NOMATCH. Each
# failure says which, with the output.
if(NOT DEFINED RC)
  set(RC 0)
endif()
foreach(v CMD MATCH NOMATCH)
  string(REPLACE "|" ";" ${v} "${${v}}")
endforeach()
execute_process(COMMAND ${CMD} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
set(why "")
if(NOT rc STREQUAL RC)
  string(APPEND why "exit status ${rc}, expected ${RC}\n")
endif()
foreach(re IN LISTS MATCH)
  if(NOT out MATCHES "${re}")
    string(APPEND why "output lacks: ${re}\n")
  endif()
endforeach()
foreach(re IN LISTS NOMATCH)
  if(out MATCHES "${re}")
    string(APPEND why "output has: ${re}\n")
  endif()
endforeach()
if(why)
  message(FATAL_ERROR "${why}--- output of ${CMD}:\n${out}")
endif()
message("${out}")

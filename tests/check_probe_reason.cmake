# A plugin that loads but finds no device says why with host->log during
# probe (slm/backend.h), and slm-probe shows that line: here the opencl
# plugin with no OpenCL platform (OCL_ICD_VENDORS names no folder). Checked
# through the isolated probe child with a cold cache, again answered from
# the cache, and with isolation off; text and JSON.
#   -DPROBE=slm-probe -DPLUGIN=libslm-backend-opencl.so -DWORK=a scratch dir
set(ENV{OCL_ICD_VENDORS} /nonexistent)
set(ENV{XDG_CACHE_HOME} ${WORK}/probe-reason-cache)
file(REMOVE_RECURSE ${WORK}/probe-reason-cache)
file(WRITE ${WORK}/probe-reason-noiso.ini "[runtime]\nisolate_probe = off\n")
set(want "opencl: no devices: clGetPlatformIDs: CL_PLATFORM_NOT_FOUND_KHR")
foreach(run cold cached no_isolation)
  set(cfg --no-config)
  if(run STREQUAL "no_isolation")
    set(cfg --config ${WORK}/probe-reason-noiso.ini)
  endif()
  execute_process(COMMAND ${PROBE} ${cfg} --only --plugin ${PLUGIN}
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  # exit 2: no usable device, which is the point
  if(NOT rc EQUAL 2)
    message(FATAL_ERROR "${run}: slm-probe exited ${rc}: ${err}\n${out}")
  endif()
  string(REGEX MATCH "loaded +opencl [^\n]*0 devices\n[^\n]*\n +0 devices: ([^\n]*)" m "${out}")
  if(NOT CMAKE_MATCH_1 STREQUAL want)
    message(FATAL_ERROR "${run}: no '0 devices: ${want}' under the opencl line:\n${out}")
  endif()
  execute_process(COMMAND ${PROBE} ${cfg} --only --plugin ${PLUGIN} --json
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  string(JSON state GET "${out}" plugins 0 state)
  string(JSON reason GET "${out}" plugins 0 reason)
  string(JSON ndev GET "${out}" plugins 0 devices)
  if(NOT state STREQUAL "loaded" OR NOT ndev EQUAL 0 OR NOT reason STREQUAL want)
    message(FATAL_ERROR "${run}: JSON plugin ${state}, ${ndev} devices, reason '${reason}':\n${out}")
  endif()
endforeach()
file(GLOB cached ${WORK}/probe-reason-cache/slm/probe-*.txt)
if(NOT cached)
  message(FATAL_ERROR "the isolated probe wrote no cache entry")
endif()

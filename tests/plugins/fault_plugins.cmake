# Plugins for test_faults and test_threads: fault_plugin.c, a device whose
# calls fail as its slm.ini keys say, doing its work through a private copy
# of the scalar reference backend: the objects of backends/cpu linked as
# one more module, in a folder of its own so that no plugin search finds it.
set(_fault ${CMAKE_CURRENT_SOURCE_DIR}/plugins/fault_plugin.c)
set(_fault_delegate_dir ${SLM_TEST_PLUGIN_DIR}/fault-delegate)

add_library(fault_delegate MODULE $<TARGET_OBJECTS:slm_backend_cpu_objs>)
set_target_properties(fault_delegate PROPERTIES PREFIX "lib"
  OUTPUT_NAME reference LIBRARY_OUTPUT_DIRECTORY ${_fault_delegate_dir})
target_link_libraries(fault_delegate PRIVATE m)

foreach(variant fault fault_remote)
  set(_defs "FAULT_NAME=\"${variant}\""
            "FAULT_DELEGATE=\"${_fault_delegate_dir}/libreference.so\"")
  if(variant STREQUAL "fault_remote")
    list(APPEND _defs FAULT_REMOTE)
  endif()
  slm_add_test_plugin(${variant} SOURCE ${_fault} DEFS ${_defs})
  target_link_libraries(${variant} PRIVATE ${CMAKE_DL_LIBS})
  add_dependencies(${variant} fault_delegate)
endforeach()

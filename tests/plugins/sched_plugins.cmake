# Plugins for test_graph and test_scheduler: remote_plugin.c, a device whose
# memory the host cannot address, a variant whose allocations run out and
# one that can also write tensors in place (COPY).
set(_remote ${CMAKE_CURRENT_SOURCE_DIR}/plugins/remote_plugin.c)

slm_add_test_plugin(remote SOURCE ${_remote})
slm_add_test_plugin(remote_failing SOURCE ${_remote}
  DEFS "REMOTE_NAME=\"remote_failing\"" REMOTE_FAIL_AFTER=3)
slm_add_test_plugin(remote_copy SOURCE ${_remote}
  DEFS "REMOTE_NAME=\"remote_copy\"" REMOTE_COPY)

# The tests are defined after this file is included; wait for them.
cmake_language(DEFER CALL add_dependencies test_graph slm_backend_cpu)
cmake_language(DEFER CALL add_dependencies test_scheduler
  remote remote_failing remote_copy slm_backend_cpu)

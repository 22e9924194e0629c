# Plugins for test_config and test_plugin_loader: one source, mock_plugin.c,
# built once per behaviour the loader must handle (see the top of the file).
set(_mock ${CMAKE_CURRENT_SOURCE_DIR}/plugins/mock_plugin.c)

slm_add_test_plugin(mock_good SOURCE ${_mock}
  DEFS "MOCK_NAME=\"mock_good\"" MOCK_GBPS=50.0)
slm_add_test_plugin(mock_dup SOURCE ${_mock}
  DEFS "MOCK_NAME=\"mock_good\"")
slm_add_test_plugin(mock_wrong_abi SOURCE ${_mock}
  DEFS "MOCK_NAME=\"mock_wrong_abi\"" MOCK_ABI_MAJOR=2)
slm_add_test_plugin(mock_newer_minor SOURCE ${_mock}
  DEFS "MOCK_NAME=\"mock_newer_minor\"" MOCK_ABI_MINOR=99)
slm_add_test_plugin(mock_small_struct SOURCE ${_mock}
  DEFS "MOCK_NAME=\"mock_small_struct\"" MOCK_SMALL_STRUCT)
slm_add_test_plugin(mock_no_entry SOURCE ${_mock}
  DEFS "MOCK_NAME=\"mock_no_entry\"" MOCK_NO_ENTRY)
slm_add_test_plugin(mock_init_fail SOURCE ${_mock}
  DEFS "MOCK_NAME=\"mock_init_fail\"" MOCK_INIT_FAIL)
slm_add_test_plugin(mock_probe_fail SOURCE ${_mock}
  DEFS "MOCK_NAME=\"mock_probe_fail\"" MOCK_PROBE_FAIL)
slm_add_test_plugin(mock_missing_slot SOURCE ${_mock}
  DEFS "MOCK_NAME=\"mock_missing_slot\"" MOCK_MISSING_SLOT)
slm_add_test_plugin(mock_emulated SOURCE ${_mock}
  DEFS "MOCK_NAME=\"mock_emulated\"" MOCK_KIND=SLM_DEVICE_GPU
       MOCK_FLAGS=SLM_DEVICE_FLAG_EMULATED MOCK_GBPS=900.0)
slm_add_test_plugin(mock_reference SOURCE ${_mock}
  DEFS "MOCK_NAME=\"mock_reference\"" MOCK_FLAGS=SLM_DEVICE_FLAG_REFERENCE)
slm_add_test_plugin(mock_gpu SOURCE ${_mock}
  DEFS "MOCK_NAME=\"mock_gpu\"" MOCK_KIND=SLM_DEVICE_GPU MOCK_N_DEVICES=2)
slm_add_test_plugin(mock_configurable SOURCE ${_mock}
  DEFS "MOCK_NAME=\"mock_configurable\"" MOCK_CONFIGURABLE)

# Probes that would take the host down: the isolated probe refuses them.
slm_add_test_plugin(mock_segv SOURCE ${_mock}
  DEFS "MOCK_NAME=\"mock_segv\"" MOCK_PROBE_SEGV)
slm_add_test_plugin(mock_hang SOURCE ${_mock}
  DEFS "MOCK_NAME=\"mock_hang\"" MOCK_PROBE_HANG)
slm_add_test_plugin(mock_exit SOURCE ${_mock}
  DEFS "MOCK_NAME=\"mock_exit\"" MOCK_PROBE_EXIT)
slm_add_test_plugin(mock_abort SOURCE ${_mock}
  DEFS "MOCK_NAME=\"mock_abort\"" MOCK_PROBE_ABORT)
slm_add_test_plugin(mock_stdout SOURCE ${_mock}
  DEFS "MOCK_NAME=\"mock_stdout\"" MOCK_PROBE_STDOUT)

# ABI compatibility. tests/abi/v1.0 is a frozen copy of the public plugin
# headers as ABI 1.0 was released: never edit it. A plugin built against it
# must load and run on every later 1.x host.
slm_add_test_plugin(mock_frozen_1_0 SOURCE ${_mock}
  DEFS "MOCK_NAME=\"mock_frozen_1_0\"" MOCK_ADD)
target_include_directories(mock_frozen_1_0 BEFORE PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/abi/v1.0)
# Built for a newer minor than the host's, it serves the host's.
slm_add_test_plugin(mock_negotiate SOURCE ${_mock}
  DEFS "MOCK_NAME=\"mock_negotiate\"" MOCK_ABI_MINOR=7 MOCK_NEGOTIATE)

# A file with the right name and the wrong contents.
file(WRITE ${SLM_TEST_PLUGIN_DIR}/libnot_a_plugin.so
  "this text file is named like a plugin but is not a shared object\n")

# test_plugin_loader is defined after this file is included; wait for it.
cmake_language(DEFER CALL add_dependencies test_plugin_loader
  mock_good mock_dup mock_wrong_abi mock_newer_minor mock_small_struct
  mock_no_entry mock_init_fail mock_probe_fail mock_missing_slot mock_emulated
  mock_reference mock_gpu mock_configurable mock_segv mock_hang mock_exit
  mock_abort mock_stdout mock_frozen_1_0 mock_negotiate)

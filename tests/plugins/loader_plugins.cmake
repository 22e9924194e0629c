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

# A file with the right name and the wrong contents.
file(WRITE ${SLM_TEST_PLUGIN_DIR}/libnot_a_plugin.so
  "this text file is named like a plugin but is not a shared object\n")

# test_plugin_loader is defined after this file is included; wait for it.
cmake_language(DEFER CALL add_dependencies test_plugin_loader
  mock_good mock_dup mock_wrong_abi mock_newer_minor mock_small_struct
  mock_no_entry mock_init_fail mock_probe_fail mock_missing_slot mock_emulated
  mock_reference mock_gpu mock_configurable)

# Plugins for slm-conform's tests: partial_plugin.c, a device running a few
# ops, built correct, with memory the host cannot address, wrong by a
# little in ADD or in the activation quants of Q8_0 matmuls, and as an NPU
# (F16 matmuls of weights only).
set(_partial ${CMAKE_CURRENT_SOURCE_DIR}/plugins/partial_plugin.c)

slm_add_test_plugin(partial SOURCE ${_partial})
slm_add_test_plugin(partial_remote SOURCE ${_partial}
  DEFS "PARTIAL_NAME=\"partial_remote\"" PARTIAL_REMOTE)
slm_add_test_plugin(partial_skew_add SOURCE ${_partial}
  DEFS "PARTIAL_NAME=\"partial_skew_add\"" PARTIAL_SKEW_ADD)
slm_add_test_plugin(partial_skew_quant SOURCE ${_partial}
  DEFS "PARTIAL_NAME=\"partial_skew_quant\"" PARTIAL_SKEW_QUANT)
slm_add_test_plugin(partial_npu SOURCE ${_partial}
  DEFS "PARTIAL_NAME=\"partial_npu\"" PARTIAL_NPU)

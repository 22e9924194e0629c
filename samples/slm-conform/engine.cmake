# The conformance engine (conform_engine.c): plain C, libdl and libm, so
# that slm-conform, test_cpu_simd and test_neon_conform share one copy of
# the checks, including in the plugins-only cross build (SLM_PLUGINS_ONLY),
# which has no libslm and no samples. samples/slm-conform and tests/ both
# include this file; the first defines the library.
if(NOT TARGET slm_conform_engine)
  add_library(slm_conform_engine STATIC ${CMAKE_CURRENT_LIST_DIR}/conform_engine.c)
  target_include_directories(slm_conform_engine PUBLIC ${PROJECT_SOURCE_DIR}/include
                             ${CMAKE_CURRENT_LIST_DIR})
  target_compile_definitions(slm_conform_engine PRIVATE _GNU_SOURCE)
  target_link_libraries(slm_conform_engine PUBLIC ${CMAKE_DL_LIBS} m)
endif()

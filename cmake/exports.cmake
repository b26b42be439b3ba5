# exports.cmake - the linker version script of liblmdiff.so: every function
# declared in include/lmdiff.h is global, everything else local.  Included by
# CMakeLists.txt; re-run when the header changes.
file(READ ${CMAKE_SOURCE_DIR}/include/lmdiff.h LMD_HEADER)
string(REGEX REPLACE "/\\*([^*]|\\*+[^*/])*\\*+/" "" LMD_HEADER "${LMD_HEADER}")
string(REGEX MATCHALL "[ \t\n*](lmd_[a-z0-9_]+)[ \t\n]*\\(" LMD_DECLS "${LMD_HEADER}")
set(LMD_EXPORTS "")
foreach(d ${LMD_DECLS})
  string(REGEX REPLACE "^[ \t\n*](lmd_[a-z0-9_]+).*" "\\1" name "${d}")
  list(APPEND LMD_EXPORTS ${name})
endforeach()
list(REMOVE_DUPLICATES LMD_EXPORTS)
list(SORT LMD_EXPORTS)
string(REPLACE ";" ";\n    " LMD_EXPORT_LINES "${LMD_EXPORTS}")
file(WRITE ${CMAKE_BINARY_DIR}/lmdiff.map.tmp "LMDIFF_0 {\n  global:\n    ${LMD_EXPORT_LINES};\n  local:\n    *;\n};\n")
file(COPY_FILE ${CMAKE_BINARY_DIR}/lmdiff.map.tmp ${CMAKE_BINARY_DIR}/lmdiff.map ONLY_IF_DIFFERENT)
file(WRITE ${CMAKE_BINARY_DIR}/lmdiff.exports "${LMD_EXPORTS}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/include/lmdiff.h)

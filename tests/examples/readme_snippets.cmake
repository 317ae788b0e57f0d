# readme_snippets.cmake: checks that README.md shows each region of an
# example program marked "// README: <name> begin" ... "// README: <name>
# end" verbatim, so that the README's code is code that builds and runs.
# Usage: cmake -DREADME=<README.md> -DEXAMPLE=<examples/x.cpp> -P readme_snippets.cmake
file(READ "${README}" readme)
file(READ "${EXAMPLE}" example)
string(REGEX MATCHALL "// README: [a-z-]+ begin\n" begins "${example}")
if(NOT begins)
  message(FATAL_ERROR "${EXAMPLE}: no README regions")
endif()
foreach(b IN LISTS begins)
  string(REGEX REPLACE "// README: ([a-z-]+) begin\n" "\\1" name "${b}")
  string(FIND "${example}" "${b}" start)
  string(LENGTH "${b}" blen)
  math(EXPR start "${start} + ${blen}")
  string(SUBSTRING "${example}" ${start} -1 rest)
  string(FIND "${rest}" "// README: ${name} end" stop)
  string(SUBSTRING "${rest}" 0 ${stop} region)
  string(FIND "${readme}" "${region}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "README.md does not show ${EXAMPLE}'s region \"${name}\" verbatim")
  endif()
  message(STATUS "region ${name}: in README.md")
endforeach()

# The parameter-server storage benchmark (`moerec bench ps`); included from bench/CMakeLists.txt.
moerec_library(moerec_ps_bench SRCS ps_bench.cc DEPS moerec_ps)

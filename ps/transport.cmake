# The parameter-server transport over MPI: wire framing, the step clock, the server's request
# loop, the client. Included from ps/CMakeLists.txt.
find_package(MPI REQUIRED COMPONENTS CXX)
moerec_library(moerec_ps_transport
  SRCS wire.cc step_clock.cc server.cc client.cc
  DEPS moerec_ps moerec_comm moerec_embedding ZLIB::ZLIB MPI::MPI_CXX)
moerec_test(wire_test SRCS wire_test.cc DEPS moerec_ps_transport TIMEOUT 60)
moerec_test(step_clock_test SRCS step_clock_test.cc DEPS moerec_ps_transport TIMEOUT 60)

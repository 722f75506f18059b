# The parameter-server transport over MPI: wire framing, the server's request loop, the client.
# Included from ps/CMakeLists.txt.
find_package(MPI REQUIRED COMPONENTS CXX)
moerec_library(moerec_ps_transport
  SRCS wire.cc server.cc client.cc
  DEPS moerec_ps moerec_scheduler moerec_comm moerec_embedding ZLIB::ZLIB MPI::MPI_CXX)
moerec_test(wire_test SRCS wire_test.cc DEPS moerec_ps_transport TIMEOUT 60)

// Writes the seed corpora of the fuzz targets, tests/fuzz/corpus/<target>/, with the project's
// own writers and the tests' fixtures, so that every seed is a well-formed input the fuzzer
// mutates from:
//   write_corpus <source dir> <corpus dir>
// Run by hand when a format changes (tests/fuzz/README.md); the seeds are checked in.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "comm/teacher_wire.h"
#include "core/checksum.h"
#include "core/optimizer.h"
#include "core/parameter.h"
#include "core/temp_dir.h"
#include "data/shard.h"
#include "data/test_util.h"
#include "proto/checkpoint.pb.h"
#include "ps/checkpoint.h"
#include "ps/wire.h"
#include "serving/embedding_file.h"
#include "tests/fuzz/row_fixture.h"

namespace moerec {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void Put(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

void CheckOk(const Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "write_corpus: %s\n", s.ToString().c_str());
    std::exit(1);
  }
}

void Shards(const fs::path& out, const testing::TempDir& tmp) {
  int n = 0;
  for (bool truth : {false, true}) {
    const ShardHeader h = testing::MakeHeader(2, 3, 1, truth, 3);
    const std::string path = tmp.file("seed.mrs");
    auto writer = ShardWriter::Open(path, h, /*block_samples=*/8);
    CheckOk(writer.status());
    CheckOk((*writer)->Append(testing::MakeRandomBatch(h, 20, 7 + n)));
    CheckOk((*writer)->Close());
    Put(out / "shard_reader", "seed" + std::to_string(n++) + ".mrs", Slurp(path));
  }
}

void Wire(const fs::path& out) {
  const uint64_t keys[5] = {11, 12, 13, 14, 15};
  float values[3 * 8 + 2 * 4];
  for (size_t i = 0; i < sizeof(values) / sizeof(float); ++i) values[i] = 0.25f * i;
  const std::vector<SliceView> slices = {{0, 8, 3, keys, values}, {1, 4, 2, keys + 3, values + 24}};
  int n = 0;
  for (PsOp op : {PS_PULL, PS_PULL_EVAL, PS_PUSH, PS_CHECKPOINT, PS_STATS}) {
    PsRequest req;
    req.set_op(op);
    req.set_request_id(7);
    req.set_worker(1);
    req.set_step(12);
    if (op == PS_CHECKPOINT) req.set_path("/run/checkpoints/step-0000000012/ps");
    std::string frame;
    EncodeFrame(&req, op == PS_CHECKPOINT || op == PS_STATS ? std::vector<SliceView>{} : slices,
                true, RequestHasValues(op), &frame);
    Put(out / "wire", "request" + std::to_string(n++), frame);
  }
  PsReply rep;
  rep.set_request_id(7);
  std::string frame;
  EncodeFrame(&rep, slices, false, true, &frame);
  Put(out / "wire", "pull_reply", frame);
  PsReply err;
  err.set_request_id(7);
  err.set_code(3);
  err.set_error("table 5 out of range");
  EncodeFrame(&err, {}, false, false, &frame);
  Put(out / "wire", "error_reply", frame);
}

// Teacher-rank messages: requests of width 4 over 3 domains, a done message, replies of 5 logits.
void TeacherWire(const fs::path& out) {
  const std::vector<float> x = {0.5f, -1, 2, 0, 1, 1, 1, 1, -3, 0.25f, 4,  2,  0,  0,  0,  1,
                                9,    8,  7, 6, 5, 4, 3, 2, 1,  0,     -1, -2, -3, -4, -5, -6};
  const std::vector<int32_t> domains = {0, 0, 1, 1, 1, 2, 2, 2};
  Put(out / "teacher_wire", "request8",
      EncodeTeacherRequest(ConstMatView(x.data(), 8, 4, 4), domains.data()));
  Put(out / "teacher_wire", "request1",
      EncodeTeacherRequest(ConstMatView(x.data(), 1, 4, 4), domains.data()));
  Put(out / "teacher_wire", "done", EncodeTeacherDone());
  Put(out / "teacher_wire", "reply", EncodeTeacherReply(Status::OK(), x.data(), 5));
  Put(out / "teacher_wire", "error_reply",
      EncodeTeacherReply(InvalidArgument("teacher request: 3 pairs of width 7"), nullptr, 0));
}

void Embeddings(const fs::path& out, const testing::TempDir& tmp) {
  EmbeddingMatrix m;
  m.kind = EmbeddingMatrix::kItem;
  m.dim = 4;
  for (int i = 0; i < 5; ++i) {
    m.ids.push_back(100 + i);
    m.scenario.push_back(i % 2 ? -1 : i);
    for (int d = 0; d < 4; ++d) m.values.push_back(0.5f * i - d);
  }
  CheckOk(WriteEmbeddingFile(tmp.file("items.emb"), m));
  Put(out / "embedding_file", "items.emb", Slurp(tmp.file("items.emb")));
  m.kind = EmbeddingMatrix::kUser;
  m.ids.resize(2);
  m.scenario.resize(2);
  m.values.resize(8);
  CheckOk(WriteEmbeddingFile(tmp.file("users.emb"), m));
  Put(out / "embedding_file", "users.emb", Slurp(tmp.file("users.emb")));
}

void Checkpoints(const fs::path& out, const testing::TempDir& tmp) {
  // Rows: the row file of a full checkpoint and of an increment standing on it.
  auto store = fuzz::OpenRows();
  fuzz::TrainRows(store.get(), 0, 3);
  fuzz::CheckpointRows(store.get(), tmp.file("full"), 3, false);
  fuzz::TrainRows(store.get(), 3, 2);
  fuzz::CheckpointRows(store.get(), tmp.file("increment"), 5, true);
  Put(out / "row_file", "full.dat", Slurp(tmp.file("full/shard-00000/rows.dat")));
  Put(out / "row_file", "increment.dat", Slurp(tmp.file("increment/shard-00000/rows.dat")));
  // Manifests of a job checkpoint, its ps folder and one shard.
  JobCheckpointManifest job;
  job.set_format_version(1);
  job.set_step(40);
  job.set_epoch(1);
  job.set_epoch_batches(15);
  job.set_num_workers(2);
  job.set_num_servers(2);
  job.set_best_checkpoint("step-0000000020");
  job.mutable_dense()->set_name("dense.bin");
  job.mutable_dense()->set_size(1234);
  job.mutable_dense()->set_crc32(0xdeadbeef);
  job.mutable_ps_manifest()->set_name("ps/MANIFEST");
  CheckpointFile* e = job.add_expert_files();
  e->set_name("experts-1.bin");
  e->set_size(99);
  CheckpointManifest ps;
  ps.set_format_version(1);
  ps.set_num_shards(1);
  ps.set_step(40);
  ps.set_kind(CHECKPOINT_INCREMENTAL);
  ps.set_base("../step-0000000020/ps");
  ps.set_base_step(20);
  ps.add_shard_manifests()->set_name("shard-00000/MANIFEST");
  ShardManifest shard;
  shard.set_format_version(1);
  shard.set_num_shards(1);
  shard.set_step(40);
  shard.set_kind(CHECKPOINT_INCREMENTAL);
  shard.set_base("../step-0000000020/ps");
  CheckpointTable* t = shard.add_tables();
  t->set_name("item");
  t->set_name_hash(0x1234abcdull);
  t->set_dim(4);
  t->set_optimizer("ADAGRAD");
  t->set_state_floats(4);
  t->set_rows(3);
  CheckpointFile* rows = shard.add_files();
  rows->set_name("rows.dat");
  rows->set_size(100);
  int n = 0;
  for (const google::protobuf::Message* m :
       std::vector<const google::protobuf::Message*>{&job, &ps, &shard}) {
    CheckOk(WriteManifest(tmp.file("MANIFEST"), *m));
    Put(out / "checkpoint_manifest", "manifest" + std::to_string(n++), Slurp(tmp.file("MANIFEST")));
  }
  // Dense sections: parameters, and each optimizer's state, of the fuzz target's parameter set.
  ParameterSet params;
  params.Add("bottom.w", {3, 4});
  params.Add("bottom.b", {4});
  params.Add("tower.w", {4, 1});
  std::string bytes;
  CheckOk(params.SaveTo(&bytes));
  Put(out / "dense_checkpoint", "params", bytes);
  n = 0;
  for (DenseOptimizerType type :
       {DenseOptimizerType::kAdam, DenseOptimizerType::kAdagrad, DenseOptimizerType::kSgd}) {
    DenseOptimizerOptions options;
    options.type = type;
    options.momentum = 0.9f;
    auto optimizer = DenseOptimizer::Create(options, &params);
    CheckOk(optimizer.status());
    for (const auto& p : params.params()) p->grad.Fill(0.5f);
    (*optimizer)->Step();
    CheckOk((*optimizer)->SaveState(&bytes));
    Put(out / "dense_checkpoint", "optimizer" + std::to_string(n++), bytes);
  }
}

void Texts(const fs::path& src, const fs::path& out, const testing::TempDir& tmp) {
  for (const char* config :
       {"configs/quickstart.pbtxt", "configs/distributed_quickstart.pbtxt",
        "configs/movielens_1m_mmoe.pbtxt", "configs/seesaw.pbtxt",
        "configs/movielens_100k.convert.pbtxt", "configs/kuairand_1k.convert.pbtxt"}) {
    Put(out / "config", fs::path(config).filename().string(), Slurp((src / config).string()));
  }
  const std::string csv =
      "tab,uid,item,tags,price,clicked,rating\n"
      "home,7,apple,\"a|b\",3.5,1,4\n"
      "feed,8,\"pear, green\",,0,0,5\n"
      "home,x9,123,c||a,,1,\n"
      "feed2,9,17,a,1e3,0,5\n";
  Put(out / "csv_convert", "comma.csv", std::string(1, '\0') + csv);
  std::string tsv = csv;
  for (char& c : tsv) c = c == ',' ? '\t' : c;
  Put(out / "csv_convert", "tab.tsv", std::string(1, '\1') + tsv);
  // MovieLens: a few lines of each file in the published layouts (1M: "::"-separated, the
  // title carrying a Latin-1 byte as real titles do; 100K: tab and '|' separated).
  const std::string ml1m =
      "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n"
      "3::661::1::978297867\n2::3408::2::978300275\n"
      "\f1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::15::55117\n"
      "\f1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
      "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
      "3408::Caf\xe9 Society (2000)::Drama\n";
  Put(out / "movielens_convert", "ml-1m", "\1" + ml1m);
  const std::string ml100k =
      "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t5\t881251949\n"
      "\f196|49|M|writer|55105\n186|39|F|executive|00000\n"
      "\f242|Kolya (1996)|24-Jan-1997||http://x/242|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
      "302|L.A. Confidential "
      "(1997)|01-Jan-1997||http://x/302|0|0|0|0|0|0|1|0|0|0|0|0|0|1|0|0|1|0|0\n";
  Put(out / "movielens_convert", "ml-100k", std::string(1, '\0') + ml100k);
}

}  // namespace
}  // namespace moerec

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: write_corpus <source dir> <corpus dir>\n");
    return 2;
  }
  const moerec::testing::TempDir tmp;
  const std::filesystem::path out = argv[2];
  moerec::Shards(out, tmp);
  moerec::Wire(out);
  moerec::TeacherWire(out);
  moerec::Embeddings(out, tmp);
  moerec::Checkpoints(out, tmp);
  moerec::Texts(argv[1], out, tmp);
  std::printf("write_corpus: seeds written to %s\n", argv[2]);
  return 0;
}

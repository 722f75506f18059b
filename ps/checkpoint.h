// Checkpoints of the parameter servers: layout, manifests, verification.
//
// One checkpoint is one folder:
//   <dir>/shard-00000/ ... shard-<P-1>/  one per server (RowStore::Checkpoint), each with
//       MANIFEST   its files with sizes and crc32s, tables, step, kind; written last in the folder
//       db/        a RocksDB checkpoint (full checkpoints of RocksDB-backed servers), or
//       rows.dat   a row file (memory-only servers, and increments: rows changed or deleted
//                  since the base checkpoint)
//   <dir>/MANIFEST                       the job manifest, written last of all by
//                                        FinishCheckpoint: lists every shard manifest with its
//                                        crc32. Every manifest is replaced atomically (temporary
//                                        file, fsync, rename, fsync of the folder).
// Manifests are protobuf text (proto/ps.proto) followed by a line "# crc32 <8 hex digits>" over
// the text before it.
//
// A checkpoint is whole when its job manifest is present and every manifest and every listed
// file has its recorded size and crc32; anything else is refused with a Corruption status that
// names the file and what is wrong (a missing manifest means a partial checkpoint). An
// incremental checkpoint names its base (a relative path); it is whole when its whole chain is.
// Thread-safety: functions; concurrent writers must use different folders.
#ifndef MOEREC_PS_CHECKPOINT_H_
#define MOEREC_PS_CHECKPOINT_H_

#include <google/protobuf/message.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "proto/ps.pb.h"

namespace moerec {

inline constexpr uint32_t kCheckpointFormatVersion = 1;
inline constexpr char kManifestName[] = "MANIFEST";

// "shard-00003".
std::string ShardDirName(int shard);

// Whether a file name listed in a manifest stays inside the manifest's folder: not empty, not
// absolute, no ".." component. Readers refuse any other name (Corruption).
bool IsSafeCheckpointFileName(const std::string& name);

// Writes `manifest` to `path` atomically, with its checksum line.
Status WriteManifest(const std::string& path, const google::protobuf::Message& manifest);
// Reads and checks a manifest written by WriteManifest; NotFound when the file is missing.
Status ReadManifest(const std::string& path, google::protobuf::Message* manifest);

// Writes <dir>/MANIFEST once every server has written its part into `dir` (the chief calls it
// after all servers' RowStore::Checkpoint returned OK). Checks that the P shard manifests are
// present and agree (step, kind, base, shard count); does not re-read the data files.
Status FinishCheckpoint(const std::string& dir);

struct CheckpointShard {
  std::string dir;  // <checkpoint>/shard-<i>
  ShardManifest manifest;
};
struct CheckpointLevel {
  std::string dir;  // absolute
  CheckpointManifest manifest;
  std::vector<CheckpointShard> shards;
};

// The checkpoints `dir` stands on, oldest (the full one) first and `dir` last, after checking
// every manifest and the size and crc32 of every listed file (the whole chain is read).
StatusOr<std::vector<CheckpointLevel>> LoadCheckpointChain(const std::string& dir);

// OK when `dir` is a whole checkpoint (LoadCheckpointChain succeeds).
Status VerifyCheckpoint(const std::string& dir);

}  // namespace moerec

#endif  // MOEREC_PS_CHECKPOINT_H_

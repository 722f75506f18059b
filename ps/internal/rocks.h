// RocksDB plumbing of the row store: options from RocksDbConfig (tuned for point lookups of
// fixed-size rows), opening a shard's database fresh or a checkpoint read-only, and status
// conversion. Writes never use the write-ahead log: a shard's live database is scratch space and
// durability comes from checkpoints (a RocksDB checkpoint flushes the memtable first).
// Thread-safety: functions; the returned DB is as thread-safe as RocksDB's.
#ifndef MOEREC_PS_INTERNAL_ROCKS_H_
#define MOEREC_PS_INTERNAL_ROCKS_H_

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <memory>
#include <string>

#include "core/status.h"
#include "proto/ps.pb.h"

namespace moerec {

// IoError (or Corruption) "<what>: <rocksdb message>"; OK stays OK.
// `what` names the operation; `where` (optional), a folder on the disk it writes to: a full
// disk is ResourceExhausted with the bytes still free there.
Status FromRocks(const rocksdb::Status& s, const std::string& what, const std::string& where = "");

// Options for a shard's database. InvalidArgument when the compression is not built into
// librocksdb.
StatusOr<rocksdb::Options> MakeRocksOptions(const RocksDbConfig& config);
rocksdb::ReadOptions MakeReadOptions(const RocksDbConfig& config);
rocksdb::WriteOptions MakeWriteOptions();

// Deletes whatever is at `path` and creates an empty database there.
StatusOr<std::unique_ptr<rocksdb::DB>> OpenFreshDb(const std::string& path,
                                                   const rocksdb::Options& options);
// Opens an existing database (e.g. files linked in from a checkpoint).
StatusOr<std::unique_ptr<rocksdb::DB>> OpenExistingDb(const std::string& path,
                                                      const rocksdb::Options& options);
// Opens a checkpoint's database for reading without writing anything into its folder.
StatusOr<std::unique_ptr<rocksdb::DB>> OpenCheckpointDb(const std::string& path);

// A RocksDB checkpoint of `db` in `dir` (which must not exist); flushes the memtable first.
Status CreateRocksCheckpoint(rocksdb::DB* db, const std::string& dir);

// Hard-links (or copies, across file systems) every file of the database folder `from` into
// the new folder `to`; files RocksDB rewrites on open (CURRENT, MANIFEST-*, OPTIONS-*) are
// copied so the source stays untouched.
Status LinkDbFiles(const std::string& from, const std::string& to);

}  // namespace moerec

#endif  // MOEREC_PS_INTERNAL_ROCKS_H_

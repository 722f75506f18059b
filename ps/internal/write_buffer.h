// WriteBuffer: the row writes and deletes of one RowStore call (write-backs of evicted rows,
// sweep deletes, restored rows), handed to RocksDB as one WriteBatch in key order. Memtable
// inserts of keys in order are much cheaper than of keys in eviction (random) order: the skip
// list starts each search from the previous one.
// Thread-safety: none.
#ifndef MOEREC_PS_INTERNAL_WRITE_BUFFER_H_
#define MOEREC_PS_INTERNAL_WRITE_BUFFER_H_

#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "ps/row_codec.h"

namespace moerec {

class WriteBuffer {
 public:
  // Room for a value of n bytes to be written under (table_hash, key); valid until the next
  // call.
  char* AppendPut(uint64_t table_hash, uint64_t key, size_t n) {
    ops_.push_back(Op{table_hash, key, values_.size(), n});
    values_.resize(values_.size() + n);
    return values_.data() + values_.size() - n;
  }
  void Put(uint64_t table_hash, uint64_t key, std::string_view value) {
    std::memcpy(AppendPut(table_hash, key, value.size()), value.data(), value.size());
  }
  void Delete(uint64_t table_hash, uint64_t key) {
    ops_.push_back(Op{table_hash, key, 0, kDeleteOp});
  }

  bool empty() const { return ops_.empty(); }
  size_t bytes() const { return values_.size() + ops_.size() * kRowKeyBytes; }

  // Moves everything into *batch, in key order (operations on one key keep their order).
  void Drain(rocksdb::WriteBatch* batch) {
    std::stable_sort(ops_.begin(), ops_.end(), [](const Op& a, const Op& b) {
      return a.table_hash != b.table_hash ? a.table_hash < b.table_hash : a.key < b.key;
    });
    char key[kRowKeyBytes];
    for (const Op& op : ops_) {
      EncodeRowKey(op.table_hash, op.key, key);
      const rocksdb::Slice k(key, kRowKeyBytes);
      if (op.size == kDeleteOp) {
        batch->Delete(k);
      } else {
        batch->Put(k, rocksdb::Slice(values_.data() + op.offset, op.size));
      }
    }
    Clear();
  }
  void Clear() {
    ops_.clear();
    values_.clear();
  }

 private:
  static constexpr size_t kDeleteOp = ~size_t{0};
  struct Op {
    uint64_t table_hash;
    uint64_t key;
    size_t offset;
    size_t size;
  };
  std::vector<Op> ops_;
  std::string values_;
};

}  // namespace moerec

#endif  // MOEREC_PS_INTERNAL_WRITE_BUFFER_H_

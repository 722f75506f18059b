// DomainInput: the input layer of every model — the pooled features, followed by a learned
// embedding of the sample's domain when ModelConfig.domain_embedding_dim > 0.
//
// Dimension legend: B rows, F feature columns, D domains, De embedding width.
//   features, dfeatures: (B, F)   table: (D, De) parameter "<name>.table"   out: (B, F + De)
// Initialisation: table ~ N(0, 0.05^2), like a sparse row under the default table
// initializer (proto/config.proto InitializerConfig).
// Backward is split in two so that consumers write the input gradient straight to its final
// place: GradBuffer() gives the (B, F + De) matrix they write (dfeatures itself when De = 0),
// Backward() then copies its first F columns to dfeatures and accumulates the table's rows.
// Gradient rule: the table gradient accumulates; dfeatures is written.
// Memory: with De = 0 the layer holds nothing and Forward returns `features` itself.
// Thread-safety: none.
#ifndef MOEREC_EXPERTS_LAYERS_DOMAIN_INPUT_H_
#define MOEREC_EXPERTS_LAYERS_DOMAIN_INPUT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/parameter.h"
#include "core/tensor.h"

namespace moerec {

class DomainInput {
 public:
  DomainInput() = default;
  DomainInput(int64_t num_features, int num_domains, int dim, const std::string& name,
              ParameterSet* params, uint64_t seed);

  int64_t output_dim() const { return num_features_ + dim_; }
  int dim() const { return dim_; }

  // domain_begin: (D + 1), rows sorted by domain.
  ConstMatView Forward(ConstMatView features, const std::vector<int64_t>& domain_begin);
  // Where the gradient of Forward's output goes: (B, F + De); a view with null data when
  // nothing needs it (De = 0 and dfeatures.data null).
  MatView GradBuffer(int64_t rows, MatView dfeatures);
  // After the consumers have written GradBuffer(): dfeatures (when its data is set) and the
  // table gradient. Nothing to do when De = 0.
  void Backward(const std::vector<int64_t>& domain_begin, MatView dfeatures);

 private:
  int64_t num_features_ = 0;
  int num_domains_ = 1;
  int dim_ = 0;
  Parameter* table_ = nullptr;
  Tensor out_;   // (B, F + De)
  Tensor grad_;  // (B, F + De)
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_LAYERS_DOMAIN_INPUT_H_

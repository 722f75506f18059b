// The fixed facts of the MovieLens 100K and 1M layouts: file names, field separators, age
// codes, occupation vocabularies and genre names. Shared by the source that reads the files and
// the config validator that checks domain groups against them.
//
// Age: 1M stores a code (1 = under 18, 18 = 18-24, 25, 35, 45, 50, 56 = 56+); 100K stores
// years, which AgeCode buckets into the same codes, so one domain rule fits both layouts.
// Occupation: 1M stores a code 0..20, 100K a word from its own list of 21; the two lists differ.
#ifndef MOEREC_DATA_CONVERT_INTERNAL_MOVIELENS_LAYOUT_H_
#define MOEREC_DATA_CONVERT_INTERNAL_MOVIELENS_LAYOUT_H_

#include <string>
#include <vector>

#include "proto/convert.pb.h"

namespace moerec::convert {

struct MovieLensFiles {
  std::string ratings;  // default ratings file name
  std::string users;
  std::string items;
  std::string separator;  // of users and items (and of ratings in 1M)
  std::string ratings_separator;
};
MovieLensFiles MovieLensFileNames(MovieLensInput::Layout layout);

inline constexpr int kAgeCodes[] = {1, 18, 25, 35, 45, 50, 56};
// The code of the 1M age bucket holding `years`.
int AgeCode(int years);

// 1M occupation names by code (as identifiers: "academic_educator"), and the 100K occupation
// words (their index is the id).
const std::vector<std::string>& Occupations1M();
const std::vector<std::string>& Occupations100K();

// Genre names; the index is the genre id. Index 0 is "unknown" (a 100K flag only).
const std::vector<std::string>& GenreNames();

// The raw values `field` takes in `layout`, in default domain order (gender "F", "M"; age codes
// as decimal strings; occupation codes "0".."20" (1M) or the words (100K)). SINGLE: none.
std::vector<std::string> DomainFieldValues(MovieLensInput::Layout layout, DomainRule::Field field);
// Names of the default domains (one per value; SINGLE: "all").
std::vector<std::string> DefaultDomainNames(MovieLensInput::Layout layout, DomainRule::Field field);

// The slot name of a feature ("user_id", "genres", ...).
std::string FeatureSlotName(MovieLensInput::Feature feature);

}  // namespace moerec::convert

#endif  // MOEREC_DATA_CONVERT_INTERNAL_MOVIELENS_LAYOUT_H_

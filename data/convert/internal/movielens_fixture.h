// Small MovieLens-layout files written by the tests (the real data may not be redistributed).
// 1M: users 1..40, movies 1..50, every user rates every movie once; 100K: users 1..30, movies
// 1..20, same pattern. Everything derives from ids, so tests can recompute what a sample holds.
#ifndef MOEREC_DATA_CONVERT_INTERNAL_MOVIELENS_FIXTURE_H_
#define MOEREC_DATA_CONVERT_INTERNAL_MOVIELENS_FIXTURE_H_

#include <algorithm>
#include <string>
#include <vector>

#include "core/random.h"
#include "data/convert/internal/movielens_layout.h"
#include "data/convert/internal/test_util.h"

namespace moerec::convert::testing {

inline constexpr int kUsers1M = 40;
inline constexpr int kMovies1M = 50;
inline constexpr int kUsers100K = 30;
inline constexpr int kMovies100K = 20;

inline int FixtureRating(int64_t user, int64_t movie) {
  return 1 + static_cast<int>(Mix64(user * 1000 + movie) % 5);
}
inline char FixtureGender(int64_t user) { return user % 2 ? 'M' : 'F'; }
inline int FixtureAgeCode1M(int64_t user) { return kAgeCodes[user % 7]; }
inline int FixtureOccupation(int64_t user) { return static_cast<int>(user % 21); }
inline int FixtureAge100K(int64_t user) { return 10 + static_cast<int>(user) * 2; }
// Genre ids of a movie, ascending: (m % 18) + 1, and 8 (Drama) for even ids.
inline std::vector<uint64_t> FixtureGenres(int64_t movie) {
  std::vector<uint64_t> g = {static_cast<uint64_t>(movie % 18 + 1)};
  if (movie % 2 == 0 && g[0] != 8) g.push_back(8);
  std::sort(g.begin(), g.end());
  return g;
}
// 1M: from the title; 100K: from the release date, none for movie 5.
inline int64_t FixtureYear(int64_t movie) { return 1950 + movie; }

inline std::string Users1M() {
  std::string s;
  for (int u = 1; u <= kUsers1M; ++u) {
    s += std::to_string(u) + "::" + FixtureGender(u) + "::" + std::to_string(FixtureAgeCode1M(u)) +
         "::" + std::to_string(FixtureOccupation(u)) + "::" + std::to_string(48000 + u) + "\n";
  }
  return s;
}

inline std::string Movies1M() {
  std::string s;
  for (int m = 1; m <= kMovies1M; ++m) {
    // Movie 3 carries a Latin-1 byte (0xe9, 'é') as real 1M titles do.
    const std::string title = m == 3 ? "Caf\xe9 Society" : "Movie " + std::to_string(m);
    std::string genres;
    for (const uint64_t g : FixtureGenres(m))
      genres += (genres.empty() ? "" : "|") + GenreNames()[g];
    s += std::to_string(m) + "::" + title + " (" + std::to_string(FixtureYear(m)) + ")::" + genres +
         "\n";
  }
  return s;
}

inline std::string Ratings(int users, int movies, const std::string& sep) {
  std::string s;
  for (int u = 1; u <= users; ++u) {
    for (int m = 1; m <= movies; ++m) {
      s += std::to_string(u) + sep + std::to_string(m) + sep + std::to_string(FixtureRating(u, m)) +
           sep + std::to_string(978300000 + u * 100 + m) + "\n";
    }
  }
  return s;
}

inline void WriteMovieLens1M(const std::string& dir) {
  WriteText(dir + "/users.dat", Users1M());
  WriteText(dir + "/movies.dat", Movies1M());
  WriteText(dir + "/ratings.dat", Ratings(kUsers1M, kMovies1M, "::"));
}

inline void WriteMovieLens100K(const std::string& dir) {
  std::string users;
  for (int u = 1; u <= kUsers100K; ++u) {
    users += std::to_string(u) + "|" + std::to_string(FixtureAge100K(u)) + "|" + FixtureGender(u) +
             "|" + Occupations100K()[FixtureOccupation(u)] + "|" + std::to_string(55100 + u) + "\n";
  }
  std::string items;
  for (int m = 1; m <= kMovies100K; ++m) {
    const std::string date = m == 5 ? "" : "01-Jan-" + std::to_string(FixtureYear(m));
    items += std::to_string(m) + "|" + (m == 3 ? "Les Mis\xe9rables" : "Movie") + " (1995)|" +
             date + "||http://x/" + std::to_string(m);
    const std::vector<uint64_t> genres = FixtureGenres(m);
    for (uint64_t g = 0; g < GenreNames().size(); ++g) {
      items += std::find(genres.begin(), genres.end(), g) != genres.end() ? "|1" : "|0";
    }
    items += "\n";
  }
  WriteText(dir + "/u.user", users);
  WriteText(dir + "/u.item", items);
  WriteText(dir + "/u.data", Ratings(kUsers100K, kMovies100K, "\t"));
}

}  // namespace moerec::convert::testing

#endif  // MOEREC_DATA_CONVERT_INTERNAL_MOVIELENS_FIXTURE_H_

// Small files in the KuaiRand layout (KuaiRand-1K / -Pure, folder data/): two standard logs,
// user_features and video_features_basic, with the public column lists. Written by the tests
// (the real data may not be redistributed). Log row r (0-based over both logs) is user r % 8 on
// video 100 + (5 r) % 12 in tab r % 7, with hourmin 1000 + r to identify it; the feature rows
// derive from the user and video ids.
#ifndef MOEREC_DATA_CONVERT_INTERNAL_KUAIRAND_FIXTURE_H_
#define MOEREC_DATA_CONVERT_INTERNAL_KUAIRAND_FIXTURE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "data/convert/internal/test_util.h"

namespace moerec::convert::testing {

inline constexpr int kKuaiRandUsers = 8;
inline constexpr int kKuaiRandVideos = 12;
inline constexpr int kKuaiRandLogRows[2] = {30, 33};  // log_standard_4_08_to_4_21, 4_22_to_5_08

inline int KuaiRandUser(int r) { return r % kKuaiRandUsers; }
inline int KuaiRandVideo(int r) { return 100 + (5 * r) % kKuaiRandVideos; }
inline int KuaiRandTab(int r) { return r % 7; }
inline int KuaiRandIsClick(int r) { return r % 2; }
inline int KuaiRandIsLike(int r) { return r % 5 == 0; }
inline int KuaiRandLongView(int r) { return r % 3 == 0; }

inline const char* KuaiRandActiveDegree(int u) {
  static const char* kDegrees[] = {"high_active", "full_active", "middle_active", "UNKNOWN"};
  return kDegrees[u % 4];
}
inline const char* KuaiRandFansRange(int u) { return u < 2 ? "[1,10)" : "[100,1k)"; }
inline int KuaiRandFans(int u) { return u * 100 + 3; }
inline int KuaiRandOnehot(int u, int k) { return (u + k) % (k + 2); }

inline int KuaiRandAuthor(int v) { return 9000 + v; }
// Empty for every fourth video: a missing value of a joined column.
inline std::string KuaiRandMusic(int v) { return v % 4 == 3 ? "" : std::to_string(500 + v); }
inline std::string KuaiRandDuration(int v) { return v == 107 ? "" : std::to_string(v * 100); }
// Tags: "12,65" (quoted in the file, as pandas writes a cell holding the delimiter), "7", none.
inline std::vector<uint64_t> KuaiRandTags(int v) {
  if (v % 3 == 0) return {12, 65};
  if (v % 3 == 1) return {7};
  return {};
}

inline std::string KuaiRandLogHeader() {
  return "user_id,video_id,date,hourmin,time_ms,is_click,is_like,is_follow,is_comment,"
         "is_forward,is_hate,long_view,play_time_ms,duration_ms,profile_stay_time,"
         "comment_stay_time,is_profile_enter,is_rand,tab\n";
}

inline std::string KuaiRandLogRow(int r) {
  const int v = KuaiRandVideo(r);
  return std::to_string(KuaiRandUser(r)) + "," + std::to_string(v) + "," +
         std::to_string(20220408 + r / 10) + "," + std::to_string(1000 + r) + "," +
         std::to_string(1649390000000LL + r * 60000LL) + "," + std::to_string(KuaiRandIsClick(r)) +
         "," + std::to_string(KuaiRandIsLike(r)) + ",0,0,0,0," +
         std::to_string(KuaiRandLongView(r)) + "," + std::to_string(r * 1000) + "," +
         std::to_string(v * 100) + ",0,0,0,0," + std::to_string(KuaiRandTab(r)) + "\n";
}

inline std::string KuaiRandUserFeatures() {
  std::string s =
      "user_id,user_active_degree,is_lowactive_period,is_live_streamer,is_video_author,"
      "follow_user_num,follow_user_num_range,fans_user_num,fans_user_num_range,friend_user_num,"
      "friend_user_num_range,register_days,register_days_range";
  for (int k = 0; k < 18; ++k) s += ",onehot_feat" + std::to_string(k);
  s += "\n";
  for (int u = 0; u < kKuaiRandUsers; ++u) {
    s += std::to_string(u) + "," + KuaiRandActiveDegree(u) + "," + std::to_string(u % 2) + ",0," +
         std::to_string(u % 3 == 0) + "," + std::to_string(u * 7) + ",\"(0,10]\"," +
         std::to_string(KuaiRandFans(u)) + ",\"" + KuaiRandFansRange(u) + "\"," +
         std::to_string(u) + ",\"[1,5)\"," + std::to_string(100 + u) + ",91-180";
    for (int k = 0; k < 18; ++k) s += "," + std::to_string(KuaiRandOnehot(u, k));
    s += "\n";
  }
  return s;
}

inline std::string KuaiRandVideoFeatures() {
  std::string s =
      "video_id,author_id,video_type,upload_dt,upload_type,visible_status,video_duration,"
      "server_width,server_height,music_id,music_type,tag\n";
  for (int i = 0; i < kKuaiRandVideos; ++i) {
    const int v = 100 + i;
    std::string tag;
    for (const uint64_t t : KuaiRandTags(v)) tag += (tag.empty() ? "" : ",") + std::to_string(t);
    if (tag.find(',') != std::string::npos) tag = "\"" + tag + "\"";
    s += std::to_string(v) + "," + std::to_string(KuaiRandAuthor(v)) + "," +
         (v % 5 == 0 ? "AD" : "NORMAL") + ",2022-01-0" + std::to_string(1 + i % 9) +
         ",ShortImport,1," + KuaiRandDuration(v) + ",720,1280," + KuaiRandMusic(v) + ",4," + tag +
         "\n";
  }
  return s;
}

// Log files under `dir`, named with `suffix` ("1k", "pure").
inline void WriteKuaiRand(const std::string& dir, const std::string& suffix) {
  const char* names[2] = {"log_standard_4_08_to_4_21_", "log_standard_4_22_to_5_08_"};
  int r = 0;
  for (int f = 0; f < 2; ++f) {
    std::string log = KuaiRandLogHeader();
    for (int k = 0; k < kKuaiRandLogRows[f]; ++k) log += KuaiRandLogRow(r++);
    WriteText(dir + "/" + names[f] + suffix + ".csv", log);
  }
  WriteText(dir + "/user_features_" + suffix + ".csv", KuaiRandUserFeatures());
  WriteText(dir + "/video_features_basic_" + suffix + ".csv", KuaiRandVideoFeatures());
}

}  // namespace moerec::convert::testing

#endif  // MOEREC_DATA_CONVERT_INTERNAL_KUAIRAND_FIXTURE_H_

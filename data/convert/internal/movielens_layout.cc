#include "data/convert/internal/movielens_layout.h"

namespace moerec::convert {

MovieLensFiles MovieLensFileNames(MovieLensInput::Layout layout) {
  if (layout == MovieLensInput::ML_100K) {
    return {.ratings = "u.data",
            .users = "u.user",
            .items = "u.item",
            .separator = "|",
            .ratings_separator = "\t"};
  }
  return {.ratings = "ratings.dat",
          .users = "users.dat",
          .items = "movies.dat",
          .separator = "::",
          .ratings_separator = "::"};
}

int AgeCode(int years) {
  int code = kAgeCodes[0];
  for (const int c : kAgeCodes) {
    if (years >= c) code = c;
  }
  return code;
}

const std::vector<std::string>& Occupations1M() {
  // The README's names, made into identifiers (domain names become metric keys: no '/').
  static const std::vector<std::string> kNames = {"other",
                                                  "academic_educator",
                                                  "artist",
                                                  "clerical_admin",
                                                  "college_grad_student",
                                                  "customer_service",
                                                  "doctor_health_care",
                                                  "executive_managerial",
                                                  "farmer",
                                                  "homemaker",
                                                  "k12_student",
                                                  "lawyer",
                                                  "programmer",
                                                  "retired",
                                                  "sales_marketing",
                                                  "scientist",
                                                  "self_employed",
                                                  "technician_engineer",
                                                  "tradesman_craftsman",
                                                  "unemployed",
                                                  "writer"};
  return kNames;
}

const std::vector<std::string>& Occupations100K() {
  static const std::vector<std::string> kNames = {
      "administrator", "artist",     "doctor",     "educator", "engineer",  "entertainment",
      "executive",     "healthcare", "homemaker",  "lawyer",   "librarian", "marketing",
      "none",          "other",      "programmer", "retired",  "salesman",  "scientist",
      "student",       "technician", "writer"};
  return kNames;
}

const std::vector<std::string>& GenreNames() {
  static const std::vector<std::string> kNames = {
      "unknown",     "Action", "Adventure", "Animation", "Children's", "Comedy",  "Crime",
      "Documentary", "Drama",  "Fantasy",   "Film-Noir", "Horror",     "Musical", "Mystery",
      "Romance",     "Sci-Fi", "Thriller",  "War",       "Western"};
  return kNames;
}

std::vector<std::string> DomainFieldValues(MovieLensInput::Layout layout, DomainRule::Field field) {
  std::vector<std::string> values;
  switch (field) {
    case DomainRule::SINGLE:
      break;
    case DomainRule::GENDER:
      values = {"F", "M"};
      break;
    case DomainRule::AGE:
      for (const int c : kAgeCodes) values.push_back(std::to_string(c));
      break;
    case DomainRule::OCCUPATION:
      if (layout == MovieLensInput::ML_100K) {
        values = Occupations100K();
      } else {
        for (size_t c = 0; c < Occupations1M().size(); ++c) values.push_back(std::to_string(c));
      }
      break;
  }
  return values;
}

std::vector<std::string> DefaultDomainNames(MovieLensInput::Layout layout,
                                            DomainRule::Field field) {
  switch (field) {
    case DomainRule::SINGLE:
      return {"all"};
    case DomainRule::AGE: {
      std::vector<std::string> names;
      for (const int c : kAgeCodes) names.push_back("age_" + std::to_string(c));
      return names;
    }
    case DomainRule::OCCUPATION:
      return layout == MovieLensInput::ML_100K ? Occupations100K() : Occupations1M();
    case DomainRule::GENDER:
      break;
  }
  return DomainFieldValues(layout, field);
}

std::string FeatureSlotName(MovieLensInput::Feature feature) {
  switch (feature) {
    case MovieLensInput::USER_ID:
      return "user_id";
    case MovieLensInput::ITEM_ID:
      return "item_id";
    case MovieLensInput::GENDER:
      return "gender";
    case MovieLensInput::AGE:
      return "age";
    case MovieLensInput::OCCUPATION:
      return "occupation";
    case MovieLensInput::ZIP_PREFIX:
      return "zip";
    case MovieLensInput::GENRES:
      return "genres";
    case MovieLensInput::YEAR:
      return "year";
  }
  return "feature_" + std::to_string(static_cast<int>(feature));
}

}  // namespace moerec::convert

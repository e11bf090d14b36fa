// "Did you mean ...?" for a misspelt config key, filter name or enum value: the closest known
// word by edit distance (adjacent swaps count as one edit), offered only when it is close enough
// to be a typo rather than a different word, as cargo and kubectl do.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

// Edits (insert, delete, substitute, swap two adjacent letters) that turn `a` into `b`.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word`, or empty when none is within a third of its length (at least
// one edit). Ties go to the first candidate, so callers list the common spelling first.
std::string closest(std::string_view word, const std::vector<std::string_view>& candidates);

// "; did you mean X?" for the closest candidate, or "" when there is none.
std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace portcullis

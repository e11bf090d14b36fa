// Shared by the authentication filter tests: temporary credential files, SHA-256/base64 computed
// independently of the filters (OpenSSL's own encoder), and a header value that is never valid.
#pragma once
#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include <openssl/evp.h>
#include <unistd.h>

namespace auth_support {

// A file under the temporary directory, removed when the test ends.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("portcullis-auth-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::ofstream(path_) << content;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

inline std::string base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

inline std::string digest(const EVP_MD* md, const std::string& text) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), out, &size, md, nullptr);
  return std::string(reinterpret_cast<char*>(out), size);
}

inline std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

inline std::string sha256_hex(const std::string& text) { return hex(digest(EVP_sha256(), text)); }

}  // namespace auth_support

#pragma once
/// Passwords, PINs and PFX passwords in memory: overwritten when no longer needed, so a copy of
/// the process's memory taken later (swap, a debugger, a crash) finds less. Best effort: what a
/// library copied (libcurl's proxy password, OpenSSL's PKCS#12 buffers) is outside its reach.

#include <string>
#include <utility>

namespace certenroll {

/// Overwrites every byte of `text`'s buffer (its capacity, the inline buffer of a short string
/// included) with OPENSSL_cleanse, which the compiler may not remove, and empties it.
void cleanse(std::string& text);

/// A std::string that is cleansed when destroyed, and whose moved-from source is cleansed too.
/// Used exactly like the std::string it is.
class SecretString : public std::string {
  public:
    SecretString() = default;
    SecretString(std::string text) : std::string(std::move(text)) {}  // NOLINT: implicit
    SecretString(const char* text) : std::string(text) {}             // NOLINT: implicit
    SecretString(const SecretString&) = default;
    SecretString(SecretString&& other) noexcept : std::string(std::move(other)) { cleanse(other); }
    SecretString& operator=(const SecretString&) = default;
    SecretString& operator=(SecretString&& other) noexcept {
        if (this != &other) {
            cleanse(*this);
            std::string::operator=(std::move(other));
            cleanse(other);
        }
        return *this;
    }
    using std::string::operator=;
    ~SecretString() { cleanse(*this); }
};

}  // namespace certenroll

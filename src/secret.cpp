#include "secret.hpp"

#include <openssl/crypto.h>

namespace certenroll {

void cleanse(std::string& text) {
    // capacity() + 1: the terminating NUL's slot belongs to the buffer too.
    OPENSSL_cleanse(text.data(), text.capacity() + 1);
    text.clear();
}

}  // namespace certenroll

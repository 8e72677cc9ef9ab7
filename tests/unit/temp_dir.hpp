#pragma once
// A fresh directory per test, removed afterwards.

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace certenroll::test {

struct TempDir {
    std::filesystem::path path;
    explicit TempDir(const std::string& prefix = "certenroll-test-") {
        std::random_device random;
        path = std::filesystem::temp_directory_path() / (prefix + std::to_string(random()));
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    /// Writes `content` to `name` inside the directory and returns its path.
    std::filesystem::path write(const std::string& name, const std::string& content) const {
        std::ofstream(path / name, std::ios::binary) << content;
        return path / name;
    }
};

}  // namespace certenroll::test

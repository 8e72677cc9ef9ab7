# Homebrew formula for certenroll-cli (macOS). Until it is in a tap:
#   brew install --build-from-source ./packaging/homebrew/certenroll-cli.rb
class CertenrollCli < Formula
  desc "Client for Microsoft AD CS web enrollment (CEP/CES: MS-XCEP, MS-WSTEP)"
  homepage "https://example.invalid/certenroll-cli"
  url "https://example.invalid/certenroll-cli/archive/v0.1.0.tar.gz"
  sha256 "0000000000000000000000000000000000000000000000000000000000000000"
  license "Proprietary"
  head "https://example.invalid/certenroll-cli.git", branch: "main"

  depends_on "cmake" => :build
  depends_on "doctest" => :build
  depends_on "nlohmann-json" => :build
  depends_on "cli11" => :build
  depends_on "pkg-config" => :build
  depends_on "curl"
  depends_on "krb5"
  depends_on "libp11"
  depends_on "openssl@3"
  depends_on "p11-kit"
  depends_on "tinyxml2"

  def install
    system "cmake", "-S", ".", "-B", "build", "-DCERTENROLL_TESTS=OFF",
           "-DCERTENROLL_SYSTEMD_UNIT_DIR=share/certenroll-cli/systemd", *std_cmake_args
    system "cmake", "--build", "build"
    system "cmake", "--install", "build"
  end

  def caveats
    <<~EOS
      For scheduled renewal on macOS, run `certenroll-cli renew --all` from a launchd agent;
      the systemd units in #{opt_share}/certenroll-cli/systemd are for Linux.
    EOS
  end

  test do
    assert_match "certenroll-cli", shell_output("#{bin}/certenroll-cli --version")
    # A usage error exits with the documented code 2 (shell_output checks the status).
    assert_match "usage error", shell_output("#{bin}/certenroll-cli enroll 2>&1", 2)
  end
end

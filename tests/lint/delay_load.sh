#!/bin/sh
# With CERTENROLL_DELAY_LOAD, certenroll-cli must not need libcrypto, libssl or libp11 at start:
# every function it calls from them has a stub (src/platform/delay_load). A function missing
# from symbols.txt is linked the usual way and brings its library back; this names it.
# Usage: delay_load.sh CLI
set -u
cli="$1"
cd "$(dirname "$0")/../.."
needed=$(readelf -d "$cli" | grep -E 'NEEDED.*\[(libcrypto|libssl|libp11)\.' || true)
if [ -z "$needed" ]; then
  echo "delay_load: no OpenSSL or libp11 library is loaded at start"
  exit 0
fi
echo "delay_load: $cli loads at start:"
echo "$needed"
echo "functions linked without a stub (add them: src/platform/delay_load/update-symbols BUILD_DIR):"
nm -D --undefined-only "$cli" | awk '{ sub(/@.*/, "", $2); print "  " $2 }' |
  grep -E ' (ASN1|BIO|BN|CMS|CRYPTO|d2i|DH|EC|ENGINE|ERR|EVP|i2d|OBJ|OPENSSL|OSSL|PEM|PKCS|PKCS11|RAND|RSA|SSL|TLS|X509)' || true
exit 1

#!/usr/bin/env bash
# Installs what the tests need from Debian: a C compiler and OpenSSL's headers for the
# compiled fast path (the EVP kernel of AES links libcrypto), and for
# the interop tests Go 1.19, kcp-go 5.6.1 and smux 1.5.16 sources (built offline in GOPATH
# mode) and kcptun. Does nothing when they are already there.
set -euo pipefail

need=()
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
[ -e /usr/include/openssl/evp.h ] || need+=(libssl-dev)
command -v go >/dev/null 2>&1 || need+=(golang-go)
[ -d /usr/share/gocode/src/github.com/xtaci/kcp-go ] || need+=(golang-github-xtaci-kcp-dev)
[ -d /usr/share/gocode/src/github.com/xtaci/smux ] || need+=(golang-github-xtaci-smux-dev)
command -v kcptun-server >/dev/null 2>&1 || need+=(kcptun)
[ ${#need[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
        echo "system-deps: need root (or sudo) to install: ${need[*]}" >&2
        exit 1
    fi
fi
echo "system-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null

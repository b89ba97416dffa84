#!/usr/bin/env bash
# Installs the ONNX Runtime 1.30.0 CPU shared library for linux-x64 into the llada cache, idempotently.
#
# Why npm: the Go module proxy, Debian and the npm registry are the only package sources we can rely on, and
# the npm package onnxruntime-node ships the official prebuilt libonnxruntime.so.1. We verify the tarball and
# the library by SHA-256 so a changed upstream artefact fails loudly instead of loading something else.
set -euo pipefail

ORT_VERSION=1.30.0
TGZ_SHA256=6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75
LIB_SHA256=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23

cache="${LLADA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llada}"
dest="$cache/onnxruntime-$ORT_VERSION"
lib="$dest/libonnxruntime.so.1"

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "install-onnxruntime: only linux-x64 is scripted; set ONNXRUNTIME_SHARED_LIBRARY_PATH to your own build" >&2
  exit 1
fi

if [ -f "$lib" ] && echo "$LIB_SHA256  $lib" | sha256sum -c --status; then
  echo "$lib"
  exit 0
fi

command -v npm >/dev/null || { echo "install-onnxruntime: npm is required (apt-get install npm)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
tgz="$work/onnxruntime-node-$ORT_VERSION.tgz"
echo "$TGZ_SHA256  $tgz" | sha256sum -c --status || { echo "install-onnxruntime: checksum mismatch for $tgz" >&2; exit 1; }
tar -xzf "$tgz" -C "$work" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
echo "$LIB_SHA256  $work/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" | sha256sum -c --status \
  || { echo "install-onnxruntime: checksum mismatch for libonnxruntime.so.1" >&2; exit 1; }
mkdir -p "$dest"
install -m 0644 "$work/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$lib.tmp"
mv "$lib.tmp" "$lib"
echo "$lib"

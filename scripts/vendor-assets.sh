#!/usr/bin/env bash
# Refresh the front-end libraries vendored under src/intuitivus_flow/web/static/vendor/.
#
# Each library is pinned by version and by the registry's sha512 integrity, so a refresh gives the
# same bytes on every machine or fails. Only the built files the pages load are copied, with the
# licence beside them; the directory name carries the version, which is what lets the app serve
# them with an immutable one-year cache lifetime (web/static_files.py).
#
# Usage: scripts/vendor-assets.sh            (re-vendor every pinned library)
# To upgrade: change the version and integrity below (`npm view uplot@X dist.integrity`), run the
# script, delete the old version's directory and update the paths in web/templates/_charts.html.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$root/src/intuitivus_flow/web/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# name version integrity destination-dir file...
vendor_package() {
  local name="$1" version="$2" integrity="$3" dest="$4"
  shift 4
  (cd "$work" && npm pack --silent "$name@$version" >/dev/null)
  local tarball="$work/$name-$version.tgz"
  local actual
  actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  if [[ "$actual" != "$integrity" ]]; then
    echo "vendor-assets: $name@$version integrity mismatch: expected $integrity, got $actual" >&2
    exit 1
  fi
  mkdir -p "$work/$name" "$dest"
  tar -xzf "$tarball" -C "$work/$name"
  for file in "$@"; do
    cp "$work/$name/package/$file" "$dest/$(basename "$file")"
  done
  echo "vendor-assets: $name@$version -> ${dest#"$root"/}"
}

vendor_package uplot 1.6.32 \
  "sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==" \
  "$vendor/uplot/1.6.32" \
  dist/uPlot.iife.min.js dist/uPlot.min.css LICENSE

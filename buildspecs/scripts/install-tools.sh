#!/usr/bin/env bash
# Installs the pinned terraform (and atmos) into /usr/local/bin, verified by SHA-256. The archives are cached
# between builds. A pinned checksum from the configuration is required to match; without one, the release's
# published SHA256SUMS is used (and the build says so).
set -euo pipefail

if [ "${TROPOS_LOCAL:-false}" = "true" ]; then
  echo "local run: terraform and atmos are taken from PATH"
  exit 0
fi

cache=/root/.cache/tropos-tools
mkdir -p "$cache" "$TF_PLUGIN_CACHE_DIR"

verify() { # file expected-sha256
  local actual
  actual=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$actual" != "$2" ]; then
    echo "ERROR: checksum mismatch for $(basename "$1"): expected $2, got $actual. Refusing to install." >&2
    rm -f "$1"
    exit 1
  fi
}

fetch() { # url file
  [ -f "$2" ] || curl -fsSL --retry 3 -o "$2" "$1"
}

install_terraform() {
  local v=$TERRAFORM_VERSION zip="$cache/terraform_${TERRAFORM_VERSION}_linux_amd64.zip"
  local base="https://releases.hashicorp.com/terraform/$v"
  fetch "$base/terraform_${v}_linux_amd64.zip" "$zip"
  local expected=${TERRAFORM_SHA256:-}
  if [ -z "$expected" ]; then
    echo "WARNING: no pinned SHA-256 for terraform $v in the configuration; using the published SHA256SUMS"
    expected=$(curl -fsSL "$base/terraform_${v}_SHA256SUMS" | grep "terraform_${v}_linux_amd64.zip" | cut -d' ' -f1)
  fi
  verify "$zip" "$expected"
  unzip -oq "$zip" terraform -d /usr/local/bin
  terraform version
}

install_atmos() {
  local v=$ATMOS_VERSION bin="$cache/atmos_${ATMOS_VERSION}_linux_amd64"
  local base="https://github.com/cloudposse/atmos/releases/download/v$v"
  fetch "$base/atmos_${v}_linux_amd64" "$bin"
  local expected=${ATMOS_SHA256:-}
  if [ -z "$expected" ]; then
    echo "WARNING: no pinned SHA-256 for atmos $v in the configuration; using the published SHA256SUMS"
    expected=$(curl -fsSL "$base/atmos_${v}_SHA256SUMS" | grep "atmos_${v}_linux_amd64\$" | cut -d' ' -f1)
  fi
  verify "$bin" "$expected"
  install -m 0755 "$bin" /usr/local/bin/atmos
  atmos version
}

install_terraform
if [ "${TROPOS_ENGINE:-terraform}" = "atmos" ]; then install_atmos; fi

#!/usr/bin/env bash
# System packages oortfs needs on Debian 12: FUSE 2 (for fuse-native) and Ceph, whose
# radosgw is the local real S3 server of tests, demo and benchmark (scripts/local-s3.ts).
# Idempotent: quick no-op when everything is installed. Run as root (or with sudo).
set -euo pipefail

PKGS=(libfuse2 fuse ceph-mon ceph-osd radosgw ceph-common)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup.sh: system packages already installed"
  exit 0
fi

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"

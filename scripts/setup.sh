#!/usr/bin/env bash
# System packages a checkout of oortfs needs on Debian 12: FUSE 2 (for fuse-native); a C
# toolchain, as npm ci rebuilds fuse-native's addon (scripts/patch-fuse-native.mjs), which npm
# pack then puts in the package (an installed package needs only libfuse2 and fuse); and Ceph, whose
# radosgw is the local real S3 server of tests, demo and benchmark (scripts/local-s3.ts);
# tcpdump (counts requests on the wire), s3fs (reads our buckets) and acl (setfacl, getfacl) for tests.
# Idempotent: quick no-op when everything is installed. Run as root (or with sudo).
set -euo pipefail

PKGS=(libfuse2 fuse g++ make python3 ceph-mon ceph-osd radosgw ceph-common rsync attr acl tcpdump s3fs)
installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${PKGS[@]}" 2>/dev/null | awk '/install ok installed/ {print $1}' || true)
missing=()
for p in "${PKGS[@]}"; do
  grep -qx -- "$p" <<<"$installed" || missing+=("$p")
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

#!/usr/bin/env bash
# scripts/arm64-sysroot.sh DIR: what the arm64 cross build of the capture node needs
# (cmake/aarch64-linux-gnu.cmake): the cross compiler and qemu-user-static on this
# machine, and Debian's arm64 packages of the node's libraries unpacked into DIR/sysroot.
#
# The arm64 packages come from the Debian archive through apt's multiarch support
# (dpkg --add-architecture arm64) but are downloaded and unpacked rather than installed:
# libczmq-dev and libportmidi-dev are not co-installable across architectures, so
# installing their arm64 versions would remove this machine's own. The unpacked folder
# is reused by later runs (packages already there are not fetched again).
#
# Exit codes: 0 ready; 3 the arm64 packages or tools cannot be had here (no network, no
# arm64 in the package lists, not root and no sudo): the caller skips the arm64 build.
set -uo pipefail
dir=${1:?usage: scripts/arm64-sysroot.sh DIR}
mkdir -p "$dir/debs" "$dir/sysroot"
dir=$(cd "$dir" && pwd)
skip() { echo "arm64: skipped: $*" >&2; exit 3; }

sudo=""
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || skip "not root and no sudo to install the cross tools"
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

# the host's tools (amd64 packages; installing them changes nothing else)
tools=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static)
missing=()
for p in "${tools[@]}"; do
    [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
done
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "arm64: adding the arm64 architecture to apt's package lists"
    $sudo dpkg --add-architecture arm64 || skip "dpkg --add-architecture arm64 failed"
    $sudo apt-get update -qq || skip "apt-get update failed with arm64 added"
fi
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "arm64: installing ${missing[*]}"
    $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
        skip "cannot install ${missing[*]}"
fi

# the node's libraries and everything they pull in, arm64 only; the C library's
# development files come with the cross compiler
wanted=(libczmq-dev libzmq3-dev libprotobuf-c-dev libjansson-dev libcmocka-dev zlib1g-dev
        portaudio19-dev libportmidi-dev)
apt-cache show libczmq-dev:arm64 >/dev/null 2>&1 ||
    { $sudo apt-get update -qq; apt-cache show libczmq-dev:arm64 >/dev/null 2>&1; } ||
    skip "no arm64 packages in apt's lists"
list=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
           --no-replaces --no-enhances "${wanted[@]/%/:arm64}" 2>/dev/null |
       grep -E '^[a-z0-9][^ ]*:arm64$' | sort -u |
       grep -vE '^(libc6-dev|libc-dev-bin|linux-libc-dev|libcrypt-dev|libnsl-dev|libtirpc-dev|rpcsvc-proto|gcc-12-base|pkgconf|pkgconf-bin|pkg-config|libpkgconf3|icu-devtools):arm64$')
[[ -n "$list" ]] || skip "cannot resolve the arm64 packages"

cd "$dir/debs"
fetch=()
for p in $list; do
    name=${p%:arm64}
    ls "${name}"_*_arm64.deb >/dev/null 2>&1 || ls "${name}"_*_all.deb >/dev/null 2>&1 || fetch+=("$p")
done
if [[ ${#fetch[@]} -gt 0 ]]; then
    echo "arm64: downloading ${#fetch[@]} Debian arm64 packages"
    apt-get download -q "${fetch[@]}" >/dev/null 2>&1 || skip "apt-get download of the arm64 packages failed"
fi
stamp="$dir/sysroot/.unpacked"
if [[ ! -f "$stamp" || -n "$(find . -name '*.deb' -newer "$stamp" 2>/dev/null)" ]]; then
    echo "arm64: unpacking $(ls ./*.deb | wc -l) packages into $dir/sysroot"
    for deb in ./*.deb; do dpkg-deb -x "$deb" "$dir/sysroot" || skip "cannot unpack $deb"; done
    # absolute symbolic links point into this machine's root: make them point inside
    find "$dir/sysroot" -type l -lname '/*' | while read -r link; do
        target=$(readlink "$link")
        ln -sfn "$dir/sysroot$target" "$link"
    done
    touch "$stamp"
fi
echo "arm64: sysroot ready in $dir/sysroot"

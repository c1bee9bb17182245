#!/usr/bin/env bash
# Installs the Debian packages Batcherbird builds and tests with, only those missing.
# Uses sudo when not root. Safe to run again: with everything present it prints nothing.
# On a fresh Debian 12 this installs a few hundred packages (about 3 minutes); it prints
# what it is doing as it goes: the download, then one line per package unpacked.
set -euo pipefail

packages=(
    build-essential cmake pkg-config
    libzmq3-dev libczmq-dev
    libprotobuf-c-dev protobuf-c-compiler
    portaudio19-dev libportmidi-dev
    libsndfile1-dev libfftw3-dev libsqlite3-dev libcmocka-dev libjansson-dev zlib1g-dev
    libdeflate-dev
    libfyaml-dev
    jackd2 libjack-jackd2-dev libasound2-dev libasound2-plugins
    libfluidsynth-dev timgm6mb-soundfont
    libflac-dev flac libinstpatch-dev libzip-dev libxml2-dev
    fluidsynth polyphone
    musescore-general-soundfont-small opl3-soundfont avldrums.lv2-soundfont csound-soundfont
    timidity freepats aubio-tools
)

# `deps.sh fuzz`: the libFuzzer toolchain too (make fuzz).
if [[ "${1:-}" == fuzz ]]; then
    packages+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "batcherbird: installing missing Debian packages: ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "batcherbird: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# jackd2 asks whether to enable realtime scheduling; answer it up front.
echo "jackd2 jackd/tweak_rt_limits boolean false" | $sudo debconf-set-selections 2>/dev/null || true
echo "batcherbird: updating the package lists"
$sudo apt-get update -qq
total=$($sudo apt-get install -s --no-install-recommends "${missing[@]}" 2>/dev/null | grep -c '^Inst ' || true)
echo "batcherbird: downloading and installing $total packages"
# apt's own progress is a terminal bar; in a log it is noise. One line per package instead.
$sudo apt-get install -y -q --no-install-recommends -o Dpkg::Progress-Fancy=0 "${missing[@]}" 2>&1 |
    awk -v total="$total" '
        /^Get:/       { got++; if (got % 25 == 0 || got == total) printf "batcherbird: downloaded %d of %d\n", got, total; fflush() }
        /^Unpacking / { n++; printf "batcherbird: [%3d/%d] %s\n", n, total, $2; fflush() }
        /^(E|W): /    { print; fflush() }'
# the pipeline hides apt's status: check that everything is there now
still=()
for p in "${missing[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || still+=("$p")
done
if [[ ${#still[@]} -gt 0 ]]; then
    echo "batcherbird: could not install: ${still[*]} (see apt's messages above)" >&2
    exit 1
fi
echo "batcherbird: packages installed"

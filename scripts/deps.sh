#!/usr/bin/env bash
# Installs the Debian packages Batcherbird builds and tests with, only those missing.
# Uses sudo when not root. Safe to run again: with everything present it prints nothing.
set -euo pipefail

packages=(
    build-essential cmake pkg-config
    libzmq3-dev libczmq-dev
    libprotobuf-c-dev protobuf-c-compiler
    portaudio19-dev libportmidi-dev
    libsndfile1-dev libkissfft-dev libsqlite3-dev libcmocka-dev
    jackd2 libjack-jackd2-dev libasound2-dev libasound2-plugins
    libfluidsynth-dev timgm6mb-soundfont
)

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
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

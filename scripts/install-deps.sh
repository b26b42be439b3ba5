#!/usr/bin/env bash
# Installs the Debian packages lmdiff needs to build and test (idempotent).
# Run as root on Debian 12; does nothing when everything is present.
set -euo pipefail
BUILD_PKGS=(build-essential cmake pkg-config clang libclang-rt-14-dev
  libopenblas-openmp-dev libpcre2-dev libcjson-dev libssl-dev libutf8proc-dev
  libhdf5-dev libyaml-dev libcmocka-dev libdnnl-dev
  python3 python3-numpy python3-h5py curl
  python3-pandas python3-pytest python3-venv python3-setuptools groff-base)
# Optional groups: `--reference` adds the PyTorch reference tools, `--web` the
# browser the web app's tests drive (and Node.js when none is installed),
# `--slurm` Slurm and munge, for the test that starts a one-node cluster
# (tests/cli/slurm_cluster.sh; the packages' own daemons are not used).
REF_PKGS=(python3-torch python3-regex)
WEB_PKGS=(chromium)
SLURM_PKGS=(slurmctld slurmd slurm-client munge)
command -v npm >/dev/null 2>&1 || WEB_PKGS+=(nodejs npm)
want=("${BUILD_PKGS[@]}")
for a in "$@"; do
  case "$a" in
    --reference) want+=("${REF_PKGS[@]}") ;;
    --web) want+=("${WEB_PKGS[@]}") ;;
    --slurm) want+=("${SLURM_PKGS[@]}") ;;
    *) echo "install-deps.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# gpu-bundle.sh - prepares, on a machine without a GPU, what scripts/gpu-check.sh
# runs on a lent GPU machine (issue #18), whose image has CUDA, CMake and
# PyTorch but not lmdiff's build dependencies (OpenBLAS, oneDNN, HDF5, ...)
# and cannot fetch them.  Builds build-gpu/ with -DLMD_CUDA=ON, then packs
# gpu-bundle.tar.xz (in .gitignore): the programs gpu-check.sh runs
# (test_backend, bench_gpu, lmdiff), the CUDA module, and the shared
# libraries they load that a CUDA image may lack (not glibc's, not CUDA's:
# those come from the image).
#
# The working tree that travels to the device is limited to 64 MiB and the
# tracked files are more (demo/models, tests/golden).  From the repository root:
#   bash scripts/gpu-bundle.sh
#   git switch -c gpu-run              # a temporary local branch; never push it
#   git rm -r -q --cached demo/models tests/golden
#   printf '/demo/models/\n/tests/golden/\n' >> "$(git rev-parse --git-path info/exclude)"
#   git commit -qm 'gpu run: without the demo weights and golden files'
#   { git ls-files -z; printf 'gpu-bundle.tar.xz\0'; } | xargs -0 du -cb | tail -1
#                                      # about 31 MB (11 MB tracked + 20 MB bundle) < 64 MiB
# then pass to the device tool, in one call (timeout_s 450, carry ["gpu-bundle.tar.xz"]):
#   LMD_GPU_BUNDLE=1 bash scripts/gpu-check.sh
# (LMD_GPU_BUNDLE=1: skip trying to build there; the whole stays under LMD_GPU_SECONDS,
# default 420, which with the machine's start leaves time in the 15 minutes for a shorter
# rerun, e.g. with LMD_GPU_SHAPES=llama7b).
# and afterwards: git switch - && git branch -D gpu-run (and drop the two
# exclude lines).  tests/models (7 MB) must travel: the GPU tests load them.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-build-gpu}
nice cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DLMD_CUDA=ON >/dev/null
nice cmake --build "$B" -j"$(nproc)" --target lmdiff test_backend bench_gpu lmdiff_cuda
D=$(mktemp -d)
mkdir -p "$D/gpu-bundle/lib"
cp "$B/lmdiff" "$B/test_backend" "$B/bench_gpu" "$B/liblmdiff-cuda.so" "$D/gpu-bundle/"
# the libraries they load, but glibc's, the compiler runtime's and CUDA's
ldd "$B/lmdiff" "$B/test_backend" "$B/bench_gpu" |
  awk '/=> \//{print $3}' | sort -u |
  grep -Ev '/(libc|libm|libpthread|libdl|librt|libresolv|libutil|libanl|libgcc_s|libstdc\+\+|ld-linux[^/]*)\.so|/cuda' |
  while read -r lib; do cp -L "$lib" "$D/gpu-bundle/lib/"; done
tar -C "$D" -cJf gpu-bundle.tar.xz gpu-bundle
rm -rf "$D"
echo "gpu-bundle.tar.xz: $(du -h gpu-bundle.tar.xz | cut -f1)"

#!/usr/bin/env bash
# gpu-check.sh - the one script a session with a lent GPU passes to the device
# tool (issue #18; see scripts/gpu-bundle.sh for the preparation and the
# tree-size steps).  Writes under $OUT:
#   env.txt    nvidia-smi, nvcc, python3/torch versions, the CPU
#   build.txt  how the programs were obtained (built here, or the bundle)
#   tests.txt  the GPU tests: the CUDA backend against the CPU op by op, and
#              whole models scored on cuda:0 against the CPU (ctest -L gpu)
#   bench.txt  bench_gpu: cuBLASLt BF16 ceiling, lmdiff tokens/s, ratio, peak
#              GPU memory, the PyTorch CUDA peer on the same shapes
# Each step has its own time limit so that the whole stays under LMD_GPU_SECONDS
# (default 420; the build there, when tried, comes on top);
# a step that fails or times out is recorded and the next one still runs.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
export PATH="/usr/local/cuda/bin:$PATH"
# where the image keeps cuBLASLt 13 (the CUDA module loads it)
CUBLAS_DIR=""
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda-*/lib64 /usr/local/cuda-*/lib \
         "$(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__) + "/lib")' 2>/dev/null)"; do
  [ -n "$d" ] && [ -e "$d/libcublasLt.so.13" ] && { CUBLAS_DIR=$d; break; }
done
T0=$(date +%s)
log() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$OUT/build.txt"; }
{ nvidia-smi; nvcc --version; python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name(0))'
  lscpu | grep -E 'Model name|^CPU\(s\)'; uptime; } > "$OUT/env.txt" 2>&1

# ---- the programs: built here when the dependencies are (and LMD_GPU_BUNDLE is unset),
# else the carried bundle
BIN=""
if [ -z "${LMD_GPU_BUNDLE:-}" ] && pkg-config --exists openblas libcjson hdf5 cmocka 2>/dev/null; then
  log "building with CMake (LMD_CUDA=ON, $(nproc) cores)"
  if timeout 240 cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DLMD_CUDA=ON >>"$OUT/build.txt" 2>&1 &&
     timeout 240 cmake --build build-gpu -j"$(nproc)" >>"$OUT/build.txt" 2>&1; then
    BIN=$PWD/build-gpu
    log "built"
    (cd build-gpu && timeout 200 ctest -L gpu --output-on-failure) > "$OUT/tests.txt" 2>&1
    log "ctest -L gpu: exit $?"
  else
    log "the build failed (tail of the log above)"
  fi
fi
if [ -z "$BIN" ] && [ -f gpu-bundle.tar.xz ]; then
  tar -C /tmp -xJf gpu-bundle.tar.xz && BIN=/tmp/gpu-bundle
  export LD_LIBRARY_PATH="$BIN/lib:$CUBLAS_DIR:${LD_LIBRARY_PATH:-}"
  export LMD_CUDA_MODULE="$BIN/liblmdiff-cuda.so"
  log "using the bundle: $(ls "$BIN" | tr '\n' ' '); cuBLASLt from ${CUBLAS_DIR:-nowhere}"
  ldd "$BIN/test_backend" "$BIN/liblmdiff-cuda.so" | grep 'not found' | tee -a "$OUT/build.txt"
  LMD_SRC=$PWD OMP_NUM_THREADS=8 timeout 200 "$BIN/test_backend" --gpu > "$OUT/tests.txt" 2>&1
  log "test_backend --gpu: exit $? (0 pass, 77 skipped, else failed)"
fi
[ -n "$BIN" ] || { log "no programs: neither the build dependencies nor gpu-bundle.tar.xz"; exit 1; }

# ---- the benchmark (random models under /tmp; the 7B one is 13.5 GB)
export LMD_SRC=$PWD OMP_NUM_THREADS=$(nproc)
left=$(( ${LMD_GPU_SECONDS:-420} - ($(date +%s) - T0) ))
log "bench_gpu with $left s left"
timeout "$left" "$BIN/bench_gpu" --dir /tmp/lmd-gpu --texts 64 --len 512 --reps 2 \
  --shapes "${LMD_GPU_SHAPES:-llama1b,llama7b,gpt2}" --torch python3 > "$OUT/bench.txt" 2>&1
log "bench_gpu: exit $?"

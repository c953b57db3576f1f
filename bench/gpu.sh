#!/usr/bin/env bash
# The GPU figures of issues 3, 4, 7, 20 and 21 in one run (a device with CUDA; random weights at the real shapes).
#   bash bench/gpu.sh OUT_DIR      each benchmark's output lands in OUT_DIR/<name>.log
set -uo pipefail
out=${1:-bench-gpu}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/env.log"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" | tee -a "$out/env.log"
timeout 150 python3 bench/train.py --shape llava-7b --device cuda --seconds 30 --rounds 3 2>&1 | tee "$out/train.log"
timeout 240 python3 bench/draw.py --shape janus-pro-7b --device cuda --seconds 8 --requests 2 2>&1 | tee "$out/draw.log"
timeout 150 python3 bench/serve.py --shape llava-7b --device cuda --n 16 2>&1 | tee "$out/serve.log"
timeout 150 python3 bench/train.py --shape qwen3-vl-8b --device cuda --seconds 30 --rounds 3 2>&1 | tee "$out/train-qwen3-vl-8b.log"
timeout 150 python3 bench/serve.py --shape qwen3-vl-8b --device cuda --n 16 2>&1 | tee "$out/serve-qwen3-vl-8b.log"

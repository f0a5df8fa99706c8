#!/usr/bin/env bash
# The checks that issues 3 and 10 still need a CUDA machine for, as few device calls as possible.
#
# Here, with the network (once):   bash benchmarks/gpu_session.sh prepare
#   .gpu/ gets the wheels that the device image lacks (pydantic, gymnasium; Python 3.12) and a copy
#   of Fashion-MNIST (the device reaches no package mirror and has no Debian dataset). .gpu/ is ignored by git.
# There, one device `run` per step, carrying .gpu (each fits in the 10-minute limit):
#   bash benchmarks/gpu_session.sh tests     pytest -m gpu                                  → $OUT/gpu_tests.txt
#   bash benchmarks/gpu_session.sh peers     tp1 and Model 3 against the peers, bench      → $OUT/*.json
#   bash benchmarks/gpu_session.sh fast      fast-fashion over 5 seeds                      → $OUT/fast_fashion.*
#   bash benchmarks/gpu_session.sh ddp       resnet-fashion with --strategy ddp on 1 GPU vs plain → $OUT/ddp_*.txt
#   bash benchmarks/gpu_session.sh all       all four with shorter limits, in one call of at most 9.5 minutes
#                                            (a session's device time is 15 minutes, the machine's start included)
# Record what comes back in benchmarks/RESULTS.md with the date, the GPU and the torch version.
set -euo pipefail
cd "$(dirname "$0")/.."
step=${1:?prepare | tests | peers | fast}

if [ "$step" = prepare ]; then
    py=${PYTHON:-.venv/bin/python}
    mkdir -p .gpu/wheels
    "$py" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d .gpu/wheels \
        pydantic==2.14.3 pydantic-core==2.50.4 annotated-types==0.8.0 typing-inspection==0.4.5 \
        gymnasium==1.4.0 farama-notifications==0.0.6
    cp -r "${TRAINLAB_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}" .gpu/fashion-mnist
    du -sh .gpu
    exit 0
fi

out=${OUT:-gpu-out}
mkdir -p "$out"
python3 -m pip install --quiet --no-index --no-deps --find-links .gpu/wheels \
    pydantic pydantic-core annotated-types typing-inspection gymnasium farama-notifications
export PYTHONPATH=$PWD TRAINLAB_FASHION_MNIST=$PWD/.gpu/fashion-mnist
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/machine.txt" || true
python3 -c "import torch; print('torch', torch.__version__)" >> "$out/machine.txt"
trainlab() { python3 -m trainlab.cli.main "$@"; }

# each step's time limit in seconds: the long one when run alone, the short one within `all`
limit() { if [ "$step" = all ]; then echo "$2"; else echo "$1"; fi; }

tests() {  # the gpu tests only: other test modules import optional packages the image may lack
    timeout "$(limit 560 140)" python3 -m pytest tests/gpu -m gpu -q -rA > "$out/gpu_tests.txt" 2>&1 || true
    tail -30 "$out/gpu_tests.txt"
}
peers() {
    timeout "$(limit 200 75)" python3 benchmarks/engine_vs_peers.py --device cuda --with-compile > "$out/tp1_peers.json" || true
    timeout "$(limit 200 60)" python3 benchmarks/engine_vs_peers.py --recipe recipes/tp2-model3.toml --device cuda \
        --skip-lightning --epochs 4 > "$out/model3_peers.json" || true
    timeout "$(limit 120 35)" trainlab bench recipes/tp2-model3.toml --steps 100 --json > "$out/model3_bench.json" || true
    cat "$out"/*.json
}
fast() {
    timeout "$(limit 560 120)" trainlab run recipes/fast-fashion.toml --repeats 5 -q --runs-dir "$out/runs" \
        > "$out/fast_fashion.txt" 2>&1 || true
    cp "$out"/runs/fast-fashion-*/metrics.json "$out/fast_fashion_metrics.json" 2>/dev/null || true
    rm -rf "$out/runs"
    tail -40 "$out/fast_fashion.txt"
}
ddp() {  # issue 10: one GPU through DDP reaches the plain run's accuracy
    for how in plain ddp; do
        timeout "$(limit 270 55)" trainlab run recipes/resnet-fashion.toml -q --runs-dir "$out/runs-$how" \
            $([ "$how" = ddp ] && echo --devices 1 --strategy ddp) > "$out/ddp_$how.txt" 2>&1 || true
        tail -4 "$out/ddp_$how.txt"
    done
    rm -rf "$out"/runs-*
}

case "$step" in
tests|peers|fast|ddp) "$step" ;;
all) tests; peers; fast; ddp ;;
*)
    echo "unknown step $step: prepare | tests | peers | fast | ddp | all" >&2
    exit 2 ;;
esac

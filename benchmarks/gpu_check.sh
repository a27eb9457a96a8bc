#!/usr/bin/env bash
# GPU check: everything of otmark that needs a CUDA device, in one run of a few minutes.
#
#   bash benchmarks/gpu_check.sh        (from the repository root, on a machine with a GPU)
#
# Steps (each under its own time limit; a failing step does not stop the others):
#   env      the GPU, torch and CUDA versions, native bf16 -> env.json
#   install  pip install -e ".[dev,onnx]", keeping the installed (CUDA) torch
#   tests    the pytest tests marked `gpu` (W loss on CUDA vs CPU and under autocast, AMP
#            training, deterministic mode, ONNX export from CUDA) -> pytest.xml
#   loss     python benchmarks/loss.py --device cuda -> loss.json
#   train    200 timed HRNetV2-W18 training steps per loss (L2, W) at 256 px, batch 8, AMP
#            (train.amp=auto) + channels-last, benchmarks/train_step.py --device cuda
#            -> train_step_hrnet_w18_256_amp.json
# Writes into benchmarks/results/gpu/ (one .log per step, summary.json) and prints a summary
# table. Exit status: 0 when every step passed, else 1.
# Time limits (seconds; 300 in all) can be changed: GPU_CHECK_LIMITS="tests=200 train=120".

set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
OUT=benchmarks/results/gpu
mkdir -p "$OUT"
rm -f "$OUT/steps.tsv"
# the code of this checkout is the one tested, installed or not
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

declare -A LIMIT=([env]=20 [install]=40 [tests]=100 [loss]=60 [train]=80)  # 300 s in all
for kv in ${GPU_CHECK_LIMITS:-}; do LIMIT[${kv%%=*}]=${kv#*=}; done

step() {  # step NAME OUTPUT_FILE COMMAND...: run with a time limit, log, record the outcome
    local name=$1 output=$2
    shift 2
    local log="$OUT/$name.log" t0 t1 rc status
    echo "== $name (limit ${LIMIT[$name]} s): $*"
    t0=$(date +%s.%N)
    timeout --kill-after=10 "${LIMIT[$name]}" "$@" >"$log" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    case $rc in
        0) status=ok ;;
        124 | 137) status=timeout ;;
        *) status="failed($rc)" ;;
    esac
    tail -n 4 "$log" | sed 's/^/   /'
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$(awk "BEGIN {print $t1 - $t0}")" "$output" "$*" \
        >>"$OUT/steps.tsv"
}

step env "$OUT/env.json" "$PY" - "$OUT/env.json" <<'PYEOF'
import json, platform, subprocess, sys
import torch
info = {
    "torch": torch.__version__,
    "cuda_runtime": torch.version.cuda,
    "cuda_available": torch.cuda.is_available(),
    "python": platform.python_version(),
}
if torch.cuda.is_available():
    info["device"] = torch.cuda.get_device_name(0)
    info["capability"] = list(torch.cuda.get_device_capability(0))
    info["device_count"] = torch.cuda.device_count()
    info["bf16_native"] = bool(torch.cuda.is_bf16_supported(including_emulation=False))
try:
    smi = ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
    info["nvidia_smi"] = subprocess.run(smi, capture_output=True, text=True).stdout.strip()
except OSError:
    pass
print(json.dumps(info, indent=2))
json.dump(info, open(sys.argv[1], "w"), indent=2)
sys.exit(0 if info["cuda_available"] else 1)
PYEOF

TORCH_VERSION=$("$PY" -c "import torch; print(torch.__version__)" 2>/dev/null)
if [ -n "$TORCH_VERSION" ]; then
    echo "torch==$TORCH_VERSION" >"$OUT/constraints.txt"
    step install - "$PY" -m pip install -q --retries 1 --timeout 15 -e ".[dev,onnx]" \
        -c "$OUT/constraints.txt"
else
    echo "no torch installed: install a CUDA build of torch first" >&2
    printf 'install\tfailed(no torch)\t0\t-\t-\n' >>"$OUT/steps.tsv"
fi

# cuBLAS reads its workspace setting once per process: set it before CUDA starts (the
# deterministic-mode tests need it; otmark train sets it itself when train.deterministic)
step tests "$OUT/pytest.xml" env CUBLAS_WORKSPACE_CONFIG=:4096:8 "$PY" -m pytest -q -m gpu \
    -p no:cacheprovider -rs --junitxml="$OUT/pytest.xml"

LOSS_ARGS=(--device cuda)
if "$PY" benchmarks/loss.py --help 2>/dev/null | grep -q -- "--out"; then
    LOSS_ARGS+=(--out "$OUT/loss.json")
    step loss "$OUT/loss.json" "$PY" benchmarks/loss.py "${LOSS_ARGS[@]}"
else
    # loss.py writes benchmarks/results/loss.json (the CPU numbers): keep those, move the GPU's
    cp -p benchmarks/results/loss.json "$OUT/.loss_cpu.json" 2>/dev/null
    step loss "$OUT/loss.json" "$PY" benchmarks/loss.py "${LOSS_ARGS[@]}"
    if ! cmp -s benchmarks/results/loss.json "$OUT/.loss_cpu.json"; then
        cp benchmarks/results/loss.json "$OUT/loss.json"
    fi
    [ -f "$OUT/.loss_cpu.json" ] && mv "$OUT/.loss_cpu.json" benchmarks/results/loss.json
fi

step train "$OUT/train_step_hrnet_w18_256_amp.json" "$PY" benchmarks/train_step.py \
    --models hrnet_w18 --sizes 256 --batch 8 --losses l2 w --steps 200 --device cuda \
    --amp auto --channels-last --out "$OUT/train_step_hrnet_w18_256_amp.json"

"$PY" - "$OUT" <<'PYEOF'
"""Summary table of the steps and summary.json."""
import json, sys, time, xml.etree.ElementTree as ET
from pathlib import Path

out = Path(sys.argv[1])
steps = []
for line in (out / "steps.tsv").read_text().splitlines():
    name, status, seconds, output, command = (line.split("\t") + [""] * 5)[:5]
    steps.append({"step": name, "status": status, "seconds": round(float(seconds or 0), 1),
                  "output": output, "command": command})

def last_line(step):
    log = out / f"{step['step']}.log"
    lines = [x.strip() for x in log.read_text(errors="replace").splitlines() if x.strip()]
    return lines[-1][:90] if lines else "-"


def detail(step):
    path = Path(step["output"])
    if step["status"] != "ok" and step["step"] not in ("env", "tests") or step["output"] == "-":
        return last_line(step)
    try:
        if step["step"] == "tests":
            suite = ET.parse(path).getroot()
            suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
            n = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
            passed = n["tests"] - n["failures"] - n["errors"] - n["skipped"]
            return (f"{passed} passed, {n['failures'] + n['errors']} failed, "
                    f"{n['skipped']} skipped")
        data = json.loads(path.read_text())
        if step["step"] == "env":
            return f"{data.get('device', 'no GPU')}, torch {data['torch']}, " \
                   f"bf16 native {data.get('bf16_native')}"
        if step["step"] == "train":
            r = data["w_over_l2"][0]
            return (f"amp {data.get('amp_dtype')}: L2 {1e3 * r['l2_s']:.1f} ms, "
                    f"W {1e3 * r['w_s']:.1f} ms per step, W/L2 {r['ratio']:.3f}")
        return f"wrote {path}"
    except Exception:  # noqa: BLE001 (a summary never fails)
        return last_line(step)

for s in steps:
    s["detail"] = detail(s)
print(f"\n{'step':8s} {'status':12s} {'seconds':>8s}  detail")
for s in steps:
    print(f"{s['step']:8s} {s['status']:12s} {s['seconds']:8.1f}  {s['detail']}")
summary = {"benchmark": "gpu_check", "command": "bash benchmarks/gpu_check.sh",
           "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "steps": steps}
try:
    from otmark.atomic import write_json_atomic
    write_json_atomic(out / "summary.json", summary, indent=2)
except Exception:  # noqa: BLE001 (otmark not importable: plain write)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
print(f"wrote {out / 'summary.json'}")
sys.exit(0 if all(s["status"] == "ok" for s in steps) else 1)
PYEOF

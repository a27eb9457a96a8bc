"""Where do softmax-trained models put their heatmap peak under the generated motion blur?

Re-trains one ``losses`` cell of the ``paper`` study (seed 0, the study's data and current
recipe at peak rate ``--lr``) and compares its heatmaps on clean 300VW S3 with the
``blur-medium`` / ``blur-large`` protocols: the share of landmarks whose arg-max lies on the
heatmap border (2-pixel frame), the softmax entropy (divided by log(H*W)), the softmax peak
probability and the logit range. Uses the study's generated data (made, or reused, where
``otmark study --config paper`` keeps it). The committed ``results.json`` was made with the
300-step recipe of the previous study (peak rate 5e-3); the study now trains to a plateau, so a
re-run gives other numbers. It writes ``docs/blur_diagnosis/results.json`` (``--out``).

    python benchmarks/blur_diagnosis.py js_s1_max l2_s1_max w_s3_bc --lr 5e-3
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from otmark.atomic import write_json_atomic
from otmark.inference import Detector
from otmark.study.benchmark import ensure_benchmark
from otmark.study.config import load_study_config
from otmark.study.runner import train_cell
from otmark.study.scoring import load_protocols, predict_protocol, score_predictions

PROTOCOLS = ("300w-300vw-s3", "blur-medium", "blur-large")
#: where the diagnosis goes by default (docs/study.md links it)
RESULTS = Path(__file__).resolve().parents[1] / "docs" / "blur_diagnosis" / "results.json"


def heatmap_stats(logits: torch.Tensor) -> dict:
    """Statistics of heatmap logits ``(N, K, H, W)`` (means over images and landmarks)."""
    _, _, h, w = logits.shape
    flat = logits.flatten(2)
    prob = torch.softmax(flat, -1)
    entropy = -(prob * prob.clamp_min(1e-12).log()).sum(-1) / math.log(h * w)
    idx = flat.argmax(-1)
    y, x = idx // w, idx % w
    border = (x <= 1) | (x >= w - 2) | (y <= 1) | (y >= h - 2)
    return {
        "argmax_on_border": border.float().mean().item(),
        "entropy": entropy.mean().item(),
        "peak_prob": prob.amax(-1).mean().item(),
        "logit_range": (flat.amax(-1) - flat.amin(-1)).mean().item(),
    }


def diagnose(setting: str, lr: float) -> dict:
    study = load_study_config("paper", device="cpu")
    cell = next(
        c
        for c in study.cells()
        if c.experiment.name == "losses" and c.setting_name == setting and c.seed == 0
    )
    roots = ensure_benchmark(study.data, study.benchmark)
    trained = train_cell(study, cell, roots, lr)
    detector = Detector.from_model(trained.model, trained.scheme, trained.codec, "cpu")
    captured: list[torch.Tensor] = []

    def keep(_module, _inputs, output):
        final = output[-1] if isinstance(output, (list, tuple)) else output
        captured.append(final.detach().float())

    trained.model.register_forward_hook(keep)
    out = {}
    for name, protocol in load_protocols(PROTOCOLS, roots).items():
        captured.clear()
        preds = predict_protocol(detector, protocol)
        nme = score_predictions(protocol, preds, trained.scheme).summary["NME"]
        out[name] = {"NME": nme, **heatmap_stats(torch.cat(captured))}
        print(setting, name, {k: round(v, 3) for k, v in out[name].items()}, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="+", help="losses settings of paper.yaml")
    parser.add_argument("--lr", type=float, default=5e-3, help="peak learning rate")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(2)
    write_json_atomic(args.out, {s: diagnose(s, args.lr) for s in args.settings})


if __name__ == "__main__":
    main()

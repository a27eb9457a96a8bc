"""``python -m otmark.pretrained package SRC_CKPT OUT_DIR`` / ``adapt ...`` / ``info [DIR]``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m otmark.pretrained")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("package", help="training checkpoint -> packaged model folder")
    p.add_argument("src", help="training checkpoint (best.pt)")
    p.add_argument("out", help="weights folder to write (e.g. src/otmark/weights)")
    a = sub.add_parser(
        "adapt",
        help="fit the label adaptation on labelled faces (leave-one-out report), store it",
    )
    a.add_argument("--predictions", required=True, help="otmark evaluate's predictions.json")
    a.add_argument("--data-root", required=True, help="the evaluated data root (the labels)")
    a.add_argument("--protocol", default="300w-test", help="(default: %(default)s)")
    a.add_argument("--ridge", type=float, default=1.0, help="shrinkage, in faces (default 1)")
    a.add_argument("--weights", default=None, help="packaged model folder to store the map in")
    i = sub.add_parser("info", help="describe a packaged model")
    i.add_argument("dir", nargs="?", default=None, help="weights folder (default: installed)")
    args = parser.parse_args(argv)
    from otmark.pretrained.package import describe, package_checkpoint

    try:
        if args.command == "package":
            path = package_checkpoint(args.src, args.out)
            print(f"wrote {path}")
            print(describe(args.out))
        elif args.command == "adapt":
            from otmark.pretrained.adapt import fit_label_adaptation, store_label_adaptation

            adapt, report = fit_label_adaptation(
                args.predictions, args.data_root, args.protocol, args.ridge
            )
            print(
                f"{report['protocol']}: {report['faces']} faces, NME {report['nme_before']:.2f}% "
                f"-> {report['nme_leave_one_out']:.2f}% with label adaptation (leave-one-out, "
                f"ridge {report['ridge']:g})"
            )
            if args.weights:
                print(f"wrote {store_label_adaptation(args.weights, adapt, report)}")
        else:
            print(describe(args.dir))
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m otmark.pretrained package SRC_CKPT OUT_DIR`` / ``info [DIR]``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m otmark.pretrained")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("package", help="training checkpoint -> packaged model folder")
    p.add_argument("src", help="training checkpoint (best.pt)")
    p.add_argument("out", help="weights folder to write (e.g. src/otmark/weights)")
    i = sub.add_parser("info", help="describe a packaged model")
    i.add_argument("dir", nargs="?", default=None, help="weights folder (default: installed)")
    args = parser.parse_args(argv)
    from otmark.pretrained.package import describe, package_checkpoint

    try:
        if args.command == "package":
            path = package_checkpoint(args.src, args.out)
            print(f"wrote {path}")
            print(describe(args.out))
        else:
            print(describe(args.dir))
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

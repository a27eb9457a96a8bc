"""``python -m otmark`` (also what ``torchrun -m otmark train ...`` runs)."""

from otmark.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())

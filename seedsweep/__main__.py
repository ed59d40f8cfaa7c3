"""Run the seedsweep command line: ``python -m seedsweep``."""

from __future__ import annotations

from seedsweep.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

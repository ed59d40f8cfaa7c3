"""Render a seedsweep report.html to a PNG screenshot with headless Chromium.

Use it to look at a report without a desktop, or to put a picture of a
report into the docs::

    python docs/render_report.py multirun/2024-01-01/12-00-00/seedsweep/report.html
    python docs/render_report.py report.html shot.png --width 1280 --height 4000

Chromium comes from Debian's ``chromium`` package (as root:
``apt-get update && apt-get install -y chromium``); on other systems pass
the browser with ``--chromium``. The screenshot covers the window only, so
choose ``--height`` to fit the part of the report you want.

The browser runs with a new, empty profile in a temporary folder and with
its background network features switched off; report.html itself fetches
nothing, so the screenshot needs no network.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_SECONDS = 120


def chromium_command(
    browser: str, html: Path, png: Path, width: int, height: int, profile: Path
) -> list[str]:
    """Return the headless Chromium command line that screenshots ``html`` into ``png``."""
    return [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--screenshot={png}",
        f"--window-size={width},{height}",
        html.resolve().as_uri(),
    ]


def find_chromium(requested: str | None) -> str:
    """Return the Chromium executable: ``requested`` when given, else the first found on PATH.

    Raises:
        SystemExit: no browser was found.
    """
    for name in [requested] if requested else CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    expected = requested or " or ".join(CHROMIUM_NAMES)
    raise SystemExit(
        f"error: {expected} not found on PATH; on Debian install it with "
        "'apt-get update && apt-get install -y chromium', or pass --chromium PATH"
    )


def render(html: Path, png: Path, width: int, height: int, browser: str) -> Path:
    """Screenshot ``html`` into ``png`` and return the PNG's path.

    Raises:
        SystemExit: the browser failed, timed out or wrote no PNG.
    """
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="seedsweep-chromium-") as profile:
        command = chromium_command(browser, html, png.resolve(), width, height, Path(profile))
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS
            )
        except subprocess.TimeoutExpired:
            raise SystemExit(f"error: {browser} timed out after {TIMEOUT_SECONDS} s") from None

    if result.returncode != 0 or not png.exists():
        detail = result.stderr.strip().splitlines()[-1:] or ["no output"]
        raise SystemExit(f"error: {browser} exited with {result.returncode}: {detail[0]}")
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render a seedsweep report.html to a PNG.")
    parser.add_argument("html", type=Path, help="the report.html to render")
    parser.add_argument("png", type=Path, nargs="?", help="output PNG (default: next to the html)")
    parser.add_argument(
        "--width", type=int, default=1280, help="window width in pixels (default 1280)"
    )
    parser.add_argument(
        "--height", type=int, default=2400, help="window height in pixels (default 2400)"
    )
    parser.add_argument("--chromium", help="the browser executable (default: chromium on PATH)")
    args = parser.parse_args(argv)

    if not args.html.is_file():
        parser.error(f"{args.html} is not a file; pass the report.html written by seedsweep")
    png = args.png or args.html.with_suffix(".png")
    browser = find_chromium(args.chromium)

    print(render(args.html, png, args.width, args.height, browser))
    return 0


if __name__ == "__main__":
    sys.exit(main())

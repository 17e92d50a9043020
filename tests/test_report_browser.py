"""report.html and aggregate.html as a browser shows them: headless Chromium (the system
package) screenshots both pages of real runs. Slow; skipped where no Chromium is installed.
``ICARL_SCREENSHOTS=DIR`` keeps the screenshots there to look at."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from icarl.cli import main

BROWSER = next(
    (shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None
)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BROWSER is None, reason="no Chromium here (apt-get install chromium)"),
]
TINY = ["--classes", "0,1,2,3,4,5", "--classes-per-step", "2", "--epochs", "2", "--quiet", "--threads", "1"]


def screenshot(page: Path, out: Path, height: int) -> np.ndarray:
    """The page rendered 1200 pixels wide, as an (H, W, 3) array."""
    from PIL import Image

    assert BROWSER is not None
    cmd = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    cmd += [f"--window-size=1200,{height}", f"--screenshot={out}", page.resolve().as_uri()]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    keep = os.environ.get("ICARL_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(out, Path(keep) / out.name)
    return np.asarray(Image.open(out).convert("RGB"))


def coloured(rows: np.ndarray) -> float:
    """Share of strongly coloured pixels (plots: lines, heat maps, links), not grey or white."""
    rgb = rows.astype(int)
    return float(((rgb.max(2) - rgb.min(2)) > 80).mean())


def figures_show(page: Path, tmp: Path, height: int) -> tuple[np.ndarray, float]:
    """The screenshot of ``page``, and how many more coloured pixels it has than the same page
    without its images: positive when the embedded figures decoded and drew."""
    bare = page.with_name("bare.html")
    bare.write_text(re.sub(r"<img [^>]*>", "", page.read_text()))
    img = screenshot(page, tmp / f"{page.stem}.png", height)
    return img, coloured(img) - coloured(screenshot(bare, tmp / f"{page.stem}-bare.png", height))


def test_report_and_repetitions_page_render_in_chromium(tmp_path):
    run = tmp_path / "run"
    assert main(["run", *TINY, "--memory", "30", "--out", str(run)]) == 0
    img, figures = figures_show(run / "report.html", tmp_path, 6000)
    assert img.shape == (6000, 1200, 3)
    ink = (img < 200).any(2).mean(1)  # share of dark pixels per screen row
    assert np.nonzero(ink > 0.01)[0].max() > 3500  # the page runs past the tables and five figures
    assert figures > 0.005
    grid = tmp_path / "grid"
    sweep = ["--sweep", "learner.memory_size=20,30", "--seeds", "1,2", "--epochs", "1"]
    assert main(["run", *TINY, *sweep, "--out", str(grid)]) == 0
    agg, figures = figures_show(grid / "aggregate.html", tmp_path, 2600)
    assert figures > 0.002
    assert (agg[:300] < 100).any()  # the title and tables at the top

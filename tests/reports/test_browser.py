"""report.html in real headless Chromium: it loads, every image decodes, a screenshot is taken.

Needs Debian's ``chromium`` (``apt-get install -y chromium``; .ci/run installs it).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from PIL import Image

from privshare.reports import build_report

from .conftest import make_store

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium)")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1200,2000"]
# Appended to a COPY of the page: counts images that failed to decode. The report has no script.
PROBE = """<script>window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  document.body.dataset.images = imgs.length;
  document.body.dataset.broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length;
});</script>"""


def _chromium(args: list[str], tmp_path) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile{len(list(tmp_path.glob('profile*')))}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = make_store(tmp_path_factory.mktemp("b") / "sweep")
    return build_report(root)


def test_report_loads_in_chromium_with_every_image_decoded(page, tmp_path):
    probe = tmp_path / "probe.html"
    probe.write_text(page.html.read_text().replace("</body>", PROBE + "</body>"))
    out = _chromium(["--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
                     "--dump-dom", probe.as_uri()], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    body = re.search(r"<body[^>]*>", out.stdout).group(0)
    assert f'data-images="{len(page.figures)}"' in body
    assert 'data-broken="0"' in body
    console = [line for line in out.stderr.splitlines() if "CONSOLE" in line or "ERR_" in line
               or "Failed to load" in line]
    assert console == []


def test_screenshot_of_the_report(page, tmp_path):
    shot = tmp_path / "report.png"
    out = _chromium([f"--screenshot={shot}", page.html.as_uri()], tmp_path)
    assert out.returncode == 0 and shot.is_file(), out.stderr[-2000:]
    img = Image.open(shot).convert("L")
    assert img.size == (1200, 2000)
    lo, hi = img.getextrema()
    assert hi - lo > 200  # text and figures drawn, not a blank page
    shutil.copy(shot, page.html.parent / "screenshot.png")  # kept next to the report

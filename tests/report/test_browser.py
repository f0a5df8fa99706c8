"""The report is a web page: render it (and the comparison page) in headless Chromium, with no
console errors, no broken images and no request leaving the page, and keep screenshots."""
import shutil
from pathlib import Path

import pytest

import trainlab
from trainlab.core.config import parse_recipe
from trainlab.report.compare import compare_page
from tests.conftest import recipe_dict, write_mnist_folder

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (make test installs it)")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def check_page(browser, url: str, shot: Path) -> dict:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    page.wait_for_load_state("load")
    images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth, e.alt])")
    sections = page.eval_on_selector_all("h2[id]", "els => els.map(e => e.id)")
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    assert not errors, errors
    assert images and all(done and width > 0 for done, width, _ in images), images
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
    return {"images": len(images), "sections": sections}


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    root = tmp_path_factory.mktemp("pages")
    folder = write_mnist_folder(root / "mnist", n_train=300, n_test=60)
    image = recipe_dict(data={"name": "mnist_folder", "path": str(folder)}, train={"epochs": 4, "batch_size": 32},
                        report={"html": True}, eval={"baselines": True, "repeats": 2, "calibrate": True})
    a = trainlab.run(parse_recipe(image), runs_dir=root, progress=False)
    b = trainlab.run(parse_recipe({**image, "model": {"name": "mlp", "hidden": [8]}}), runs_dir=root, progress=False)
    table = trainlab.run(parse_recipe(recipe_dict(data={"name": "wine"}, report={"html": True})), runs_dir=root,
                         progress=False)
    return a, b, table, compare_page([a, b], root / "compare.html")


def test_reports_and_comparison_render_cleanly(pages, tmp_path):
    a, b, table, compare = pages
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        image = check_page(browser, a.path.joinpath("report.html").as_uri(), tmp_path / "image-report.png")
        tab = check_page(browser, table.path.joinpath("report.html").as_uri(), tmp_path / "table-report.png")
        cmp = check_page(browser, compare.as_uri(), tmp_path / "compare.png")
        browser.close()
    for section in ("calibration", "errors", "interpretation", "learned", "baselines", "repeats"):
        assert section in image["sections"]
    assert image["images"] >= 8 and "interpretation" in tab["sections"]
    assert {"metrics", "tests", "curves", "diff"} <= set(cmp["sections"])
    assert (tmp_path / "compare.png").stat().st_size > 10_000

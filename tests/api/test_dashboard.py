"""The dashboard at `/`, driven in a real headless Chromium against the running service.

Screenshots go to a temporary folder, or to $REPROGRAM_SCREENSHOTS (scripts/screenshots sets
docs/screenshots) to refresh the ones in the README.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from skimage import data as photos
from support.client import Api, small_job
from support.proxy import Proxy, proxy_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 240_000  # a ceiling for jobs on a busy 2-core machine, never a measurement
# Page functions are passed as functions, not expressions: the page's CSP forbids eval.
MORE_POINTS_THAN = "n => document.querySelectorAll('#accuracy-chart circle').length > n"


@pytest.fixture(scope="module")
def relay(service: Any) -> Iterator[Proxy]:
    """The way from the browser to the API, whose open connections a test can cut."""
    with proxy_for(service.api_url) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright (skipped only when either cannot be installed)."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed: pip install -e '.[dev]'"
    )
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed: apt-get install chromium (scripts/setup does it)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, relay: Proxy) -> Iterator[Any]:
    """A fresh browser tab (its own storage) on the service; fails on any script error."""
    context = browser.new_context(
        base_url=relay.url, viewport={"width": 1280, "height": 900}, device_scale_factor=1
    )
    context.set_default_timeout(30_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, errors


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go."""
    folder = os.environ.get("REPROGRAM_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sign_in(page: Any, key: str) -> None:
    """Open the dashboard and sign in with `key` through the form."""
    page.goto("/")
    page.fill("#api-key", key)
    page.click("form.login-card button[type=submit]")
    page.wait_for_selector("#jobs-table")


def _write_spec(page: Any, spec: dict[str, Any] | str) -> None:
    """Replace the new-job form's spec and submit it."""
    text = spec if isinstance(spec, str) else json.dumps(spec, indent=2)
    page.fill("#spec-editor", text)
    page.click("#submit-job")


def _points(page: Any) -> int:
    """How many dots the accuracy chart has (two per epoch: train and validation)."""
    return int(page.evaluate("() => document.querySelectorAll('#accuracy-chart circle').length"))


def test_dashboard_is_served_and_not_in_the_api_schema(service: Any) -> None:
    index = httpx.get(service.api_url + "/")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert "/dashboard/app.js" in index.text
    assert "default-src 'self'" in index.headers["content-security-policy"]
    script = httpx.get(service.api_url + "/dashboard/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert httpx.get(service.api_url + "/dashboard/nope.js").status_code == 404
    assert httpx.get(service.api_url + "/dashboard/..%2Fapp.py").status_code == 404
    paths = httpx.get(service.api_url + "/openapi.json").json()["paths"]
    assert "/" not in paths and not any(p.startswith("/dashboard") for p in paths)


def test_sign_in_with_a_wrong_key_says_so(page: Any, service: Any) -> None:
    page.goto("/")
    page.fill("#api-key", "rp_not-a-key")
    page.click("form.login-card button[type=submit]")
    error = page.wait_for_selector("#login-error .alert")
    assert "Wrong API key" in error.inner_text()
    assert page.evaluate("() => sessionStorage.length + localStorage.length") == 0

    key = service.create_key("dash-dave")
    _sign_in(page, key)
    page.wait_for_selector("#jobs-table >> text=No jobs yet")
    assert page.evaluate("() => [sessionStorage.length, localStorage.length]") == [1, 0]
    page.reload()  # the key is kept for this tab
    page.wait_for_selector("#jobs-table")
    page.click("#sign-out")
    page.wait_for_selector("#api-key")
    assert page.evaluate("() => sessionStorage.length + localStorage.length") == 0

    page.fill("#api-key", key)
    page.check("#remember")  # kept in this browser, for later visits
    page.click("form.login-card button[type=submit]")
    page.wait_for_selector("#jobs-table")
    assert page.evaluate("() => [sessionStorage.length, localStorage.length]") == [0, 1]


def test_submit_watch_cancel_and_try_a_model(
    page: Any, service: Any, relay: Proxy, shots: Path, tmp_path: Path
) -> None:
    _sign_in(page, service.create_key("dash-carol"))

    # The form refuses what the API refuses, and says why.
    page.click("#nav >> text=New job")
    page.wait_for_selector("#spec-editor")
    _write_spec(page, "{ not json")
    assert "not valid JSON" in page.inner_text("#submit-error")
    _write_spec(page, small_job(hyperparameters={"epochs": 0}))
    page.wait_for_selector("#submit-error .alert-field")
    assert "hyperparameters.epochs" in page.inner_text("#submit-error")

    # A long job: the curves grow as epochs arrive, survive a dropped connection, and the
    # cancel button stops it.
    _write_spec(page, small_job(
        name="dash-long", method={"kind": "adversarial_program", "canvas_size": 32},
        hyperparameters={"epochs": 200, "batch_size": 16}))  # fmt: skip
    page.wait_for_selector("#accuracy-chart")
    page.wait_for_function(MORE_POINTS_THAN, arg=1, timeout=WAIT_MS)  # train and val of epoch 1
    first = _points(page)
    page.wait_for_function(MORE_POINTS_THAN, arg=first, timeout=WAIT_MS)
    relay.drop()
    page.wait_for_selector("#stream-state[data-state=reconnecting]")
    before = _points(page)
    page.wait_for_selector("#stream-state[data-state=live]")
    page.wait_for_function(MORE_POINTS_THAN, arg=before, timeout=WAIT_MS)
    ids = page.eval_on_selector_all("#events li", "rows => rows.map(r => +r.dataset.eventId)")
    assert ids == sorted(set(ids)), "the resumed stream repeated or reordered events"
    assert page.inner_text("#stat-epoch .stat-value").endswith("/ 200")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#cancel-job")
    page.wait_for_selector("h1 [data-status=cancelled]", timeout=WAIT_MS)
    assert page.query_selector("#cancel-job") is None

    # The example the form starts with runs to the end; its model tries a real photo.
    page.click("#nav >> text=New job")
    editor = page.wait_for_selector("#spec-editor")
    example = json.loads(editor.input_value())
    assert example["backbone"]["name"] == "efficientnet_lite0"
    assert example["dataset"]["name"] == "digits"
    page.click("#submit-job")
    page.wait_for_selector("#open-model", timeout=WAIT_MS)
    assert page.query_selector("h1 [data-status=succeeded]") is not None
    epochs = example["hyperparameters"]["epochs"]
    page.wait_for_function(MORE_POINTS_THAN, arg=2 * epochs - 1)
    assert _points(page) == 2 * epochs
    assert page.eval_on_selector_all("#loss-chart circle", "dots => dots.length") == 2 * epochs
    page.wait_for_selector("#stream-state[data-state=ended]")
    page.screenshot(path=str(shots / "job.png"), full_page=True)

    page.click("#open-model")
    page.wait_for_selector("#try-it")
    labels = page.eval_on_selector_all("#labels li", "items => items.map(i => i.textContent)")
    assert labels == [str(d) for d in range(10)]
    assert page.inner_text("#stat-test-accuracy .stat-value").endswith("%")
    cat = tmp_path / "chelsea.png"
    Image.fromarray(photos.chelsea()).save(cat)
    page.set_input_files("#predict-file", str(cat))
    page.wait_for_selector("#predictions")
    top = page.eval_on_selector_all("#predictions li", "items => items.map(i => i.dataset.label)")
    assert len(top) == 5 and set(top) <= set(labels)
    page.screenshot(path=str(shots / "model.png"), full_page=True)

    # The jobs list shows both, filters by status, and gives the best val accuracy.
    page.click("#nav >> text=Jobs")
    page.wait_for_selector("#jobs-table tbody tr[data-job-id]")
    rows = page.inner_text("#jobs-table tbody")
    assert "dash-long" in rows and example["name"] in rows and "%" in rows
    page.screenshot(path=str(shots / "jobs.png"))
    page.click("[data-filter=cancelled]")
    page.wait_for_selector("[data-filter=cancelled].active")
    page.wait_for_selector("#jobs-table tbody tr[data-job-id]")
    rows = page.inner_text("#jobs-table tbody")
    assert "dash-long" in rows and example["name"] not in rows


def test_delete_a_model_then_its_job(page: Any, service: Any) -> None:
    key = service.create_key("dash-erin")
    with Api(base_url=service.api_url, headers={"Authorization": f"Bearer {key}"},
             timeout=120) as api:  # fmt: skip
        job = api.wait(api.post("/v1/jobs", json=small_job(name="dash-delete")).json()["id"])
    assert job["status"] == "succeeded", job["error"]
    _sign_in(page, key)
    page.on("dialog", lambda dialog: dialog.accept())

    # A job whose model exists is refused, with the server's message naming the model.
    page.goto(f"/#/jobs/{job['id']}")
    page.click("#delete-job")
    error = page.wait_for_selector(".alert-error:has-text('Could not delete the job')")
    assert job["model_id"] in error.inner_text()

    page.goto(f"/#/models/{job['model_id']}")
    page.click("#delete-model")
    page.wait_for_selector("#models-table >> text=No models yet")
    page.goto(f"/#/jobs/{job['id']}")
    page.click("#delete-job")
    page.wait_for_selector("#jobs-table >> text=No jobs yet")


def test_pause_resume_waiting_reason_and_workers(page: Any, service: Any) -> None:
    key = service.create_key("dash-frank")
    with Api(base_url=service.api_url, headers={"Authorization": f"Bearer {key}"},
             timeout=120) as api:  # fmt: skip
        slow = api.post("/v1/jobs", json=small_job(
            name="dash-pause", method={"kind": "adversarial_program", "canvas_size": 32},
            hyperparameters={"epochs": 200, "batch_size": 16})).json()  # fmt: skip
        # no live worker has that much memory: it waits, and says why
        huge = api.post("/v1/jobs", json=small_job(
            name="dash-waits", resources={"min_memory_gb": 100000})).json()  # fmt: skip
        _sign_in(page, key)

        # A running job shows when it should finish; Pause stops it, Resume queues it again.
        page.goto(f"/#/jobs/{slow['id']}")
        page.wait_for_function(MORE_POINTS_THAN, arg=1, timeout=WAIT_MS)
        eta = page.wait_for_selector("#eta:not([hidden])")
        assert eta.inner_text().startswith("finishes ") and "left" in eta.inner_text()
        page.click("#pause-job")
        page.wait_for_selector("h1 [data-status=paused]", timeout=WAIT_MS)
        assert page.query_selector("#pause-job") is None
        assert page.is_hidden("#eta") and page.query_selector("#cancel-job") is not None
        page.click("#resume-job")
        page.wait_for_selector("#pause-job")
        assert api.get(f"/v1/jobs/{slow['id']}").json()["status"] in ("queued", "running")
        assert api.post(f"/v1/jobs/{slow['id']}/cancel").status_code == 200

        page.goto(f"/#/jobs/{huge['id']}")
        reason = page.wait_for_selector("#waiting-reason")
        assert "100000 GB" in reason.inner_text()
        page.click("#pause-job")  # a queued job pauses at once
        page.wait_for_selector("h1 [data-status=paused]")
        assert page.query_selector("#waiting-reason") is None
        assert api.post(f"/v1/jobs/{huge['id']}/cancel").status_code == 200

    page.click("#nav >> text=Workers")
    row = page.wait_for_selector("#workers-table tbody tr[data-worker-id]")
    assert service.env["REPROGRAM_QUEUE"] in page.inner_text("#workers-table tbody")
    assert "GB" in row.inner_text()


def test_a_sweep_page_shows_its_trials_the_best_so_far_and_the_promoted_model(
    page: Any, service: Any, shots: Path
) -> None:
    key = service.create_key("dash-grace")
    base = small_job(name="dash-trial", hyperparameters={"epochs": 2, "batch_size": 32})
    space = {"hyperparameters.lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True}}
    body = {"name": "dash sweep", "base": base, "space": space,
            "budget": {"trials": 2, "parallelism": 2}, "seed": 5}  # fmt: skip
    with Api(base_url=service.api_url, headers={"Authorization": f"Bearer {key}"},
             timeout=120) as api:  # fmt: skip
        made = api.post("/v1/sweeps", json=body)
        assert made.status_code == 201, made.text
        sweep_id = made.json()["id"]
        _sign_in(page, key)

        # The list links to the sweep; its page polls while the sweep runs, until it ends.
        page.click("#nav >> text=Sweeps")
        page.click(f"#sweeps-table tr[data-sweep-id={sweep_id}] >> text=dash sweep")
        page.wait_for_selector("#trials-table")
        page.wait_for_selector("h1 [data-status=succeeded]", timeout=WAIT_MS)
        sweep = api.get(f"/v1/sweeps/{sweep_id}").json()
    trials = sweep["trials"]
    assert [t["state"] for t in trials] == ["complete", "complete"], trials
    best = next(t for t in trials if t["job_id"] == sweep["best_job_id"])

    # The trial table: one row per trial, the best marked, each linking to its job.
    rows = page.eval_on_selector_all(
        "#trials-table tbody tr", "rows => rows.map(r => [r.dataset.trial, r.dataset.best || ''])"
    )
    assert rows == [[str(t["number"]), "true" if t is best else ""] for t in trials]
    percent = f"{sweep['best_value'] * 100:.1f}%"
    assert page.inner_text("#stat-best .stat-value") == percent
    assert page.inner_text("#stat-best-trial .stat-value") == f"#{best['number']}"
    test = page.inner_text("#stat-test-accuracy .stat-value")
    assert test == f"{sweep['test_accuracy'] * 100:.1f}%"
    assert page.get_attribute("#model-link", "href") == f"#/models/{sweep['model_id']}"
    assert page.get_attribute("#open-model", "href") == f"#/models/{sweep['model_id']}"
    assert page.query_selector("#cancel-sweep") is None

    # The curve: the best so far at each ended trial, and each trial's own value; it ends at
    # the best trial's height.
    dots = page.eval_on_selector_all(
        "#best-chart circle", "ds => ds.map(d => [d.dataset.series, d.textContent, d.getAttribute('cy')])"
    )  # fmt: skip
    heights = {(series, title.split(":")[0]): y for series, title, y in dots}
    assert sorted(heights) == [
        ("best", "best so far, trial 0"), ("best", "best so far, trial 1"),
        ("value", "validation accuracy, trial 0"), ("value", "validation accuracy, trial 1"),
    ]  # fmt: skip
    best_height = heights[("value", f"validation accuracy, trial {best['number']}")]
    assert heights[("best", "best so far, trial 1")] == best_height
    page.screenshot(path=str(shots / "sweep.png"), full_page=True)

    page.click(f"#trials-table a[href='#/jobs/{best['job_id']}']")
    # The trial's job page, once drawn (the sweep's own heading also shows "succeeded").
    page.wait_for_selector(f"h1:has-text('dash sweep #{best['number']}') [data-status=succeeded]")
    assert page.url.endswith(f"#/jobs/{best['job_id']}")

    page.click("#nav >> text=Sweeps")
    row = page.wait_for_selector(f"#sweeps-table tr[data-sweep-id={sweep_id}]")
    assert "succeeded" in row.inner_text() and percent in row.inner_text()
    assert sweep["model_id"] in row.inner_text()


def test_a_sweep_pauses_and_resumes_and_its_trials_link_back(page: Any, service: Any) -> None:
    key = service.create_key("dash-heidi")
    space = {"hyperparameters.lr": {"type": "float", "low": 0.001, "high": 0.1}}
    body = {"name": "dash pauses", "space": space, "budget": {"trials": 2, "parallelism": 1},
            "base": small_job(name="dash-waits", resources={"min_memory_gb": 100000}),
            "initial": [{"hyperparameters.lr": 0.01}, {"hyperparameters.lr": 0.02}]}  # fmt: skip
    with Api(base_url=service.api_url, headers={"Authorization": f"Bearer {key}"},
             timeout=120) as api:  # fmt: skip
        made = api.post("/v1/sweeps", json=body)
        assert made.status_code == 201, made.text
        sweep_id = made.json()["id"]
        _sign_in(page, key)

        # No worker can run its trials: the first initial point is queued, the second waits.
        page.goto(f"/#/sweeps/{sweep_id}")
        page.wait_for_selector("h1 [data-status=running]")
        assert page.get_attribute("#trials-table tr[data-trial='0'] .badge", "data-status") == (
            "queued"
        )
        assert page.get_attribute("#trials-table tr[data-trial='1'] .badge", "data-status") == (
            "waiting"
        )
        page.click("#pause-sweep")
        page.wait_for_selector("h1 [data-status=paused]")
        assert "No trial runs until the sweep is resumed" in page.inner_text("#sweep-paused")
        assert page.query_selector("#pause-sweep") is None
        assert page.query_selector("#cancel-sweep") is not None
        page.wait_for_selector("#trials-table tr[data-trial='0'] [data-status=paused]")
        assert api.get(f"/v1/sweeps/{sweep_id}").json()["status"] == "paused"
        page.click("#resume-sweep")
        page.wait_for_selector("#pause-sweep")
        assert page.query_selector("#sweep-paused") is None
        assert api.get(f"/v1/sweeps/{sweep_id}").json()["status"] == "running"

        # A trial's job page says which sweep it belongs to, and links back.
        job_id = api.get(f"/v1/sweeps/{sweep_id}").json()["trials"][0]["job_id"]
        page.click(f"#trials-table a[href='#/jobs/{job_id}']")
        link = page.wait_for_selector("#sweep-link")
        assert link.inner_text() == f"trial 0 of {sweep_id}"
        page.click("#sweep-link")  # by selector: replayed status events redraw the heading
        page.wait_for_selector("#trials-table")
        assert page.url.endswith(f"#/sweeps/{sweep_id}")
        assert api.post(f"/v1/sweeps/{sweep_id}/cancel").status_code == 200

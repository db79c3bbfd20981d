"""The spot-check page in headless Chromium: offline, clickable, and safe against hostile transcripts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from audioqa.output.page import render_call_page, render_index, write_call_page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent.parent / "out" / "screenshots"


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("Chromium is not installed (make test installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"])
        yield b
        b.close()


def open_page(browser, path: Path):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    log = {"errors": [], "requests": [], "dialogs": []}
    page.on("console", lambda m: log["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: log["errors"].append(str(e)))
    page.on("request", lambda r: log["requests"].append(r.url))
    page.on("dialog", lambda d: (log["dialogs"].append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, log


def minimal_report(text: str) -> dict:
    words = [{"text": w, "begin_ms": 1000 + i * 300, "end_ms": 1250 + i * 300, "prob": 1.0}
             for i, w in enumerate(text.split())]
    return {"call_id": "hostile<b>", "source": {"duration_ms": 10000}, "language": "en",
            "options": {"layout": "stereo"}, "score": {"total": 50.0, "passed": False, "fatal": False, "flags": ["x<y"]},
            "turns": [{"speaker": "ch1", "role": "customer", "begin_ms": 1000, "end_ms": 4000, "text": text,
                       "words": words}],
            "events": [{"type": "customer_agitation", "speaker": "ch1", "role": "customer", "begin_ms": 2000,
                        "end_ms": 4000, "score": 0.9, "evidence": {}}],
            "conversation": {"non_talk": {"spans": []}, "interruptions": []}, "prosody": [],
            "rules": [{"id": "r<1>", "category": "c", "severity": "minor", "weight": 1, "passed": False,
                       "applicable": True, "description": "<img src=x onerror=alert(2)>",
                       "hits": [{"turn": 0, "speaker": "ch1", "role": "customer", "begin_ms": 1000, "end_ms": 1300,
                                 "text": "<script>alert(1)</script>"}]}]}


@pytest.mark.slow
def test_sample_call_page_plays_from_a_clicked_event(browser, reports, tmp_path):
    from audioqa.audio import decode_audio

    from .conftest import sample_path

    report = reports["zh_complaint_stereo"].to_dict()
    samples = decode_audio(sample_path("zh_complaint_stereo")).samples
    path = write_call_page(report, tmp_path, samples=samples)
    page, log = open_page(browser, path)
    assert page.locator("#transcript .turn").count() == len(report["turns"])
    assert page.locator("#timeline").is_visible()
    assert page.locator("#transcript").is_visible()
    page.wait_for_function("document.getElementById('player').readyState >= 1", timeout=20000)
    event = report["events"][-1]
    page.locator(f"#event-item-{len(report['events']) - 1}").click()
    position = page.evaluate("document.getElementById('player').currentTime")
    assert position == pytest.approx(event["begin_ms"] / 1000, abs=0.3)
    page.locator("#timeline .event").first.click()
    assert page.evaluate("document.getElementById('player').currentTime") == pytest.approx(
        report["events"][0]["begin_ms"] / 1000, abs=0.3)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "zh_complaint_stereo.png"), full_page=True)
    assert log["errors"] == []
    assert [u for u in log["requests"] if not u.startswith(("file:", "data:"))] == []
    assert len(log["requests"]) == 1  # the page itself, nothing else
    page.close()


def test_hostile_transcript_shows_as_text_and_runs_nothing(browser, tmp_path):
    report = minimal_report("hello <script>alert(1)</script> there")
    path = tmp_path / "hostile.html"
    path.write_text(render_call_page(report, audio_src=None), encoding="utf-8")
    page, log = open_page(browser, path)
    page.wait_for_timeout(300)
    assert "<script>alert(1)</script>" in page.locator("#transcript").inner_text()
    assert "hostile<b>" in page.locator("h1").inner_text()
    assert log["dialogs"] == []
    assert page.locator("#transcript script").count() == 0 and page.locator("img").count() == 0
    page.close()


def test_page_is_self_contained_text():
    page = render_call_page(minimal_report("hi <script>alert(1)</script>"), audio_src="data:audio/ogg;base64,AAAA")
    assert "<script src" not in page and "<link" not in page and "http://" not in page and "https://" not in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # escaped, never raw


def test_index_is_sortable_and_links_each_call(browser, tmp_path):
    rows = [{"call_id": f"c{i}", "agent_id": "A1", "duration_s": 60.0 + i, "score": s, "fatal": False, "flags": ""}
            for i, s in enumerate([70.0, 30.0, 90.0])]
    path = tmp_path / "index.html"
    path.write_text(render_index(rows), encoding="utf-8")
    page, log = open_page(browser, path)
    assert page.locator("tbody tr").count() == 3
    page.locator("th", has_text="score").click()
    first = page.locator("tbody tr").first.locator("td").nth(3).inner_text()
    assert first == "30.0"
    assert page.locator("a[href='./c2.html']").count() == 1
    assert log["errors"] == []
    page.close()


def test_audio_is_embedded_as_opus():
    from audioqa.output.files import audio_data_uri

    uri = audio_data_uri(np.zeros((2, 16000), np.float32) + 0.01, sample_rate_hz=16000)
    assert uri.startswith("data:audio/ogg;base64,") and len(uri) < 20000
    json.dumps(uri)


@pytest.mark.parametrize("call_id, link", [("javascript:alert(document.domain)", "./javascript%3Aalert%28document.domain%29.html"),
                                           ("call#1", "./call%231.html"), ("../x", "./..%2Fx.html")])
def test_index_links_are_relative_encoded_file_names(call_id, link):
    page = render_index([{"call_id": call_id, "duration_s": 10.0}])
    assert f'href="{link}"' in page and 'href="javascript' not in page


def test_csv_cells_that_spreadsheets_would_run_are_neutralised(tmp_path):
    from audioqa.batch.export import write_table

    path = tmp_path / "calls.csv"
    write_table([{"call_id": "=HYPERLINK(\"x\")", "agent_id": "@A1", "queue": "-2+3", "score": -1.5,
                  "path": "calls/ok.wav"}], path, "csv")
    row = path.read_text().splitlines()[1]
    assert row.startswith("\"'=HYPERLINK") and ",'@A1,'-2+3,-1.5,calls/ok.wav" in row

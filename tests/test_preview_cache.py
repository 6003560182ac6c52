"""The preview cache is pruned by an hourly job: previews not viewed for
RADESK_PREVIEW_CACHE_MAX_DAYS go, then the least recently viewed ones until the cache is within
RADESK_PREVIEW_CACHE_MAX_MB; a view marks the preview as recently viewed. Files on disk."""
from __future__ import annotations

import os
import time

import pytest

import scheduler
from adapters import preview_cache
from adapters.previews import PreviewRenderer
from services.dossiers import documents
from tests.pdf_samples import text_pdf

DAY = 24 * 3600
KIB = 1024


def cached_file(root, sha: str, name: str, size: int, viewed_days_ago: float, now: float):
    folder = root / sha[:2] / sha
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"x" * size)
    at = now - viewed_days_ago * DAY
    os.utime(path, (at, at))
    return path


def test_old_previews_go_then_the_least_recently_viewed_until_within_size(tmp_path):
    now = time.time()
    root = tmp_path / "previews"
    ancient = cached_file(root, "aa" * 32, "p1-w400-r0.png", 10 * KIB, 40, now)
    old = cached_file(root, "bb" * 32, "p1-w400-r0.png", 30 * KIB, 5, now)
    older = cached_file(root, "bb" * 32, "p2-w400-r0.png", 30 * KIB, 6, now)
    recent = cached_file(root, "cc" * 32, "p1-w1000-r90.jpg", 30 * KIB, 1, now)
    newest = cached_file(root, "cc" * 32, "p1-w400-r0.jpg", 30 * KIB, 0, now)

    result = preview_cache.prune(root, max_bytes=70 * KIB, max_age_seconds=30 * DAY, now=now)

    assert not ancient.exists()  # older than 30 days, whatever the size
    assert not older.exists() and not old.exists()  # least recently viewed, over 70 Kio
    assert recent.exists() and newest.exists()
    assert result.removed == 3 and result.freed_bytes == 70 * KIB
    assert result.kept == 2 and result.kept_bytes == 60 * KIB
    assert not (root / "aa").exists()  # emptied folders removed
    assert not (root / "bb").exists()


def test_markers_locks_and_leftovers(tmp_path):
    now = time.time()
    root = tmp_path / "previews"
    sha = "dd" * 32
    kept_image = cached_file(root, sha, "p1-w400-r0.png", KIB, 0, now)
    guarding_lock = cached_file(root, sha, "p1-w400-r0.lock", 0, 3, now)
    idle_lock = cached_file(root, sha, "p2-w400-r0.lock", 0, 3, now)
    fresh_lock = cached_file(root, sha, "p3-w400-r0.lock", 0, 0, now)
    stale_failure = cached_file(root, sha, "p4-w400-r0.failed", 0, 1, now)
    fresh_failure = cached_file(root, sha, "p5-w400-r0.failed", 0, 0, now)
    leftover = cached_file(root, sha, ".tmp-abc.png", KIB, 1, now)
    rendering = cached_file(root, sha, ".tmp-def.png", KIB, 0, now)

    preview_cache.prune(root, max_bytes=100 * KIB, max_age_seconds=30 * DAY, now=now)

    assert kept_image.exists() and guarding_lock.exists() and fresh_lock.exists()
    assert fresh_failure.exists() and rendering.exists()
    assert not idle_lock.exists() and not stale_failure.exists() and not leftover.exists()


def test_an_empty_or_missing_cache_is_fine(tmp_path):
    assert preview_cache.prune(tmp_path / "nothing", max_bytes=0, max_age_seconds=0).removed == 0


@pytest.fixture
def pdf(app, make_ae, make_order):
    order = make_order(make_ae("BPOI"), number=960072)
    with app.test_request_context():
        return documents.import_document(order, "kbis", "kbis.pdf", text_pdf(pages=3),
                                         actor_label="Demandeur")


def test_the_scheduled_job_keeps_the_previews_viewed_last(app, pdf):
    app.config.update(PREVIEW_CACHE_MAX_MB=0.0, PREVIEW_CACHE_MAX_DAYS=30)
    with app.app_context():
        renderer = PreviewRenderer.for_app()
    paths = [renderer.render(pdf.sha256, pdf.media_type, page, 400).path for page in (1, 2, 3)]
    sizes = [path.stat().st_size for path in paths]
    for days_ago, path in zip((3, 2, 1), paths):  # page 1 rendered and viewed first
        at = time.time() - days_ago * DAY
        os.utime(path, (at, at))
    # Page 1 viewed again now: it becomes the most recently viewed.
    assert renderer.render(pdf.sha256, pdf.media_type, 1, 400).path == paths[0]
    app.config["PREVIEW_CACHE_MAX_MB"] = (sizes[0] + sizes[2]) / (1024 * 1024)

    job = {job.id: job for job in scheduler.jobs(app)}[scheduler.PREVIEW_CACHE_JOB]
    assert job.trigger == {"trigger": "interval", "hours": 1.0}
    result = scheduler.run_job(app, job)

    assert result.removed == 1
    assert paths[0].exists() and not paths[1].exists() and paths[2].exists()
    # A pruned preview is simply rendered again at its next view.
    again = renderer.render(pdf.sha256, pdf.media_type, 2, 400)
    assert again is not None and again.path.is_file()


def test_previews_not_viewed_for_max_days_go(app, pdf):
    app.config.update(PREVIEW_CACHE_MAX_MB=2048, PREVIEW_CACHE_MAX_DAYS=7)
    with app.app_context():
        renderer = PreviewRenderer.for_app()
    stale = renderer.render(pdf.sha256, pdf.media_type, 1, 400).path
    fresh = renderer.render(pdf.sha256, pdf.media_type, 2, 400).path
    at = time.time() - 8 * DAY
    os.utime(stale, (at, at))
    preview_cache.prune_job(app)
    assert not stale.exists() and fresh.exists()

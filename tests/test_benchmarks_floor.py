"""The load test's floor page exists in the bench's URLs only, behind the same middleware and
login as every page; the load module reports CPU and the throughput target (no speed is
asserted here: issue 9)."""

from __future__ import annotations

import os
import time

import pytest
from django.test import Client, override_settings
from django.urls import NoReverseMatch, clear_url_caches, reverse

from benchmarks import load
from benchmarks.urls import FLOOR_PATH


def test_the_floor_page_is_not_a_product_url() -> None:
    with pytest.raises(NoReverseMatch):
        reverse("bench_floor")
    assert reverse("bench_floor", urlconf="benchmarks.urls") == FLOOR_PATH
    # The product's pages are all still there.
    assert reverse("cases:list", urlconf="benchmarks.urls") == reverse("cases:list")
    bench_settings = (load.settings.BASE_DIR / "benchmarks" / "settings.py").read_text()
    assert 'ROOT_URLCONF = "benchmarks.urls"' in bench_settings


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="benchmarks.urls")
def test_the_floor_page_needs_a_login_and_renders_the_user(coordinator) -> None:  # type: ignore[no-untyped-def]
    clear_url_caches()
    try:
        client = Client()
        response = client.get(FLOOR_PATH)
        assert response.status_code == 302 and "/login/" in response["Location"]
        client.force_login(coordinator)
        response = client.get(FLOOR_PATH)
        assert response.status_code == 200
        assert coordinator.username in response.content.decode()
        # The same stack as a product page: the security and private-response headers.
        assert "Content-Security-Policy" in response.headers
        assert response["Cache-Control"] == client.get(reverse("cases:list"))["Cache-Control"]
    finally:
        clear_url_caches()


def test_cpu_accounting_reads_this_process() -> None:
    pids = load._group_pids(os.getpgrp())
    assert os.getpid() in pids
    before = load._cpu_seconds([os.getpid()])
    started = time.process_time()
    while time.process_time() - started < 0.1:
        sum(i * i for i in range(10_000))
    assert load._cpu_seconds([os.getpid()]) - before >= 0.05
    assert load._cpu_seconds([2**22 + 7]) == 0  # a process that is not there

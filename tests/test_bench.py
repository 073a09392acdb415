"""The bench at toy sizes: every function runs, the table has its shape, exact counts hold.

Times are never asserted (they are what the bench reports); counts are, where they are
deterministic: the re-implemented algorithms' S3 requests, PEP 658 keeping wheels off the wire.
"""

from __future__ import annotations

import re

import pytest

from bench import clients
from bench.__main__ import QUICK, Results, document, run
from bench.report import HEADER


@pytest.fixture(scope="module")
def results() -> Results:
    return run(QUICK)


def test_one_upload_costs_the_same_requests_at_every_bucket_size(results: Results):
    ours = {u.ours.requests for u in results.uploads}
    assert len(ours) == 1
    assert [u.projects for u in results.uploads] == list(QUICK.projects)
    for u in results.uploads:
        assert u.ours.calls["ListObjectsV2"] == 1  # its own folder, never the bucket


def test_the_reimplementations_make_the_requests_of_their_sources(results: Results):
    for u in results.uploads:  # fewer than 1 000 folders: one LIST page
        assert u.serverless_pypi.calls == {"ListObjectsV2": 1, "PutObject": 1}
        assert u.s3pypi.calls == {"GetObject": 2, "PutObject": 2, "ListObjectsV2": 1}
        assert u.ours_page.calls == {"GetObject": 1}
        assert u.serverless_pypi_page.calls == {"ListObjectsV2": 1}


def test_reindex_rerun_reads_no_distribution(results: Results):
    rx = results.reindex
    assert rx.files == QUICK.reindex_files
    assert rx.first.calls["GetObject"] - rx.again.calls["GetObject"] == rx.files
    assert rx.again.requests < rx.first.requests


def test_pep_658_keeps_wheels_off_the_wire_for_pip_and_uv(results: Results):
    b = results.clients
    one_wheel = b.wheel_bytes / b.packages
    for client in clients.CLIENTS:
        ours = b.get(client, clients.Ours.name)
        assert ours.requests == 2 * b.packages  # a page and a .metadata per package
        assert ours.bytes_sent < one_wheel
    pip_theirs = b.get("pip", clients.PyPIServer.name)
    assert pip_theirs.requests == 2 * b.packages  # a page and a whole wheel per package
    assert pip_theirs.bytes_sent > b.wheel_bytes


def test_the_dependency_tree_is_a_dag_reaching_every_package():
    n = 30
    seen, todo = set(), [0]
    while todo:
        i = todo.pop()
        if i not in seen:
            seen.add(i)
            deps = clients.dependencies(i, n)
            assert all(j > i for j in deps)
            todo += deps
    assert seen == set(range(n))


def test_the_document_is_one_table_with_notes(results: Results):
    text = document(results)
    lines = text.splitlines()
    assert lines[0].startswith("# pypi-edge benchmark")
    table = [line for line in lines if line.startswith("|")]
    assert table[0] == "| " + " | ".join(HEADER) + " |"
    rows = table[2:]
    expected = 4 + 4 * len(QUICK.projects) + 2 + 2 + 3 * len(clients.CLIENTS) + 6
    assert len(rows) == expected
    assert all(len(re.split(r"(?<!\\)\|", row)) == len(HEADER) + 2 for row in rows)
    assert {row.split("|")[1].strip() for row in rows} == {"1 edge", "2 indexer", "3 clients", "4 cost"}
    assert all(row.split("|")[-2].strip().endswith("×") for row in rows)  # every row has a ratio
    notes = [line for line in lines if re.match(r"\d+\. ", line)]
    assert len(notes) == 8
    assert "serverless-pypi" in text and "CodeArtifact" in text and "Prices read" in text

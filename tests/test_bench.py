"""The bench at toy sizes: every function runs, the table has its shape, exact counts hold.

Times are never asserted (they are what the bench reports); counts are, where they are
deterministic: the re-implemented algorithms' S3 requests, PEP 658 keeping wheels off the wire.
"""

from __future__ import annotations

import dataclasses
import gzip
import http.client
import re
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from bench import clients, cost, publish, servers
from bench.__main__ import BEGIN, END, PAGE, QUICK, Results, document, run, update_page
from bench.link import LOOPBACK, Link, Scenario, Shape, ShapingProxy, through
from bench.report import HEADER
from bench.servers import COLD, OURS, PEERS, STALE, WARM, local_stack
from local.stack import free_port
from tests.distributions import make_wheel


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
    # The re-run reads each project's latest .metadata (its page's README), never a distribution.
    assert rx.first.calls["GetObject"] - rx.again.calls["GetObject"] == rx.files - rx.projects
    assert rx.again.requests < rx.first.requests


def _synthetic(results: Results) -> clients.Case:
    return results.work.cases[0]


def _big(results: Results) -> clients.Case:
    return results.work.cases[-1]


def _get(results: Results, case: clients.Case, task: str, server: str, scenario: Scenario, state=None):
    return results.work.get(task, case.tree.name, server, scenario.name, state)


def test_pep_658_keeps_wheels_off_the_wire_when_locking(results: Results):
    case = _synthetic(results)
    n = QUICK.packages
    one_wheel = case.tree.wheel_bytes / n
    for task in ("uv pip compile", "poetry lock"):
        for scenario in case.scenarios:
            ours = _get(results, case, task, OURS, scenario)
            assert ours.requests == 2 * n  # a page and a .metadata per package
            assert ours.bytes_sent < one_wheel
            for peer in PEERS:  # no PEP 658: a wheel's tail by Range requests, or the whole wheel
                assert _get(results, case, task, peer, scenario).bytes_sent > ours.bytes_sent


def test_pip_install_fetches_page_metadata_and_wheel_from_us_and_page_and_wheel_from_peers(results: Results):
    case = _synthetic(results)
    n, wheels = QUICK.packages, case.tree.wheel_bytes
    for scenario in case.scenarios:
        for state in (COLD, STALE, WARM):  # the client's traffic is the same whatever the edge holds
            ours = _get(results, case, "pip install", OURS, scenario, state)
            assert ours.requests == 3 * n
            assert wheels < ours.bytes_sent < wheels + 10_000  # the wheels once, plus small pages
        for peer in PEERS:
            theirs = _get(results, case, "pip install", peer, scenario)
            assert theirs.requests == 2 * n  # the wheel downloaded to resolve is the one installed
            assert theirs.bytes_sent > wheels


def test_a_cold_edge_asks_the_origin_for_everything_a_stale_one_for_pages_a_warm_one_nothing(
    results: Results,
):
    case = _synthetic(results)
    n = QUICK.packages
    for task in clients.TASKS:
        for scenario in case.scenarios:
            cold, stale, warm = (
                _get(results, case, task.name, OURS, scenario, s) for s in (COLD, STALE, WARM)
            )
            assert cold.origin_requests == cold.requests  # every object fetched once, none twice
            assert stale.origin_requests == n  # each page revalidated; wheels and .metadata cached
            assert warm.origin_requests == 0


def test_a_scenario_without_stale_pages_measures_a_cold_and_a_warm_edge(results: Results):
    case = _big(results)
    (scenario,) = case.scenarios
    assert not scenario.stale_pages
    got = {m.state for m in results.work.measurements if m.server == OURS and m.tree == case.tree.name}
    assert got == {COLD, WARM}
    for task in case.tasks:
        assert _get(results, case, task.name, OURS, scenario, WARM).origin_requests == 0


def test_pep_658_keeps_the_large_wheel_off_the_wire_when_resolving(results: Results):
    case = _big(results)
    n, (scenario,) = QUICK.packages, case.scenarios
    assert [t.name for t in case.tasks] == ["pip install --dry-run", "uv pip compile", "poetry lock"]
    assert max(len(data) for _, data in case.tree.wheels) > QUICK.big_bytes
    for task in case.tasks:
        ours = _get(results, case, task.name, OURS, scenario)
        assert ours.requests == 2 * n and ours.bytes_sent < 10_000
    for peer in PEERS:  # pip without PEP 658 downloads every wheel to read its metadata
        dry_run = _get(results, case, "pip install --dry-run", peer, scenario)
        assert dry_run.requests == 2 * n and dry_run.bytes_sent > case.tree.wheel_bytes


def test_every_task_ran_against_every_index_in_every_scenario_and_cache_state(results: Results):
    w = results.work
    assert w.servers == [OURS, *PEERS]
    expected = sum(
        len(case.tasks) * (len(PEERS) + (3 if scenario.stale_pages else 2))
        for case in w.cases
        for scenario in case.scenarios
    )
    assert len(w.measurements) == expected
    assert all(m.requests > 0 and m.seconds > 0 and m.server_total > 0 for m in w.measurements)
    assert all(m.origin_requests == 0 for m in w.measurements if m.server != OURS)


def test_publishing_measures_the_cli_and_the_raw_put_and_says_why_not_otherwise(results: Results):
    got = {p.method: p for p in results.publishing}
    assert list(got) == list(publish.METHODS)
    for method in (publish.CLI, publish.RAW):
        p = got[method]
        assert p.why_not == "" and p.runs == QUICK.publish_runs
        assert 0 < p.listed < p.installed
    for method in (publish.TWINE, publish.UV):
        p = got[method]
        if p.why_not:
            assert p.why_not.startswith("not measured: ") and p.listed is None and p.installed is None
        else:
            assert 0 < p.listed < p.installed


def test_legacy_endpoint_detection_follows_what_the_local_stack_answers():
    with local_stack() as stack:
        status = publish.legacy_status(stack)
        assert publish.legacy_available(stack) == (status not in (403, 404, 405, 501))
        assert (publish.why_not(publish.TWINE, stack) == publish.NOT_MERGED) == (
            not publish.legacy_available(stack)
        )
        assert publish.why_not(publish.CLI, stack) == publish.why_not(publish.RAW, stack) == ""


def test_large_pages_cost_constant_requests_and_html_is_gzipped_as_cloudfront_would(results: Results):
    g = results.large
    assert g.project_rebuild.calls["ListObjectsV2"] == 1  # its own folder, never the bucket
    assert len({c.requests for _, c in g.root_rebuilds}) == 1  # whatever the number of projects
    assert [n for n, _ in g.root_rebuilds] == list(QUICK.large_roots)
    for f in g.fetches:
        if f.format == "HTML" and f.stored_bytes >= 1_000:
            assert f.encoding == "gzip" and f.sent_bytes < f.stored_bytes
        if f.format == "JSON":  # CloudFront does not compress this type: sent as stored
            assert f.sent_bytes == f.stored_bytes
    assert len(g.fetches) == (1 + len(QUICK.large_roots)) * 2 * len(QUICK.large_links)


def test_the_real_tree_is_downloaded_once_then_read_from_the_cache(tmp_path):
    calls = []

    def download(requirements, into):
        calls.append(list(requirements))
        for name in ("alpha", "beta"):
            filename, data, _ = make_wheel(name, "1.0")
            (into / filename).write_bytes(data)

    first = clients.real_tree(("Alpha==1.0",), tmp_path, download)
    again = clients.real_tree(("Alpha==1.0",), tmp_path, download)
    assert calls == [["Alpha==1.0"]]
    assert first.wheels == again.wheels and first.projects == {"alpha", "beta"}
    assert first.roots == ("alpha==1.0",)


def test_an_interrupted_download_is_fetched_again(tmp_path):
    def broken(requirements, into):
        raise RuntimeError("network down")

    with pytest.raises(RuntimeError, match="network down"):
        clients.real_tree(("Alpha==1.0",), tmp_path, broken)

    def download(requirements, into):
        filename, data, _ = make_wheel("alpha", "1.0")
        (into / filename).write_bytes(data)

    assert clients.real_tree(("Alpha==1.0",), tmp_path, download).projects == {"alpha"}


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


def test_invalidations_are_free_up_to_1000_paths_a_month_then_half_a_cent_each():
    assert cost.invalidation_dollars(1_000) == 0
    assert cost.invalidation_dollars(1_001) == pytest.approx(0.005)
    assert cost.invalidation_dollars(3_000) == pytest.approx(10.0)


def test_the_write_side_costs_grow_with_uploads_and_trusted_publishing_jobs():
    base = cost.Load(uploads=400, trusted_publish_jobs=0)  # 560 invalidation paths: free
    more_uploads = dataclasses.replace(base, uploads=800)  # 1,120 paths: 120 paid
    with_mints = dataclasses.replace(base, trusted_publish_jobs=100)
    one = cost.endpoint_monthly(5, 30_000, base)
    assert cost.invalidation_paths(base, via_endpoint=True) == 560
    assert cost.endpoint_monthly(5, 30_000, more_uploads) == pytest.approx(2 * one + 120 * 0.005)
    per_mint = (cost.endpoint_monthly(5, 30_000, with_mints) - one) / 100
    assert per_mint == pytest.approx(
        2 * cost.edge_request_dollars(5, 30_000, base.cold_fraction)
        + cost.LAMBDA_REQUEST
        + base.mint_seconds * cost.UPLOAD_MEMORY_GB * cost.LAMBDA_GB_SECOND
    )


# The measured `pip install` of the 30-package tree (bench/results.md): 90 requests, 60 MiB.
FULL_INSTALL = cost.Install(90, 62_965_564)


def _team(developers: int) -> cost.TeamMonth:
    return cost.team_month(developers, FULL_INSTALL, 5, 30_000, 3, 6, cost.Load())


def test_transfer_is_priced_by_its_tiers_after_the_free_terabyte():
    assert cost.transfer_dollars(1_000, free_gb=1_024) == 0
    assert cost.transfer_dollars(2_024, free_gb=1_024) == pytest.approx(1_000 * 0.085)
    assert cost.transfer_dollars(11 * 1_024) == pytest.approx(10 * 1_024 * 0.085 + 1_024 * 0.080)


@pytest.mark.parametrize(
    ("developers", "pick", "fits"),
    [
        (10, cost.PAY_AS_YOU_GO, {"Pro", "Business", "Premium"}),  # 271 GB: over Free's 100 GB
        (50, "Pro", {"Pro", "Business", "Premium"}),  # 1.4 TB out: the free tier's 1 TB is not enough
        (500, "Business", {"Business", "Premium"}),  # 20.8M requests: over Pro's 10M
    ],
)
def test_each_team_size_gets_the_cheapest_option_that_fits(developers, pick, fits):
    t = _team(developers)
    assert t.installs == developers * 21 * 22
    assert t.viewer_requests == t.installs * 90 + 500 + 2 * 100  # installs, uploads, trusted publishing
    assert {name for name, dollars in t.plans.items() if dollars is not None} == fits
    assert t.pick == pick
    options = {cost.PAY_AS_YOU_GO: t.payg, **{k: v for k, v in t.plans.items() if v is not None}}
    assert options[pick] == min(options.values())


def test_a_plan_costs_its_fee_plus_what_it_does_not_cover():
    t = _team(50)
    assert t.plans["Pro"] == pytest.approx(15 + t.outside_plan)
    # What stays outside: the edge function per request, S3 on misses, storage, the write side.
    per_request = cost.ours_per_request(5, 30_000, cost.Load()) - cost.CLOUDFRONT_HTTPS_REQUEST
    assert t.outside_plan > t.installs * 90 * per_request
    assert t.payg_list > t.payg > t.plans["Pro"]


def test_the_document_is_one_table_with_further_tables_and_notes(results: Results):
    text = document(results)
    lines = text.splitlines()
    assert lines[0].startswith("# pypi-edge benchmark")
    main = lines[2 : lines.index("", 2)]
    assert main[0] == "| " + " | ".join(HEADER) + " |"
    rows = main[2:]
    clients_rows = sum(
        len(case.tasks) * len(PEERS) * (len(case.scenarios) + 1) for case in results.work.cases
    )  # per peer: a wall time per scenario, and the bytes
    # edge 4 + user pool 5, indexer, clients, cost 7 and the flat-rate plans
    expected = 4 + 5 + 4 * len(QUICK.projects) + 2 + 2 + clients_rows + 7 + len(cost.TEAM_SIZES)
    assert len(rows) == expected
    assert all(len(re.split(r"(?<!\\)\|", row)) == len(HEADER) + 2 for row in rows)
    assert {row.split("|")[1].strip() for row in rows} == {"1 edge", "2 indexer", "3 clients", "4 cost"}
    assert all(row.split("|")[-2].strip().endswith("×") for row in rows)  # every row has a ratio
    headings = [line for line in lines if line.startswith("### ")]
    assert len(headings) == 8
    notes = [line for line in lines if re.match(r"\d+\. ", line)]
    assert len(notes) == 16
    for needle in (
        "serverless-pypi",
        "CodeArtifact",
        "Prices read",
        "devpi-init --no-root-pypi",
        "Compress: true",
        "flat-rate",
        "unconfirmed",
        "edge cache cold",
        "aws.amazon.com/cognito/pricing",
        "user-pool cache miss",
    ):
        assert needle in text
    assert sum(line.startswith(("| twine upload | ", "| uv publish | ")) for line in lines) == 2


def test_make_bench_puts_the_document_between_the_performance_pages_markers(tmp_path):
    page = tmp_path / "performance.md"
    page.write_text(f"# x\n\n## The last run\n{BEGIN}\nold\n{END}\n\n## After\n")
    assert update_page("# title\n\n| a |\n", page)
    assert page.read_text() == f"# x\n\n## The last run\n{BEGIN}\n\n| a |\n\n{END}\n\n## After\n"
    plain = tmp_path / "PLAIN.md"
    plain.write_text("# no markers\n")
    assert not update_page("# t\n\nx\n", plain)
    assert plain.read_text() == "# no markers\n"


def test_the_performance_page_holds_the_markers_and_the_readme_does_not():
    assert PAGE.relative_to(Path(__file__).resolve().parent.parent) == Path("docs/performance.md")
    text = PAGE.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1 and text.index(BEGIN) < text.index(END)
    assert BEGIN not in (PAGE.parent.parent / "README.md").read_text()


# --- the link: a shaping proxy that is a correct HTTP/1.1 intermediary ------------------------


class Origin(ThreadingHTTPServer):
    """A tiny origin: fixed objects, Range, HEAD, chunked answers, an echo for bodies, and
    counts of its own connections and requests."""

    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _OriginHandler)
        self.connections = 0
        self.requests: list[tuple[str, str, bytes]] = []
        self.objects = {
            "/page.html": ("text/html; charset=utf-8", b"<a>x</a>\n" * 1_000),
            "/tiny.html": ("text/html", b"<a>x</a>"),
            "/page.json": ("application/vnd.pypi.simple.v1+json", b'{"files": []}' * 400),
            "/wheel.whl": ("application/octet-stream", bytes(range(256)) * 1_000),
        }


class _OriginHandler(BaseHTTPRequestHandler):
    server: Origin
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = b""
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            while size := int(self.rfile.readline().strip(), 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        elif self.headers.get("Content-Length"):
            body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append((self.command, self.path, body))
        if self.command == "POST":
            return self._answer(200, "application/octet-stream", body)
        if self.path == "/stream":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"abc" * 5_000, b"def" * 30_000):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        if self.path == "/close":
            self.close_connection = True
            return self._answer(200, "text/plain", b"bye", close=True)
        if self.path not in self.server.objects:
            return self._answer(404, "text/plain", b"no")
        content_type, data = self.server.objects[self.path]
        if self.headers.get("Range"):
            start, end = (int(x) for x in self.headers["Range"].split("=")[1].split("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            return self._answer(206, content_type, data[start : end + 1], status_sent=True)
        self._answer(200, content_type, data)

    do_HEAD = do_POST = do_GET

    def _answer(self, status, content_type, data, close=False, status_sent=False) -> None:
        if not status_sent:
            self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", '"abc"')
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


@pytest.fixture
def origin():
    server = Origin()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


class FakeTime:
    """A clock that only moves when someone sleeps: the link's waits are read, never waited."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def proxy_for(
    origin: Origin, shape: Shape = LOOPBACK, fake: FakeTime | None = None, **kwargs
) -> ShapingProxy:
    fake = fake or FakeTime()
    return ShapingProxy(origin.server_address, shape, clock=fake.clock, sleep=fake.sleep, **kwargs).start()


def request(conn, method, path, headers=None, body=None):
    conn.request(
        method, path, body=body, headers=headers or {}, encode_chunked=not isinstance(body, bytes | None)
    )
    resp = conn.getresponse()
    return resp, resp.read()


def test_link_keeps_one_connection_alive_on_both_sides(origin):
    with proxy_for(origin) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.server_address[1])
        for path in ("/page.html", "/wheel.whl", "/missing", "/page.json"):
            request(conn, "GET", path)
        conn.close()
        tally = proxy.reset()
    assert (tally.connections, tally.requests) == (1, 4)
    assert origin.connections == 1
    assert tally.statuses == {200: 3, 404: 1}
    assert len(tally.server_seconds) == 4  # one server time per answered request


def test_link_delays_each_request_and_each_new_connection_by_one_round_trip(origin):
    fake = FakeTime()
    shape = Shape("test", rtt=0.03)
    with proxy_for(origin, shape, fake) as proxy:
        for _ in range(2):
            conn = http.client.HTTPConnection("127.0.0.1", proxy.server_address[1])
            for _ in range(3):
                request(conn, "GET", "/tiny.html")
            conn.close()
        wait_for(lambda: proxy.tally.connections == 2)
        tally = proxy.reset()
    assert (tally.delayed_connections, tally.delayed_requests) == (2, 6)
    assert tally.delay_seconds == pytest.approx(8 * 0.03)
    assert fake.sleeps == [0.03] * 8  # no bandwidth cap: nothing else waited


def test_link_caps_bandwidth_by_scheduling_every_body_byte(origin):
    fake = FakeTime()
    shape = Shape("test", bits_per_second=8e6)  # 1 MB/s
    wheel = origin.objects["/wheel.whl"][1]
    with proxy_for(origin, shape, fake) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.server_address[1])
        _, got = request(conn, "GET", "/wheel.whl")
        _, echoed = request(conn, "POST", "/upload", body=b"u" * 100_000)
        conn.close()
        assert got == wheel and echoed == b"u" * 100_000
        assert proxy.down.bytes == len(wheel) + 100_000
        assert proxy.down.scheduled == pytest.approx((len(wheel) + 100_000) / 1e6)
        assert proxy.up.bytes == 100_000
        tally = proxy.reset()
    assert (tally.body_bytes_down, tally.body_bytes_up) == (len(wheel) + 100_000, 100_000)
    # The clock stood still, so each chunk waited for all the bytes scheduled before it.
    assert max(fake.sleeps) == pytest.approx(proxy.down.scheduled)


def test_link_is_one_shared_pipe_not_one_per_connection():
    fake = FakeTime()
    link = Link(8e6, fake.clock, fake.sleep)
    link.send(500_000)  # connection A
    link.send(500_000)  # connection B, at the same instant: it queues behind A
    assert fake.sleeps == [0.5, 1.0]
    assert (link.bytes, link.scheduled) == (1_000_000, 1.0)


def test_link_answers_head_with_the_length_of_the_get_and_no_body(origin):
    with proxy_for(origin) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.server_address[1])
        resp, body = request(conn, "HEAD", "/wheel.whl")
        _, after = request(conn, "GET", "/tiny.html")  # the connection is still in step
        conn.close()
        tally = proxy.reset()
    assert resp.status == 200 and body == b""
    assert resp.getheader("Content-Length") == str(len(origin.objects["/wheel.whl"][1]))
    assert after == b"<a>x</a>"
    assert tally.body_bytes_down == len(b"<a>x</a>")


def test_link_passes_range_requests_through(origin):
    with proxy_for(origin) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.server_address[1])
        resp, body = request(conn, "GET", "/wheel.whl", {"Range": "bytes=1000-1099"})
        conn.close()
    assert resp.status == 206
    assert resp.getheader("Content-Range") == f"bytes 1000-1099/{256 * 1_000}"
    assert body == origin.objects["/wheel.whl"][1][1000:1100]
    assert origin.requests[-1][:2] == ("GET", "/wheel.whl")


def test_link_streams_a_chunked_answer_of_unknown_length(origin):
    with proxy_for(origin) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.server_address[1])
        resp, body = request(conn, "GET", "/stream")
        _, after = request(conn, "GET", "/tiny.html")
        conn.close()
        tally = proxy.reset()
    assert resp.getheader("Transfer-Encoding") == "chunked"
    assert body == b"abc" * 5_000 + b"def" * 30_000
    assert after == b"<a>x</a>"
    assert tally.body_bytes_down == len(body) + len(after)


def test_link_streams_a_chunked_request_body_upstream(origin):
    with proxy_for(origin) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.server_address[1])
        parts = [b"x" * 70_000, b"y" * 10]
        _, echoed = request(conn, "POST", "/legacy/", body=iter(parts))
        conn.close()
        tally = proxy.reset()
    assert echoed == b"".join(parts)
    assert origin.requests[-1] == ("POST", "/legacy/", b"".join(parts))
    assert tally.body_bytes_up == 70_010


def test_link_closes_the_client_connection_when_the_server_closes_its_own(origin):
    with proxy_for(origin) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.server_address[1])
        resp, body = request(conn, "GET", "/close")
        assert resp.getheader("Connection") == "close" and body == b"bye"
        _, again = request(conn, "GET", "/tiny.html")  # http.client reconnects
        conn.close()
        wait_for(lambda: proxy.tally.connections == 2)
        tally = proxy.reset()
    assert (tally.connections, tally.requests) == (2, 2)
    assert again == b"<a>x</a>"


def test_link_gzips_html_as_cloudfront_does_when_asked(origin):
    page = origin.objects["/page.html"][1]
    with proxy_for(origin, cloudfront_compression=True) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.server_address[1])
        resp, body = request(conn, "GET", "/page.html", {"Accept-Encoding": "gzip, deflate"})
        plain, plain_body = request(conn, "GET", "/page.html")
        tiny, tiny_body = request(conn, "GET", "/tiny.html", {"Accept-Encoding": "gzip"})
        js, js_body = request(conn, "GET", "/page.json", {"Accept-Encoding": "gzip"})
        conn.close()
        tally = proxy.reset()
    assert resp.getheader("Content-Encoding") == "gzip" and resp.getheader("ETag") == 'W/"abc"'
    assert gzip.decompress(body) == page and len(body) == int(resp.getheader("Content-Length"))
    assert plain.getheader("Content-Encoding") is None and plain_body == page
    assert tiny.getheader("Content-Encoding") is None  # under 1,000 bytes
    assert js.getheader("Content-Encoding") is None  # not a type CloudFront compresses
    assert (tally.compressed_responses, tally.bytes_before_compression) == (1, len(page))
    assert tally.body_bytes_down == len(body) + len(page) + len(tiny_body) + len(js_body)


def test_link_rewrites_index_urls_to_go_through_it(origin):
    with proxy_for(origin) as proxy:
        port = proxy.server_address[1]
        assert through("http://u:p@127.0.0.1:9/simple/", proxy) == f"http://u:p@127.0.0.1:{port}/simple/"
        assert (
            through("http://127.0.0.1:9/root/bench/+simple/", proxy)
            == f"http://127.0.0.1:{port}/root/bench/+simple/"
        )


def test_link_answers_502_when_the_server_is_gone():
    with ShapingProxy(("127.0.0.1", free_port()), LOOPBACK) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.server_address[1])
        resp, _ = request(conn, "GET", "/simple/")
        conn.close()
        tally = proxy.reset()
    assert resp.status == 502
    assert tally.server_seconds == []  # no server answered


def wait_for(condition, timeout: float = 5) -> None:
    """For the proxy's own bookkeeping after a client hangs up (a count, not a time, is asserted)."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_link_counts_a_client_that_resets_its_connection_instead_of_printing_it(origin, capsys):
    with proxy_for(origin) as proxy:
        sock = socket.create_connection(("127.0.0.1", proxy.server_address[1]))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.sendall(b"GET /tiny.html HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.recv(4096)
        sock.close()  # with SO_LINGER 0: a reset, as clients do to idle keep-alive connections
        wait_for(lambda: proxy.tally.client_hangups == 1)
        tally = proxy.reset()
    assert (tally.requests, tally.client_hangups) == (1, 1)
    assert "Traceback" not in capsys.readouterr().err


def test_a_peer_whose_traffic_varies_is_reported_as_a_flagged_median_but_ours_may_not_vary():
    task, tree = clients.TASKS[1], clients.Tree("t", [], ("x",))
    here = Scenario("here", LOOPBACK, LOOPBACK)
    samples = [(1.0, 61, 100, 0, [0.1]), (3.0, 61, 300, 0, [0.3, 0.3]), (2.0, 61, 200, 0, [0.2])]
    got = clients._summarize(task, tree, PEERS[1], here, "", samples)
    assert (got.requests, got.bytes_sent, got.seconds, got.varied) == (61, 200, 2.0, True)
    assert (got.server_median, got.server_total) == (0.2, 0.2)
    steady = clients._summarize(
        task, tree, OURS, here, WARM, [(1.0, 8, 10, 0, [0.1]), (2.0, 8, 10, 0, [0.2])]
    )
    assert (steady.requests, steady.bytes_sent, steady.varied) == (8, 10, False)
    with pytest.raises(AssertionError, match="traffic varied"):
        clients._summarize(task, tree, OURS, here, WARM, samples)
    with pytest.raises(AssertionError, match="traffic varied"):  # the origin's requests count too
        clients._summarize(task, tree, OURS, here, COLD, [(1.0, 8, 10, 8, []), (1.0, 8, 10, 7, [])])


class FakeS3:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def get_object(self, **kwargs):
        self.calls.append(("get_object", kwargs))
        if kwargs.get("IfNoneMatch"):
            raise ClientError(
                {"Error": {"Code": "304"}, "ResponseMetadata": {"HTTPStatusCode": 304}}, "GetObject"
            )
        return {"Body": b"x"}

    def head_object(self, **kwargs):
        self.calls.append(("head_object", kwargs))
        return {}


def test_the_origin_adds_its_round_trip_to_every_request_the_edge_sends_it_and_counts_them():
    fake, s3 = FakeTime(), FakeS3()
    origin = servers.Origin(s3, rtt=0.105, sleep=fake.sleep)
    assert origin.get_object(Bucket="b", Key="p/") == {"Body": b"x"}
    origin.head_object(Bucket="b", Key="w.whl")
    with pytest.raises(ClientError):  # a revalidation answered 304 is a round trip too
        origin.get_object(Bucket="b", Key="p/", IfNoneMatch='"e"')
    assert [name for name, _ in s3.calls] == ["get_object", "head_object", "get_object"]
    assert fake.sleeps == [0.105] * 3
    assert origin.reset() == 3 and origin.reset() == 0
    servers.Origin(s3, rtt=0.0, sleep=fake.sleep).get_object(Bucket="b", Key="k")
    assert fake.sleeps == [0.105] * 3  # a same-region origin adds nothing


def test_the_user_pool_bills_active_users_above_the_free_tier() -> None:
    from bench import users

    assert users.cognito_cost(50, "Lite") == 0 and users.cognito_cost(10_000, "Essentials") == 0
    assert users.cognito_cost(10_001, "Lite") == pytest.approx(0.0055)
    assert users.cognito_cost(1_000, "Lite", free_tier=False) == pytest.approx(5.50)
    assert users.cognito_cost(10_000, "Essentials", free_tier=False) == pytest.approx(150)
    assert (
        users.cognito_cost(50, "Plus")
        == users.cognito_cost(50, "Plus", free_tier=False)
        == pytest.approx(1.0)
    )


def test_the_user_pool_measurements_hold_what_the_rows_say(results: Results) -> None:
    p = results.pool
    assert p["revocation_bound_s"] == 2  # times are reported, not asserted
    assert p["sdk_import_mb"] > p["client_import_mb"]  # boto3 adds more resident memory than http.client

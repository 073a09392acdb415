"""`make bench`: measure everything side by side, print one Markdown table, write bench/results.md.

`run(sizes)` measures; `document(results)` turns the measurements into the table and its
notes. `tests/test_bench.py` runs both with `QUICK` sizes.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import clients, cost, indexing, large, publish, users
from bench.edge import edge_timings
from bench.link import FAR, LOOPBACK, SAME, WAN, Scenario, Shape
from bench.report import Row, Table, count, dollars, ratio, render, seconds, size
from bench.servers import COLD, CONFIG, DEVPI, OURS, PEERS, PYPISERVER, STALE, STALE_AFTER, WARM

RESULTS = Path(__file__).resolve().parent / "results.md"
Format = Callable[[float], str]


@dataclass(frozen=True)
class Sizes:
    projects: tuple[int, ...] = (10, 1_000, 10_000)
    sample: int = 200  # real, indexed project folders among them
    upload_runs: int = 5
    reindex_files: int = 2_000
    reindex_versions: int = 5
    reindex_runs: int = 2
    packages: int = 30
    payload_bytes: int = 2 * 2**20
    real_tree: bool = True  # requests + Jinja2 from PyPI (downloaded once; tests leave it out)
    scenarios: tuple[Scenario, ...] = (SAME, FAR)  # the synthetic tree
    real_scenarios: tuple[Scenario, ...] = (SAME,)  # the real tree (< 15 minutes: not the far one)
    big_bytes: int = 100 * 2**20  # the large-wheel tree's one large wheel (issue 23: 50–200 MB)
    big_scenarios: tuple[Scenario, ...] = (SAME,)
    large_links: tuple[Shape, ...] = (LOOPBACK, WAN)  # large pages, fetched through the link
    work_runs: int = 1  # 2 cores, < 15 minutes: one run per client, tree, index, scenario, cache state
    publish_runs: int = 3
    large_files: int = 2_000
    large_roots: tuple[int, ...] = (10_000, 50_000)
    large_runs: int = 3
    fetch_runs: int = 5
    edge_calls: int = 20_000
    edge_cold_runs: int = 7
    edge_import_runs: int = 9
    pool_calls: int = 20_000  # warm requests of a pool user (bench/users.py)
    pool_misses: int = 50
    pool_fresh_runs: int = 5
    load: cost.Load = field(default_factory=cost.Load)


QUICK = Sizes(
    projects=(3, 30),
    sample=4,
    upload_runs=2,
    reindex_files=20,
    reindex_runs=1,
    packages=4,
    payload_bytes=64 * 1024,
    real_tree=False,
    # One scenario with every cache state and an origin round trip; the large-wheel tree adds one
    # without (the code paths of both kinds, at half the runs).
    scenarios=(
        Scenario(
            "far: 20 ms; edge 2 ms + 10 ms",
            Shape("20 ms", rtt=0.02),
            Shape("2 ms", rtt=0.002),
            origin_rtt=0.01,
            stale_pages=True,
        ),
    ),
    real_scenarios=(),
    big_bytes=1 * 2**20,
    big_scenarios=(
        Scenario("same RTT: 5 ms, 100 Mbit/s", Shape("5 ms", 0.005, 100e6), Shape("5 ms", 0.005, 100e6)),
    ),
    large_links=(LOOPBACK, Shape("5 ms RTT, 1 Gbit/s", rtt=0.005, bits_per_second=1e9)),
    work_runs=1,
    publish_runs=1,
    large_files=20,
    large_roots=(30, 300),
    large_runs=1,
    fetch_runs=1,
    edge_calls=200,
    edge_cold_runs=1,
    edge_import_runs=1,
    pool_calls=200,
    pool_misses=2,
    pool_fresh_runs=1,
)


@dataclass(frozen=True)
class Results:
    sizes: Sizes
    uploads: list[indexing.UploadCosts]
    reindex: indexing.ReindexCosts
    work: clients.Work
    publishing: list[publish.Latency]
    large: large.Large
    edge: dict
    pool: dict
    seconds: float
    date: str
    machine: str
    load_average: tuple[float, float]  # the machine's 1-minute load before and after the run


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"


def cases(sizes: Sizes, log=lambda message: None) -> list[clients.Case]:
    """The client matrix: the synthetic tree (every task, every scenario), the real tree (the
    same), and the synthetic tree with one large wheel (resolving only, where PEP 658 decides
    whether that wheel is downloaded)."""
    synthetic = clients.synthetic_tree(sizes.packages, sizes.payload_bytes)
    big = clients.synthetic_tree(sizes.packages, sizes.payload_bytes, big=sizes.big_bytes)
    got = [clients.Case(synthetic, clients.TASKS, sizes.scenarios)]
    if sizes.real_tree:
        log("real tree: requests + Jinja2 (downloaded once into ~/.cache/pypi-edge-bench)")
        got.append(clients.Case(clients.real_tree(), clients.TASKS, sizes.real_scenarios))
    got.append(clients.Case(big, clients.RESOLVE_TASKS, sizes.big_scenarios))
    return got


def run(sizes: Sizes, log=lambda message: None) -> Results:
    """Measure everything. Order matters: the moto benches first (they need no endpoint
    variables), then the local stacks, then the edge function (after the stacks have stopped,
    so the handler's credentials are the bench's own)."""
    start = time.perf_counter()
    load_before = os.getloadavg()[0]
    uploads = []
    for n in sizes.projects:
        log(f"indexer: one upload with {n:,} projects")
        uploads.append(indexing.upload_costs(n, sample=sizes.sample, runs=sizes.upload_runs))
    log(f"indexer: reindex of {sizes.reindex_files:,} files")
    reindex = indexing.reindex_costs(
        sizes.reindex_files, versions=sizes.reindex_versions, runs=sizes.reindex_runs
    )
    log(f"large: a {sizes.large_files:,}-file project, roots of {sizes.large_roots}")
    big = large.large(
        sizes.large_files, sizes.large_roots, sizes.large_links, sizes.large_runs, sizes.fetch_runs
    )
    work = clients.work(cases(sizes, log), sizes.work_runs, log=lambda m: log(f"clients: {m}"))
    log("publishing: upload to installable")
    with tempfile.TemporaryDirectory(prefix="pypi-edge-bench-publish-") as tmp:
        publishing = publish.latencies(Path(tmp), sizes.publish_runs)
    log("edge function")
    edge = edge_timings(sizes.edge_calls, sizes.edge_cold_runs, sizes.edge_import_runs)
    log("user pool: the edge against moto's Cognito")
    pool = users.pool_timings(sizes.pool_calls, sizes.pool_misses, sizes.pool_fresh_runs)
    return Results(
        sizes,
        uploads,
        reindex,
        work,
        publishing,
        big,
        edge,
        pool,
        time.perf_counter() - start,
        datetime.date.today().isoformat(),
        machine(),
        (load_before, os.getloadavg()[0]),
    )


# --- the table ---------------------------------------------------------------------------------

SP = indexing.SERVERLESS_PYPI
CODEARTIFACT = "AWS CodeArtifact"


def compare(section: str, measure: str, ours: float, label: str, other: float, fmt: Format) -> Row:
    """A row whose two figures are formatted alike, and their ratio."""
    return Row(section, measure, fmt(ours), label, fmt(other), ratio(other, ours))


def _shape(shape: Shape) -> str:
    rate = f", {shape.bits_per_second / 1e6:g} Mbit/s" if shape.bits_per_second else ""
    return f"{shape.rtt * 1000:g} ms RTT{rate}"


def us(value: float) -> str:
    return seconds(value / 1e6)


def edge_rows(e: dict) -> list[Row]:
    s, warm, page = "1 edge", e["warm_authorized_us"], "warm authorized (project page)"
    return [
        compare(s, "warm authorized request (project page)", warm,
                "cold verification (first request of a container)", e["cold_verification_us"], us),
        compare(s, "warm authorized request (wheel)", e["warm_authorized_file_us"], page, warm, us),
        compare(s, "unauthorized request (401)", e["unauthorized_us"], page, warm, us),
        compare(s, "handler import, after the runtime's own imports", e["import_marginal_us"],
                "in a bare interpreter (-I -S)", e["import_us"], us),
    ]  # fmt: skip


def pool_rows(p: dict) -> list[Row]:
    """The opt-in user pool (bench/users.py): warm, miss, and what the first miss loads."""
    s, ms = "1 edge", lambda v: seconds(v / 1e3)
    return [
        compare(s, "warm authorized request, user-pool user (cached answer)", p["warm_pool_us"],
                "static user", p["warm_static_us"], us),
        compare(s, "user-pool cache miss: AdminInitiateAuth to local Cognito, kept-alive connection",
                p["miss_ms"], "a container's first miss (loads the HTTPS client, connects)",
                p["first_miss_ms"], ms),
        compare(s, "what the first miss loads: http.client + ssl, TLS context (fresh interpreter)",
                p["client_import_ms"], "boto3 + a cognito-idp client instead", p["sdk_import_ms"], ms),
        compare(s, "… and the memory it adds (MB, of 128)", p["client_import_mb"],
                "boto3 + a cognito-idp client", p["sdk_import_mb"], lambda v: f"{v:.1f} MB"),
        Row(s, f"user removed -> refused (bound {p['revocation_bound_s']} s, checked just before)",
            seconds(p["revoked_after_s"]), "the bound", seconds(p["revocation_bound_s"]),
            ratio(p["revocation_bound_s"], p["revoked_after_s"])),
    ]  # fmt: skip


def indexer_rows(uploads: list[indexing.UploadCosts], rx: indexing.ReindexCosts) -> list[Row]:
    s, rows = "2 indexer", []
    for u in uploads:
        n = f"one upload, {u.projects:,} projects"
        rows += [
            compare(s, f"{n}: S3 requests", u.ours.requests, label, c.requests, count)
            for label, c in u.others
        ]
        rows += [
            compare(s, f"{n}: wall time", u.ours.seconds, label, c.seconds, seconds) for label, c in u.others
        ]
    last = uploads[-1]
    view = f"project page view ({last.projects:,} projects)"
    ours_page, sp_page = last.ours_page, last.serverless_pypi_page
    rows.append(
        Row(
            s,
            f"{view}: S3 requests",
            f"{ours_page.requests} GET (on a CDN miss only)",
            SP,
            f"{sp_page.requests} LIST (on every view)",
            ratio(sp_page.requests, ours_page.requests),
        )
    )
    rows.append(compare(s, f"{view}: wall time", ours_page.seconds, SP, sp_page.seconds, seconds))
    first, again = rx.files / rx.first.seconds, rx.files / rx.again.seconds
    what = f"reindex {rx.files:,} files ({rx.projects:,} projects), first run"
    rerun = "re-run, hashes reused"
    rows.append(
        Row(
            s,
            f"{what}: files/s",
            f"{first:,.0f} ({seconds(rx.first.seconds)})",
            rerun,
            f"{again:,.0f} ({seconds(rx.again.seconds)})",
            ratio(again, first),
        )
    )
    rows.append(compare(s, f"{what}: S3 requests", rx.first.requests, rerun, rx.again.requests, count))
    return rows


def client_rows(r: Results) -> list[Row]:
    """Per tree and task: our wall time with a warm edge cache (the common case) against each
    peer's in every scenario, and the bytes sent."""
    s, rows, w = "3 clients", [], r.work
    for case in w.cases:
        tree = case.tree.name
        for task in case.tasks:
            what = f"{task.name}, {tree}"
            for peer in PEERS:
                for scenario in case.scenarios:
                    ours, theirs = (w.get(task.name, tree, name, scenario.name) for name in (OURS, peer))
                    measure = f"{what}: wall time, {scenario.name}, edge cache warm"
                    rows.append(compare(s, measure, ours.seconds, peer, theirs.seconds, seconds))
                first = case.scenarios[0].name
                ours, theirs = (w.get(task.name, tree, name, first) for name in (OURS, peer))
                rows.append(compare(s, f"{what}: bytes", ours.bytes_sent, peer, theirs.bytes_sent, size))
    return rows


@dataclass(frozen=True)
class CostModel:
    ours_install: cost.Install
    theirs_install: cost.Install
    ours: cost.Monthly
    theirs: cost.Monthly
    per_million_ours: float
    per_million_theirs: float
    teams: list[cost.TeamMonth]  # pay-as-you-go and the flat-rate plans, per team size


def cost_model(r: Results) -> CostModel:
    load, w = r.sizes.load, r.work
    tree, first = w.trees[0].name, w.cases[0].scenarios[0].name
    # An install = what `pip install` of the synthetic tree transferred from an empty cache.
    # CodeArtifact serves no PEP 658 metadata, like pypiserver: its install costs what pip's did there.
    ours_pip, theirs_pip = (w.get("pip install", tree, name, first) for name in (OURS, PYPISERVER))
    ours_install = cost.Install(ours_pip.requests, ours_pip.bytes_sent)
    theirs_install = cost.Install(theirs_pip.requests, theirs_pip.bytes_sent)
    warm, cold = r.edge["warm_authorized_us"], r.edge["cold_verification_us"]
    calls = r.uploads[-1].ours.calls
    gets = calls.get("GetObject", 0) + calls.get("HeadObject", 0)
    others = sum(calls.values()) - gets
    return CostModel(
        ours_install,
        theirs_install,
        cost.ours_monthly(ours_install, warm, cold, gets, others, load),
        cost.codeartifact_monthly(theirs_install, load),
        cost.ours_per_request(warm, cold, load) * 1e6,
        cost.CODEARTIFACT_REQUEST * 1e6,
        [cost.team_month(n, ours_install, warm, cold, gets, others, load) for n in cost.TEAM_SIZES],
    )


def cost_rows(m: CostModel) -> list[Row]:
    s, ca, month = "4 cost", CODEARTIFACT, "$ per month, team load"
    ours_install = f"{count(m.ours_install.requests)} / {size(m.ours_install.bytes_sent)}"
    theirs_install = f"{count(m.theirs_install.requests)} / {size(m.theirs_install.bytes_sent)}"
    install_bytes = ratio(m.theirs_install.bytes_sent, m.ours_install.bytes_sent)
    ours_fixed, theirs_fixed = m.ours.storage + m.ours.publishing, m.theirs.storage + m.theirs.publishing
    return [
        compare(s, "$ per million pip requests (requests only)", m.per_million_ours, ca, m.per_million_theirs,
                dollars),
        Row(s, "requests / bytes per `pip install` of the tree (ratio of bytes)", ours_install,
            f"{ca} (no PEP 658)", theirs_install, install_bytes),
        compare(s, f"{month}: requests", m.ours.requests, ca, m.theirs.requests, dollars),
        compare(s, f"{month}: data transfer", m.ours.transfer, ca, m.theirs.transfer, dollars),
        compare(s, f"{month}: storage + indexing", ours_fixed, f"{ca} (storage)", theirs_fixed, dollars),
        compare(s, f"{month}: publishing (upload endpoint, invalidations, trusted publishing)",
                m.ours.endpoint, f"{ca} (publish requests)", m.theirs.endpoint, dollars),
        compare(s, f"{month}: total", m.ours.total, ca, m.theirs.total, dollars),
    ] + [
        compare(s, f"$ per month, {t.developers} developers, the cheapest option: {_pick(t)}",
                _pick_dollars(t), "pay-as-you-go after the always-free tier", t.payg, dollars)
        for t in m.teams
    ]  # fmt: skip


def _pick(t: cost.TeamMonth) -> str:
    return t.pick if t.pick == cost.PAY_AS_YOU_GO else f"flat-rate {t.pick} (unconfirmed)"


def _pick_dollars(t: cost.TeamMonth) -> float:
    return t.payg if t.pick == cost.PAY_AS_YOU_GO else t.plans[t.pick] or 0.0


# --- the other tables --------------------------------------------------------------------------


STATE_COLUMNS = (
    (COLD, "edge cache cold"),
    (STALE, f"pages > {STALE_AFTER - 1} s old"),
    (WARM, "edge cache warm"),
)


def _matrix(r: Results, cell) -> list[tuple[str, ...]]:
    """One row per tree × task × scenario: our cache states, then each peer, through `cell`."""
    w, rows = r.work, []
    for case in w.cases:
        for task in case.tasks:
            for scenario in case.scenarios:
                got = {m.state: m for m in w.states(task.name, case.tree.name, OURS, scenario.name)}
                # "—": a state this scenario does not measure
                ours = [cell(got[state]) if state in got else "—" for state, _ in STATE_COLUMNS]
                peers = [cell(w.get(task.name, case.tree.name, peer, scenario.name)) for peer in PEERS]
                rows.append((task.name, case.tree.name, scenario.name, *ours, *peers))
    return rows


def _header(first: tuple[str, ...]) -> tuple[str, ...]:
    return (*first, *(f"{OURS}, {label}" for _, label in STATE_COLUMNS), *PEERS)


def work_time_table(r: Results) -> Table:
    return Table(
        f"Locking and installing: wall time, median of {r.work.runs} run(s), empty client caches",
        _header(("task", "tree", "scenario")),
        _matrix(r, lambda m: seconds(m.seconds)),
    )


def server_time_table(r: Results) -> Table:
    return Table(
        "Locking and installing: the server's time per request (median) and summed over the run",
        _header(("task", "tree", "scenario")),
        _matrix(r, lambda m: f"{seconds(m.server_median)} · Σ {seconds(m.server_total)}"),
    )


def work_traffic_table(r: Results) -> Table:
    w, rows = r.work, []
    for case in w.cases:
        first = case.scenarios[0].name
        for task in case.tasks:
            cells = []
            for name in w.servers:
                m = w.get(task.name, case.tree.name, name, first)
                cells.append(f"{'≈ ' if m.varied else ''}{count(m.requests)} / {size(m.bytes_sent)}")
            origin = [
                " / ".join(
                    count(m.origin_requests) for m in w.states(task.name, case.tree.name, OURS, s.name)
                )
                for s in case.scenarios
            ]
            rows.append((task.name, case.tree.name, cells[0], "; ".join(origin), *cells[1:]))
    return Table(
        "Locking and installing: HTTP requests / response bytes (exact, identical on every run), and the "
        "requests our CloudFront stand-in sent to S3 by edge cache state (cold / [stale /] warm, by "
        "scenario)",
        ("task", "tree", OURS, f"{OURS}: origin requests", *w.servers[1:]),
        rows,
    )


def flat_rate_table(m: CostModel) -> Table:
    def plan(t: cost.TeamMonth, name: str) -> str:
        value = t.plans[name]
        return "does not fit" if value is None else dollars(value)

    rows = [
        (f"{t.developers}", count(t.installs), count(t.viewer_requests), f"{t.transfer_gb:,.0f} GB",
         dollars(t.payg_list), dollars(t.payg), *(plan(t, p.name) for p in cost.FLAT_PLANS), _pick(t))
        for t in m.teams
    ]  # fmt: skip
    return Table(
        "Cost: pay-as-you-go or a CloudFront flat-rate plan, by team size ($ a month; plan figures "
        "unconfirmed)",
        (
            "developers",
            "installs",
            "viewer requests",
            "transfer out",
            "pay-as-you-go (list)",
            "pay-as-you-go after the free tier",
            *(f"{p.name} (${p.monthly:,.0f})" for p in cost.FLAT_PLANS),
            "cheapest",
        ),
        rows,
    )


def publish_table(r: Results) -> Table:
    rows = []
    for p in r.publishing:
        if p.why_not:
            rows.append((p.method, p.why_not, p.why_not, "—"))
        else:
            rows.append((p.method, seconds(p.listed or 0), seconds(p.installed or 0), str(p.runs)))
    return Table(
        "Publishing (local stack): from the command returning to …",
        ("published with", "… the page lists the file", "… a fresh `pip install` succeeds", "runs"),
        rows,
    )


def large_table(r: Results) -> Table:
    g = r.large
    links = [link.name for link in r.sizes.large_links]
    rows = []
    labels = list(dict.fromkeys(f.label for f in g.fetches))
    for label in labels:
        for fmt in ("HTML", "JSON"):
            got = {f.link: f for f in g.fetches if (f.label, f.format) == (label, fmt)}
            any_f = next(iter(got.values()))
            sent = f"{size(any_f.sent_bytes)} ({any_f.encoding})"
            rows.append(
                (label, fmt, size(any_f.stored_bytes), sent, *(seconds(got[n].seconds) for n in links))
            )
    return Table(
        "Large indexes: one page fetched with `Accept-Encoding: gzip` through the CloudFront stand-in",
        ("page", "format", "stored", "sent", *(f"fetch, {n}" for n in links)),
        rows,
    )


def rebuild_table(r: Results) -> Table:
    g = r.large
    rows = [
        (f"one upload to a {g.files:,}-file project (page rebuilt)", count(g.project_rebuild.requests),
         _calls(g.project_rebuild.calls), seconds(g.project_rebuild.seconds)),
    ]  # fmt: skip
    for n, c in g.root_rebuilds:
        event = f"a new project in an index of {n:,} (root rewritten)"
        rows.append((event, count(c.requests), _calls(c.calls),
                     seconds(c.seconds)))  # fmt: skip
    return Table(
        f"Large indexes: rebuilds by the indexer (moto S3 in process, median of {r.sizes.large_runs})",
        ("event", "S3 requests", "by call", "wall time"),
        rows,
    )


def _calls(calls: dict[str, int]) -> str:
    return ", ".join(f"{n} {c}" for c, n in sorted(calls.items()))


def transfer(n_bytes: int, bits_per_second: float = 100e6) -> str:
    return seconds(n_bytes * 8 / bits_per_second)


def notes(r: Results, m: CostModel) -> list[str]:
    z, w = r.sizes, r.work
    trees = "; ".join(f"{t.name}: {len(t.wheels)} wheels, {size(t.wheel_bytes)}" for t in w.trees)
    load = f"1-minute load average {r.load_average[0]:.1f} before and {r.load_average[1]:.1f} after the run"
    scenarios = "; ".join(
        f"'{s.name}': single servers {_shape(s.server)}, our edge {_shape(s.edge)}"
        + (
            f", {s.origin_rtt * 1000:g} ms more per request the edge sends to the origin"
            if s.origin_rtt
            else ""
        )
        for s in w.scenarios
    )
    return [
        f"Run on {r.date}, {r.machine}; `make bench` took {seconds(r.seconds)}; {load} (the bench's "
        "own clients included; well above the core count, other work shared the machine and times are "
        "noisier; counts never are). Ratios are the compared figure ÷ pypi-edge's. Counts "
        "(requests, bytes) are exact and identical on every run (the bench fails otherwise, wherever a case "
        "runs more than once); times are "
        f"medians: {z.upload_runs} runs per upload case, {z.reindex_runs} per reindex, {w.runs} per client, "
        f"index, scenario and cache state, {z.publish_runs} per way of publishing, {z.fetch_runs} per page "
        f"fetch, {z.edge_calls:,} edge calls.",
        f"Edge: `bench/edge.py`, the real handler in this interpreter with {r.edge['iterations']:,} PBKDF2 "
        "iterations; a cold verification is one first-time check of a password (the verified-header cache "
        "is then warm).",
        "Indexer: moto's S3 in this process (`mock_aws`), versioned bucket; S3 requests counted by a "
        "botocore before-call hook. One upload = the rebuild one S3 event triggers, uploading a new latest "
        "version (the root is rewritten). The bucket holds N project folders with one tiny object each "
        f"(what the others list); {z.sample} of them are real indexed projects, and the root index.json "
        "listing all N is written directly. Times are moto's in this process, not S3's: in AWS every "
        "request is a network round trip, and the others list the bucket one page (1 000 folders) after "
        "another.",
        "serverless-pypi, re-implemented in `bench/alternatives.py` from "
        "github.com/amancevice/terraform-aws-serverless-pypi `python/index.py` (`reindex_bucket`, "
        "`get_package_index`) and `main.tf` (S3 → Lambda on every `.tar.gz` created or removed): list the "
        'whole bucket with Delimiter="/" and rewrite the root `index.html` on every upload; no stored '
        "project pages — every page view lists `<project>/` and presigns each key. s3pypi, re-implemented "
        "from github.com/gorilla-co/s3pypi `s3pypi/core.py` (`upload_packages`) and `s3pypi/storage.py`: "
        "GET + PUT the project page, then with `--put-root-index` GET the root, list the whole bucket with "
        'Delimiter="/", PUT the root (its DynamoDB lock calls are not counted).',
        f"Reindex: {r.reindex.files:,} small wheels, {z.reindex_versions} versions per project, a fresh "
        "bucket per run; the re-run finds every page and reuses hashes and metadata (no distribution read).",
        "The link (`bench/link.py`): every index sits behind its own shaping reverse proxy on 127.0.0.1, so "
        "each pays the same kind of network: a round trip added before each request is forwarded and once "
        "more per new connection (the TCP handshake; plain HTTP, so no TLS round trips), and response bodies "
        "sent through one shared pipe of the scenario's rate (request bodies through another), so parallel "
        "downloads share it. The proxy keeps connections alive on both sides, streams bodies, passes HEAD "
        "and Range through, and counts requests and body bytes the same way for every index. In front of "
        "pypi-edge it also gzips as CloudFront does (`Compress: true`: text/html and the other listed types, "
        "1,000 B to 10 MB, when the client sends `Accept-Encoding: gzip`); "
        "`application/vnd.pypi.simple.v1+json` is not a type CloudFront compresses. Server time: per "
        "request, from the proxy forwarding it to the response headers arriving (the link's delays are "
        "not in it; for us it includes the edge function, the stand-in's cache, and on a miss the origin "
        "round trip and moto's S3); the table shows its median per request and its sum over the run, the "
        "median of runs of each.",
        f"Scenarios (a model, `bench/link.py: Scenario`): {scenarios}. 'Same RTT' is the comparison before "
        "issue 23: everyone 30 ms away, the edge location in the origin's region. 'Far client': a client on "
        "another continent from a single server (pypiserver and devpi are one machine in one region), near "
        "a CloudFront edge location; a request the edge must pass to S3 (a miss, or a page revalidation) "
        "crosses the rest of the distance (15 + 105 = the single server's 120 ms). Sources for the "
        "distances: measured averages between AWS regions — us-east-1 to sa-east-1 119.5 ms, to eu-central-1 "
        "88.7 ms, to ap-northeast-1 145 ms, us-west-2 to eu-west-1 137 ms (the 'Latency Between AWS Global "
        "Regions' table, reproduced at acomputerscientistlearnsaws.blogspot.com/2017/04/aws-regions.html; "
        "cloudping data mapped at xkyle.com/Measuring-AWS-Region-and-AZ-Latency) — so 120 ms sits inside "
        "the issue's 90–150 ms; 15 ms to the nearest edge location is the issue's 10–20 ms, an assumption "
        "not measured here (CloudFront's hundreds of points of presence are the reason for it). Assumed "
        "and not modelled: CloudFront reuses its connections to the origin (no handshake per miss), no "
        "regional edge cache between the edge and S3 (it would shorten some misses), the same 100 Mbit/s "
        "for every client, and no TCP slow start or loss on the long path (both would slow the far single "
        "server more than the near edge: the model favours the peers there).",
        f"Edge cache states (pypi-edge only; the peers have none): cold = the stand-in's cache emptied by "
        "an invalidation of /* before the run (the first install after a publish: the indexer invalidates "
        "the project's pages, and a new wheel was never cached); warm = right after the cold run of the "
        f"same task (every later install, client caches empty: the common case); pages > "
        f"{STALE_AFTER - 1} s old = the stand-in's clock moved past the pages' s-maxage "
        f"({STALE_AFTER - 1} s, `indexCacheSeconds`), so every page is revalidated with S3 (a 304); "
        "wheels and their `.metadata` files (immutable, a year) stay cached: an install more than a "
        "minute after the previous one at that edge location. Origin requests are counted exactly at "
        "the stand-in's S3 client (`bench/servers.py: Origin`), which the bench wraps to add the "
        "scenario's origin round trip; the stand-in's 16 MiB cacheable-object bound (a local memory "
        "bound) is raised for the bench.",
        f"Clients: trees — {trees}. The synthetic tree: packages `{clients.PREFIX}-NN` forming a DAG (each "
        f"depends on 2n+1, 2n+2 and n+3 when they exist), {size(z.payload_bytes)} of incompressible payload "
        "each, one version each; the large-wheel tree is the same with the last package's wheel built "
        f"locally with {size(z.big_bytes)} of payload, resolved only (`pip install --dry-run`, `uv pip "
        "compile`, `poetry lock`): what PEP 658 metadata saves is that wheel's download. The real tree: "
        "requests 2.34.2 + Jinja2 3.1.6 and their dependencies, the wheels `pip download --only-binary "
        ":all:` picks for this Python, fetched once from pypi.org into ~/.cache/pypi-edge-bench. Every run "
        "starts from empty client caches in a fresh venv: uv 0.13.9 `pip compile --no-cache` and `pip "
        "install --no-cache`; poetry 2.5.1 `lock` with the index as its only (primary) source and a "
        "fresh cache dir; pip 26.3 `install --no-cache-dir` (with `--dry-run --report` to resolve only). "
        "Each run checks the packages it resolved or installed. Bytes and requests are from each tree's "
        "first scenario; ≈ marks a peer whose traffic differed between runs (medians shown; ours never may).",
        "Indexes: " + "; ".join(f"{name}: {CONFIG[name]}" for name in (OURS, PYPISERVER, DEVPI)) + ". "
        "Neither peer serves PEP 658 metadata, so pip downloads every wheel while resolving; uv reads a "
        "wheel's tail with range requests where the server allows them. The local stack pays moto's HTTP "
        "server and a signed boto3 call per request, a cost CloudFront does not have.",
        "Publishing: `bench/publish.py`, the local stack as `make serve` runs it (0.5 s indexer batch "
        "window). A new version of a small wheel each run; from the moment the command returns, one thread "
        "polls the project's JSON page every 20 ms and the main thread runs fresh `pip install "
        "--no-cache-dir project==version` into new venvs until one succeeds (so the second column includes "
        "one pip run of a few seconds). Raw S3 PUT = one PutObject, what `aws s3 cp` makes for a small "
        "file. twine and uv publish go to `/legacy/` and are measured only when the local stack answers "
        "an upload request there; otherwise the row says why. In AWS add the page's CloudFront TTL, unless "
        "the page is invalidated.",
        f"Large indexes: `bench/large.py`. A project of {r.large.files:,} wheels (one per version), indexed; "
        "then one more upload, rebuilt (S3 requests exact, wall time on moto in this process). Roots of N "
        "projects written as the indexer writes them; then a new project appears and the root is "
        "read-modified-written. The pages those rebuilds wrote (bodies and headers) are copied into a "
        "local stack and fetched through the edge function and the link, each fetch on a new connection; "
        "the first fetch fills the stand-in's CloudFront cache, so the median is a cache hit.",
        f"Cost model: {r.sizes.load.describe()}. One install = the measured `pip install` of the synthetic "
        "tree (ours: page + metadata + wheel per package); CodeArtifact is assumed to serve no PEP 658 "
        "metadata, like pypiserver (reported for pip in github.com/pypa/pip/issues/12827, 2024), so an "
        "install costs what pip's install from pypiserver cost. Edge duration: the measured warm and cold "
        "times rounded up to whole billed ms, at 128 MB. Requests only = Lambda@Edge + CloudFront request "
        "fee + S3 GET on misses. Publishing: per upload the measured S3 requests of the indexer, 3 SQS "
        "requests, one Lambda invocation. The upload endpoint row: per upload through `/legacy/` one viewer "
        "request (edge + CloudFront fee), the body sent to the origin, one upload-function invocation; per "
        "trusted-publishing job two viewer requests and one mint invocation; invalidation paths beyond the "
        "free 1,000 a month. The upload function's memory and durations are assumptions (no AWS here). "
        "List prices, no free tiers except CloudFront's 1,000 invalidation paths, no taxes.",
        "CloudFront flat-rate plans (`bench/cost.py: team_month`): the team load above with 10, 50 and 500 "
        "developers. Confirmed on AWS's own pages stored here (read "
        f"{cost.FLAT_RATE_READ}): a plan is a fixed monthly rate per distribution instead of usage-based "
        "charges, in the tiers Free, Pro, Business and Premium with usage levels (CloudFormation "
        "AWS::PricingPlanManager::Subscription; Pricing Plan Manager API, CreateSubscription); the requests-"
        "per-second and transfer-rate quotas do not apply to a plan's distribution (CloudFront Developer "
        "Guide, Quotas); pay-as-you-go's always-free tier of 1 TB out and 10,000,000 requests a month and "
        "free origin fetches from S3 (aws.amazon.com/cloudfront/pricing). Not confirmed on any stored AWS "
        "page (the plans' page itself is not stored here), from third-party reports of the 2025-11-18 "
        "announcement: the prices ($0, $15, $200, $1,000 a month), the allowances (1M requests and 100 GB; "
        "10M, 125M and 500M requests with 50 TB each), no overage charges but possible throttling beyond "
        "them, and above all whether Lambda@Edge may run on a plan's distribution (reported unsupported at "
        "launch, 'use CloudFront Functions', and supported since March 2026) and whether its invocations "
        "are then included. pypi-edge checks every request with Lambda@Edge, so until AWS's page says it is "
        "allowed, pay-as-you-go is the only option known to work. Assumed here: a plan covers CloudFront's "
        "request fees and transfer out only; Lambda@Edge, S3 (misses, storage, indexing), SQS, Lambda and "
        "invalidations stay billed as on pay-as-you-go (the plans' S3 credits left out). Pay-as-you-go "
        "after the free tier subtracts the always-free tier (if the account uses it for nothing else) and "
        "prices transfer by its tiers ($0.085/GB to 10 TB, $0.080/GB to 50 TB); the cost table above "
        "keeps list prices without free tiers, as before.",
        f"Prices read {cost.PRICES_READ} (us-east-1 / United States): " + "; ".join(cost.PRICE_NOTES) + ".",
        "User pool: `bench/users.py`, the real handler and Cognito client against moto's Cognito over "
        "loopback HTTP (no TLS, no distance): a miss here is the client's own cost. In AWS a miss adds the "
        "round trips from the edge region to the pool's region: one on a kept-alive connection, three or "
        "four for a container's first (TCP, TLS, request), plus Cognito's own time, which AWS does not "
        "publish; AWS Network Manager's Infrastructure Performance shows the inter-region latency for "
        "your regions. Imports: a fresh interpreter each, resident memory from /proc. "
        + users.COGNITO_PRICE_NOTE,
    ]


def cognito_table() -> Table:
    """What the opt-in user pool costs a month, by active users (users and tokens alike)."""
    columns = [("Lite", True), ("Lite", False), ("Essentials", True), ("Essentials", False), ("Plus", False)]
    header = [f"{tier} ({'10,000 free' if free else 'no free tier'})" for tier, free in columns]
    rows = []
    for n in (50, 1_000, 10_000):
        rows.append((f"{n:,}", *(dollars(users.cognito_cost(n, tier, free)) for tier, free in columns)))
    title = "The user pool: $ per month by monthly active users (users + tokens; the deployment uses Lite)"
    return Table(title, ("MAUs", *header), rows)


def tables(r: Results, m: CostModel) -> list[Table]:
    return [
        work_time_table(r),
        server_time_table(r),
        work_traffic_table(r),
        flat_rate_table(m),
        publish_table(r),
        large_table(r),
        rebuild_table(r),
        cognito_table(),
    ]


def document(r: Results) -> str:
    m = cost_model(r)
    rows = edge_rows(r.edge) + pool_rows(r.pool) + indexer_rows(r.uploads, r.reindex) + client_rows(r)
    rows += cost_rows(m)
    return render(f"pypi-edge benchmark — {r.date}", rows, notes(r, m), tables(r, m))


# The docs page that shows the last run: bench/results.md without its title, between the markers.
PAGE = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
BEGIN, END = "<!-- bench:begin (written by `make bench`) -->", "<!-- bench:end -->"


def update_page(text: str, page: Path = PAGE) -> bool:
    """Put the document (without its title) between the page's bench markers, if it has them."""
    current = page.read_text()
    if BEGIN not in current or END not in current:
        return False
    body = text.split("\n", 2)[2].strip()
    head, rest = current.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    page.write_text(f"{head}{BEGIN}\n\n{body}\n\n{END}{tail}")
    return True


def main() -> None:
    start = time.perf_counter()  # each step's start, so a run over budget shows where the time went
    results = run(
        Sizes(),
        log=lambda m: print(f"… {time.perf_counter() - start:6.0f} s  {m}", file=sys.stderr, flush=True),
    )
    text = document(results)
    RESULTS.write_text(text)
    update_page(text)
    print(text)


if __name__ == "__main__":
    main()

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
from bench.link import LOOPBACK, WAN, Shape
from bench.report import Row, Table, count, dollars, ratio, render, seconds, size
from bench.servers import CONFIG, DEVPI, OURS, PEERS, PYPISERVER

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
    links: tuple[Shape, ...] = (LOOPBACK, WAN)
    work_runs: int = 1  # 2 cores, < 15 minutes: one run per client, tree, index and link
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
    links=(LOOPBACK, Shape("5 ms RTT, 1 Gbit/s", rtt=0.005, bits_per_second=1e9)),
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
    big = large.large(sizes.large_files, sizes.large_roots, sizes.links, sizes.large_runs, sizes.fetch_runs)
    trees = [clients.synthetic_tree(sizes.packages, sizes.payload_bytes)]
    if sizes.real_tree:
        log("real tree: requests + Jinja2 (downloaded once into ~/.cache/pypi-edge-bench)")
        trees.append(clients.real_tree())
    work = clients.work(trees, sizes.links, sizes.work_runs, log=lambda m: log(f"clients: {m}"))
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


def _link_names(r: Results) -> tuple[str, str]:
    """(the first link, the last): loopback and the shaped link in a full run."""
    return r.work.links[0].name, r.work.links[-1].name


def client_rows(r: Results) -> list[Row]:
    """Per tree and task, on the shaped link: our wall time and bytes against each peer's."""
    s, rows, w = "3 clients", [], r.work
    first, last = _link_names(r)
    for tree in w.trees:
        for task in clients.TASKS:
            what = f"{task.name}, {tree.name}"
            ours_far, ours_near = (
                w.get(task.name, tree.name, OURS, last),
                w.get(task.name, tree.name, OURS, first),
            )
            for peer in PEERS:
                theirs_far = w.get(task.name, tree.name, peer, last)
                theirs_near = w.get(task.name, tree.name, peer, first)
                far = f"{what}: wall time, {last}"
                rows.append(compare(s, far, ours_far.seconds, peer, theirs_far.seconds,
                                    seconds))  # fmt: skip
                rows.append(
                    compare(s, f"{what}: bytes", ours_near.bytes_sent, peer, theirs_near.bytes_sent, size)
                )
    return rows


@dataclass(frozen=True)
class CostModel:
    ours_install: cost.Install
    theirs_install: cost.Install
    ours: cost.Monthly
    theirs: cost.Monthly
    per_million_ours: float
    per_million_theirs: float


def cost_model(r: Results) -> CostModel:
    load, w = r.sizes.load, r.work
    tree, loopback = w.trees[0].name, w.links[0].name
    # An install = what `pip install` of the synthetic tree transferred from an empty cache.
    # CodeArtifact serves no PEP 658 metadata, like pypiserver: its install costs what pip's did there.
    ours_pip, theirs_pip = (w.get("pip install", tree, name, loopback) for name in (OURS, PYPISERVER))
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
    ]  # fmt: skip


# --- the other tables --------------------------------------------------------------------------


def work_time_table(r: Results) -> Table:
    w = r.work
    rows = []
    for tree in w.trees:
        for task in clients.TASKS:
            for link in w.links:
                cells = [seconds(w.get(task.name, tree.name, name, link.name).seconds) for name in w.servers]
                rows.append((task.name, tree.name, link.name, *cells))
    return Table(
        f"Locking and installing: wall time, median of {w.runs} run(s), empty caches",
        ("task", "tree", "link", *w.servers),
        rows,
    )


def work_traffic_table(r: Results) -> Table:
    w = r.work
    first = w.links[0].name
    rows = []
    for tree in w.trees:
        for task in clients.TASKS:
            cells = []
            for name in w.servers:
                m = w.get(task.name, tree.name, name, first)
                cells.append(f"{'≈ ' if m.varied else ''}{count(m.requests)} / {size(m.bytes_sent)}")
            rows.append((task.name, tree.name, *cells))
    return Table(
        "Locking and installing: HTTP requests / response bytes (exact, identical on every run)",
        ("task", "tree", *w.servers),
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
    links = [link.name for link in r.sizes.links]
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
    first, last = _link_names(r)
    shaped = r.sizes.links[-1]
    trees = "; ".join(f"{t.name}: {len(t.wheels)} wheels, {size(t.wheel_bytes)}" for t in w.trees)
    load = f"1-minute load average {r.load_average[0]:.1f} before and {r.load_average[1]:.1f} after the run"
    return [
        f"Run on {r.date}, {r.machine}; `make bench` took {seconds(r.seconds)}; {load} (other work shared "
        "the "
        "2 cores: times are noisy, counts are not). Ratios are the compared figure ÷ pypi-edge's. Counts "
        "(requests, bytes) are exact and identical on every run (the bench fails otherwise, wherever a case "
        "runs more than once); times are "
        f"medians: {z.upload_runs} runs per upload case, {z.reindex_runs} per reindex, {w.runs} per client, "
        f"index and link, {z.publish_runs} per way of publishing, {z.fetch_runs} per page fetch, "
        f"{z.edge_calls:,} edge calls.",
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
        f"The link (`bench/link.py`): every index sits behind its own shaping reverse proxy on 127.0.0.1, "
        f"so each pays the same network. '{first}' adds nothing; '{last}' adds {shaped.rtt * 1000:g} ms "
        "before each request is forwarded and once more per new connection (the TCP handshake; plain "
        f"HTTP, so no TLS round trips), and sends response bodies through one shared "
        f"{(shaped.bits_per_second or 0) / 1e6:g} Mbit/s pipe (request bodies through another), so parallel "
        "downloads share the rate. The proxy keeps connections alive on both sides, streams bodies, passes "
        "HEAD and Range through, and counts requests and body bytes the same way for every index. In front "
        "of pypi-edge it also gzips as CloudFront does (`Compress: true`: text/html and the other listed "
        "types, 1,000 B to 10 MB, when the client sends `Accept-Encoding: gzip`); "
        "`application/vnd.pypi.simple.v1+json` is not a type CloudFront compresses.",
        f"Clients: trees — {trees}. The synthetic tree: packages `{clients.PREFIX}-NN` forming a DAG (each "
        f"depends on 2n+1, 2n+2 and n+3 when they exist), {size(z.payload_bytes)} of incompressible payload "
        "each, one version each. The real tree: requests 2.34.2 + Jinja2 3.1.6 and their dependencies, the "
        "wheels `pip download --only-binary :all:` picks for this Python, fetched once from pypi.org into "
        "~/.cache/pypi-edge-bench. Every run starts from empty caches in a fresh venv: uv 0.13.9 "
        "`pip compile --no-cache` and `pip install --no-cache`; poetry 2.5.1 `lock` with the index as its "
        "only (primary) source and a fresh cache dir; pip 26.3 `install --no-cache-dir`. Each run checks "
        "the packages it resolved or installed. Bytes and requests are from the first link's runs; ≈ marks "
        "a peer whose traffic differed between runs (medians shown; ours never may).",
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


def tables(r: Results) -> list[Table]:
    return [
        work_time_table(r),
        work_traffic_table(r),
        publish_table(r),
        large_table(r),
        rebuild_table(r),
        cognito_table(),
    ]


def document(r: Results) -> str:
    m = cost_model(r)
    rows = edge_rows(r.edge) + pool_rows(r.pool) + indexer_rows(r.uploads, r.reindex) + client_rows(r)
    rows += cost_rows(m)
    return render(f"pypi-edge benchmark — {r.date}", rows, notes(r, m), tables(r))


README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN, END = "<!-- bench:begin (written by `make bench`) -->", "<!-- bench:end -->"


def update_readme(text: str, readme: Path = README) -> bool:
    """Put the document (without its title) between the README's bench markers, if it has them."""
    current = readme.read_text()
    if BEGIN not in current or END not in current:
        return False
    body = text.split("\n", 2)[2].strip()
    head, rest = current.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(f"{head}{BEGIN}\n\n{body}\n\n{END}{tail}")
    return True


def main() -> None:
    results = run(Sizes(), log=lambda message: print(f"… {message}", file=sys.stderr, flush=True))
    text = document(results)
    RESULTS.write_text(text)
    update_readme(text)
    print(text)


if __name__ == "__main__":
    main()

"""`make bench`: measure everything side by side, print one Markdown table, write bench/results.md.

`run(sizes)` measures; `document(results)` turns the measurements into the table and its
notes. `tests/test_bench.py` runs both with `QUICK` sizes.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import clients, cost, indexing
from bench.edge import edge_timings
from bench.report import Row, count, dollars, ratio, render, seconds, size

RESULTS = Path(__file__).resolve().parent / "results.md"
Format = Callable[[float], str]


@dataclass(frozen=True)
class Sizes:
    projects: tuple[int, ...] = (10, 1_000, 10_000)
    sample: int = 200  # real, indexed project folders among them
    upload_runs: int = 5
    reindex_files: int = 2_000
    reindex_versions: int = 5
    reindex_runs: int = 3
    packages: int = 30
    payload_bytes: int = 2 * 2**20
    client_runs: int = 3
    edge_calls: int = 20_000
    edge_cold_runs: int = 7
    edge_import_runs: int = 9
    load: cost.Load = field(default_factory=cost.Load)


QUICK = Sizes(
    projects=(3, 30),
    sample=4,
    upload_runs=2,
    reindex_files=20,
    reindex_runs=1,
    packages=4,
    payload_bytes=64 * 1024,
    client_runs=1,
    edge_calls=200,
    edge_cold_runs=1,
    edge_import_runs=1,
)


@dataclass(frozen=True)
class Results:
    sizes: Sizes
    uploads: list[indexing.UploadCosts]
    reindex: indexing.ReindexCosts
    clients: clients.ClientBench
    edge: dict
    seconds: float
    date: str
    machine: str


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
    variables), then the local stack, then the edge function (after the stack has stopped,
    so the handler's credentials are the bench's own)."""
    start = time.perf_counter()
    uploads = []
    for n in sizes.projects:
        log(f"indexer: one upload with {n:,} projects")
        uploads.append(indexing.upload_costs(n, sample=sizes.sample, runs=sizes.upload_runs))
    log(f"indexer: reindex of {sizes.reindex_files:,} files")
    reindex = indexing.reindex_costs(
        sizes.reindex_files, versions=sizes.reindex_versions, runs=sizes.reindex_runs
    )
    log(f"clients: pip and uv, {sizes.packages} packages")
    bench = clients.resolutions(sizes.packages, sizes.payload_bytes, sizes.client_runs)
    log("edge function")
    edge = edge_timings(sizes.edge_calls, sizes.edge_cold_runs, sizes.edge_import_runs)
    return Results(
        sizes,
        uploads,
        reindex,
        bench,
        edge,
        time.perf_counter() - start,
        datetime.date.today().isoformat(),
        machine(),
    )


# --- the table ---------------------------------------------------------------------------------

SP = indexing.SERVERLESS_PYPI
PYPISERVER = "pypiserver 2.4.2"
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


def client_rows(b: clients.ClientBench) -> list[Row]:
    s, rows = "3 clients", []
    for client in clients.CLIENTS:
        ours, theirs = b.get(client, clients.Ours.name), b.get(client, clients.PyPIServer.name)
        what = "pip install --dry-run --report" if client == "pip" else "uv pip compile"
        rows += [
            compare(s, f"{what}: bytes transferred", ours.bytes_sent, PYPISERVER, theirs.bytes_sent, size),
            compare(s, f"{what}: HTTP requests", ours.requests, PYPISERVER, theirs.requests, count),
            compare(s, f"{what}: wall time", ours.seconds, PYPISERVER, theirs.seconds, seconds),
        ]
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
    load, b = r.sizes.load, r.clients
    pip_ours, pip_theirs = b.get("pip", clients.Ours.name), b.get("pip", clients.PyPIServer.name)
    # An install = the measured resolution + one GET per wheel. Against an index without PEP 658
    # metadata pip has already downloaded every wheel while resolving, and installs those.
    ours_install = cost.Install(pip_ours.requests + b.packages, pip_ours.bytes_sent + b.wheel_bytes)
    theirs_install = cost.Install(pip_theirs.requests, pip_theirs.bytes_sent)
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
        Row(s, "requests / bytes per install of the tree (ratio of bytes)", ours_install,
            f"{ca} (no PEP 658)", theirs_install, install_bytes),
        compare(s, f"{month}: requests", m.ours.requests, ca, m.theirs.requests, dollars),
        compare(s, f"{month}: data transfer", m.ours.transfer, ca, m.theirs.transfer, dollars),
        compare(s, f"{month}: storage + publishing", ours_fixed, ca, theirs_fixed, dollars),
        compare(s, f"{month}: total", m.ours.total, ca, m.theirs.total, dollars),
    ]  # fmt: skip


def transfer(n_bytes: int, bits_per_second: float = 100e6) -> str:
    return seconds(n_bytes * 8 / bits_per_second)


def notes(r: Results, m: CostModel) -> list[str]:
    z = r.sizes
    pip_ours, pip_theirs = (
        r.clients.get("pip", clients.Ours.name),
        r.clients.get("pip", clients.PyPIServer.name),
    )
    return [
        f"Run on {r.date}, {r.machine}; `make bench` took {seconds(r.seconds)}. Ratios are the compared "
        "figure ÷ pypi-edge's. Counts (requests, bytes) are exact and identical on every run (the bench "
        f"fails otherwise); times are medians: {z.upload_runs} runs per upload case, {z.reindex_runs} per "
        f"reindex, {z.client_runs} per client and server, {z.edge_calls:,} edge calls.",
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
        f"Clients: {z.packages} packages `{clients.PREFIX}-NN` forming a DAG (each depends on 2n+1, 2n+2 and "
        f"n+3 when they exist), wheels of {size(z.payload_bytes)} incompressible payload each "
        f"({size(r.clients.wheel_bytes)} in all), one version each; resolving `{clients.PREFIX}-00` visits "
        "all of them. pip 26.3 `install --dry-run --ignore-installed --report --no-cache-dir` into a fresh "
        "venv; uv 0.13.9 `pip compile --no-cache`. Our side: the local stack (moto S3 + the CloudFront "
        "stand-in running the edge function with Basic auth), bytes = response bodies from its access log. "
        "pypiserver 2.4.2 (`-a . -P . --disable-fallback`, its default server) serving the same files from a "
        "directory, bytes = response bodies counted by a reverse proxy in the bench. pypiserver serves no "
        "PEP 658 metadata: pip downloads every wheel to read its dependencies, uv reads each wheel's tail "
        "with range requests. Loopback network: wall times leave out the transfer time a real link adds "
        f"(at 100 Mbit/s, pip's bytes from pypiserver take {transfer(pip_theirs.bytes_sent)}, ours "
        f"{transfer(pip_ours.bytes_sent)}), and every request to the local stack goes through moto's HTTP "
        "server with a signed boto3 call, a per-request cost CloudFront does not have.",
        f"Cost model: {r.sizes.load.describe()}. One install = the measured pip resolution plus one GET per "
        "wheel (ours: page + metadata + wheel per package); CodeArtifact is assumed to serve no PEP 658 "
        "metadata, like pypiserver (reported for pip in github.com/pypa/pip/issues/12827, 2024), so an "
        "install costs what pip's resolution against pypiserver cost, wheels included. Edge duration: the "
        "measured warm and cold times rounded up to whole billed ms, at 128 MB. Requests only = Lambda@Edge "
        "+ CloudFront request fee + S3 GET on misses. Publishing: per upload the measured S3 requests of "
        "the indexer, 3 SQS requests, one Lambda invocation. List prices, no free tiers, no taxes.",
        f"Prices read {cost.PRICES_READ} (us-east-1 / United States): " + "; ".join(cost.PRICE_NOTES) + ".",
    ]


def document(r: Results) -> str:
    m = cost_model(r)
    rows = edge_rows(r.edge) + indexer_rows(r.uploads, r.reindex) + client_rows(r.clients) + cost_rows(m)
    return render(f"pypi-edge benchmark — {r.date}", rows, notes(r, m))


def main() -> None:
    results = run(Sizes(), log=lambda message: print(f"… {message}", file=sys.stderr, flush=True))
    text = document(results)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

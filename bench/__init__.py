"""`make bench`: one Markdown table of measured costs, written to bench/results.md.

Modules: `indexer` (S3 requests per upload, reindex throughput, and re-implementations of
serverless-pypi's and s3pypi's algorithms in `alternatives`), `clients` (pip and uv resolving a
package tree through the local stack and through pypiserver), `cost` (prices and the cost model),
`edge` (the viewer-request function's timings), `report` (formatting), `__main__` (the run).
"""

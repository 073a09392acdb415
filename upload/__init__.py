"""pypi-edge upload function: the legacy upload API (twine, uv, poetry) behind a Lambda function URL.

What the deployment (infra/upload.py) needs to know, in one place:

Handler
    ``upload.handler.handler`` (Python 3.11+ runtime; payload format 2.0 of a function URL with
    ``AuthType NONE``, invoke mode BUFFERED).  The zip keeps the packages as folders: the handler
    imports ``upload``, ``edge.credentials`` and ``indexer.publish`` by their package names.

Files in the bundle (`BUNDLE_SOURCES`, paths relative to the repository root, same paths in the zip)
    upload/__init__.py, upload/handler.py, edge/__init__.py, edge/credentials.py, edge/guard.py,
    edge/userpool.py, edge/cognito.py (the opt-in user pool), indexer/__init__.py,
    indexer/publish.py, indexer/metadata.py, indexer/model.py, indexer/store.py;
    plus ``credentials.json`` at the zip root, written by ``edge.credentials.render_file(users, realm,
    seed)`` with the SAME users, realm and seed as the edge bundle (the one renderer; tokens are
    the ``users.__token__`` entries); with the opt-in user pool also ``userpool.json`` beside it
    (``edge.userpool.render_file``, the same bytes as in the edge bundle).  Nothing else from
    indexer/ is imported (no jinja2, no Powertools).  tests/test_upload_bundle.py imports the
    handler from exactly these files.

Pip packages (for the Lambda platform, as the indexer's bundle)
    ``-r indexer/requirements.txt -r upload/requirements.txt`` (`REQUIREMENTS`): the handler
    imports ``packaging``, ``multipart`` and boto3/botocore.  botocore must be bundled, not taken
    from the runtime, for the same reason as in the indexer (conditional PUTs need
    botocore >= 1.40.61; see indexer/requirements.txt).  The indexer's other packages (jinja2,
    Powertools, tqdm) are never imported here; leaving them out saves ~3 MB but needs a second
    pinned list, so the bundle may simply take both files.

Environment
    BUCKET            the index bucket (distributions are written to ``<project>/<file>``)
    ORIGIN_SECRET     the value CloudFront sends in the custom origin header
                      ``x-pypi-edge-origin-secret`` (`handler.ORIGIN_HEADER`); empty = refuse all
    INDEXER_FUNCTION  name or ARN of the indexer function, invoked synchronously after each new
                      file so the pages are fresh before the upload returns, waiting no longer than
                      the invocation has left (less a margin; then "indexing continues"), without
                      retries (optional: without it the S3 event indexes the file within seconds)
    PYPI_EDGE_CREDENTIALS  optional path of the credentials file (default: the bundled one)
    PYPI_EDGE_USERPOOL     optional path of the user pool file (default: ``userpool.json`` beside
                      the credentials file; absent = no pool, `edge.userpool.render_file` writes it)

IAM (least privilege: create distributions and their bookkeeping, nothing else; infra/upload.py)
    s3:PutObject on ``<project>/<file>.whl|.tar.gz|.zip``, ``_claims/*`` (identity claims,
    indexer/publish.py) and ``_oidc-jti/*`` (replay markers, upload/oidc.py), only with
    ``If-None-Match`` (the s3:if-none-match condition key) and never deeper than one "/";
    s3:GetObject on the same distributions, the claims and ``*/.project-status`` (the HEAD/GET that
    compares an existing file's SHA-256, a claim held by another upload, PEP 792);
    s3:ListBucket of one ``<project>/`` prefix at a time (look-alikes of a file);
    lambda:InvokeFunction on the indexer function; logs:CreateLogStream / logs:PutLogEvents; with a
    user pool, cognito-idp:AdminInitiateAuth on that pool only (as the edge function's role).  No
    If-Match overwrite.  For the CLI's routes (upload/remote.py, issue 20): PutObject on
    ``_staging/*`` (If-None-Match, like the rest: the presigned PUTs act with these rights, and the
    copy to ``<project>/<file>`` is a CopyObject with If-None-Match), GetObject and DeleteObject on
    ``_staging/*``; PutObject and DeleteObject on ``*/*.yanked`` and ``*/.project-status`` (yank,
    unyank, status: plain writes, versioning keeps every earlier text); GetObject on ``*/*.yanked``
    and the JSON pages ``index.json``, ``*/index.json`` (list).  Memory: a request holds the body,
    its base64 form and the parsed file at once (~3 x 6 MB); 512 MB leaves ample room and more CPU
    for the hashes.  Timeout: the indexer call dominates; 30 s.

CloudFront (what the function relies on)
    Behaviours ``/legacy/*`` and ``/_/oidc/*``: all methods, managed cache policy CachingDisabled,
    origin request policy AllViewerExceptHostHeader (with caching disabled it forwards
    ``Authorization``; AWS re:Post knowledge center "cloudfront-authorization-header"), origin =
    the function URL's domain with the custom header ``x-pypi-edge-origin-secret: <ORIGIN_SECRET>``
    (CloudFront overwrites a viewer's header of that name).  The edge function stays associated
    with these behaviours (viewer-request): it answers 413 above
    `edge.handler.MAX_UPLOAD_BODY_BYTES` (4,483,104) and 411 without Content-Length, and passes
    everything else through with its Authorization header (it does not authenticate uploads).

Routes: `handler.ROUTES` maps rawPath to a route: ``/legacy/`` and trusted publishing's
``/_/oidc/audience``, ``/_/oidc/mint-token``, ``/_/oidc/burn-token`` (upload/oidc.py), whose
minted-token check is `handler.Config.minted`; and the `pypi-edge` CLI's ``/_/cli/stage``,
``finish``, ``yank``, ``unyank``, ``status``, ``list`` (upload/remote.py; CloudFront behaviour
``/_/cli/*``).

Trusted publishing (upload/oidc.py, upload/publishers.py; off unless trustedPublishers names one)
    The bundle also carries ``upload/trusted-publishing.json`` (`infra.trusted.bundle_entry`, the
    validated config `infra.trusted.TrustedPublishing.config_file`), and the function's environment
    ``PYPI_EDGE_OIDC_KEY`` (`TrustedPublishing.environment`, a generated secret).  The function
    fetches the CI providers' OIDC discovery documents and JWKS over HTTPS
    (token.actions.githubusercontent.com, gitlab.com or the configured GitLab), so it needs
    outbound internet access: keep it outside a VPC, as it is.  Its log lines carry their fields as
    JSON in the text (LogFormat "Text", as deployed) and as ``extra`` attributes (keys under
    LogFormat "JSON").
"""

from __future__ import annotations

BUNDLE_SOURCES = (
    "upload/__init__.py",
    "upload/handler.py",
    "upload/oidc.py",
    "upload/publishers.py",
    "upload/remote.py",
    "edge/__init__.py",
    "edge/credentials.py",
    "edge/guard.py",
    "edge/userpool.py",
    "edge/cognito.py",
    "indexer/__init__.py",
    "indexer/publish.py",
    "indexer/manage.py",
    "indexer/status.py",
    "indexer/metadata.py",
    "indexer/model.py",
    "indexer/store.py",
)
HANDLER = "upload.handler.handler"
REQUIREMENTS = ("indexer/requirements.txt", "upload/requirements.txt")

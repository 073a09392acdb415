"""One structured logger for the indexer (Powertools: JSON lines with the service name)."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "pypi-edge-indexer"))

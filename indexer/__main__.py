"""`python -m indexer <command> ...`: the publisher CLI (see `indexer.cli`)."""

from indexer.cli import main

raise SystemExit(main())

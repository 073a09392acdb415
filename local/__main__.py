"""`python -m local`: the whole index on this machine, no cloud (see README, "make serve")."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from local.stack import DEFAULT_USER, LocalStack, PortInUse


def parse_user(value: str) -> tuple[str, str]:
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise argparse.ArgumentTypeError("expected USER:PASSWORD (the password may contain ':')")
    return user, password


def stop_on_signals(stop: threading.Event) -> None:
    """Ctrl-C (SIGINT) and SIGTERM stop the stack, however this process was started.

    A parent that runs us in the background (`make serve &` in a non-interactive shell, some CI
    runners) starts us with SIGINT ignored, and Python then installs no KeyboardInterrupt
    handler; an explicit handler replaces whatever disposition we inherited.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    parser.add_argument("--port", type=int, default=8080, help="HTTP port of the CloudFront stand-in (8080)")
    parser.add_argument("--s3-port", type=int, default=9000, help="port of the S3+SQS API, moto (9000)")
    parser.add_argument("--bucket", default="pypi-local", help="bucket name (pypi-local)")
    parser.add_argument(
        "--user",
        action="append",
        type=parse_user,
        metavar="USER:PASSWORD",
        help=f"a user of the index; repeat for more (default {DEFAULT_USER[0]}:{DEFAULT_USER[1]})",
    )
    parser.add_argument("--batch-window", type=float, default=0.5, help="indexer batch window, seconds (0.5)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no access log")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    users = dict(args.user or [DEFAULT_USER])
    stop = threading.Event()
    stop_on_signals(stop)  # before start: a Ctrl-C while starting stops right after
    stack = LocalStack(
        port=args.port, s3_port=args.s3_port, bucket=args.bucket, users=users, batch_window=args.batch_window
    )
    try:
        stack.start()
    except PortInUse as exc:
        print(f"error: {exc}", file=sys.stderr)
        stack.stop()
        return 1

    user, password = next(iter(users.items()))
    host = f"{stack.host}:{stack.port}"
    print(
        f"""pypi-edge local stack is up.

  index      {stack.url}/simple/   (browser: {stack.url}/)
  users      {", ".join(users)}{"  (default password: " + password + ")" if not args.user else ""}
  S3 + SQS   {stack.s3_endpoint}   bucket {stack.bucket}

Publish (the local S3 takes any credentials):
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
  .venv/bin/pypi-edge upload --bucket {stack.bucket} --endpoint-url {stack.s3_endpoint} dist/*
  aws --endpoint-url {stack.s3_endpoint} s3 cp dist/NAME-1.0-py3-none-any.whl s3://{stack.bucket}/NAME/
Install:
  pip install --index-url http://{user}:{password}@{host}/simple/ NAME

Ctrl-C stops.""",
        flush=True,
    )
    stop.wait()
    print("\nstopping…", file=sys.stderr, flush=True)
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

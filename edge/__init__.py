"""The Lambda@Edge viewer-request function (standard library only; see `edge.handler`)."""

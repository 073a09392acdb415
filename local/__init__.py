"""The local stack: moto S3+SQS, the indexer worker, and a CloudFront stand-in, in one process."""

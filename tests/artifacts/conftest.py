"""The real S3 endpoint (moto on loopback) of the deploy tests serves the S3 artifact store."""

from tests.deploy.conftest import S3_CREDENTIALS, s3_bucket, s3_endpoint

__all__ = ["S3_CREDENTIALS", "s3_bucket", "s3_endpoint"]

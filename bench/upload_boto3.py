"""Uploads a file to an S3 endpoint with boto3's upload_file; prints seconds."""
import sys
import time

import boto3
from boto3.s3.transfer import TransferConfig

endpoint, bucket, key, path = sys.argv[1:5]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    aws_access_key_id="test",
    aws_secret_access_key="test",
    region_name="us-east-1",
)
config = TransferConfig(multipart_chunksize=8 * 1024 * 1024, max_concurrency=4)
start = time.perf_counter()
s3.upload_file(path, bucket, key, Config=config)
print(f"{time.perf_counter() - start:.3f}")

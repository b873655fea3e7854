"""boto3's side of the transfer benchmarks; prints seconds.

boto3_transfer.py upload ENDPOINT BUCKET KEY PATH         upload_file
boto3_transfer.py download ENDPOINT BUCKET KEY PATH       download_file
boto3_transfer.py download-many ENDPOINT BUCKET PREFIX DIR  every object
                                                          under PREFIX, 8 threads
boto3_transfer.py upload-each ENDPOINT BUCKET PREFIX DIR   every file in DIR,
                                                          4 at a time, one part
                                                          in flight each
boto3_transfer.py download-each ENDPOINT BUCKET PREFIX DIR every object under
                                                          PREFIX, 4 at a time,
                                                          one part in flight each
Transfers use 8 MiB parts, 4 at a time, as omni-launch does.
"""
import concurrent.futures
import os
import sys
import time

import boto3
from boto3.s3.transfer import TransferConfig

mode, endpoint, bucket, key, path = sys.argv[1:6]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    aws_access_key_id="test",
    aws_secret_access_key="test",
    region_name="us-east-1",
)
config = TransferConfig(multipart_chunksize=8 * 1024 * 1024, max_concurrency=4)
# Several files at once: four parts in flight in all, as omni-launch's
# upload budget allows.
each = TransferConfig(multipart_chunksize=8 * 1024 * 1024, max_concurrency=1)


def listed(prefix):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


start = time.perf_counter()
if mode == "upload":
    s3.upload_file(path, bucket, key, Config=config)
elif mode == "download":
    s3.download_file(bucket, key, path, Config=config)
elif mode == "upload-each":
    names = sorted(os.listdir(path))
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: s3.upload_file(os.path.join(path, n), bucket, key + n, Config=each), names))
elif mode == "download-each":
    os.makedirs(path, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(
            lambda k: s3.download_file(bucket, k, os.path.join(path, os.path.basename(k)), Config=each),
            listed(key),
        ))
else:
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        keys += [o["Key"] for o in page.get("Contents", [])]

    def fetch(k):
        s3.download_file(bucket, k, os.path.join(path, os.path.relpath(k, key)))

    os.makedirs(path, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(fetch, keys))
print(f"{time.perf_counter() - start:.3f}")

"""Puts inventory configurations with the official Python SDK
(cos-python-sdk-v5), N threads, against an emulator on 127.0.0.1.

The same configuration cosinv's benchmark manifest puts: enabled, all
versions, daily, Size and ETag, CSV to inventory-1250000000 under
inventory/<bucket>. The SDK is pointed at the emulator with its IP/Port
settings (the Host header keeps the bucket's COS name) and keeps its
defaults otherwise (one retry, network errors only), except for a
connection pool as large as the thread count.

Prints one JSON line: jobs, ok, failed, errors by code, seconds (from the
first request to the last answer, interpreter start-up excluded).
"""

import argparse
import json
import os
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from qcloud_cos import CosConfig, CosS3Client
from qcloud_cos.cos_exception import CosClientError, CosServiceError


def configuration(bucket):
    return {
        "IsEnabled": "true",
        "IncludedObjectVersions": "All",
        "Schedule": {"Frequency": "Daily"},
        "OptionalFields": {"Field": ["Size", "ETag"]},
        "Destination": {
            "COSBucketDestination": {
                "Bucket": "qcs::cos:ap-guangzhou::inventory-1250000000",
                "Format": "CSV",
                "Prefix": "inventory/" + bucket,
            }
        },
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--buckets", type=int, required=True)
    parser.add_argument("--ids", type=int, required=True)
    parser.add_argument("--threads", type=int, default=32)
    args = parser.parse_args()

    config = CosConfig(
        Region="ap-guangzhou",
        SecretId=os.environ["COS_SECRET_ID"],
        SecretKey=os.environ["COS_SECRET_KEY"],
        IP="127.0.0.1",
        Port=args.port,
        Scheme="http",
        PoolConnections=args.threads,
        PoolMaxSize=args.threads,
    )
    client = CosS3Client(config)
    jobs = [
        ("b%06d-1250000000" % b, "job-%d" % i)
        for b in range(args.buckets)
        for i in range(args.ids)
    ]

    def put(job):
        bucket, job_id = job
        try:
            client.put_bucket_inventory(
                Bucket=bucket, Id=job_id, InventoryConfiguration=configuration(bucket)
            )
            return None
        except CosServiceError as err:
            return err.get_error_code() or "HTTP %s" % err.get_status_code()
        except CosClientError as err:
            return "client: %s" % str(err)[:60]

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        outcomes = list(pool.map(put, jobs))
    seconds = time.perf_counter() - started
    errors = Counter(code for code in outcomes if code is not None)
    failed = sum(errors.values())
    print(
        json.dumps(
            {
                "jobs": len(jobs),
                "ok": len(jobs) - failed,
                "failed": failed,
                "errors": dict(errors),
                "seconds": seconds,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

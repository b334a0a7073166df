"""Checks the cosinv emulator's GET Service against Tencent's official
Python SDK (cos-python-sdk-v5), `CosS3Client.list_buckets`.

Run by check-list-buckets.sh, which starts `cosinv emulate` with a fixed
bucket list and passes its address and the bucket list here. Not part of
`cargo test`: it needs PyPI.

What it checks, each with the SDK's own request building, signing and
response parsing:
1. Paging: MaxKeys=2 pages through every bucket, following NextMarker as
   Marker until IsTruncated is "false"; each page echoes its Marker and has
   at most 2 buckets; the pages together are the whole list, in order.
2. One page with the SDK's defaults (Marker "", MaxKeys 2000) holds every
   bucket; an empty account answers an empty Buckets element.
3. The SDK's Region parameter lists that region's buckets only.
4. The region endpoint: with Domain cos.<region>.myqcloud.com the request
   carries that Host, and only that region's buckets come back.
5. A wrong SecretKey is refused (403 SignatureDoesNotMatch): the emulator
   really checks the SDK's signature. (The SDK's list_buckets signs only
   `host`, not marker or max-keys; cosinv signs those too. Both verify.)

Every request goes to the emulator's address with `Host:
service.cos.myqcloud.com` (or the region's host), the SDK's IP/Port/Domain
settings: the SDK signs the host name without a port, so the emulator must
see the name it signed.
"""

import sys

from qcloud_cos import CosConfig, CosS3Client
from qcloud_cos.cos_exception import CosServiceError


def client(port, key, host="service.cos.myqcloud.com"):
    """The SDK sending to the emulator's address while keeping COS's host:
    ServiceDomain is where list_buckets connects; IP/Port with Domain make
    the SDK send (and sign) `Host: <host>`, as for a private endpoint."""
    config = CosConfig(
        Region="ap-guangzhou",
        SecretId=SECRET_ID,
        SecretKey=key,
        Scheme="http",
        ServiceDomain="127.0.0.1:%d" % port,
        IP="127.0.0.1",
        Port=port,
        Domain=host,
    )
    return CosS3Client(config, retry=1)


def buckets_of(page):
    if page.get("Buckets") is None:
        return []
    return page["Buckets"]["Bucket"]


def check_paging(sdk, expected):
    names, marker, pages = [], "", 0
    while True:
        page = sdk.list_buckets(Marker=marker, MaxKeys=2)
        pages += 1
        assert (page.get("Marker") or "") == marker, (page.get("Marker"), marker)
        found = buckets_of(page)
        assert len(found) <= 2, found
        for bucket in found:
            assert bucket["Name"] and bucket["Location"] and bucket["CreationDate"], bucket
        names.extend(bucket["Name"] for bucket in found)
        if page["IsTruncated"] == "false":
            break
        assert page["IsTruncated"] == "true", page["IsTruncated"]
        marker = page["NextMarker"]
        assert marker == found[-1]["Name"], (marker, found)
        assert pages < 100, "the pages never end"
    assert names == [name for name, _ in expected], names
    assert pages == (len(expected) + 1) // 2, pages
    print("ok: %d buckets in %d pages of 2, markers followed" % (len(names), pages))


def check_defaults_and_region(sdk, expected):
    page = sdk.list_buckets()
    assert page["IsTruncated"] == "false", page["IsTruncated"]
    assert [b["Name"] for b in buckets_of(page)] == [n for n, _ in expected]
    assert page["Owner"]["ID"].startswith("qcs::cam::uin/"), page["Owner"]
    print("ok: one page with the SDK's defaults (Marker '', MaxKeys 2000)")
    shanghai = sdk.list_buckets(Region="ap-shanghai", MaxKeys=2000)
    found = [(b["Name"], b["Location"]) for b in buckets_of(shanghai)]
    assert found == [(n, r) for n, r in expected if r == "ap-shanghai"], found
    print("ok: Region=ap-shanghai lists %d buckets, all there" % len(found))
    after_all = sdk.list_buckets(Marker=expected[-1][0])
    assert buckets_of(after_all) == [] and after_all["IsTruncated"] == "false"
    print("ok: past the last bucket, an empty Buckets element")


def check_region_endpoint(port, expected):
    sdk = client(port, SECRET_KEY, host="cos.ap-beijing.myqcloud.com")
    page = sdk.list_buckets(MaxKeys=1)
    names = [b["Name"] for b in buckets_of(page)]
    beijing = [n for n, r in expected if r == "ap-beijing"]
    marker = page.get("NextMarker")
    while page["IsTruncated"] == "true":
        page = sdk.list_buckets(Marker=marker, MaxKeys=1)
        names.extend(b["Name"] for b in buckets_of(page))
        marker = page.get("NextMarker")
    assert names == beijing, names
    print("ok: Host cos.ap-beijing.myqcloud.com lists only ap-beijing (%d buckets)" % len(names))


def check_signature(port):
    try:
        client(port, "not-the-key").list_buckets(MaxKeys=2)
    except CosServiceError as err:
        assert err.get_status_code() == 403, err.get_status_code()
        assert err.get_error_code() == "SignatureDoesNotMatch", err.get_error_code()
        print("ok: a wrong key is refused (403 SignatureDoesNotMatch)")
        return
    raise AssertionError("a wrong key was accepted")


def main():
    global SECRET_ID, SECRET_KEY
    port, SECRET_ID, SECRET_KEY, buckets_file = sys.argv[1:5]
    port = int(port)
    expected = []
    with open(buckets_file) as lines:
        for line in lines:
            name, region = line.strip().split(",")
            expected.append((name, region))
    expected.sort()
    sdk = client(port, SECRET_KEY)
    check_paging(sdk, expected)
    check_defaults_and_region(sdk, expected)
    check_region_endpoint(port, expected)
    check_signature(port)
    print("passed: the emulator's GET Service agrees with cos-python-sdk-v5 list_buckets")


SECRET_ID = SECRET_KEY = None

if __name__ == "__main__":
    main()

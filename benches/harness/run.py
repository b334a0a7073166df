"""The side-by-side benchmarks of the performance issue; writes
benches/RESULTS.md. Started by benches/run.sh (which builds the binary,
checks for wrk and installs the SDK); see --help.

Every process is started here and stopped here; everything goes to
127.0.0.1. Each figure is measured in this one run and set beside its
target: the machine is small and shared, so ratios within a run are what
the targets are about.

Measuring:
- wall: the client process from start to exit (plan loading included);
- client CPU: user + system time of the client process (wait4), per job;
- emulator CPU: user + system ticks of `cosinv emulate` (/proc/PID/stat)
  over the run, per request it counted (/-/cosinv/counters);
- peak memory: the client's maximum resident set (wait4);
- open descriptors: /proc/PID/fd sampled every 20 ms.
"""

import argparse
import datetime
import hashlib
import hmac
import json
import os
import platform
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

SECRET_ID = "AKIDbench"
SECRET_KEY = "bench-secret"
CLK_TCK = os.sysconf("SC_CLK_TCK")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

SECTIONS = [
    "wrk",
    "apply",
    "sdk",
    "ceiling",
    "latency",
    "million",
    "refresh",
    "deliveries",
    "rate",
    "tls",
    "throttling",
    "pacer",
]

BASE_POLICY = """version: 1
defaults:
  region: ap-guangzhou
policies:
  base:
    enabled: true
    included_object_versions: All
    schedule: Daily
    optional_fields: [Size, ETag]
    destination:
      bucket: inventory-1250000000
      prefix: "inventory/{bucket}"
      format: CSV
jobs:
"""


def child_env():
    """This environment without proxies (nothing may leave 127.0.0.1),
    with the benchmark's credentials."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.lower().endswith("_proxy")
        and not key.startswith(("COS_", "TENCENTCLOUD_", "TKE_", "COSINV_"))
    }
    env["COS_SECRET_ID"] = SECRET_ID
    env["COS_SECRET_KEY"] = SECRET_KEY
    env["NO_PROXY"] = "*"
    return env


ENV = child_env()


def log(message):
    print("bench: " + message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Processes.


def proc_cpu(pid):
    """User + system seconds of a running process, all threads."""
    with open("/proc/%d/stat" % pid) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def open_fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return 0


class Emulator:
    """`cosinv emulate` on 127.0.0.1, a port of its own choosing."""

    def __init__(self, binary, work, args=(), tls=False):
        self.ca = os.path.join(work, "emulator-ca.pem") if tls else None
        command = [binary, "emulate", "--listen", "127.0.0.1:0", *args]
        if tls:
            command += ["--tls", "--ca-file", self.ca]
        self.err = open(os.path.join(work, "emulator.err"), "ab")
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self.err, env=ENV
        )
        line = self._line(10)
        match = re.search(r"listening on (https?)://127\.0\.0\.1:(\d+)", line)
        if not match:
            self.stop()
            raise RuntimeError("the emulator did not start: %r" % line)
        self.scheme, self.port = match.group(1), int(match.group(2))
        if tls:
            self._line(10)
        self.pid = self.process.pid

    def _line(self, timeout):
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            return ""
        return self.process.stdout.readline().decode(errors="replace")

    @property
    def endpoint(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.port)

    def cpu(self):
        return proc_cpu(self.pid)

    def counters(self):
        url = "%s/-/cosinv/counters" % self.endpoint
        handlers = [urllib.request.ProxyHandler({})]
        if self.ca:
            context = ssl.create_default_context(cafile=self.ca)
            handlers.append(urllib.request.HTTPSHandler(context=context))
        opener = urllib.request.build_opener(*handlers)
        with opener.open(url, timeout=10) as answer:
            return json.load(answer)

    def requests(self):
        """Requests counted by (method, outcome)."""
        return self.counters().get("requests", {})

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.err.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Measured:
    """A finished child: wall, CPU, peak memory, descriptors, output."""

    def __init__(self, wall, cpu, max_rss_kib, max_fds, status, stdout, stderr, extra):
        self.wall = wall
        self.cpu = cpu
        self.max_rss_mib = max_rss_kib / 1024
        self.max_fds = max_fds
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
        self.extra = extra


def run_measured(command, timeout, work, watch=None, sample_fds=False):
    """Runs `command` to its end (killed after `timeout` s). `watch`
    (pid → name) are other processes whose descriptors are sampled too."""
    out_path = os.path.join(work, "child.out")
    err_path = os.path.join(work, "child.err")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.monotonic()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=ENV, cwd=work)
        max_fds = 0
        watched = {name: 0 for name in (watch or {}).values()}
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > timeout:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                status = -9
                break
            if sample_fds:
                max_fds = max(max_fds, open_fds(process.pid))
                for other, name in (watch or {}).items():
                    watched[name] = max(watched[name], open_fds(other))
            time.sleep(0.02 if sample_fds else 0.005)
        wall = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status) if status >= 0 else status
    with open(out_path, "rb") as out, open(err_path, "rb") as err:
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    return Measured(
        wall,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss,
        max_fds,
        process.returncode,
        stdout,
        stderr,
        watched,
    )


# ---------------------------------------------------------------------------
# Inputs.


def bucket_name(index):
    return "b%06d-1250000000" % index


def write_manifest(work, name, buckets, ids):
    """`ids` jobs on each of `buckets` buckets: NAME.yaml + NAME.txt."""
    names = os.path.join(work, name + ".txt")
    if not os.path.exists(names):
        with open(names, "w") as out:
            out.writelines(bucket_name(i) + "\n" for i in range(buckets))
    path = os.path.join(work, name + ".yaml")
    with open(path, "w") as out:
        out.write(BASE_POLICY)
        for i in range(ids):
            out.write(
                "  - id: job-%d\n    policy: base\n    buckets_file: %s.txt\n" % (i, name)
            )
    return path


def cos_encode(text):
    return urllib.parse.quote(text, safe="-_.~")


def presign(method, params, headers, now):
    """The COS `Authorization` for a request to `/`, valid for an hour
    (the documented algorithm, written out independently of cosinv)."""
    key_time = "%d;%d" % (now - 60, now + 3600)
    sign_key = hmac.new(SECRET_KEY.encode(), key_time.encode(), hashlib.sha1).hexdigest()
    pairs = lambda items: sorted((cos_encode(k).lower(), cos_encode(v)) for k, v in items)
    params = pairs(params.items())
    headers = pairs(headers.items())
    joined = lambda items: "&".join("%s=%s" % item for item in items)
    http_string = "%s\n/\n%s\n%s\n" % (method.lower(), joined(params), joined(headers))
    digest = hashlib.sha1(http_string.encode()).hexdigest()
    string_to_sign = "sha1\n%s\n%s\n" % (key_time, digest)
    signature = hmac.new(sign_key.encode(), string_to_sign.encode(), hashlib.sha1).hexdigest()
    return (
        "q-sign-algorithm=sha1&q-ak=%s&q-sign-time=%s&q-key-time=%s&q-header-list=%s"
        "&q-url-param-list=%s&q-signature=%s"
        % (
            SECRET_ID,
            key_time,
            key_time,
            ";".join(name for name, _ in headers),
            ";".join(name for name, _ in params),
            signature,
        )
    )


INVENTORY_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<InventoryConfiguration><Id>job-0</Id><IsEnabled>true</IsEnabled>"
    "<Destination><COSBucketDestination><Format>CSV</Format>"
    "<Bucket>qcs::cos:ap-guangzhou::inventory-1250000000</Bucket>"
    "<Prefix>inventory/b000000-1250000000</Prefix></COSBucketDestination></Destination>"
    "<Schedule><Frequency>Daily</Frequency></Schedule>"
    "<IncludedObjectVersions>All</IncludedObjectVersions>"
    "<OptionalFields><Field>Size</Field><Field>ETag</Field></OptionalFields>"
    "</InventoryConfiguration>"
)


def wrk_script(work):
    """A wrk script repeating one pre-signed PUT Bucket inventory."""
    import base64

    body = INVENTORY_XML.encode()
    headers = {
        "host": bucket_name(0) + ".cos.ap-guangzhou.myqcloud.com",
        "content-type": "application/xml",
        "content-md5": base64.b64encode(hashlib.md5(body).digest()).decode(),
    }
    headers["authorization"] = presign(
        "PUT", {"inventory": "", "id": "job-0"}, dict(headers), int(time.time())
    )
    lua = ['wrk.method = "PUT"', "wrk.body = %s" % json.dumps(INVENTORY_XML)]
    # Capitalised as wrk expects: it adds its own `Host` (the URL's) unless
    # the table has exactly that key, and a second Host would be signed
    # against or not depending on the table's order.
    for name, value in headers.items():
        name = "-".join(part.capitalize() for part in name.split("-"))
        lua.append("wrk.headers[%s] = %s" % (json.dumps(name), json.dumps(value)))
    path = os.path.join(work, "put.lua")
    with open(path, "w") as out:
        out.write("\n".join(lua) + "\n")
    return path


# ---------------------------------------------------------------------------
# Runs.


class Bench:
    def __init__(self, binary, work, repeat):
        self.binary = os.path.abspath(binary)
        self.work = work
        self.repeat = repeat
        self.results = {}
        self.manifest_20k = write_manifest(work, "fleet20k", 2000, 10)

    def emulator(self, args=(), tls=False):
        return Emulator(self.binary, self.work, args, tls)

    def apply(self, manifest, extra, emulator=None, timeout=300, sample_fds=False):
        """One `cosinv apply`; its measures and the report's counts."""
        report = os.path.join(self.work, "report.csv")
        command = [self.binary, "apply", manifest, "--report", report, "--quiet"]
        if emulator is not None and emulator.scheme == "http":
            command += ["--endpoint", emulator.endpoint]
        command += extra
        cpu_before = emulator.cpu() if emulator else 0.0
        requests_before = total_requests(emulator.requests()) if emulator else 0
        watch = {emulator.pid: "emulator"} if emulator and sample_fds else None
        run = run_measured(command, timeout, self.work, watch, sample_fds)
        run.emulator_cpu = (emulator.cpu() - cpu_before) if emulator else 0.0
        run.requests = total_requests(emulator.requests()) - requests_before if emulator else None
        with open(report + ".json") as sidecar:
            record = json.load(sidecar)
            run.counts = record.get("counts") or {}
            run.pacing = record.get("pacing") or {}
        run.report = report
        if run.status not in (0,):
            log("apply %s exited %s: %s" % (extra, run.status, run.stderr[-400:]))
        return run

    def best_apply(self, manifest, extra, emulator_args=(), repeat=None):
        """The fastest of `repeat` runs, each against a fresh emulator."""
        best = None
        for _ in range(repeat or self.repeat):
            with self.emulator(emulator_args) as emulator:
                run = self.apply(manifest, extra, emulator)
            if best is None or run.wall < best.wall:
                best = run
        return best

    # -- (a) ---------------------------------------------------------------
    def wrk(self):
        script = wrk_script(self.work)
        rows = []
        for connections in (32, 64):
            with self.emulator() as emulator:
                cpu_before = emulator.cpu()
                url = emulator.endpoint + "/?inventory&id=job-0"
                command = ["wrk", "-t1", "-c%d" % connections, "-d5s", "-s", script, url]
                out = subprocess.run(
                    command, capture_output=True, text=True, timeout=60, env=ENV
                ).stdout
                cpu = emulator.cpu() - cpu_before
                counted = emulator.requests()
            rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
            sent = int(re.search(r"(\d+) requests in", out).group(1))
            bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
            ok = counted.get("PUT 200", 0)
            rows.append(
                {
                    "connections": connections,
                    "rate": rate,
                    "sent": sent,
                    "non_2xx": int(bad.group(1)) if bad else 0,
                    "put_200": ok,
                    "emulator_us": 1e6 * cpu / max(1, total_requests(counted)),
                }
            )
            log("wrk -c%d: %.0f requests/s, %d answered 200" % (connections, rate, ok))
        self.results["wrk"] = rows

    # -- (b) ---------------------------------------------------------------
    def apply_concurrency(self):
        rows = []
        jobs = 20000
        for refresh in (False, True):
            for concurrency in (32, 64, 256):
                extra = ["--concurrency", str(concurrency)]
                if not refresh:
                    extra.append("--no-refresh")
                run = self.best_apply(self.manifest_20k, extra)
                rows.append(
                    {
                        "mode": "refresh" if refresh else "no-refresh",
                        "concurrency": concurrency,
                        "wall": run.wall,
                        "jobs_per_s": jobs / run.wall,
                        "applied": run.counts.get("by_outcome", {}).get("applied", 0),
                        "requests": run.requests,
                        "client_us_per_job": 1e6 * run.cpu / jobs,
                        "emulator_us_per_request": 1e6 * run.emulator_cpu / max(1, run.requests),
                        "rss": run.max_rss_mib,
                    }
                )
                log(
                    "apply %s -c%d: %.0f jobs/s, client %.1f µs/job, emulator %.1f µs/req"
                    % (
                        rows[-1]["mode"],
                        concurrency,
                        rows[-1]["jobs_per_s"],
                        rows[-1]["client_us_per_job"],
                        rows[-1]["emulator_us_per_request"],
                    )
                )
        self.results["apply"] = rows

    # -- (c) ---------------------------------------------------------------
    def sdk_run(self, emulator, buckets, ids, threads=32, timeout=240):
        command = [
            sys.executable,
            os.path.join(HERE, "sdk_put.py"),
            "--port",
            str(emulator.port),
            "--buckets",
            str(buckets),
            "--ids",
            str(ids),
            "--threads",
            str(threads),
        ]
        cpu_before = emulator.cpu()
        run = run_measured(command, timeout, self.work)
        run.emulator_cpu = emulator.cpu() - cpu_before
        lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise RuntimeError("the SDK run failed: %s" % run.stderr[-800:])
        run.sdk = json.loads(lines[-1])
        return run

    def sdk(self):
        buckets, ids = 400, 10
        jobs = buckets * ids
        with self.emulator() as emulator:
            run = self.sdk_run(emulator, buckets, ids)
        manifest = write_manifest(self.work, "fleet4k", buckets, ids)
        cosinv = self.best_apply(manifest, ["--no-refresh", "--concurrency", "32"])
        self.results["sdk"] = {
            "jobs": jobs,
            "sdk_ok": run.sdk["ok"],
            "sdk_seconds": run.sdk["seconds"],
            "sdk_jobs_per_s": run.sdk["ok"] / run.sdk["seconds"],
            "sdk_cpu_us_per_job": 1e6 * run.cpu / jobs,
            "cosinv_jobs_per_s": jobs / cosinv.wall,
            "cosinv_cpu_us_per_job": 1e6 * cosinv.cpu / jobs,
        }
        log("sdk: %.0f jobs/s; cosinv -c32: %.0f" % (self.results["sdk"]["sdk_jobs_per_s"], jobs / cosinv.wall))

    # -- (d) ---------------------------------------------------------------
    def ceiling(self):
        limit, buckets, ids = 500, 400, 10
        jobs = buckets * ids
        faults = ["--rate-limit", str(limit)]
        with self.emulator(faults) as emulator:
            sdk = self.sdk_run(emulator, buckets, ids)
            sdk_503 = emulator.requests().get("PUT 503", 0)
        manifest = write_manifest(self.work, "fleet4k", buckets, ids)
        with self.emulator(faults) as emulator:
            run = self.apply(manifest, ["--no-refresh", "--concurrency", "32"], emulator)
            counted = emulator.requests()
        by_outcome = run.counts.get("by_outcome", {})
        self.results["ceiling"] = {
            "limit": limit,
            "jobs": jobs,
            "sdk_ok": sdk.sdk["ok"],
            "sdk_failed": sdk.sdk["failed"],
            "sdk_errors": sdk.sdk["errors"],
            "sdk_seconds": sdk.sdk["seconds"],
            "sdk_503": sdk_503,
            "cosinv_applied": by_outcome.get("applied", 0),
            "cosinv_failed": jobs - by_outcome.get("applied", 0),
            "cosinv_seconds": run.wall,
            "cosinv_503": counted.get("PUT 503", 0),
            "cosinv_requests": total_requests(counted),
        }
        log("ceiling: sdk failed %d, cosinv failed %d" % (sdk.sdk["failed"], jobs - by_outcome.get("applied", 0)))

    # -- (j) ---------------------------------------------------------------
    def throttling(self):
        figures = Throttling(self)
        result = {
            "ceilings": [figures.ceiling(40, 120), figures.ceiling(500, 500)],
            "noise": figures.noise(),
            "mix": figures.mix(),
            "outage": figures.outage(),
            "give_up": figures.give_up(),
        }
        self.results["throttling"] = result
        log("throttling: %s" % json.dumps(result["ceilings"]))

    # -- (k) ---------------------------------------------------------------
    def pacer(self):
        figures = Pacer(self)
        result = {
            "bursts": [figures.burst(seconds) for seconds in (0, 0.2, 1, 2)],
            "periodic": figures.periodic(),
            "shards": figures.shards(),
            "missing": figures.missing(),
        }
        self.results["pacer"] = result
        log("pacer: %s" % json.dumps(result))

    # -- (e) ---------------------------------------------------------------
    def latency(self):
        latency_ms, concurrency, jobs = 20, 64, 20000
        ideal = jobs * latency_ms / 1000 / concurrency
        run = self.best_apply(
            self.manifest_20k,
            ["--no-refresh", "--concurrency", str(concurrency)],
            ["--latency-ms", str(latency_ms)],
            repeat=1,
        )
        self.results["latency"] = {
            "latency_ms": latency_ms,
            "concurrency": concurrency,
            "jobs": jobs,
            "wall": run.wall,
            "ideal": ideal,
            "ratio": run.wall / ideal,
            "applied": run.counts.get("by_outcome", {}).get("applied", 0),
        }
        log("latency: %.2f s against an ideal %.2f s" % (run.wall, ideal))

    # -- (f) ---------------------------------------------------------------
    def million(self):
        manifest = write_manifest(self.work, "fleet1m", 100000, 10)
        validate = run_measured([self.binary, "validate", manifest], 120, self.work)
        report = os.path.join(self.work, "dry.csv")
        dry = run_measured(
            [self.binary, "apply", manifest, "--dry-run", "--report", report, "--quiet"],
            240,
            self.work,
        )
        state = os.path.join(self.work, "sandbox-1m.json")
        if os.path.exists(state):
            os.remove(state)
        report = os.path.join(self.work, "sandbox.csv")
        sandbox = run_measured(
            [
                self.binary,
                "apply",
                manifest,
                "--sandbox",
                "--sandbox-state",
                state,
                "--report",
                report,
                "--quiet",
            ],
            600,
            self.work,
        )
        with open(report + ".json") as sidecar:
            counts = json.load(sidecar).get("counts") or {}
        self.results["million"] = {
            "validate_s": validate.wall,
            "validate_mib": validate.max_rss_mib,
            "validate_status": validate.status,
            "dry_s": dry.wall,
            "dry_mib": dry.max_rss_mib,
            "dry_status": dry.status,
            "sandbox_s": sandbox.wall,
            "sandbox_mib": sandbox.max_rss_mib,
            "sandbox_status": sandbox.status,
            "sandbox_applied": counts.get("by_outcome", {}).get("applied", 0),
        }
        for path in (state, report, os.path.join(self.work, "dry.csv")):
            if os.path.exists(path):
                os.remove(path)
        log("million: validate %.2f s %.0f MiB; dry run %.2f s %.0f MiB; sandbox %.1f s %.0f MiB" % (
            validate.wall, validate.max_rss_mib, dry.wall, dry.max_rss_mib, sandbox.wall, sandbox.max_rss_mib))

    # -- (g) ---------------------------------------------------------------
    def refresh(self):
        buckets = 10000
        manifest = write_manifest(self.work, "fleet10k", buckets, 1)
        best = {}
        for _ in range(self.repeat):
            with self.emulator() as emulator:
                put = self.apply(manifest, ["--no-refresh"], emulator)
                again = self.apply(manifest, [], emulator)
                counted = emulator.requests()
            for name, run in (("put", put), ("refresh", again)):
                if name not in best or run.wall < best[name].wall:
                    best[name] = run
        put, again = best["put"], best["refresh"]
        by_outcome = again.counts.get("by_outcome", {})
        self.results["refresh"] = {
            "buckets": buckets,
            "put_wall": put.wall,
            "put_requests": put.requests,
            "refresh_wall": again.wall,
            "refresh_requests": again.requests,
            "refresh_lists": counted.get("GET 200", 0),
            "unchanged": by_outcome.get("unchanged", 0),
            "ratio": again.wall / put.wall,
        }
        log("refresh: %.2f s against %.2f s of PUTs" % (again.wall, put.wall))

    # -- (g2) --------------------------------------------------------------
    def deliveries(self):
        """10,000 jobs: apply, the emulator's delivery, then `deliveries`
        (and a refresh of the same jobs beside it), with requests per job
        from the emulator's counters."""
        buckets = 10000
        manifest = write_manifest(self.work, "fleet10k", buckets, 1)
        now = datetime.datetime.now(datetime.timezone.utc)
        beijing = (now + datetime.timedelta(hours=8)).strftime("%Y%m%d")
        best = {}
        for _ in range(self.repeat):
            with self.emulator() as emulator:
                self.apply(manifest, ["--no-refresh"], emulator)
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                url = "%s/-/cosinv/deliver?date=%s" % (emulator.endpoint, beijing)
                with opener.open(urllib.request.Request(url, method="POST"), timeout=120) as answer:
                    delivered = json.load(answer)
                before = emulator.requests()
                command = [self.binary, "deliveries", manifest, "--endpoint", emulator.endpoint,
                           "--quiet", "--output", "json", "--now", now.strftime("%Y-%m-%dT%H:%M:%SZ")]
                check = run_measured(command, 600, self.work)
                after = emulator.requests()
                refresh = self.apply(manifest, [], emulator)
            check.requests = total_requests(after) - total_requests(before)
            check.heads = sum(n for key, n in after.items() if key.startswith("HEAD ")) - sum(
                n for key, n in before.items() if key.startswith("HEAD "))
            check.delivered = json.loads(check.stdout or "{}").get("counts", {}).get("delivered", 0)
            if check.status != 0:
                log("deliveries exited %s: %s" % (check.status, check.stderr[-400:]))
            for name, run in (("check", check), ("refresh", refresh)):
                if name not in best or run.wall < best[name].wall:
                    best[name] = run
        check, refresh = best["check"], best["refresh"]
        self.results["deliveries"] = {
            "jobs": buckets,
            "reports": delivered.get("reports", 0),
            "wall": check.wall,
            "requests": check.requests,
            "heads": check.heads,
            "per_job": check.requests / buckets,
            "delivered": check.delivered,
            "refresh_wall": refresh.wall,
            "refresh_requests": refresh.requests,
            "ratio": check.wall / refresh.wall,
        }
        log("deliveries: %.2f s, %.2f requests per job; refresh %.2f s" % (
            check.wall, check.requests / buckets, refresh.wall))

    # -- (h) ---------------------------------------------------------------
    def rate(self):
        rate, buckets, ids = 500, 500, 10
        manifest = write_manifest(self.work, "fleet5k", buckets, ids)
        with self.emulator() as emulator:
            run = self.apply(manifest, ["--no-refresh", "--rate", str(rate)], emulator)
        times = sorted(finished_times(run.report))
        span = times[-1] - times[0]
        achieved = (len(times) - 1) / span if span > 0 else 0.0
        self.results["rate"] = {
            "target": rate,
            "jobs": len(times),
            "achieved": achieved,
            "error": achieved / rate - 1,
            "max_window": max_window(times, 1.0),
            "window_limit": rate * 1.05,
        }
        log("rate: %.1f/s achieved, busiest second %d" % (achieved, self.results["rate"]["max_window"]))

    # -- (i) ---------------------------------------------------------------
    def tls(self):
        buckets = 20000
        manifest = write_manifest(self.work, "fleet20kb", buckets, 1)
        with self.emulator(tls=True) as emulator:
            cpu_before = emulator.cpu()
            command_extra = [
                "--no-refresh",
                "--ca-bundle",
                emulator.ca,
                "--resolve",
                "*.myqcloud.com=127.0.0.1:%d" % emulator.port,
            ]
            run = self.apply(manifest, command_extra, emulator, sample_fds=True)
            emulator_cpu = emulator.cpu() - cpu_before
            counters = emulator.counters()
        applied = run.counts.get("by_outcome", {}).get("applied", 0)
        handshakes = sum(counters.get("tls_server_names", {}).values())
        self.results["tls"] = {
            "buckets": buckets,
            "applied": applied,
            "wall": run.wall,
            "handshakes": handshakes,
            "handshakes_per_s": handshakes / run.wall,
            "emulator_max_connections": counters.get("max_open_connections", 0),
            "client_us_per_bucket": 1e6 * run.cpu / buckets,
            "emulator_us_per_bucket": 1e6 * emulator_cpu / buckets,
            "client_max_fds": run.max_fds,
            "emulator_max_fds": run.extra.get("emulator", 0),
            "concurrency": 64,
            "resolver": resolver_cost(),
        }
        log("tls: %.0f handshakes/s, at most %d descriptors open in the client" % (
            handshakes / run.wall, run.max_fds))


# -- (j) Throttling and faults ------------------------------------------------


def answered(counted, status):
    """Requests the emulator answered with `status`, every method."""
    return sum(count for key, count in counted.items() if key.split(" ")[-1] == status)


def applied_of(run):
    return run.counts.get("by_outcome", {}).get("applied", 0)


class Throttling:
    """Issue 12's figures: a ceiling found, random throttling, a fault mix,
    an outage waited out, an outage given up on. Default flags throughout
    (refresh included), as a nightly run would use them."""

    def __init__(self, bench):
        self.bench = bench

    def run(self, name, buckets, faults, extra=(), count=True):
        """One apply against a fresh emulator, and its counters; with
        `count=False` (an emulator that will refuse connections) neither
        the counters nor the CPU are read."""
        manifest = write_manifest(self.bench.work, name, buckets, 10)
        with self.bench.emulator(faults) as emulator:
            if not count:
                extra = [*extra, "--endpoint", emulator.endpoint]
                return self.bench.apply(manifest, extra, None, timeout=600), {}
            run = self.bench.apply(manifest, list(extra), emulator, timeout=600)
            return run, emulator.requests()

    def ceiling(self, limit, buckets):
        run, counted = self.run("ceil%d" % limit, buckets, ["--rate-limit", str(limit), "--latency-ms", "20"])
        sent, accepted, rejected = total_requests(counted), answered(counted, "200"), answered(counted, "503")
        return {
            "limit": limit,
            "jobs": buckets * 10,
            "failed": buckets * 10 - applied_of(run),
            "wall": run.wall,
            "sent": sent,
            "rejected": rejected,
            "rejected_share": rejected / max(sent, 1),
            "achieved": accepted / run.wall,
            "ratio": accepted / run.wall / limit,
            "estimated": run.pacing.get("estimated_ceiling"),
        }

    def noise(self):
        clean = self.bench.best_apply(self.bench.manifest_20k, [], ["--latency-ms", "5"])
        noisy, counted = None, None
        for _ in range(self.bench.repeat):
            run, seen = self.run("noise", 2000, ["--latency-ms", "5", "--slow-down", "0.1", "--seed", "3"])
            if noisy is None or run.wall < noisy.wall:
                noisy, counted = run, seen
        faults = answered(counted, "503")
        # Every job and every bucket's list succeeds once; the rest are retries.
        retries = total_requests(counted) - 20000 - 2000
        return {
            "clean_wall": clean.wall,
            "noisy_wall": noisy.wall,
            "throughput_ratio": clean.wall / noisy.wall,
            "failed": 20000 - applied_of(noisy),
            "faults": faults,
            "retries": retries,
            "retries_per_fault": retries / max(faults, 1),
            "rate_cuts": noisy.pacing.get("rate_cuts"),
        }

    def mix(self):
        faults = ["--slow-down", "0.3", "--internal-error", "0.1", "--reset", "0.05", "--seed", "1"]
        run, counted = self.run("mix", 200, faults)
        return {"jobs": 2000, "failed": 2000 - applied_of(run), "wall": run.wall, "sent": total_requests(counted)}

    def outage(self):
        faults = ["--latency-ms", "200", "--outage", "5..15", "--outage-mode", "unavailable"]
        run, counted = self.run("outage", 500, faults)
        paused = [e for e in run.pacing.get("outages", []) if e.get("kind") == "paused"]
        return {
            "jobs": 5000,
            "failed": 5000 - applied_of(run),
            "during": answered(counted, "503"),
            "bound": 64 + 5 * 10,
            "wall": run.wall,
            "paused": paused[0] if paused else None,
        }

    def give_up(self):
        faults = ["--latency-ms", "200", "--outage", "3..100000", "--outage-mode", "refuse"]
        run, _ = self.run("down", 500, faults, ["--give-up-after", "10"], count=False)
        outcomes = run.counts.get("by_outcome", {})
        return {"status": run.status, "wall": run.wall, "outcomes": outcomes}


class Pacer:
    """Issue 20's figures, end to end: a 100/s ceiling holding 0 to 2 s of
    burst, periodic faults (every 3rd request SlowDown, every 5th 500)
    twenty times over, four shard processes sharing one ceiling, and
    mostly missing buckets under random SlowDown. Default flags."""

    def __init__(self, bench):
        self.bench = bench

    def burst(self, seconds):
        buckets, limit = 150, 100
        manifest = write_manifest(self.bench.work, "burst", buckets, 10)
        # A burst of 0 s is a bucket of one token.
        burst = max(seconds, 0.01)
        args = ["--rate-limit", str(limit), "--rate-limit-burst", str(burst), "--latency-ms", "20"]
        with self.bench.emulator(args) as emulator:
            run = self.bench.apply(manifest, [], emulator, timeout=600)
            counted = emulator.requests()
        sent, rejected = total_requests(counted), answered(counted, "503")
        ideal = (buckets * 10 + buckets) / limit
        return {
            "burst": seconds,
            "wall": run.wall,
            "ideal": ideal,
            "wall_ratio": run.wall / ideal,
            "achieved_ratio": answered(counted, "200") / run.wall / limit,
            "rejected_share": rejected / max(sent, 1),
            "failed": buckets * 10 - applied_of(run),
            "pace": run.pacing.get("paced_at"),
        }

    def periodic(self, runs=20):
        manifest = write_manifest(self.bench.work, "periodic", 200, 10)
        walls, failed = [], 0
        for _ in range(runs):
            args = ["--slow-down-every", "3", "--internal-error-every", "5"]
            with self.bench.emulator(args) as emulator:
                run = self.bench.apply(manifest, [], emulator, timeout=300)
            walls.append(run.wall)
            failed += 2000 - applied_of(run)
        walls.sort()
        median = walls[len(walls) // 2]
        return {"runs": runs, "median": median, "slowest": walls[-1], "fastest": walls[0],
                "slowest_ratio": walls[-1] / median, "failed": failed}

    def shards(self, count=4):
        buckets, limit = 150, 100
        manifest = write_manifest(self.bench.work, "shards", buckets, 10)
        args = ["--rate-limit", str(limit), "--rate-limit-burst", "0.2", "--latency-ms", "20"]
        with self.bench.emulator(args) as emulator:
            started = time.monotonic()
            children = []
            for k in range(count):
                report = os.path.join(self.bench.work, "shard%d.csv" % k)
                command = [self.bench.binary, "apply", manifest, "--report", report, "--quiet",
                           "--endpoint", emulator.endpoint, "--shard", "%d/%d" % (k, count)]
                children.append((report, subprocess.Popen(command, env=ENV, cwd=self.bench.work,
                                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
            applied, statuses = 0, []
            for report, child in children:
                statuses.append(child.wait(600))
                with open(report + ".json") as sidecar:
                    applied += (json.load(sidecar).get("counts") or {}).get("by_outcome", {}).get("applied", 0)
            wall = time.monotonic() - started
            counted = emulator.requests()
        sent, rejected = total_requests(counted), answered(counted, "503")
        ideal = (buckets * 10 + buckets) / limit
        return {"processes": count, "wall": wall, "ideal": ideal, "wall_ratio": wall / ideal,
                "rejected_share": rejected / max(sent, 1), "failed": buckets * 10 - applied,
                "statuses": statuses}

    def missing(self, runs=3):
        # Large enough that the wall is the run's throughput, not the
        # backoff of a few throttled jobs (300 buckets took 0.1 s).
        buckets = 3000
        manifest = write_manifest(self.bench.work, "missing", buckets, 10)
        present = os.path.join(self.bench.work, "present.txt")
        with open(present, "w") as out:
            out.writelines(bucket_name(i) + "\n" for i in range(0, buckets, 10))
        walls = {}
        for name, faults in (("clean", []), ("noisy", ["--slow-down", "0.05", "--seed", "7"])):
            samples = []
            for _ in range(runs):
                with self.bench.emulator(["--buckets-file", present, *faults]) as emulator:
                    samples.append(self.bench.apply(manifest, [], emulator, timeout=300).wall)
            walls[name] = sorted(samples)[runs // 2]
        return {"buckets": buckets, "present": buckets // 10, "runs": runs,
                "clean_wall": walls["clean"], "noisy_wall": walls["noisy"],
                "throughput_ratio": walls["clean"] / walls["noisy"]}


def total_requests(counted):
    return sum(counted.values())


def finished_times(report):
    """`finished_at` of each applied row, seconds."""
    import csv

    times = []
    with open(report, newline="") as rows:
        for row in csv.DictReader(rows):
            if row["outcome"] == "applied":
                stamp = datetime.datetime.strptime(row["finished_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
                times.append(stamp.replace(tzinfo=datetime.timezone.utc).timestamp())
    return times


def max_window(times, width):
    """The most events in any window [t, t + width)."""
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= width:
            start += 1
        best = max(best, end - start + 1)
    return best


def resolver_cost():
    """µs per system lookup of a name in /etc/hosts (no DNS server is
    asked: nothing may leave this machine)."""
    rounds = 2000
    started = time.perf_counter()
    for _ in range(rounds):
        socket.getaddrinfo("localhost", 443, proto=socket.IPPROTO_TCP)
    return 1e6 * (time.perf_counter() - started) / rounds


# ---------------------------------------------------------------------------
# The report.


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    revision = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "revision": revision + (" (with uncommitted changes)" if dirty else ""),
        "wrk": subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0].strip(),
        "python": platform.python_version(),
    }


def met(ok):
    return "yes" if ok else "**no**"


def render(results, info, sections):
    out = []
    w = out.append
    w("# Benchmark results")
    w("")
    w("Written by `benches/run.sh` (do not edit by hand). One run, one machine: read the")
    w("ratios, which is what the targets are about; absolute figures move with the load")
    w("of the (shared) machine.")
    w("")
    w("| machine | |")
    w("|---|---|")
    w("| cores | %s |" % info["cores"])
    w("| CPU | %s |" % info["cpu"])
    w("| kernel | %s |" % info["kernel"])
    w("| date | %s |" % info["date"])
    w("| git revision | %s |" % info["revision"])
    w("| tools | %s, Python %s, cos-python-sdk-v5 1.9.44 |" % (info["wrk"], info["python"]))
    w("")
    w("Sections run: %s." % ", ".join(sections))
    w("")
    for name, why in sorted(results.get("failures", {}).items()):
        w("**Section %s failed**: `%s`" % (name, why))
        w("")
    w("## Against the targets")
    w("")
    w("| figure | measured | target | met |")
    w("|---|---|---|---|")
    for figure, measured, target, ok in headline(results):
        w("| %s | %s | %s | %s |" % (figure, measured, target, met(ok)))
    w("")
    details(results, w)
    return "\n".join(out) + "\n"


def headline(results):
    rows = []
    wrk = results.get("wrk")
    ceiling = max(row["rate"] for row in wrk) if wrk else None
    apply = results.get("apply")
    if apply:
        blind = [row for row in apply if row["mode"] == "no-refresh"]
        best = max(row["jobs_per_s"] for row in blind)
        at = {row["concurrency"]: row for row in blind}
        c32 = at[32]
        worst_us = max(row["client_us_per_job"] for row in blind)
        rows.append(
            (
                "client CPU per job (no-refresh, worst of 32/64/256)",
                "%.1f µs" % worst_us,
                "≤ 25 µs",
                worst_us <= 25,
            )
        )
        emu_us = max(row["emulator_us_per_request"] for row in blind)
        rows.append(
            (
                "emulator CPU per request (apply runs, worst)",
                "%.1f µs" % emu_us,
                "≤ 25 µs",
                emu_us <= 25,
            )
        )
        if ceiling:
            rows.append(
                (
                    "end to end against the raw ceiling (best cosinv / best wrk)",
                    "%.0f / %.0f = %.0f%%" % (best, ceiling, 100 * best / ceiling),
                    "≥ 80%",
                    best / ceiling >= 0.8,
                )
            )
        for concurrency in (64, 256):
            ratio = at[concurrency]["jobs_per_s"] / best
            rows.append(
                (
                    "throughput at concurrency %d against the best" % concurrency,
                    "%.0f / %.0f = %.0f%%" % (at[concurrency]["jobs_per_s"], best, 100 * ratio),
                    "≥ 95%",
                    ratio >= 0.95,
                )
            )
    if wrk:
        emu_us = max(row["emulator_us"] for row in wrk)
        rows.append(
            (
                "emulator CPU per request under wrk",
                "%.1f µs" % emu_us,
                "≤ 25 µs",
                emu_us <= 25,
            )
        )
    sdk = results.get("sdk")
    if sdk:
        ratio = sdk["cosinv_jobs_per_s"] / sdk["sdk_jobs_per_s"]
        rows.append(
            (
                "cosinv (-c32) against the official SDK (32 threads)",
                "%.0f / %.0f = %.1f×" % (sdk["cosinv_jobs_per_s"], sdk["sdk_jobs_per_s"], ratio),
                "≥ 40×",
                ratio >= 40,
            )
        )
    ceiling_run = results.get("ceiling")
    if ceiling_run:
        rows.append(
            (
                "jobs failed under a %d/s ceiling: cosinv (SDK)" % ceiling_run["limit"],
                "%d (%d of %d)" % (ceiling_run["cosinv_failed"], ceiling_run["sdk_failed"], ceiling_run["jobs"]),
                "0",
                ceiling_run["cosinv_failed"] == 0,
            )
        )
    latency = results.get("latency")
    if latency:
        rows.append(
            (
                "latency-bound wall (20 ms, -c64, 20,000 jobs) against ideal",
                "%.2f s / %.2f s = %.2f×" % (latency["wall"], latency["ideal"], latency["ratio"]),
                "≤ 1.1×",
                latency["ratio"] <= 1.1,
            )
        )
    million = results.get("million")
    if million:
        rows += [
            ("1,000,000 jobs: validate time", "%.2f s" % million["validate_s"], "≤ 1 s", million["validate_s"] <= 1),
            ("1,000,000 jobs: validate peak memory", "%.0f MiB" % million["validate_mib"], "≤ 100 MiB", million["validate_mib"] <= 100),
            ("1,000,000 jobs: dry run time", "%.2f s" % million["dry_s"], "≤ 2 s", million["dry_s"] <= 2),
            ("1,000,000 jobs: dry run peak memory", "%.0f MiB" % million["dry_mib"], "≤ 150 MiB", million["dry_mib"] <= 150),
            (
                "1,000,000 jobs: sandbox apply peak memory (%d applied in %.0f s)"
                % (million["sandbox_applied"], million["sandbox_s"]),
                "%.0f MiB" % million["sandbox_mib"],
                "≤ 300 MiB",
                million["sandbox_mib"] <= 300 and million["sandbox_applied"] == 1000000,
            ),
        ]
    refresh = results.get("refresh")
    if refresh:
        rows.append(
            (
                "refresh of 10,000 unchanged buckets against 10,000 PUTs (wall)",
                "%.2f s / %.2f s = %.2f×; %s requests, %d unchanged"
                % (refresh["refresh_wall"], refresh["put_wall"], refresh["ratio"], refresh["refresh_requests"], refresh["unchanged"]),
                "≤ 1.1×, one List per bucket",
                refresh["ratio"] <= 1.1 and refresh["refresh_requests"] == refresh["buckets"],
            )
        )
    deliveries = results.get("deliveries")
    if deliveries:
        rows.append(
            (
                "deliveries of 10,000 jobs against their refresh (wall)",
                "%.2f s / %.2f s = %.2f×; %.2f requests per job (%d HEAD), %d delivered"
                % (deliveries["wall"], deliveries["refresh_wall"], deliveries["ratio"],
                   deliveries["per_job"], deliveries["heads"], deliveries["delivered"]),
                "≤ 3 requests per job + a HEAD per data file, all delivered",
                deliveries["requests"] <= 3 * deliveries["jobs"] + deliveries["heads"]
                and deliveries["delivered"] == deliveries["jobs"],
            )
        )
    rate = results.get("rate")
    if rate:
        rows.append(
            (
                "--rate %d: achieved" % rate["target"],
                "%.1f/s (%+.1f%%)" % (rate["achieved"], 100 * rate["error"]),
                "within ±3%",
                abs(rate["error"]) <= 0.03,
            )
        )
        rows.append(
            (
                "--rate %d: busiest one-second window" % rate["target"],
                "%d" % rate["max_window"],
                "≤ %.0f (+5%%)" % rate["window_limit"],
                rate["max_window"] <= rate["window_limit"],
            )
        )
    tls = results.get("tls")
    if tls:
        rows.append(
            (
                "HTTPS, 20,000 bucket hosts: most descriptors open in the client",
                "%d" % tls["client_max_fds"],
                "bounded by the concurrency (64 + a few)",
                tls["client_max_fds"] <= tls["concurrency"] + 32,
            )
        )
    rows.extend(throttling_headline(results.get("throttling")))
    rows.extend(pacer_headline(results.get("pacer")))
    return rows


def throttling_headline(throttling):
    if not throttling:
        return []
    rows = []
    for ceiling in throttling["ceilings"]:
        limit = ceiling["limit"]
        rows.append((
            "ceiling %d/s, %d jobs: rejected share, failed" % (limit, ceiling["jobs"]),
            "%.1f%%, %d" % (100 * ceiling["rejected_share"], ceiling["failed"]),
            "≤ %d%%, 0" % (10 if limit < 100 else 5),
            ceiling["rejected_share"] <= (0.10 if limit < 100 else 0.05) and ceiling["failed"] == 0,
        ))
        if limit >= 100:
            rows.append((
                "ceiling %d/s: achieved ÷ ceiling" % limit,
                "%.0f%%" % (100 * ceiling["ratio"]),
                "≥ 90%",
                ceiling["ratio"] >= 0.9,
            ))
    noise = throttling["noise"]
    rows.append((
        "10% random SlowDown: throughput ÷ fault-free, failed",
        "%.0f%%, %d" % (100 * noise["throughput_ratio"], noise["failed"]),
        "≥ 50%, 0",
        noise["throughput_ratio"] >= 0.5 and noise["failed"] == 0,
    ))
    rows.append((
        "10% random SlowDown: retries per injected fault",
        "%.2f" % noise["retries_per_fault"],
        "≤ 1.2",
        noise["retries_per_fault"] <= 1.2,
    ))
    mix = throttling["mix"]
    rows.append(("30% SlowDown + 10% 500 + 5% resets: failed of 2,000", "%d" % mix["failed"], "0", mix["failed"] == 0))
    outage = throttling["outage"]
    rows.append((
        "10 s outage: requests during it, failed",
        "%d, %d" % (outage["during"], outage["failed"]),
        "≤ %d, 0" % outage["bound"],
        outage["during"] <= outage["bound"] and outage["failed"] == 0,
    ))
    give_up = throttling["give_up"]
    rows.append((
        "COS down for good, `--give-up-after 10`: exit, wall",
        "%s, %.1f s" % (give_up["status"], give_up["wall"]),
        "3, about 3 + 10 s",
        give_up["status"] == 3,
    ))
    return rows


def pacer_headline(pacer):
    if not pacer:
        return []
    rows = []
    for b in pacer["bursts"]:
        rows.append((
            "100/s ceiling holding %g s of burst: wall ÷ ideal, rejected" % b["burst"],
            "%.2f×, %.1f%%" % (b["wall_ratio"], 100 * b["rejected_share"]),
            "≤ 1.25×, ≤ 5%",
            b["wall_ratio"] <= 1.25 and b["rejected_share"] <= 0.05 and b["failed"] == 0,
        ))
    p = pacer["periodic"]
    rows.append((
        "SlowDown every 3rd + 500 every 5th, %d runs of 2,000 jobs: slowest ÷ median, failed" % p["runs"],
        "%.2f, %d" % (p["slowest_ratio"], p["failed"]),
        "≤ 2, 0",
        p["slowest_ratio"] <= 2 and p["failed"] == 0,
    ))
    s = pacer["shards"]
    rows.append((
        "4 × `--shard k/4` on one 100/s ceiling: wall ÷ ideal, rejected, failed",
        "%.2f×, %.1f%%, %d" % (s["wall_ratio"], 100 * s["rejected_share"], s["failed"]),
        "≤ 1.3×, ≤ 5%, 0",
        s["wall_ratio"] <= 1.3 and s["rejected_share"] <= 0.05 and s["failed"] == 0,
    ))
    m = pacer["missing"]
    rows.append((
        "90% missing buckets + 5% SlowDown: throughput ÷ the same without SlowDown",
        "%.0f%%" % (100 * m["throughput_ratio"]),
        "≥ 80%",
        m["throughput_ratio"] >= 0.8,
    ))
    return rows


def pacer_details(pacer, w):
    w("## (k) The pace under any fault shape (issue 20), default flags")
    w("")
    w("1,500 jobs on 150 buckets against `emulate --rate-limit 100 --rate-limit-burst B")
    w("--latency-ms 20`; ideal = (1,500 PUTs + 150 lists) ÷ 100/s = 16.5 s.")
    w("")
    w("| burst | wall | ÷ ideal | achieved ÷ ceiling | rejected | failed | pace at the end |")
    w("|---|---|---|---|---|---|---|")
    for b in pacer["bursts"]:
        pace = "%.0f/s" % b["pace"] if b["pace"] else "—"
        w("| %g s | %.1f s | %.2f× | %.0f%% | %.1f%% | %d | %s |" % (
            b["burst"], b["wall"], b["wall_ratio"], 100 * b["achieved_ratio"], 100 * b["rejected_share"], b["failed"], pace))
    w("")
    p = pacer["periodic"]
    w("`--slow-down-every 3 --internal-error-every 5`, 2,000 jobs on 200 buckets, %d runs:" % p["runs"])
    w("fastest %.2f s, median %.2f s, slowest %.2f s (%.2f× the median); %d failed." % (
        p["fastest"], p["median"], p["slowest"], p["slowest_ratio"], p["failed"]))
    w("")
    s = pacer["shards"]
    w("Four processes `--shard k/4` against one 100/s ceiling holding 0.2 s (20 ms latency),")
    w("1,500 jobs: %.1f s against an ideal of %.1f s (%.2f×), %.1f%% rejected, %d failed, exits %s." % (
        s["wall"], s["ideal"], s["wall_ratio"], 100 * s["rejected_share"], s["failed"], s["statuses"]))
    w("")
    m = pacer["missing"]
    w("%d buckets, %d of them present (the rest 404 NoSuchBucket), 10 jobs each, median of %d: %.2f s without" % (
        m["buckets"], m["present"], m.get("runs", 1), m["clean_wall"]))
    w("faults, %.2f s with 5%% random SlowDown (throughput %.0f%%)." % (m["noisy_wall"], 100 * m["throughput_ratio"]))
    w("")


def throttling_details(throttling, w):
    w("## (j) Throttling and faults (issue 12), default flags")
    w("")
    w("`emulate --rate-limit R --latency-ms 20` (a token bucket that starts full: one")
    w("second's burst), `apply` with its defaults (refresh, then the PUTs; concurrency 64).")
    w("Achieved is the emulator's 200s per second of the whole run (burst included).")
    w("")
    w("| ceiling | jobs | wall | sent | rejected | achieved | ÷ ceiling | pace's estimate | failed |")
    w("|---|---|---|---|---|---|---|---|---|")
    for c in throttling["ceilings"]:
        estimate = "%.0f/s" % c["estimated"] if c["estimated"] else "—"
        w("| %d/s | %d | %.1f s | %d | %d (%.1f%%) | %.0f/s | %.0f%% | %s | %d |" % (
            c["limit"], c["jobs"], c["wall"], c["sent"], c["rejected"], 100 * c["rejected_share"],
            c["achieved"], 100 * c["ratio"], estimate, c["failed"]))
    w("")
    n = throttling["noise"]
    w("10% of answers SlowDown at random (`--slow-down 0.1 --latency-ms 5`), 20,000 jobs:")
    w("%.2f s against %.2f s without faults (throughput %.0f%%, a slow-down factor of %.2f);" % (
        n["noisy_wall"], n["clean_wall"], 100 * n["throughput_ratio"], 1 / max(n["throughput_ratio"], 1e-9)))
    w("%d injected, %d retries (%.2f per fault), %s rate cuts, %d failed." % (
        n["faults"], n["retries"], n["retries_per_fault"], n["rate_cuts"], n["failed"]))
    w("")
    m = throttling["mix"]
    w("30%% SlowDown + 10%% InternalError + 5%% resets (`--seed 1`), 2,000 jobs: %d failed, %.1f s, %d requests." % (
        m["failed"], m["wall"], m["sent"]))
    w("")
    o = throttling["outage"]
    paused = o["paused"]
    pause = ("paused %.1f s – %s s, %d probes" % (paused["start_secs"], "%.1f" % paused["end_secs"] if paused["end_secs"] else "end", paused["probes"])
             if paused else "no pause recorded")
    w("Every answer 503 ServiceUnavailable from 5 s to 15 s (`--latency-ms 200`, 5,000 jobs):")
    w("%d requests during the outage (bound: the wave of 64 + 5/s = %d); %s; %d failed; %.1f s." % (
        o["during"], o["bound"], pause, o["failed"], o["wall"]))
    w("")
    g = throttling["give_up"]
    w("Connections refused from 3 s on, `--give-up-after 10`: exit %s after %.1f s; outcomes %s." % (
        g["status"], g["wall"], ", ".join("%s %d" % item for item in sorted(g["outcomes"].items()))))
    w("")


def details(results, w):
    wrk = results.get("wrk")
    if wrk:
        w("## (a) The emulator's raw ceiling: wrk, one pre-signed PUT")
        w("")
        w("`wrk -t1 -cN -d5s` repeating one signed `PUT /?inventory&id=job-0` (the")
        w("signature computed by the script from the documented algorithm).")
        w("")
        w("| connections | requests/s | sent | answered 200 | non-2xx | emulator CPU per request |")
        w("|---|---|---|---|---|---|")
        for row in wrk:
            w("| %d | %.0f | %d | %d | %d | %.1f µs |" % (
                row["connections"], row["rate"], row["sent"], row["put_200"], row["non_2xx"], row["emulator_us"]))
        w("")
    apply = results.get("apply")
    if apply:
        w("## (b) cosinv apply: 20,000 jobs on 2,000 buckets, `cosinv emulate` in its own process")
        w("")
        w("Best of the runs, each against a fresh emulator. `refresh` (the default) lists each")
        w("bucket first (all empty, so every job is created): 22,000 requests.")
        w("")
        w("| mode | concurrency | wall | jobs/s | applied | requests | client CPU/job | emulator CPU/request | client peak RSS |")
        w("|---|---|---|---|---|---|---|---|---|")
        for row in apply:
            w("| %s | %d | %.2f s | %.0f | %d | %s | %.1f µs | %.1f µs | %.0f MiB |" % (
                row["mode"], row["concurrency"], row["wall"], row["jobs_per_s"], row["applied"],
                row["requests"], row["client_us_per_job"], row["emulator_us_per_request"], row["rss"]))
        w("")
    sdk = results.get("sdk")
    if sdk:
        w("## (c) The official Python SDK, 32 threads, same emulator")
        w("")
        w("cos-python-sdk-v5 `put_bucket_inventory`, `CosConfig(IP='127.0.0.1', Port=…,")
        w("Scheme='http')`, a pool of 32 connections, %d jobs on %d buckets; cosinv" % (sdk["jobs"], sdk["jobs"] // 10))
        w("`apply --no-refresh --concurrency 32` on the same jobs. The SDK's time is from its")
        w("first request to its last answer (interpreter start excluded); cosinv's is the")
        w("whole process.")
        w("")
        w("| client | jobs/s | CPU per job |")
        w("|---|---|---|")
        w("| SDK, 32 threads | %.0f | %.0f µs |" % (sdk["sdk_jobs_per_s"], sdk["sdk_cpu_us_per_job"]))
        w("| cosinv, -c32 | %.0f | %.1f µs |" % (sdk["cosinv_jobs_per_s"], sdk["cosinv_cpu_us_per_job"]))
        w("")
    ceiling = results.get("ceiling")
    if ceiling:
        w("## (d) A rate ceiling: `emulate --rate-limit %d`, %d jobs" % (ceiling["limit"], ceiling["jobs"]))
        w("")
        w("Above the ceiling the emulator answers 503 SlowDown. The SDK (32 threads, its")
        w("default retry policy) against cosinv (`--concurrency 32`, its retries and")
        w("adaptive pacer).")
        w("")
        w("| client | applied | failed | 503s received | wall |")
        w("|---|---|---|---|---|")
        errors = ", ".join("%s %d" % item for item in sorted(ceiling["sdk_errors"].items())) or "none"
        w("| SDK | %d | %d (%s) | %d | %.1f s |" % (
            ceiling["sdk_ok"], ceiling["sdk_failed"], errors, ceiling["sdk_503"], ceiling["sdk_seconds"]))
        w("| cosinv | %d | %d | %d | %.1f s |" % (
            ceiling["cosinv_applied"], ceiling["cosinv_failed"], ceiling["cosinv_503"], ceiling["cosinv_seconds"]))
        w("")
    latency = results.get("latency")
    if latency:
        w("## (e) Injected latency")
        w("")
        w("`emulate --latency-ms %d`, `apply --no-refresh --concurrency %d`, %d jobs: %.2f s," % (
            latency["latency_ms"], latency["concurrency"], latency["jobs"], latency["wall"]))
        w("against an ideal of jobs × latency ÷ concurrency = %.2f s (%.2f×); %d applied." % (
            latency["ideal"], latency["ratio"], latency["applied"]))
        w("")
    million = results.get("million")
    if million:
        w("## (f) 1,000,000 jobs (100,000 buckets × 10 ids, one YAML and a buckets file)")
        w("")
        w("| command | wall | peak RSS | exit |")
        w("|---|---|---|---|")
        w("| `validate` | %.2f s | %.0f MiB | %s |" % (million["validate_s"], million["validate_mib"], million["validate_status"]))
        w("| `apply --dry-run` | %.2f s | %.0f MiB | %s |" % (million["dry_s"], million["dry_mib"], million["dry_status"]))
        w("| `apply --sandbox` (refresh, then %d PUTs, emulator in-process) | %.1f s | %.0f MiB | %s |" % (
            million["sandbox_applied"], million["sandbox_s"], million["sandbox_mib"], million["sandbox_status"]))
        w("")
    refresh = results.get("refresh")
    if refresh:
        w("## (g) Refresh with nothing to change: 10,000 buckets, one job each")
        w("")
        w("| run | wall | requests |")
        w("|---|---|---|")
        w("| `--no-refresh` (10,000 PUTs) | %.2f s | %s |" % (refresh["put_wall"], refresh["put_requests"]))
        w("| default, again (Lists only; %d unchanged) | %.2f s | %s |" % (
            refresh["unchanged"], refresh["refresh_wall"], refresh["refresh_requests"]))
        w("")
    deliveries = results.get("deliveries")
    if deliveries:
        w("## (g2) Deliveries: 10,000 jobs, one report each, beside their refresh")
        w("")
        w("`apply --no-refresh`, the emulator's delivery (`POST /-/cosinv/deliver`, %d reports)," % deliveries["reports"])
        w("then `cosinv deliveries --output json` and a refresh of the same jobs (apply, nothing to change).")
        w("")
        w("| run | wall | requests | per job |")
        w("|---|---|---|---|")
        w("| `deliveries` (%d delivered; %d HEAD) | %.2f s | %d | %.2f |" % (
            deliveries["delivered"], deliveries["heads"], deliveries["wall"], deliveries["requests"], deliveries["per_job"]))
        w("| refresh (apply, nothing to change) | %.2f s | %s | %.2f |" % (
            deliveries["refresh_wall"], deliveries["refresh_requests"],
            (deliveries["refresh_requests"] or 0) / deliveries["jobs"]))
        w("")
    rate = results.get("rate")
    if rate:
        w("## (h) `--rate %d` accuracy" % rate["target"])
        w("")
        w("%d jobs, `--no-refresh`. From the report's `finished_at` (milliseconds): achieved" % rate["jobs"])
        w("%.1f/s between the first and the last answer (%+.2f%%); the busiest one-second" % (
            rate["achieved"], 100 * rate["error"]))
        w("window (sliding, any start) holds %d answers against a limit of %.0f." % (
            rate["max_window"], rate["window_limit"]))
        w("")
    tls = results.get("tls")
    if tls:
        w("## (i) HTTPS with one host name per bucket")
        w("")
        w("`emulate --tls`; `apply --no-refresh --ca-bundle CA --resolve '*.myqcloud.com=127.0.0.1:PORT'`,")
        w("%d buckets with one job each: one TLS handshake (SNI = the bucket's COS name) per bucket." % tls["buckets"])
        w("")
        w("| figure | value |")
        w("|---|---|")
        w("| applied | %d in %.2f s |" % (tls["applied"], tls["wall"]))
        w("| TLS handshakes (emulator's count, by SNI) | %d |" % tls["handshakes"])
        w("| handshakes (and requests) per second | %.0f |" % tls["handshakes_per_s"])
        w("| most connections open at once (emulator's count) | %d |" % tls["emulator_max_connections"])
        w("| client CPU per bucket (handshake + request) | %.0f µs |" % tls["client_us_per_bucket"])
        w("| emulator CPU per bucket (handshake + request) | %.0f µs |" % tls["emulator_us_per_bucket"])
        w("| most descriptors open: client | %d |" % tls["client_max_fds"])
        w("| most descriptors open: emulator | %d |" % tls["emulator_max_fds"])
        w("| system resolver, one lookup from /etc/hosts | %.1f µs |" % tls["resolver"])
        w("")
    if results.get("throttling"):
        throttling_details(results["throttling"], w)
    if results.get("pacer"):
        pacer_details(results["pacer"], w)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="the cosinv release binary")
    parser.add_argument("--out", default=os.path.join(ROOT, "benches", "RESULTS.md"))
    parser.add_argument("--only", help="comma-separated sections: " + ",".join(SECTIONS))
    parser.add_argument("--repeat", type=int, default=3, help="runs per throughput figure (best kept)")
    parser.add_argument("--json", help="also write the raw figures here")
    args = parser.parse_args()
    sections = args.only.split(",") if args.only else SECTIONS
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error("unknown sections: %s" % ", ".join(sorted(unknown)))
    info = machine()
    work = tempfile.mkdtemp(prefix="cosinv-bench-")
    bench = Bench(args.bin, work, args.repeat)
    steps = {
        "wrk": bench.wrk,
        "apply": bench.apply_concurrency,
        "sdk": bench.sdk,
        "ceiling": bench.ceiling,
        "latency": bench.latency,
        "million": bench.million,
        "refresh": bench.refresh,
        "deliveries": bench.deliveries,
        "rate": bench.rate,
        "tls": bench.tls,
        "throttling": bench.throttling,
        "pacer": bench.pacer,
    }
    started = time.monotonic()
    failures = {}
    try:
        for name in sections:
            log("%s (%.0f s so far)" % (name, time.monotonic() - started))
            try:
                steps[name]()
            except Exception as err:  # one broken section must not lose the others
                failures[name] = "%s: %s" % (type(err).__name__, err)
                log("%s failed: %s" % (name, failures[name]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bench.results["failures"] = failures
    log("done in %.0f s" % (time.monotonic() - started))
    with open(args.out, "w") as out:
        out.write(render(bench.results, info, sections))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": info, "results": bench.results}, out, indent=2)
    log("wrote %s" % args.out)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

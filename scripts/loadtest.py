"""Load test: N concurrent shoppers POSTing real photos to the web search for a fixed time.

    .venv/bin/python scripts/loadtest.py --url http://127.0.0.1:8000/search/ --clients 20 --duration 120 \
        --photos demo/images --database data/snapshop.sqlite3

By default each client sends its next search as soon as the last one is answered (closed loop): then
the mean latency is simply clients / throughput (20 clients at 40/s wait 500 ms on average), whatever
the server does. --rate R instead offers R searches per second on a fixed schedule (open loop) and
measures each from the moment it was due, so a slow answer also counts the searches it held up:
that is the figure for "R searches/s with p99 <= X ms". Clients must be enough to keep the schedule.

Loopback only (127.0.0.1, ::1, localhost): it refuses any other host. Run the server with
SNAPSHOP_RATE_LIMIT_SEARCHES_PER_MINUTE=0, or the rate limit (rightly) answers 429.
Prints searches/s, p50/p99 latency, errors by kind, how many answers skipped the re-rank's SIFT check
or had its quick one because the server was busy (their notices), and checks that the history table
grew by exactly the number of answered searches (--database: the server's SQLite file). --server-pid
(gunicorn's master) also prints the CPU seconds the server's processes spent per answered search, the figure that still
means something on a machine shared with other work: 2 cores / that = the searches/s 2 idle cores
can serve.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import os
import random
import re
import socket
import sqlite3
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
BUSY_MARK = b"skipped the detailed picture check"  # search.backends.local.BUSY_NOTICE (English)
QUICK_MARK = b"had a shorter picture check"  # search.backends.local.QUICK_NOTICE


def loopback_only(url: str) -> None:
    host = urlparse(url).hostname or ""
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        sys.exit(f"cannot resolve {host!r}")
    if not addresses or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        sys.exit(f"refusing to load-test {host!r}: only loopback addresses (127.0.0.1, ::1) are allowed")


def process_tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its children (gunicorn's master and workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return total


def history_rows(database: Path | None) -> int | None:
    if database is None:
        return None
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as connection:
        return int(connection.execute("SELECT COUNT(*) FROM search_search").fetchone()[0])


class Schedule:
    """Open loop: search number i is due at start + i / rate, whichever client sends it."""

    def __init__(self, rate: float, start: float) -> None:
        self.rate, self.start, self.sent = rate, start, 0
        self._lock = threading.Lock()

    def next_due(self) -> float:
        with self._lock:
            due = self.start + self.sent / self.rate
            self.sent += 1
        return due


def multipart(token: str, photo: Path, boundary: str) -> bytes:
    """The search form's body: the CSRF token and the photo, encoded once per photo (not per search)."""
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="{photo.name}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    )
    return head.encode() + photo.read_bytes() + f"\r\n--{boundary}--\r\n".encode()


class Shopper(threading.Thread):
    """One browser: its own keep-alive connection and cookies. Plain http.client with bodies encoded
    in advance, because the clients share the server's cores: `requests` cost 2.4 ms of CPU a search."""

    def __init__(
        self,
        url: str,
        photos: list[Path],
        deadline: float,
        budget: threading.Semaphore,
        seed: int,
        schedule: Schedule | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.url, self.photos, self.deadline, self.budget = urlparse(url), photos, deadline, budget
        self.schedule = schedule
        self.random = random.Random(seed)
        self.latencies: list[float] = []
        self.by_rerank: dict[str, list[float]] = {"full": [], "quick": [], "light": []}  # answers with cards
        self.errors: Counter[str] = Counter()
        self.answered = 0
        self.empty = 0
        self.cookies: dict[str, str] = {}
        self.connection: http.client.HTTPConnection | None = None

    def fetch(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.url.hostname or "", self.url.port or 80, timeout=60)
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            self.connection.request(method, path, body, {**(headers or {}), "Cookie": cookie})
            response = self.connection.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = None
            raise
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, content

    def run(self) -> None:
        path = self.url.path or "/"
        _, home = self.fetch("GET", path.rsplit("/search/", 1)[0] + "/")
        match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', home)
        token = match.group(1).decode() if match else self.cookies.get("csrftoken", "")
        boundary = f"snapshop{self.random.getrandbits(64):x}"
        bodies = {photo: multipart(token, photo, boundary) for photo in self.photos}
        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "HX-Request": "true",
            "Referer": self.url.geturl(),
        }
        while time.monotonic() < self.deadline and self.budget.acquire(blocking=False):
            photo = self.random.choice(self.photos)
            started = time.monotonic()
            if self.schedule is not None:
                started = self.schedule.next_due()
                if started >= self.deadline:
                    break
                time.sleep(max(0.0, started - time.monotonic()))
            try:
                status, content = self.fetch("POST", path, bodies[photo], headers)
            except (OSError, http.client.HTTPException) as exc:
                self.errors[type(exc).__name__] += 1
                continue
            latency = (time.monotonic() - started) * 1000
            self.latencies.append(latency)
            if status == 200 and b'class="card"' in content:
                self.answered += 1
                rerank = "light" if BUSY_MARK in content else "quick" if QUICK_MARK in content else "full"
                self.by_rerank[rerank].append(latency)
            elif status == 200 and b'data-error-code="no_results"' in content:
                self.answered += 1  # an answer too (and recorded)
                self.empty += 1
            else:
                self.errors[f"HTTP {status}"] += 1


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000/search/")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds")
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=0.0, help="searches/s on a fixed schedule (0: closed loop)")
    parser.add_argument(
        "--photos", type=Path, default=Path("demo/images"), help="a folder of photos (searched recursively)"
    )
    parser.add_argument("--database", type=Path, default=None, help="the server's SQLite file, to count history rows")
    parser.add_argument("--server-pid", type=int, default=None, help="gunicorn's master pid, for CPU per search")
    args = parser.parse_args()

    loopback_only(args.url)
    photos = sorted(p for p in args.photos.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES)
    if not photos:
        sys.exit(f"no photos under {args.photos}")
    before = history_rows(args.database)
    cpu_before = process_tree_cpu(args.server_pid) if args.server_pid else 0.0
    budget = threading.Semaphore(args.max_requests)
    started = time.monotonic()
    schedule = Schedule(args.rate, started + 2.0) if args.rate > 0 else None  # 2 s for the clients' first page
    deadline = started + args.duration + (2.0 if schedule else 0.0)
    shoppers = [Shopper(args.url, photos, deadline, budget, seed, schedule) for seed in range(args.clients)]
    for shopper in shoppers:
        shopper.start()
    for shopper in shoppers:
        shopper.join()
    elapsed = time.monotonic() - started - (2.0 if schedule else 0.0)
    client_cpu = sum(os.times()[:2])
    cpu_used = process_tree_cpu(args.server_pid) - cpu_before if args.server_pid else 0.0
    time.sleep(0.5)
    after = history_rows(args.database)

    latencies = [ms for s in shoppers for ms in s.latencies]
    errors = sum((s.errors for s in shoppers), Counter())
    answered = sum(s.answered for s in shoppers)
    offered = f", offered {args.rate:g}/s on a schedule" if schedule else " (closed loop)"
    print(f"clients {args.clients}{offered}, {elapsed:.1f} s, {len(photos)} photos")
    print(
        f"requests {len(latencies) + sum(errors.values())}, answered {answered}, "
        f"errors {sum(errors.values())} {dict(errors)}"
    )
    if schedule is not None:
        due = round(args.rate * args.duration)
        sent = len(latencies) + sum(errors.values())
        print(f"searches due {due}, sent {sent}" + ("" if sent >= due else " (the server fell behind the schedule)"))
    print(f"searches/s {answered / elapsed:.2f}")
    empty = sum(s.empty for s in shoppers)
    tiers = {name: [ms for s in shoppers for ms in s.by_rerank[name]] for name in ("full", "quick", "light")}
    print(
        f"answered without the re-rank's SIFT check (server busy): {len(tiers['light'])} of {answered}; with its "
        f"quick check: {len(tiers['quick'])}; with no results: {empty}"
    )
    if args.server_pid and answered:
        per_search = cpu_used / answered
        print(f"server CPU {cpu_used:.1f} s, {per_search * 1000:.1f} ms per answered search "
              f"(2 idle cores: ~{2 / per_search:.0f} searches/s)")  # fmt: skip
    if answered:
        # The clients share the machine with the server: what they take is not the server's to use.
        print(f"load-test clients' own CPU {client_cpu:.1f} s, "
              f"{client_cpu / answered * 1000:.1f} ms per answered search")  # fmt: skip
    if latencies:
        print(f"latency ms: p50 {percentile(latencies, 0.5):.0f}, p90 {percentile(latencies, 0.9):.0f}, "
              f"p99 {percentile(latencies, 0.99):.0f}, max {max(latencies):.0f}, "
              f"mean {statistics.mean(latencies):.0f}")  # fmt: skip
    if answered:
        # Which answers make the tail: a full re-rank under load costs several light ones' CPU.
        print("latency ms by re-rank: " + "; ".join(
            f"{name} {len(values)}, p50 {percentile(values, 0.5):.0f}, p99 {percentile(values, 0.99):.0f}"
            for name, values in tiers.items() if values
        ))  # fmt: skip
    ok = not errors
    if before is not None and after is not None:
        added = after - before
        print(f"history rows: {before} -> {after} (+{added}); answered searches {answered}: "
              f"{'match' if added == answered else 'MISMATCH'}")  # fmt: skip
        ok = ok and added == answered
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

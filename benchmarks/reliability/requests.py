"""Malformed requests against a real model server: every one must get a clear answer.

A forest is served by ``tunelab.deploy.serve.serve`` in a child process (short read
timeouts, so slow clients are judged quickly), and raw requests go to it over
sockets: random bodies, valid requests with one part broken (types, shapes,
datatypes, binary sizes), huge numbers, deep JSON, truncated and trickled bodies,
partial heads and bad headers.

A try is *clean* when the server answers 2xx to a valid request, or 4xx (408 for
slow clients, 503 when busy) with a reason in the body, or closes a stalled
connection within its timeouts. It is *bad* on a 5xx other than 503, a 4xx
without a reason, no answer (a hang), or the server process dying (checked after
each backend's run). ``http_500`` counts each family's 500s on their own.
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.reliability._family import Tally

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 2.0
MAX_BODY = 1_000_000
# Longest a try may wait for the server: past this, it hangs.
PATIENCE = BODY_TIMEOUT + HEADER_TIMEOUT + 8.0
_SERVER = f"""
import sys
from tunelab.deploy import load_model
from tunelab.deploy.serve import serve
serve(
    {{"cancer": load_model(sys.argv[1], backend=sys.argv[3])}},
    port=int(sys.argv[2]),
    log_level="critical",
    header_timeout={HEADER_TIMEOUT!r},
    body_timeout={BODY_TIMEOUT!r},
    max_body_bytes={MAX_BODY!r},
    max_batch_rows=1000,
)
"""


@dataclass(frozen=True)
class Case:
    """One try: raw bytes to send (in pieces, with pauses), and what counts as clean."""

    family: str
    what: str
    pieces: tuple[bytes, ...]
    valid: bool = False  # a well-formed request: only 2xx is clean
    pause: float = 0.0  # seconds between pieces
    half_close: bool = False  # shut the sending side after the last piece


class Server:
    """The served model in a child process."""

    def __init__(self, artifact: Path, backend: str) -> None:
        self.artifact = artifact
        self.backend = backend
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.start()

    def start(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        command = [sys.executable, "-c", _SERVER, str(self.artifact), str(self.port), self.backend]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 120
        while _exchange(self.port, [_request("GET", "/v2/health/ready")], 0, False, 5)[0] != 200:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.backend} server did not start")
            time.sleep(0.2)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _request(
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    length: bool = True,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if length and body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _exchange(
    port: int,
    pieces: list[bytes] | tuple[bytes, ...],
    pause: float,
    half_close: bool,
    patience: float,
) -> tuple[int | None, bytes, bool]:
    """Send the pieces, read until the server closes: (status or None, body, closed)."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=patience)
    except OSError:
        return None, b"", False
    with sock:
        deadline = time.monotonic() + patience
        try:
            for index, piece in enumerate(pieces):
                if index and pause:
                    time.sleep(pause)
                sock.sendall(piece)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may close on a client it has given up on; read its answer
        received = b""
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except OSError:
                return _status(received), _body(received), True
            if not chunk:
                return _status(received), _body(received), True
            received += chunk
        return _status(received), _body(received), False


def _status(data: bytes) -> int | None:
    parts = data.split(b" ", 2)
    return (
        int(parts[1])
        if len(parts) > 1 and parts[0].startswith(b"HTTP/") and parts[1].isdigit()
        else None
    )


def _body(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""


# -- the cases ---------------------------------------------------------------------------------


def _valid_tensors(
    rng: random.Random, columns: list[str], rows: list[list[float]]
) -> dict[str, Any]:
    picked = rng.sample(rows, rng.randint(1, 4))
    return {
        "inputs": [
            {
                "name": name,
                "shape": [len(picked)],
                "datatype": "FP64",
                "data": [r[j] for r in picked],
            }
            for j, name in enumerate(columns)
        ]
    }


def _junk_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 2**63, -(2**64), 10**30, rng.randint(-1000, 1000)])
    if kind == 3:
        return rng.choice([0.0, -0.0, 1e308, -1e308, 5e-324, rng.uniform(-1e6, 1e6)])
    if kind == 4:
        return rng.choice(["", "FP64", "x" * rng.randint(1, 300), "\u00e9\u4e2d\U0001f600", "\x00"])
    if kind == 5:
        return rng.choice(["NaN", "inputs", "-1", "1e999"])
    if kind in (6, 7):
        return [_junk_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["inputs", "name", "shape", "datatype", "data", "parameters", "outputs", "records", "x"]
    return {rng.choice(keys): _junk_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


_MUTATIONS: list[tuple[str, Callable[[random.Random, dict[str, Any]], None]]] = [
    (
        "datatype",
        lambda r, q: r.choice(q["inputs"]).update(
            datatype=r.choice(
                ["BOOL", "FP16", "FP32", "INT64", "UINT8", "BYTES", "fp64", "FLOAT", "", 7]
            )
        ),
    ),
    (
        "shape",
        lambda r, q: r.choice(q["inputs"]).update(
            shape=r.choice(
                [[], [1, 1], [-1], [0], [2**63], [1, 2, 3], ["1"], None, [1.5], [10**20]]
            )
        ),
    ),
    (
        "data type",
        lambda r, q: r.choice(q["inputs"]).update(
            data=r.choice([["a"], [True], [None], [[1.0]], [{"x": 1}], "1.0", 1.0, [], [10**400]])
        ),
    ),
    (
        "name",
        lambda r, q: r.choice(q["inputs"]).update(
            name=r.choice(["", "zz", None, 5, "mean radius"])
        ),
    ),
    (
        "missing field",
        lambda r, q: r.choice(q["inputs"]).pop(r.choice(["name", "shape", "datatype", "data"])),
    ),
    ("drop input", lambda r, q: q["inputs"].pop(r.randrange(len(q["inputs"])))),
    (
        "outputs",
        lambda r, q: q.update(
            outputs=r.choice(
                [
                    [{"name": "nope"}],
                    [{}],
                    "predict",
                    [{"name": "predict", "parameters": {"binary_data": "yes"}}],
                ]
            )
        ),
    ),
    (
        "binary size",
        lambda r, q: r.choice(q["inputs"]).update(
            parameters={"binary_data_size": r.choice([-1, 8, 10**12, "8", True])}
        ),
    ),
    ("top level", lambda r, q: q.update(inputs=r.choice([[], {}, None, "x", [None]]))),
    (
        "parameters",
        lambda r, q: q.update(parameters=r.choice([[], "x", {"binary_data_output": 1}])),
    ),
]


def _cases(
    rng: random.Random, n: int, columns: list[str], rows: list[list[float]]
) -> Iterator[Case]:
    infer = "/v2/models/cancer/infer"
    json_header = {"Content-Type": "application/json"}
    for _ in range(n):
        body = _valid_tensors(rng, columns, rows)
        yield Case(
            "valid",
            "valid tensors",
            (_request("POST", infer, json.dumps(body).encode(), json_header),),
            valid=True,
        )
        record = dict(zip(columns, rng.choice(rows), strict=True))
        yield Case(
            "valid",
            "valid record",
            (_request("POST", "/predict", json.dumps({"records": [record]}).encode()),),
            valid=True,
        )
        name, mutate = rng.choice(_MUTATIONS)
        broken = _valid_tensors(rng, columns, rows)
        with contextlib.suppress(IndexError, KeyError):  # nothing left to break
            mutate(rng, broken)
        yield Case("tensors", name, (_request("POST", infer, json.dumps(broken).encode()),))
        record = dict(zip(columns, rng.choice(rows), strict=True))
        record[rng.choice(columns)] = _junk_value(rng)
        if rng.random() < 0.3:
            record.pop(rng.choice(columns))
        yield Case(
            "tensors",
            "/predict record",
            (_request("POST", "/predict", json.dumps({"records": [record]}).encode()),),
        )
        junk = json.dumps(_junk_value(rng)).encode()
        path = rng.choice([infer, "/predict", "/v2/models/cancer/versions/1/infer"])
        yield Case("bodies", "random JSON", (_request("POST", path, junk),))
        noise = bytes(rng.randrange(256) for _ in range(rng.randint(1, 2000)))
        yield Case("bodies", "random bytes", (_request("POST", path, noise),))
        text = json.dumps(_valid_tensors(rng, columns, rows))
        cut = text[: rng.randrange(1, len(text))]
        yield Case("bodies", "cut JSON", (_request("POST", infer, cut.encode()),))
        number = rng.choice(
            ["1e999", "-1e999", "9" * 5000, "-" + "9" * 400, "1e-999", "NaN", "Infinity", "0x10"]
        )
        huge = text.replace(str(rows[0][0]), number, 1) if str(rows[0][0]) in text else text
        yield Case("bodies", "huge number", (_request("POST", infer, huge.encode()),))
        depth = rng.choice([100, 1000, 10_000, 100_000])
        deep = "[" * depth + "]" * depth
        wrapped = rng.choice([deep, '{"inputs":' + deep + "}", '{"records":' + deep + "}"])
        yield Case(
            "bodies",
            f"JSON {depth} deep",
            (_request("POST", rng.choice([infer, "/predict"]), wrapped.encode()),),
        )
    for index in range(max(1, n // 4)):
        body = json.dumps(_valid_tensors(rng, columns, rows)).encode()
        head = _request("POST", infer, b"", {"Content-Length": str(len(body))}, length=False)
        yield Case(
            "slow",
            "truncated body, then half-close",
            (head + body[: len(body) // 2],),
            half_close=True,
        )
        yield Case("slow", "stalled body", (head + body[:10],))
        yield Case("slow", "partial head", (head[: rng.randrange(1, len(head) - 4)],))
        yield Case("slow", "trickled head", tuple(bytes([b]) for b in head[:12]), pause=0.15)
        yield Case(
            "slow", "trickled body", (head, *[body[i : i + 1] for i in range(15)]), pause=0.2
        )
        chunked = _request("POST", "/predict", b"", {"Transfer-Encoding": "chunked"}, length=False)
        yield Case("slow", "stalled chunked body", (chunked + b'10\r\n{"records": [',))
        del index
    bad_headers = [
        _request("POST", infer, b"{}", {"Content-Length": "abc"}, length=False),
        _request("POST", infer, b"{}", {"Content-Length": "-5"}, length=False),
        _request(
            "POST", infer, b"{}", {"Content-Length": "2", "content-length": "3"}, length=False
        ),
        _request("POST", infer, b"{}", {"Content-Length": str(10**30)}, length=False),
        _request("POST", infer, b"{}", {"Inference-Header-Content-Length": "-1"}),
        _request("POST", infer, b"{}", {"Inference-Header-Content-Length": "99"}),
        _request("POST", infer, b"{}", {"Inference-Header-Content-Length": "\u00e9"}),
        _request("POST", infer, b"{}", {"Transfer-Encoding": "gzip"}),
        _request("POST", infer, b"{}", {"Authorization": "Bearer " + "x" * 5000}),
        _request("POST", infer, b"{}", {"X-Junk": "x" * 70_000}),
        _request("GET", "/" + "a" * 20_000),
        _request("GET", "/v2/models/%ff%fe"),
        _request("GET", "/v2/models/\u00e9t\u00e9"),
        _request("BREW", "/v2"),
        _request("DELETE", infer),
        _request("POST", "/predict?model=" + "%" * 50, b"{}"),
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}" * 3,
        _request("POST", infer, json.dumps({"inputs": []}).encode(), {"Content-Type": "text/csv"}),
    ]
    for _ in range(max(1, n // 10)):
        for raw in bad_headers:
            yield Case("headers", raw[:40].decode("latin-1", "replace"), (raw,))


def _try(port: int, case: Case) -> tuple[int | None, bytes, bool]:
    return _exchange(port, case.pieces, case.pause, case.half_close, PATIENCE)


def _judge(case: Case, status: int | None, body: bytes, closed: bool) -> tuple[bool, str]:
    if status is None:
        if case.family == "slow" and closed:
            return True, ""  # closed without a word: acceptable only for a stalled client
        return (
            False,
            f"{case.family}/{case.what}: {'closed' if closed else 'hung'} without an answer",
        )
    if case.valid:
        return 200 <= status < 300, f"{case.what}: {status} {body[:200]!r}"
    if status >= 500 and status != 503:
        return False, f"{case.family}/{case.what}: {status} {body[:200]!r}"
    if 200 <= status < 300:
        # A mutation may leave the request valid (a name set to its own value).
        return case.family in ("tensors", "bodies"), f"{case.family}/{case.what}: {status}"
    if not body.strip():
        return False, f"{case.family}/{case.what}: {status} without a reason"
    return True, ""


def run(*, scale: float, seed: int) -> list[Tally]:
    """Fire the cases at a scikit-learn-backed and an ONNX-backed server; one tally per family."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    from tunelab.deploy import save_model

    rng = random.Random(seed)
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = RandomForestClassifier(n_estimators=10, random_state=seed).fit(X, y)
    columns = [str(c) for c in X.columns]
    rows = X.to_numpy().tolist()
    tallies: dict[str, Tally] = {}
    with tempfile.TemporaryDirectory(prefix="tunelab-requests-") as tmp:
        artifact = save_model(model, Path(tmp) / "forest", data=(X, y), onnx=True)
        for backend in ("sklearn", "onnx"):
            server = Server(artifact, backend)
            try:
                cases = list(_cases(rng, max(1, round(20 * scale)), columns, rows))
                with ThreadPoolExecutor(8) as pool:
                    outcomes = pool.map(functools.partial(_try, server.port), cases)
                    for case, (status, body, closed) in zip(cases, outcomes, strict=True):
                        tally = tallies.setdefault(case.family, Tally(f"requests: {case.family}"))
                        ok, what = _judge(case, status, body, closed)
                        tally.extra["http_500"] = int(tally.extra.get("http_500", 0)) + (
                            status == 500
                        )
                        tally.record(ok, f"[{backend}] {what}")
                alive = server.alive()
                tallies.setdefault("crash", Tally("requests: server alive after")).record(
                    alive, f"the {backend} server died"
                )
            finally:
                server.stop()
    return list(tallies.values())

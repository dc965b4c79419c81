"""Schemathesis hooks for tests/tests/contract.rs: how it fuzzes a real contid through
proto-docs/openapi.json (see tests/README.md).

Loaded with SCHEMATHESIS_HOOKS=hooks, this folder on PYTHONPATH.
"""

import io
import tarfile

import schemathesis
from hypothesis import strategies as st

# Containers the test creates: `done` has run and exited, `c0`..`c16` are created (17 ids share
# some first hex digit, so one-digit prefixes are ambiguous).
REFS = ["done", "c1", "c16", "0", "1", "a", "f"]


@st.composite
def archives(draw):
    """Image bodies: random bytes, small tars of odd members, and tars cut anywhere."""
    kind = draw(st.sampled_from(["bytes", "tar", "cut"]))
    if kind == "bytes":
        return draw(st.binary(max_size=2048))
    buf = io.BytesIO()
    names = st.sampled_from(["bin/sh", "etc/passwd", "a", "a/b", "../x", "/abs", "dev/null"])
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in draw(st.lists(names, max_size=4)):
            data = draw(st.binary(max_size=64))
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    data = buf.getvalue()
    if kind == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    return data


schemathesis.openapi.media_type("application/x-tar", archives())


@schemathesis.hook
def flatmap_path_parameters(ctx, params):
    """Half of the container references name containers that exist."""
    if params and "ref" in params:
        return st.sampled_from([params["ref"]] + REFS).map(lambda ref: {**params, "ref": ref})
    return st.just(params)


@schemathesis.hook
def before_call(ctx, case, kwargs):
    # An event stream ends only at `until`: end it now, after the replay.
    if case.operation.path == "/v1/events":
        case.query = {**(case.query or {}), "until": "0s"}
    # A container the fuzzer creates never gets a bridge and routes on the host (they could
    # clash with other tests' networks): network `none`, no published port.
    if case.operation.path == "/v1/containers" and case.method == "POST":
        if isinstance(case.body, dict):
            case.body = {**case.body, "network": "none", "ports": []}


@schemathesis.check
def error_code_is_documented(ctx, response, case):
    """An error's `code` is among those its status's description lists (`code`, ...)."""
    if response.status_code < 400:
        return None
    try:
        code = response.json().get("code")
    except Exception:
        return None
    answer = case.operation.definition.raw.get("responses", {}).get(str(response.status_code))
    if not code or answer is None:
        return None  # status_code_conformance judges the status
    description = answer.get("description", "")
    if f"`{code}`" not in description:
        raise AssertionError(
            f"{response.status_code} `{code}` is not among the documented codes: {description}"
        )
    return None

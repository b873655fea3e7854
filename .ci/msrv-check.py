"""Fails when Cargo.toml's rust-version is below the highest rust-version
of any locked dependency: the declared minimum must be one that builds."""
import json
import subprocess
import sys


def version(text):
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


meta = json.loads(
    subprocess.check_output(["cargo", "metadata", "--format-version", "1", "--locked"])
)
ours = next(p for p in meta["packages"] if p["name"] == "omni-launch")
needed = max(
    (version(p["rust_version"]), p["name"], p["version"])
    for p in meta["packages"]
    if p.get("rust_version") and p["name"] != "omni-launch"
)
declared = version(ours["rust_version"])
if declared < needed[0]:
    sys.exit(
        f"rust-version {ours['rust_version']} is below what {needed[1]} {needed[2]} needs "
        f"({'.'.join(map(str, needed[0]))}): raise it in Cargo.toml and the README"
    )
print(f"rust-version {ours['rust_version']} covers every dependency (highest: {needed[1]} {needed[2]})")

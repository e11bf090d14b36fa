#!/usr/bin/python3
"""docs/configuration.md's key tables agree with the configuration's description, and the check
notices when they do not (a changed default, a missing row, a row for a key that does not exist)."""
import pathlib
import subprocess
import sys
import tempfile

binary, source = sys.argv[1], pathlib.Path(sys.argv[2])
script = source / "scripts" / "config-docs.py"
docs = (source / "docs" / "configuration.md").read_text()


def check(text):
    with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False) as f:
        f.write(text)
    run = subprocess.run([sys.executable, str(script), "--check", binary, f.name], capture_output=True, text=True)
    pathlib.Path(f.name).unlink()
    return run.returncode, run.stdout


failures = []
code, out = check(docs)
if code != 0:
    failures.append("docs/configuration.md differs from the description:\n" + out)
row = "| `workers` | integer 0–1024 | `0` |"
mutations = {
    "a changed default": (row, "| `workers` | integer 0–1024 | `4` |", "server.workers: default"),
    "a missing row": (row, "| `workerz` | integer 0–1024 | `0` |", "server.workers has no row"),
    "a changed type": (row, "| `workers` | integer | `0` |", "server.workers: type"),
}
for name, (old, new, expected) in mutations.items():
    if old not in docs:
        failures.append("the docs have no row %r to mutate" % old)
        continue
    code, out = check(docs.replace(old, new, 1))
    if code == 0 or expected not in out:
        failures.append("the check missed %s (wanted %r):\n%s" % (name, expected, out))
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)

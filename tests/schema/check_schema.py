#!/usr/bin/python3
"""`portcullis schema` against a JSON Schema validator (Debian's python3-jsonschema).

The schema must be a valid draft 2020-12 schema; every config file in the tree must satisfy it;
configs the loader refuses for their shape (an unknown key, a malformed duration or size, an
unknown enum value) must fail it too, and the loader must refuse them as well, so the schema and
the loader cannot drift apart in either direction.
"""
import json
import pathlib
import subprocess
import sys
import tempfile

import jsonschema
import yaml

binary, source = sys.argv[1], pathlib.Path(sys.argv[2])
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


schema = json.loads(subprocess.run([binary, "schema"], check=True, capture_output=True, text=True).stdout)
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
check(schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", "not a draft 2020-12 schema")
check(schema["additionalProperties"] is False, "unknown top-level keys are not refused")
workers = schema["properties"]["server"]["properties"]["workers"]
check(workers.get("default") == 0 and workers.get("maximum") == 1024 and workers.get("description"),
      "server.workers lacks its default, bounds or description: %r" % workers)
lb = schema["properties"]["services"]["additionalProperties"]["properties"]["lb"]
check("round_robin" in lb.get("enum", []), "services.NAME.lb does not list its values: %r" % lb)

# Every config file in the tree is valid.
configs = sorted(source.glob("config/*.yaml")) + sorted(source.glob("examples/**/*.yaml"))
check(len(configs) >= 3, "expected config/gateway.yaml and the examples, found %r" % configs)
for path in configs:
    document = yaml.safe_load(path.read_text())
    errors = [e.message for e in validator.iter_errors(document)]
    check(not errors, "%s does not satisfy the schema: %s" % (path, errors))

# Documents the loader refuses for their shape are refused by the schema too.
base = {"services": {"s": {"instances": ["127.0.0.1:9"]}},
        "routes": [{"id": "r", "path": "/**", "service": "s"}]}
bad = {
    "an unknown key": ({"server": {"workerz": 2}}, "did you mean workers?"),
    "a malformed duration": ({"server": {"timeouts": {"idle": "5 parsecs"}}}, "invalid duration"),
    "a malformed size": ({"server": {"limits": {"max_request_body_bytes": "ten megs"}}}, "invalid size"),
    "an unknown lb": ({"services": {"s": {"instances": ["127.0.0.1:9"], "lb": "round_robbin"}}},
                      "did you mean round_robin?"),
    "an integer out of bounds": ({"server": {"workers": 5000}}, "must be between 0 and 1024"),
}
good = {
    "durations and sizes with units": {"server": {"timeouts": {"idle": "250ms", "request_header": 5},
                                                  "limits": {"max_request_body_bytes": "64KiB"}}},
}
with tempfile.TemporaryDirectory() as scratch:
    for name, (extra, loader_message) in bad.items():
        document = dict(base, **extra)
        check(list(validator.iter_errors(document)), "the schema accepts %s: %r" % (name, extra))
        path = pathlib.Path(scratch) / "bad.yaml"
        path.write_text(yaml.safe_dump(document))
        run = subprocess.run([binary, "validate", "-c", str(path)], capture_output=True, text=True)
        check(run.returncode == 1 and loader_message in run.stderr,
              "the loader's answer to %s lacks %r: %s" % (name, loader_message, run.stderr))
    for name, extra in good.items():
        document = dict(base, **extra)
        errors = [e.message for e in validator.iter_errors(document)]
        check(not errors, "the schema refuses %s: %s" % (name, errors))
        path = pathlib.Path(scratch) / "good.yaml"
        path.write_text(yaml.safe_dump(document))
        run = subprocess.run([binary, "validate", "-c", str(path)], capture_output=True, text=True)
        check(run.returncode == 0, "the loader refuses %s: %s" % (name, run.stderr))

for failure in failures:
    print("FAIL:", failure)
print("schema checked against %d config files and %d refused documents" % (len(configs), len(bad)))
sys.exit(1 if failures else 0)

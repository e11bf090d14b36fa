#!/usr/bin/python3
"""The key tables of docs/configuration.md against the configuration's description.

Each table follows a marker line `<!-- keys: SECTION -->` (SECTION as `portcullis schema --keys`
names it). Its Key, Type and Default columns come from the description; the Meaning column is
written by hand.

  config-docs.py --check PORTCULLIS DOCS   exit 1 and list every difference
  config-docs.py --write PORTCULLIS DOCS   rewrite Key, Type and Default; add missing rows
"""
import json
import re
import subprocess
import sys

MARKER = re.compile(r"^<!-- keys: (\S+) -->$")


def split_cells(row):
    """The cells of a table row: `|` inside a code span or escaped as `\\|` does not split."""
    cells, cell, i, fence = [], "", 0, 0
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    while i < len(row):
        c = row[i]
        if c == "`":
            run = len(row[i:]) - len(row[i:].lstrip("`"))
            if fence == 0:
                fence = run
            elif run == fence:
                fence = 0
            cell += "`" * run
            i += run
            continue
        if c == "\\" and i + 1 < len(row):
            cell += row[i:i + 2]
            i += 2
            continue
        if c == "|" and fence == 0:
            cells.append(cell.strip())
            cell = ""
        else:
            cell += c
        i += 1
    if cell.strip():
        cells.append(cell.strip())
    return cells


def tables(lines):
    """{section: (first row index, end index)} for every marked table."""
    found = {}
    for n, line in enumerate(lines):
        m = MARKER.match(line.strip())
        if not m:
            continue
        start = n + 1
        while start < len(lines) and not lines[start].startswith("|"):
            start += 1
        end = start
        while end < len(lines) and lines[end].startswith("|"):
            end += 1
        found[m.group(1)] = (start + 2, end)  # past the header and the |---| line
    return found


def main():
    mode, binary, docs_path = sys.argv[1:4]
    keys = json.loads(subprocess.run([binary, "schema", "--keys"], check=True, capture_output=True, text=True).stdout)
    sections = {}
    for k in keys:
        sections.setdefault(k["section"], []).append(k)
    lines = open(docs_path, encoding="utf-8").read().split("\n")
    found = tables(lines)
    problems = []
    for section in sections:
        if section not in found:
            problems.append("%s: no key table (a line `<!-- keys: %s -->` before it)" % (section, section))
    for section in found:
        if section not in sections:
            problems.append("%s: a key table for a section the configuration does not have" % section)
    replacements = {}
    for section, (first, end) in found.items():
        described = {k["key"]: k for k in sections.get(section, [])}
        rows, seen = [], set()
        for n in range(first, end):
            cells = split_cells(lines[n])
            key = cells[0].strip("`") if cells else ""
            if key not in described:
                problems.append("%s:%d: %s.%s is not in the configuration" % (docs_path, n + 1, section, key))
                rows.append(lines[n])
                continue
            seen.add(key)
            k = described[key]
            meaning = " | ".join(cells[3:])
            if cells[1] != k["type"]:
                problems.append("%s:%d: %s.%s: type is %r, the description says %r" % (docs_path, n + 1, section, key, cells[1], k["type"]))
            if k["default"] and cells[2] != k["default"]:
                problems.append("%s:%d: %s.%s: default is %r, the description says %r" % (docs_path, n + 1, section, key, cells[2], k["default"]))
            default = k["default"] or cells[2]
            rows.append("| `%s` | %s | %s | %s |" % (key, k["type"], default, meaning))
        for key, k in described.items():
            if key not in seen:
                problems.append("%s: %s.%s has no row in its table" % (docs_path, section, key))
                rows.append("| `%s` | %s | %s | %s |" % (key, k["type"], k["default"] or "none", k["doc"]))
        replacements[section] = (first, end, rows)
    if mode == "--write":
        for first, end, rows in sorted(replacements.values(), reverse=True):
            lines[first:end] = rows
        open(docs_path, "w", encoding="utf-8").write("\n".join(lines))
        for p in problems:
            print("fixed or left:", p)
        return 0
    for p in problems:
        print(p)
    if problems:
        print("docs/configuration.md and the configuration's description differ; run scripts/config-docs.py --write")
    return 1 if problems else 0


sys.exit(main())

#!/usr/bin/env python3
"""Refuses `co_await` inside the condition of an `if` or `while`.

GCC 12 (Debian 12's compiler) lays out the frame of a coroutine that has no local variable and a
co_await in an if/while condition differently in the function that creates it and in the one that
resumes it: the first resumption jumps through a garbage index (SIGILL). Binding the result first
(`const bool ok = co_await x; if (!ok) ...`) avoids it, so the tree keeps to that form everywhere.

  check-coroutine-conditions.py DIR...   (exit 1 and one line per offence)
"""
import pathlib
import re
import sys

KEYWORD = re.compile(r"\b(if|while)\s*\(")


def conditions(text):
    for m in KEYWORD.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        yield m.start(), text[m.end():i - 1]


def main(dirs):
    bad = 0
    for d in dirs:
        for path in sorted(pathlib.Path(d).rglob("*")):
            if path.suffix not in (".cpp", ".h"):
                continue
            text = path.read_text(errors="replace")
            for start, cond in conditions(text):
                if "co_await" in cond:
                    line = text.count("\n", 0, start) + 1
                    print(f"{path}:{line}: co_await in an if/while condition (bind it to a variable first)")
                    bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["src", "filters", "examples", "tests"]))

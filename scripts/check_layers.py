#!/usr/bin/env python3
"""Checks that the folders of Sources/IAMDBProxy depend on each other one way only.

Why: a feature that lands in the session layer must not be able to reach back into the server
(or one engine into another) without the change being visible. The compiler would enforce this
with one SwiftPM target per folder, at the price of `public` on every internal type; this check
gets the same answer from the type names: each folder may name types declared only in itself and
in the folders listed under it in LAYERS (Sources/IAMDBProxy/LAYERS). Exit 1 lists each
forbidden reference with its file and line.

Usage: scripts/check_layers.py [--graph] [--root DIR]   (--graph prints the folder arrows found)
       scripts/check_layers.py --self-test   (proves the check fails on a back arrow)
"""
import pathlib
import re
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent / "Sources" / "IAMDBProxy"
if "--root" in sys.argv:
    ROOT = pathlib.Path(sys.argv[sys.argv.index("--root") + 1])
# A declaration at the start of a line is top level; an indented one is nested (its name counts
# only when no other folder declares the same one, so `State` or `InboundIn` name nothing).
DECLARATION = re.compile(r"^(\s*)(?:@\w+\s+)*(?:(?:public|internal|fileprivate|private|final|indirect)\s+)*"
                         r"(class|struct|enum|protocol|actor|typealias)\s+([A-Z][A-Za-z0-9_]*)", re.MULTILINE)
IDENTIFIER = re.compile(r"\b[A-Z][A-Za-z0-9_]*\b")


def strip_comments_and_strings(text):
    """Blanks comments and string literals, keeping line numbers, so prose names no type."""
    text = re.sub(r'"""[\s\S]*?"""', lambda m: "\n" * m.group(0).count("\n"), text)
    text = re.sub(r"/\*[\s\S]*?\*/", lambda m: "\n" * m.group(0).count("\n"), text)
    text = re.sub(r"//[^\n]*", "", text)
    # Interpolations inside strings name types too; keep them, drop the literal text.
    text = re.sub(r'"(?:[^"\\\n]|\\.)*"', lambda m: " ".join(re.findall(r"\\\((.*?)\)", m.group(0))), text)
    return text


def read_layers():
    """LAYERS: one line per folder, `Folder: Allowed Allowed ...`; `#` starts a comment."""
    allowed = {}
    for number, line in enumerate((ROOT / "LAYERS").read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        folder, _, below = line.partition(":")
        allowed[folder.strip()] = set(below.split())
    return allowed


def self_test():
    """A lower folder naming a higher one's type must fail; the other way round must pass."""
    global ROOT
    with tempfile.TemporaryDirectory() as directory:
        ROOT = pathlib.Path(directory)
        (ROOT / "High").mkdir()
        (ROOT / "Low").mkdir()
        (ROOT / "LAYERS").write_text("High: Low\nLow:\n")
        (ROOT / "High" / "Top.swift").write_text("final class Top {\n    let low = Bottom() // names Top in a comment\n}\n")
        (ROOT / "Low" / "Bottom.swift").write_text('struct Bottom {\n    let text = "Top in a string"\n}\n')
        if main() != 0:
            print("check_layers self-test: a clean tree failed", file=sys.stderr)
            return 1
        (ROOT / "Low" / "Back.swift").write_text("extension Bottom {\n    func up() -> Top? { nil }\n}\n")
        if main() != 1:
            print("check_layers self-test: a back arrow passed", file=sys.stderr)
            return 1
    print("check_layers self-test: ok (the back arrow above was planted)", file=sys.stderr)
    return 0


def main():
    allowed = read_layers()
    files = sorted(ROOT.rglob("*.swift"))
    owner = {}
    nested = {}
    sources = {}
    problems = []
    for path in files:
        folder = path.relative_to(ROOT).parts[0] if len(path.relative_to(ROOT).parts) > 1 else "."
        if folder not in allowed:
            problems.append(f"{path.relative_to(ROOT)}: folder {folder} is not in LAYERS")
        text = strip_comments_and_strings(path.read_text())
        sources[path] = (folder, text)
        for indent, kind, name in DECLARATION.findall(text):
            if indent:
                nested.setdefault(name, set()).add(folder if kind != "typealias" else "")
                continue
            if name in owner and owner[name] != folder:
                problems.append(f"{path.relative_to(ROOT)}: {name} is declared in {owner[name]} and {folder}")
            owner[name] = folder
    for name, folders in nested.items():
        if name not in owner and len(folders) == 1 and "" not in folders:
            owner[name] = folders.pop()
    arrows = {}
    for path, (folder, text) in sources.items():
        for number, line in enumerate(text.splitlines(), 1):
            for name in IDENTIFIER.findall(line):
                target = owner.get(name)
                if target is None or target == folder:
                    continue
                arrows.setdefault((folder, target), set()).add(name)
                if target not in allowed.get(folder, set()):
                    problems.append(f"{path.relative_to(ROOT)}:{number}: {folder} names {name} from {target}")
    if "--graph" in sys.argv:
        for (source, target), names in sorted(arrows.items()):
            print(f"{source} -> {target}: {' '.join(sorted(names))}")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"check_layers: {len(problems)} reference(s) against Sources/IAMDBProxy/LAYERS", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(self_test() if "--self-test" in sys.argv else main())

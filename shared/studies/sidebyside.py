"""The implementations aligned function by function, read from the files themselves.

Each library's lesson has the same public functions in the same order, and so has each runtime
(tests/test_layout.py); this module cuts each file into those functions with `ast`, attaches
every private helper (and helper class) to the row of the public function that uses it, and says
why a library has no function of its own where it has none. The page
(shared/studies/sidebyside_html.py) and the terminal view (shared/commands/code.py) both show
exactly these pieces of source: the lessons first, in the order of a training run, and the
runtimes, what only the harness needs, after them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from shared.contract.interface import LESSON, PARALLEL_CONTRACT, RUNTIME
from shared.harness import registry

ROOT = Path(__file__).resolve().parents[2]
SURPRISES = "Surprises"  # the first row: each module's docstring
# The rows come from the contract; the columns from the registry (each library's folder).
ROWS = (SURPRISES, "ACTIVATIONS", *(f.name for f in LESSON))  # the lessons
RUNTIME_ROWS = (SURPRISES, *(f.name for f in RUNTIME))  # what only the harness needs
PARALLEL_ROWS = (SURPRISES, *(f.name for f in PARALLEL_CONTRACT))  # beyond one device: one row per engine step
PARTS = {"lesson": ROWS, "runtime": RUNTIME_ROWS, "parallel": PARALLEL_ROWS}


def contract_markdown(functions=LESSON) -> str:
    """A list of the contract as the docs show it (a test keeps the two equal)."""
    lines = ["| function | parameters | returns | meaning |", "|---|---|---|---|"]
    lines += [f"| `{f.name}` | `({', '.join(f.parameters)})` | {f.returns.replace('|', chr(92) + '|')} | {f.meaning} |"
              for f in functions]
    return "\n".join(lines)


def library_titles() -> dict[str, str]:
    """Every library with an implementation file → its title, in table order."""
    return {name: registry.LIBRARIES[name].title for name in registry.listed()}


def engine_titles() -> dict[str, str]:
    """Every data-parallel engine → the title of the library it runs on (its TARGET's)."""
    return {name: registry.LIBRARIES[registry.split(registry.ENGINES[name].target)[0]].title for name in registry.listed_engines()}


@dataclass(frozen=True)
class Piece:
    """One top-level definition (or the docstring) of a file, exactly as written there."""

    name: str
    path: str  # relative to the repository root
    first: int  # 1-based line numbers, inclusive
    last: int
    source: str


@dataclass(frozen=True)
class Cell:
    library: str
    row: str
    pieces: tuple[Piece, ...]  # the function first, then its helpers in file order
    absent: str | None = None  # why there is nothing, when there is nothing


def part_path(library: str, part: str) -> Path:
    """The file of one part of a library: its lesson.py, runtime.py or (an engine's) parallel.py."""
    if part == "parallel":
        return registry.ENGINES[library].path
    return registry.LIBRARIES[library].path / f"{part}.py"


def _span(node: ast.AST) -> tuple[int, int]:
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return first, node.end_lineno


def pieces_of(path: Path) -> dict[str, Piece]:
    """The docstring, ACTIVATIONS and every top-level function and class of a file, by name."""
    text = path.read_text()
    lines = text.splitlines()
    tree = ast.parse(text)
    relative = str(path.relative_to(ROOT))
    found: dict[str, Piece] = {}

    def add(name: str, node: ast.AST) -> None:
        first, last = _span(node)
        found[name] = Piece(name, relative, first, last, "\n".join(lines[first - 1:last]))

    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str) \
                and SURPRISES not in found:
            add(SURPRISES, node)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            add(node.name, node)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "ACTIVATIONS" for t in node.targets):
            add("ACTIVATIONS", node)
    return found


def _names_used(source: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)} | \
           {n.attr for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Attribute)}


def helper_rows(pieces: dict[str, Piece], rows: tuple[str, ...] = ROWS) -> dict[str, str]:
    """Each helper (a top-level function or class outside ROWS) → the row of the first public
    piece, in file order, that uses it directly or through other helpers."""
    helpers = [name for name in pieces if name not in rows]
    uses = {name: _names_used(piece.source) & set(helpers) - {name} for name, piece in pieces.items()}
    owner: dict[str, str] = {}
    for row in sorted((n for n in pieces if n in rows), key=lambda n: pieces[n].first):
        stack = list(uses[row])
        while stack:
            helper = stack.pop()
            if helper not in owner:
                owner[helper] = row
                stack.extend(uses[helper])
    for helper in helpers:  # used by nothing public: shown where it stands in the file
        owner.setdefault(helper, next((r for r in sorted((n for n in pieces if n in rows), key=lambda n: pieces[n].first)
                                       if pieces[r].first > pieces[helper].first), rows[-1]))
    return owner


def cells(libraries: tuple[str, ...] | None = None, part: str = "lesson") -> dict[tuple[str, str], Cell]:
    """(library, row) → the cell: the row's piece and its helpers, or why the library has none.
    `part`: "lesson" (the lessons' rows), "runtime" or "parallel" (the data-parallel engines')."""
    rows = PARTS[part]
    names = engine_titles() if part == "parallel" else library_titles()
    out: dict[tuple[str, str], Cell] = {}
    for library in libraries or tuple(names):
        absent = (registry.ENGINES if part == "parallel" else registry.LIBRARIES)[library].absent
        pieces = pieces_of(part_path(library, part))
        owner = helper_rows(pieces, rows)
        for row in rows:
            mine = [pieces[row]] if row in pieces else []
            mine += sorted((pieces[h] for h, r in owner.items() if r == row), key=lambda p: p.first)
            why = None if mine else absent.get(row, f"{names[library]} has no {row}.")
            out[(library, row)] = Cell(library, row, tuple(mine), why)
    return out


def seed_pieces() -> list[tuple[Piece, list[int]]]:
    """The seed's program (implementations/book.py) and the lines that hold its tanh-derivative
    quirk, to put beside the NumPy reference's backpropagation."""
    pieces = pieces_of(ROOT / "implementations" / "book.py")
    out = []
    for name in ("tanh_derivative", "NeuralNetwork"):
        piece = pieces[name]
        quirk = [piece.first + i for i, line in enumerate(piece.source.splitlines())
                 if "activity_derivative(" in line or line.strip().startswith("return (1 + tanh(x))")]
        out.append((piece, quirk))
    return out

"""Tables fitted to the terminal's width: the one place that decides which columns show, where
a cell may wrap, and how a row's note becomes a footnote. compare.py's table, the scaling
study's and the data-parallel study's are all drawn here; the Markdown and JSON reports are
not (they always carry every column and every note in full).

The rules, for every table:

- **Columns by priority.** A column with `keep=0` always shows. The others are kept in the
  order of their `keep` (1 first) while they fit; the first that does not fit ends the table,
  so a wider terminal never loses a column and a narrower one drops them from the end of that
  order. A column with nothing measured in it (every cell "–") shows only where the whole table
  fits (accuracy on a regression task, the GPU's columns without a GPU). `wide=True` shows
  every column whatever the width. A line under the table names the columns left out.
- **Nothing broken.** A cell wraps only at a space or after a comma, and only in a column made
  for text (`wraps=True`); numbers (with their units), library names and header words are never
  split. Columns get the width of their longest unbreakable piece first; what room is left
  goes to the text columns.
- **Notes as footnotes.** A row's note becomes a mark (¹ ²) after its status, and the note goes
  under the table, once, wrapped at the width; identical notes share one mark.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.cells import cell_len

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

GAP = 2  # spaces between columns: no vertical rules, so the narrowest terminal keeps the most columns
PIPED_WIDTH = 100  # the width when output goes to a file or pipe and $COLUMNS says nothing
EMPTY = "–"
SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


@dataclass(frozen=True)
class Column:
    name: str
    numeric: bool = False  # right-aligned; a cell is one unbreakable piece ("12.54 s", "1.2e-15")
    wraps: bool = False  # text that may wrap at spaces and after commas, never inside a word
    keep: int = 0  # 0: always shown; 1, 2, ...: the order in which the other columns are kept while they fit


@dataclass(frozen=True)
class Row:
    cells: Sequence[str]
    note: str = ""
    style: str | None = None  # a rich style for the whole row ("red" for failed, "dim" for skipped)


@dataclass
class Fitted:
    """A table laid out for one width: its lines, its footnotes, and which columns it shows."""

    lines: list[Text]
    footnotes: list[Text]
    shown: list[Column]
    left_out: list[Column]
    marks: dict[str, str] = field(default_factory=dict)  # note → its mark


def mark(number: int) -> str:
    """The footnote mark for the n-th distinct note: ¹, ², ... ¹⁰."""
    return str(number).translate(SUPERSCRIPTS)


def pieces(text: str, commas: bool = True) -> list[tuple[str, str]]:
    """The unbreakable pieces of a text, each with what joins it to the one before on a line:
    words joined by a space, and (with `commas`) the parts of a word after each comma, joined
    by nothing ("eager,compiled" may break as "eager," / "compiled")."""
    out: list[tuple[str, str]] = []
    for word in text.split():
        parts = re.findall(r"[^,]+,?|,", word) if commas else [word]
        out += [(part, "" if i else " ") for i, part in enumerate(parts)]
    return out


def wrap(text: str, width: int, commas: bool = True) -> list[str]:
    """Lines of at most `width` cells, broken only between pieces; a piece longer than the width
    stays whole on a line of its own (it overflows rather than being split)."""
    lines: list[str] = []
    line = ""
    for part, glue in pieces(text, commas):
        if line and cell_len(line + glue + part) > width:
            lines.append(line)
            line = part
        else:
            line = line + glue + part if line else part
    return [*lines, line]


def _cell_lines(column: Column, text: str, width: int) -> list[str]:
    return wrap(text, width) if column.wraps else [text]


def _least(column: Column, texts: list[str]) -> int:
    """The narrowest the column can be: its longest unbreakable piece (header words included)."""
    header = max(cell_len(word) for word in column.name.split())
    if column.wraps:
        return max([header, *(cell_len(p) for t in texts for p, _ in pieces(t))])
    return max([header, *(cell_len(t) for t in texts)])


def _most(column: Column, texts: list[str]) -> int:
    """As wide as it is useful to be: every cell on one line."""
    return max([_least(column, []), *(cell_len(t) for t in texts)])


def fit(columns: Sequence[Column], rows: Sequence[Row], width: int, wide: bool = False,
        mark_after: str = "status") -> Fitted:
    """Lay `rows` out in at most `width` cells per line (every column, however wide, if `wide`)."""
    marks: dict[str, str] = {}
    for row in rows:
        if row.note and row.note not in marks:
            marks[row.note] = mark(len(marks) + 1)
    at = [c.name for c in columns].index(mark_after) if marks else 0  # a table without notes needs no status column
    cells = [[*row.cells[:at], row.cells[at] + marks[row.note], *row.cells[at + 1:]] if row.note else list(row.cells)
             for row in rows]
    texts = {c.name: [r[i] for r in cells] for i, c in enumerate(columns)}
    least = {c.name: _least(c, texts[c.name]) for c in columns}
    most = {c.name: _most(c, texts[c.name]) for c in columns}
    shown = _choose(columns, texts, least, most, width, wide)
    widths = _widths(shown, least, most, width, wide)
    lines = _draw(columns, shown, widths, rows, cells)
    left_out = [c for c in columns if c not in shown]
    return Fitted(lines, _footnotes(marks, left_out, width), shown, left_out, marks)


def _choose(columns: Sequence[Column], texts: dict[str, list[str]], least: dict[str, int], most: dict[str, int],
            width: int, wide: bool) -> list[Column]:
    """The columns that show: those always shown, then the others in the order of `keep` while they fit."""
    shown = [c for c in columns if c.keep == 0]
    used = sum(least[c.name] for c in shown) + GAP * (len(shown) - 1)
    everything = sum(most.values()) + GAP * (len(columns) - 1)
    # A column with nothing measured in it (all "–") shows only where the whole table fits.
    optional = [c for c in sorted(columns, key=lambda c: c.keep) if c.keep and
                (wide or everything <= width or any(t != EMPTY for t in texts[c.name]))]
    for column in optional:
        if not wide and used + GAP + least[column.name] > width:
            break  # the order holds: a later column never shows where an earlier one could not
        shown.append(column)
        used += GAP + least[column.name]
    return [c for c in columns if c in shown]  # back in the table's own order


def _widths(shown: list[Column], least: dict[str, int], most: dict[str, int], width: int, wide: bool) -> dict[str, int]:
    """Each column its narrowest; the room left goes to the text columns, then to the tallest headers."""
    if wide:
        return {c.name: most[c.name] for c in shown}
    widths = {c.name: least[c.name] for c in shown}
    room = width - sum(widths.values()) - GAP * (len(shown) - 1)
    growing = [c for c in shown if c.wraps and widths[c.name] < most[c.name]]
    while room > 0 and growing:  # a cell at a time, in turn, so no text column takes it all
        for column in list(growing):
            if room == 0:
                break
            widths[column.name] += 1
            room -= 1
            if widths[column.name] >= most[column.name]:
                growing.remove(column)

    def lines(c: Column, w: int) -> int:
        return len(wrap(c.name, w, commas=False))

    while room > 0:  # a header line fewer, where the tallest headers can all have it
        height = max(lines(c, widths[c.name]) for c in shown)
        if height == 1:
            break
        more = {c.name: next(w for w in range(widths[c.name], cell_len(c.name) + 1) if lines(c, w) < height)
                - widths[c.name] for c in shown if lines(c, widths[c.name]) == height}
        if sum(more.values()) > room:
            break
        for name, extra in more.items():
            widths[name] += extra
        room -= sum(more.values())
    return widths


def _draw(columns: Sequence[Column], shown: list[Column], widths: dict[str, int], rows: Sequence[Row],
          cells: list[list[str]]) -> list[Text]:
    """The header (its words at the bottom, right above the rule), the rule, and the rows, each
    cell top-aligned, numbers to the right."""
    from rich.text import Text

    def joined(parts: list[str], style: str) -> Text:
        return Text((" " * GAP).join(parts).rstrip(), style=style)

    headers = [wrap(c.name, widths[c.name], commas=False) for c in shown]
    height = max(len(h) for h in headers)
    lines = [joined([_pad(c, h[i - height + len(h)] if i >= height - len(h) else "", widths[c.name])
                     for c, h in zip(shown, headers)], "bold") for i in range(height)]
    lines.append(joined(["─" * widths[c.name] for c in shown], "dim"))
    index = {c.name: i for i, c in enumerate(columns)}
    for row, row_cells in zip(rows, cells):
        wrapped = [_cell_lines(c, row_cells[index[c.name]], widths[c.name]) for c in shown]
        for i in range(max(len(w) for w in wrapped)):
            lines.append(joined([_pad(c, w[i] if i < len(w) else "", widths[c.name]) for c, w in zip(shown, wrapped)],
                                row.style or ""))
    return lines


def _footnotes(marks: dict[str, str], left_out: list[Column], width: int) -> list[Text]:
    """Each note once after its mark, wrapped with a hanging indent; then what was left out."""
    from rich.text import Text

    footnotes = []
    for note, sign in marks.items():
        indent = cell_len(sign) + 1
        for i, line in enumerate(wrap(note, max(width - indent, 20), commas=False)):
            footnotes.append(Text((sign if i == 0 else "").ljust(indent) + line))
    if left_out:
        text = (f"Left out at {width} columns: {', '.join(c.name for c in left_out)} (--wide shows every column; "
                "the JSON and Markdown reports always carry them).")
        footnotes += [Text(line, style="dim") for line in wrap(text, width, commas=False)]
    return footnotes


def _pad(column: Column, text: str, width: int) -> str:
    gap = " " * max(width - cell_len(text), 0)
    return gap + text if column.numeric else text + gap


def print_table(console: Console, columns: Sequence[Column], rows: Sequence[Row], title: str | None = None,
                wide: bool = False, mark_after: str = "status") -> Fitted:
    """Print a title (wrapped at the width), the fitted table and its footnotes."""
    if title:  # as written where it fits (its double spaces kept), else wrapped between words
        lines = [title] if cell_len(title) <= console.width else wrap(title, console.width, commas=False)
        for line in lines:
            console.print(line, highlight=False, markup=False, soft_wrap=True)
    fitted = fit(columns, rows, console.width, wide, mark_after)
    for line in [*fitted.lines, *fitted.footnotes]:
        console.print(line, soft_wrap=True)  # already fitted: rich must neither wrap nor crop it (--wide)
    return fitted


def print_text(console: Console, text: str, style: str | None = None) -> None:
    """A paragraph under a table, wrapped at the width between words."""
    for line in wrap(text, console.width, commas=False):
        console.print(line, style=style, highlight=False, markup=False, soft_wrap=True)


def piped_width() -> int:
    """The width for output that goes to a file or pipe: $COLUMNS, else 100."""
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else PIPED_WIDTH


def report_console(json_to_stdout: bool = False, stderr: bool = False) -> Console:
    """Where a sub-command prints its table: stdout, or stderr (an interrupted run's partial
    table), or nothing when the JSON goes to stdout (`--json -`). A terminal's own width; piped
    or redirected, $COLUMNS or else 100 (never rich's guess of 80, nor an unbounded width)."""
    from rich.console import Console

    to_stderr = stderr or json_to_stdout
    console = Console(stderr=to_stderr, quiet=json_to_stdout)
    return console if console.is_terminal else Console(stderr=to_stderr, quiet=json_to_stdout, width=piped_width())

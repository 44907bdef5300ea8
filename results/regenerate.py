"""Rewrite everything under results/ from the current code: `python results/regenerate.py`.

Run it on a quiet machine (nothing else running: every report's stamp records the load average
as its command started and ended, and docs/results.md quotes the reports). One step after the
other, each an ordinary command of the project, timed and printed:

  xor        compare.py's default run, in a real 100-column terminal (tmux): cpu_xor.*, the XOR
             figures, and terminal_100.png, the screen drawn as a picture
  digits     compare.py --task digits: cpu_digits.* and the digits figures
  tasks      compare.py tasks: every task × library, both dtypes (every_task_cpu.*, every_task.png)
  threads1   the same with --threads 1 (every_task_cpu_threads1.*)
  scale      compare.py scale --device cpu (scale_cpu.*, scale_step_time.png)
  parallel   compare.py parallel --workers 2,4 --hosts 1,2 (parallel_cpu.*, parallel_step_time.png)
  inductor   benchmarks/inductor_loop.py (inductor_loop_cpu.json)
  page       compare.py code --html: side_by_side.html, from cpu_xor.json and parallel_cpu.json
  shots      the page in headless Chromium: side_by_side.png, side_by_side_parallel.png

Every PNG carries the stamp of the report it shows (tests/test_results.py checks them all).
`--only xor,page` runs some steps; `--list` names them. Needs tmux and chromium (Debian's).
results/gpu/ is not rewritten here: it needs a GPU machine (gpu_check.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
PY = sys.executable
COMPARE = [PY, "compare.py"]
REPORTS = "--json results/{name}.json --markdown results/{name}.md"


def run(command: list[str], **kw) -> None:
    print("  $", shlex.join(command), flush=True)
    subprocess.run(command, cwd=ROOT, check=True, **kw)


def reports(name: str) -> list[str]:
    return shlex.split(REPORTS.format(name=name))


def stamp_png(path: Path, report: str) -> None:
    """Write into a screenshot's PNG the stamp of the report it shows, as the figures carry theirs."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    sys.path.insert(0, str(ROOT))
    from shared.reports.plots import figure_source

    info = PngInfo()
    info.add_text("Source", figure_source(json.loads((RESULTS / report).read_text())))
    with Image.open(path) as image:
        image.load()
        image.save(path, pnginfo=info)


def terminal_png(text: str, path: Path, columns: int = 100) -> None:
    """A terminal's screen (tmux's capture, with its colours as ANSI escapes) drawn as a picture,
    in DejaVu Sans Mono (shipped with matplotlib), light on dark."""
    import re

    from matplotlib import font_manager
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(font_manager.findfont("DejaVu Sans Mono"), 15)
    left, top, right, bottom = font.getbbox("M")
    cell_w, cell_h = font.getlength("M"), int((bottom - top) * 1.45)
    lines = text.rstrip("\n").split("\n")
    image = Image.new("RGB", (int(cell_w * columns) + 24, cell_h * len(lines) + 24), (30, 30, 30))
    draw = ImageDraw.Draw(image)
    palette = {30: (60, 60, 60), 31: (230, 90, 90), 32: (120, 200, 120), 33: (230, 200, 90), 34: (110, 150, 230),
               35: (200, 120, 220), 36: (100, 200, 210), 37: (220, 220, 220), 39: (220, 220, 220)}
    for row, line in enumerate(lines):
        x, colour, bold = 12.0, palette[39], False
        for part in re.split(r"(\x1b\[[0-9;]*m)", line):
            if part.startswith("\x1b["):
                for code in (int(c) for c in part[2:-1].split(";") if c):
                    if code == 0:
                        colour, bold = palette[39], False
                    elif code == 1:
                        bold = True
                    elif code in palette:
                        colour = palette[code]
                continue
            draw.text((x, 12 + row * cell_h), part, font=font, fill=tuple(min(255, c + 35) for c in colour) if bold else colour)
            x += cell_w * len(part)
    image.save(path)


def step_xor() -> None:
    """The default run in a 100-column tmux pane: its reports, figures and the screen."""
    if shutil.which("tmux") is None:
        sys.exit("regenerate: the xor step needs tmux (apt-get install tmux)")
    socket, done = Path(tempfile.mkdtemp()) / "tmux.sock", Path(tempfile.mkdtemp()) / "done"
    command = shlex.join([*COMPARE, *reports("cpu_xor"), "--plots", "results"])
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    print("  $ (in tmux, 100 columns)", command, flush=True)
    subprocess.run(["tmux", "-S", str(socket), "-f", "/dev/null", "new-session", "-d", "-x", "100", "-y", "60",
                    f"cd {shlex.quote(str(ROOT))} && {command}; echo $? > {done}; sleep 600"], check=True, env=env)
    try:
        while not done.exists():
            time.sleep(1)
        time.sleep(0.5)
        screen = subprocess.run(["tmux", "-S", str(socket), "capture-pane", "-p", "-e"], capture_output=True, text=True,
                                check=True).stdout
    finally:
        subprocess.run(["tmux", "-S", str(socket), "kill-server"], capture_output=True)
    if done.read_text().strip() != "0":
        sys.exit(f"regenerate: the default run exited {done.read_text().strip()}:\n{screen}")
    lines = screen.rstrip("\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    terminal_png("\n".join(lines), RESULTS / "terminal_100.png")
    stamp_png(RESULTS / "terminal_100.png", "cpu_xor.json")


def chromium(*args: str) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("regenerate: the shots step needs chromium (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--hide-scrollbars", f"--user-data-dir={profile}", "--virtual-time-budget=3000", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def step_shots() -> None:
    """The page as a reader first sees it, and its data-parallel section with PyTorch beside JAX (the
    page's own styles and that section alone, the other engines' columns hidden)."""
    page = RESULTS / "side_by_side.html"
    chromium(f"--screenshot={RESULTS / 'side_by_side.png'}", "--window-size=1400,1000", page.as_uri())
    stamp_png(RESULTS / "side_by_side.png", "cpu_xor.json")
    head, body = page.read_text().split("<body>", 1)
    section = body[body.index('<section id="parallel-proof">'):body.index("<script>")]
    hidden = ",".join(f'[data-lib="{lib}"]' for lib in ("tensorflow", "keras", "mlx"))
    with tempfile.TemporaryDirectory() as folder:
        parallel = Path(folder) / "parallel.html"
        parallel.write_text(f"{head}<body><style>{hidden} {{ display: none; }}</style>{section}</body></html>\n")
        chromium(f"--screenshot={RESULTS / 'side_by_side_parallel.png'}", "--window-size=1400,1000", parallel.as_uri())
    stamp_png(RESULTS / "side_by_side_parallel.png", "parallel_cpu.json")


STEPS = {
    "xor": step_xor,
    "digits": lambda: run([*COMPARE, "--task", "digits", *reports("cpu_digits"), "--plots", "results"]),
    "tasks": lambda: run([*COMPARE, "tasks", *reports("every_task_cpu"), "--plots", "results"]),
    "threads1": lambda: run([*COMPARE, "tasks", "--threads", "1", *reports("every_task_cpu_threads1")]),
    "scale": lambda: run([*COMPARE, "scale", "--device", "cpu", *reports("scale_cpu"), "--plots", "results"]),
    "parallel": lambda: run([*COMPARE, "parallel", "--workers", "2,4", "--hosts", "1,2", *reports("parallel_cpu"),
                             "--plots", "results"]),
    "inductor": lambda: run([PY, "benchmarks/inductor_loop.py", "--json", "results/inductor_loop_cpu.json"]),
    "page": lambda: run([*COMPARE, "code", "--html", "results/side_by_side.html"]),
    "shots": step_shots,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="results/regenerate.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help=f"a comma list of steps: {','.join(STEPS)} (default: all, in that order)")
    parser.add_argument("--list", action="store_true", help="name the steps and exit")
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(STEPS))
        return 0
    chosen = list(STEPS) if not args.only else [s.strip() for s in args.only.split(",")]
    unknown = [s for s in chosen if s not in STEPS]
    if unknown:
        parser.error(f"unknown step {unknown[0]!r}; the steps are {', '.join(STEPS)}")
    load = os.getloadavg()[0]
    if load > 0.5 * (os.cpu_count() or 1):
        print(f"regenerate: the load average is {load:.2f}: is something else running? (every report records it)",
              file=sys.stderr)
    start = time.monotonic()
    for name in chosen:
        began = time.monotonic()
        print(f"[{name}]", flush=True)
        STEPS[name]()
        print(f"[{name}] {time.monotonic() - began:.0f} s", flush=True)
    print(f"regenerated {', '.join(chosen)} in {(time.monotonic() - start) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

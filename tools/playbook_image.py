"""Draws each playbook's image (``make playbook-images``) from its yml, as demisto/content wants one (RM116).

The image is ``Packs/<pack>/doc_files/<playbook file name without "playbook-">.png``, the path demisto-sdk
looks for and that the playbook README shows (``![name](../doc_files/<name>.png)``, as ``generate-docs``
writes it). It is drawn from the yml alone, as the playbook editor lays it out:

- each task is a card at its ``view`` position (``x`` is the card's left edge, ``y`` its top), the editor's
  380 pixels wide: the start task a circle, a section header (``title``) a pill, a condition an amber card
  with its answers, any other task a blue card with its name (wrapped) and the command or script it runs;
- each ``nexttasks`` edge is an arrow from the bottom of a card to the top of the next one, labelled with
  the branch (``#default#`` reads "else", ``#none#`` has no label) just above its arrow head; an arrow that
  would cross another card goes round it, along a lane to the right of the cards.

Pure Python (zlib and struct), with a 5x7 pixel font drawn for this script, so the same yml always gives the
same pixels on every machine. ``tests/content/test_playbook_images.py`` re-draws each image in memory and
fails when the committed one shows other pixels (``make playbook-images`` brings them up to date); the
pixels are compared, not the compressed bytes, which another zlib build may pack differently.

    python tools/playbook_image.py            # write every playbook's image
    python tools/playbook_image.py --check    # exit 1 naming each image that is missing or stale
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
PACKS = REPO / "Packs"

CARD_WIDTH = 380  # the playbook editor's task width, in its own coordinates
CARD_HEIGHT = 90
PILL_HEIGHT = 40
START_RADIUS = 24
MARGIN = 40
SCALE = 2  # font pixels per drawn pixel
CHAR_W, CHAR_H = 6 * SCALE, 10 * SCALE  # one glyph (5 wide, 7 high, 9 with a descender) and its spacing
TEXT_PAD = 12

# The palette (PNG colour type 3): index -> RGB.
WHITE, INK, LINE, BLUE, BLUE_EDGE, AMBER, AMBER_EDGE, GREY, GREY_EDGE, GREEN, GREEN_EDGE, MUTED = range(12)
PALETTE = [
    (255, 255, 255),  # WHITE: the page
    (33, 37, 41),  # INK: text
    (108, 117, 125),  # LINE: arrows
    (231, 241, 255),  # BLUE: a task card
    (61, 125, 202),  # BLUE_EDGE
    (255, 243, 205),  # AMBER: a condition card
    (214, 158, 46),  # AMBER_EDGE
    (241, 243, 245),  # GREY: a section header
    (134, 142, 150),  # GREY_EDGE
    (220, 245, 226),  # GREEN: the start
    (47, 158, 68),  # GREEN_EDGE
    (90, 98, 104),  # MUTED: branch labels, the command under a task's name
]

# A 5x7 font drawn for this script: each glyph is seven rows of five pixels, '#' inked, and two more rows for
# the letters that reach below the line (g, j, p, q, y and the comma).
_GLYPHS = {
    " ": ".....|.....|.....|.....|.....|.....|.....",
    "!": "..#..|..#..|..#..|..#..|..#..|.....|..#..",
    '"': ".#.#.|.#.#.|.....|.....|.....|.....|.....",
    "#": ".#.#.|#####|.#.#.|.#.#.|.#.#.|#####|.#.#.",
    "$": "..#..|.####|#.#..|.###.|..#.#|####.|..#..",
    "%": "##...|##..#|...#.|..#..|.#...|#..##|...##",
    "&": ".##..|#..#.|#.#..|.#...|#.#.#|#..#.|.##.#",
    "'": "..#..|..#..|.#...|.....|.....|.....|.....",
    "(": "...#.|..#..|.#...|.#...|.#...|..#..|...#.",
    ")": ".#...|..#..|...#.|...#.|...#.|..#..|.#...",
    "*": ".....|..#..|#.#.#|.###.|#.#.#|..#..|.....",
    "+": ".....|..#..|..#..|#####|..#..|..#..|.....",
    ",": ".....|.....|.....|.....|.....|.##..|.##..|..#..|.#...",
    "-": ".....|.....|.....|#####|.....|.....|.....",
    ".": ".....|.....|.....|.....|.....|.##..|.##..",
    "/": ".....|....#|...#.|..#..|.#...|#....|.....",
    "0": ".###.|#...#|#..##|#.#.#|##..#|#...#|.###.",
    "1": "..#..|.##..|..#..|..#..|..#..|..#..|.###.",
    "2": ".###.|#...#|....#|...#.|..#..|.#...|#####",
    "3": "#####|...#.|..#..|...#.|....#|#...#|.###.",
    "4": "...#.|..##.|.#.#.|#..#.|#####|...#.|...#.",
    "5": "#####|#....|####.|....#|....#|#...#|.###.",
    "6": "..##.|.#...|#....|####.|#...#|#...#|.###.",
    "7": "#####|....#|...#.|..#..|.#...|.#...|.#...",
    "8": ".###.|#...#|#...#|.###.|#...#|#...#|.###.",
    "9": ".###.|#...#|#...#|.####|....#|...#.|.##..",
    ":": ".....|.##..|.##..|.....|.##..|.##..|.....",
    ";": ".....|.##..|.##..|.....|.....|.##..|.##..|..#..|.#...",
    "<": "...#.|..#..|.#...|#....|.#...|..#..|...#.",
    "=": ".....|.....|#####|.....|#####|.....|.....",
    ">": ".#...|..#..|...#.|....#|...#.|..#..|.#...",
    "?": ".###.|#...#|....#|...#.|..#..|.....|..#..",
    "@": ".###.|#...#|....#|.##.#|#.#.#|#.#.#|.###.",
    "A": ".###.|#...#|#...#|#####|#...#|#...#|#...#",
    "B": "####.|#...#|#...#|####.|#...#|#...#|####.",
    "C": ".###.|#...#|#....|#....|#....|#...#|.###.",
    "D": "###..|#..#.|#...#|#...#|#...#|#..#.|###..",
    "E": "#####|#....|#....|####.|#....|#....|#####",
    "F": "#####|#....|#....|####.|#....|#....|#....",
    "G": ".###.|#...#|#....|#.###|#...#|#...#|.####",
    "H": "#...#|#...#|#...#|#####|#...#|#...#|#...#",
    "I": ".###.|..#..|..#..|..#..|..#..|..#..|.###.",
    "J": "..###|...#.|...#.|...#.|...#.|#..#.|.##..",
    "K": "#...#|#..#.|#.#..|##...|#.#..|#..#.|#...#",
    "L": "#....|#....|#....|#....|#....|#....|#####",
    "M": "#...#|##.##|#.#.#|#.#.#|#...#|#...#|#...#",
    "N": "#...#|#...#|##..#|#.#.#|#..##|#...#|#...#",
    "O": ".###.|#...#|#...#|#...#|#...#|#...#|.###.",
    "P": "####.|#...#|#...#|####.|#....|#....|#....",
    "Q": ".###.|#...#|#...#|#...#|#.#.#|#..#.|.##.#",
    "R": "####.|#...#|#...#|####.|#.#..|#..#.|#...#",
    "S": ".####|#....|#....|.###.|....#|....#|####.",
    "T": "#####|..#..|..#..|..#..|..#..|..#..|..#..",
    "U": "#...#|#...#|#...#|#...#|#...#|#...#|.###.",
    "V": "#...#|#...#|#...#|#...#|#...#|.#.#.|..#..",
    "W": "#...#|#...#|#...#|#.#.#|#.#.#|#.#.#|.#.#.",
    "X": "#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#",
    "Y": "#...#|#...#|.#.#.|..#..|..#..|..#..|..#..",
    "Z": "#####|....#|...#.|..#..|.#...|#....|#####",
    "[": ".###.|.#...|.#...|.#...|.#...|.#...|.###.",
    "\\": ".....|#....|.#...|..#..|...#.|....#|.....",
    "]": ".###.|...#.|...#.|...#.|...#.|...#.|.###.",
    "^": "..#..|.#.#.|#...#|.....|.....|.....|.....",
    "_": ".....|.....|.....|.....|.....|.....|#####",
    "`": ".#...|..#..|.....|.....|.....|.....|.....",
    "a": ".....|.....|.###.|....#|.####|#...#|.####",
    "b": "#....|#....|#.##.|##..#|#...#|#...#|####.",
    "c": ".....|.....|.###.|#....|#....|#...#|.###.",
    "d": "....#|....#|.##.#|#..##|#...#|#...#|.####",
    "e": ".....|.....|.###.|#...#|#####|#....|.###.",
    "f": "..##.|.#..#|.#...|###..|.#...|.#...|.#...",
    "g": ".....|.....|.####|#...#|#...#|#...#|.####|....#|.###.",
    "h": "#....|#....|#.##.|##..#|#...#|#...#|#...#",
    "i": "..#..|.....|.##..|..#..|..#..|..#..|.###.",
    "j": "...#.|.....|..##.|...#.|...#.|...#.|...#.|#..#.|.##..",
    "k": "#....|#....|#..#.|#.#..|##...|#.#..|#..#.",
    "l": ".##..|..#..|..#..|..#..|..#..|..#..|.###.",
    "m": ".....|.....|##.#.|#.#.#|#.#.#|#...#|#...#",
    "n": ".....|.....|#.##.|##..#|#...#|#...#|#...#",
    "o": ".....|.....|.###.|#...#|#...#|#...#|.###.",
    "p": ".....|.....|####.|#...#|#...#|#...#|####.|#....|#....",
    "q": ".....|.....|.####|#...#|#...#|#...#|.####|....#|....#",
    "r": ".....|.....|#.##.|##..#|#....|#....|#....",
    "s": ".....|.....|.###.|#....|.###.|....#|####.",
    "t": ".#...|.#...|###..|.#...|.#...|.#..#|..##.",
    "u": ".....|.....|#...#|#...#|#...#|#..##|.##.#",
    "v": ".....|.....|#...#|#...#|#...#|.#.#.|..#..",
    "w": ".....|.....|#...#|#...#|#.#.#|#.#.#|.#.#.",
    "x": ".....|.....|#...#|.#.#.|..#..|.#.#.|#...#",
    "y": ".....|.....|#...#|#...#|#...#|#...#|.####|....#|.###.",
    "z": ".....|.....|#####|...#.|..#..|.#...|#####",
    "{": "...#.|..#..|..#..|.#...|..#..|..#..|...#.",
    "|": "..#..|..#..|..#..|..#..|..#..|..#..|..#..",
    "}": ".#...|..#..|..#..|...#.|..#..|..#..|.#...",
    "~": ".....|.....|.#...|#.#.#|...#.|.....|.....",
}
FONT = {char: rows.split("|") for char, rows in _GLYPHS.items()}
UNKNOWN_GLYPH = "?"


class Canvas:
    """An indexed-colour image: one byte per pixel, a palette index."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.rows = [bytearray([WHITE]) * width for _ in range(height)]

    def rect(self, x0: int, y0: int, x1: int, y1: int, colour: int) -> None:
        """Fill the rectangle [x0, x1) x [y0, y1), clipped to the image."""
        x0, x1 = max(0, x0), min(self.width, x1)
        if x0 >= x1:
            return
        run = bytes([colour]) * (x1 - x0)
        for y in range(max(0, y0), min(self.height, y1)):
            self.rows[y][x0:x1] = run

    def box(self, x0: int, y0: int, x1: int, y1: int, fill: int, edge: int, radius: int = 0) -> None:
        """A filled box with a two-pixel border; ``radius`` cuts its corners (a rounded card or a pill)."""
        for y in range(y0, y1):
            inset = _corner_inset(y - y0, y1 - y0, radius)
            self.rect(x0 + inset, y, x1 - inset, y + 1, edge)
            inner = _corner_inset(y - y0, y1 - y0, radius, border=2)
            if y0 + 2 <= y < y1 - 2:
                self.rect(x0 + inner, y, x1 - inner, y + 1, fill)

    def disc(self, cx: int, cy: int, radius: int, fill: int, edge: int) -> None:
        for dy in range(-radius, radius + 1):
            half = _isqrt(radius * radius - dy * dy)
            self.rect(cx - half, cy + dy, cx + half + 1, cy + dy + 1, edge)
            if abs(dy) <= radius - 2:
                inner = _isqrt((radius - 2) * (radius - 2) - dy * dy)
                self.rect(cx - inner, cy + dy, cx + inner + 1, cy + dy + 1, fill)

    def text(self, x: int, y: int, line: str, colour: int) -> None:
        for index, char in enumerate(line):
            glyph = FONT.get(char) or FONT[UNKNOWN_GLYPH]
            for row, bits in enumerate(glyph):
                for column, bit in enumerate(bits):
                    if bit == "#":
                        px, py = x + index * CHAR_W + column * SCALE, y + row * SCALE
                        self.rect(px, py, px + SCALE, py + SCALE, colour)

    def arrow_head(self, x: int, y: int, colour: int) -> None:
        """A downward arrow head whose tip is at (x, y)."""
        for step in range(8):
            self.rect(x - step, y - step, x + step + 1, y - step + 1, colour)

    def png(self) -> bytes:
        raw = b"".join(b"\x00" + bytes(row) for row in self.rows)  # filter type 0 on every row
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 3, 0, 0, 0)
        palette = b"".join(bytes(rgb) for rgb in PALETTE)
        return (
            b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", header)
            + _chunk(b"PLTE", palette)
            + _chunk(b"IDAT", zlib.compress(raw, 9))
            + _chunk(b"IEND", b"")
        )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _isqrt(value: int) -> int:
    return int(value**0.5) if value > 0 else 0


def _corner_inset(offset: int, height: int, radius: int, border: int = 0) -> int:
    """How far a row at ``offset`` from a box's top is indented by its rounded corners."""
    if radius <= 0:
        return border
    from_edge = min(offset, height - 1 - offset)
    if from_edge >= radius:
        return border
    dy = radius - from_edge
    return radius - _isqrt(max(0, radius * radius - dy * dy)) + border


def wrap(text: str, width_chars: int, max_lines: int) -> list[str]:
    """Word-wrap ``text`` to ``width_chars``; a longer text ends in '...' on the last line."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if len(candidate) <= width_chars:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = word if len(word) <= width_chars else word[: width_chars - 3] + "..."
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        lines[-1] = (last if len(last) <= width_chars - 3 else last[: width_chars - 3]) + "..."
    return lines


@dataclass
class Task:
    task_id: str
    kind: str  # start, title, condition, regular, playbook, ...
    name: str
    runs: str  # the command or script a regular task runs, else ""
    x: int
    y: int
    next_tasks: dict[str, list[str]]

    @property
    def height(self) -> int:
        return {"start": 2 * START_RADIUS, "title": PILL_HEIGHT}.get(self.kind, CARD_HEIGHT)

    @property
    def centre_x(self) -> int:
        return self.x + CARD_WIDTH // 2


def load_tasks(playbook: dict) -> list[Task]:
    tasks = []
    for task_id, raw in (playbook.get("tasks") or {}).items():
        position = json.loads(raw.get("view") or "{}").get("position", {})
        details = raw.get("task") or {}
        next_tasks = raw.get("nexttasks") or {}
        runs = details.get("script") or ""
        tasks.append(
            Task(
                task_id=str(task_id),
                kind=str(raw.get("type") or details.get("type") or "regular"),
                name=str(details.get("name") or ""),
                runs=str(runs).split("|||")[-1] if runs else "",
                x=int(position.get("x", 0)),
                y=int(position.get("y", 0)),
                next_tasks={str(label): [str(t) for t in targets or []] for label, targets in next_tasks.items()},
            )
        )
    return sorted(tasks, key=lambda task: (task.y, task.x, task.task_id))


def branch_label(label: str) -> str:
    return {"#none#": "", "#default#": "else"}.get(label, label)


@dataclass
class Edge:
    source: Task
    target: Task
    label: str
    depart_x: int = 0  # where it leaves the source's bottom
    enter_x: int = 0  # where it enters the target's top
    level: int = 0  # the height of its last horizontal run, just above the target
    lane_x: int | None = None  # the side lane it takes to pass the cards in its way, if any


def _spread(left: int, count: int, index: int) -> int:
    """The index-th of ``count`` points spread evenly across a card's width."""
    return left + CARD_WIDTH * (index + 1) // (count + 1)


def _crosses(tasks: list[Task], x: int, y_from: int, y_to: int, skip: tuple[Task, ...]) -> list[Task]:
    """The cards a vertical line at ``x`` from ``y_from`` down to ``y_to`` would pass through."""
    return [
        task
        for task in tasks
        if task not in skip and task.x <= x <= task.x + CARD_WIDTH and task.y < y_to and task.y + task.height > y_from
    ]


def route(tasks: list[Task]) -> list[Edge]:
    """Every nexttasks edge, with where it leaves and enters the cards and how it passes the cards between."""
    by_id = {task.task_id: task for task in tasks}
    edges = [
        Edge(task, by_id[target_id], branch_label(label))
        for task in tasks
        for label, targets in sorted(task.next_tasks.items())
        for target_id in targets
        if target_id in by_id
    ]
    for task in tasks:
        outgoing = sorted((e for e in edges if e.source is task), key=lambda e: (e.target.centre_x, e.target.y, e.label))
        for index, edge in enumerate(outgoing):
            edge.depart_x = _spread(task.x, len(outgoing), index) if len(outgoing) > 1 else task.centre_x
        incoming = sorted((e for e in edges if e.target is task), key=lambda e: (e.depart_x, e.source.y, e.label))
        for index, edge in enumerate(incoming):
            edge.enter_x = _spread(task.x, len(incoming), index) if len(incoming) > 1 else task.centre_x
            edge.level = task.y - 28 - 10 * index
    lanes = 0
    for edge in sorted(edges, key=lambda e: (e.source.y, e.depart_x)):
        top, bottom = edge.source.y + edge.source.height, edge.target.y
        ends = (edge.source, edge.target)
        blocked = (
            bottom <= top
            or _crosses(tasks, edge.depart_x, top, edge.level, ends)
            or _crosses(tasks, edge.enter_x, edge.level, bottom, ends)
        )
        if blocked:
            between = [t for t in tasks if t not in ends and t.y < max(bottom, top) and t.y + t.height > min(top, bottom)]
            right = max([t.x + CARD_WIDTH for t in [*between, *ends]])
            edge.lane_x = right + 20 + 12 * lanes
            lanes += 1
    return edges


def render(playbook: dict) -> bytes:
    """The PNG of one playbook, from its parsed yml."""
    tasks = load_tasks(playbook)
    if not tasks:
        raise ValueError(f"playbook {playbook.get('name')!r} has no tasks to draw")
    edges = route(tasks)
    left = min(task.x for task in tasks) - MARGIN
    top = min(task.y for task in tasks) - MARGIN
    right = max([task.x + CARD_WIDTH for task in tasks] + [edge.lane_x or 0 for edge in edges]) + MARGIN
    width = right - left
    height = max(task.y + task.height for task in tasks) + MARGIN - top
    canvas = Canvas(width, height)
    for edge in edges:  # arrows first, so that cards sit on top of them
        _draw_edge(canvas, edge, left, top)
    for edge in edges:
        _draw_label(canvas, edge, left, top)
    for task in tasks:
        _draw_task(canvas, task, left, top)
    return canvas.png()


def _hline(canvas: Canvas, x0: int, x1: int, y: int) -> None:
    canvas.rect(min(x0, x1) - 1, y - 1, max(x0, x1) + 1, y + 1, LINE)


def _vline(canvas: Canvas, x: int, y0: int, y1: int) -> None:
    canvas.rect(x - 1, min(y0, y1) - 1, x + 1, max(y0, y1) + 1, LINE)


def _draw_edge(canvas: Canvas, edge: Edge, left: int, top: int) -> None:
    x0, y0 = edge.depart_x - left, edge.source.y + edge.source.height - top
    x1, y1 = edge.enter_x - left, edge.target.y - top
    level = edge.level - top
    if edge.lane_x is None:
        _vline(canvas, x0, y0, level)
        _hline(canvas, x0, x1, level)
    else:  # down a little, out to the side lane, along it, back in above the target
        lane, out = edge.lane_x - left, y0 + 14
        _vline(canvas, x0, y0, out)
        _hline(canvas, x0, lane, out)
        _vline(canvas, lane, out, level)
        _hline(canvas, lane, x1, level)
    _vline(canvas, x1, level, y1 - 2)
    canvas.arrow_head(x1, y1 - 1, LINE)


def _draw_label(canvas: Canvas, edge: Edge, left: int, top: int) -> None:
    """The branch name, beside the line just above the arrow head."""
    if not edge.label:
        return
    text = edge.label if len(edge.label) <= 16 else edge.label[:13] + "..."
    x, y = edge.enter_x - left + 6, edge.target.y - top - CHAR_H - 2
    canvas.rect(x - 2, y - 1, x + len(text) * CHAR_W, y + CHAR_H - 4, WHITE)
    canvas.text(x, y, text, MUTED)


def _draw_task(canvas: Canvas, task: Task, left: int, top: int) -> None:
    x, y = task.x - left, task.y - top
    width_chars = (CARD_WIDTH - 2 * TEXT_PAD) // CHAR_W
    if task.kind == "start":
        canvas.disc(task.centre_x - left, y + START_RADIUS, START_RADIUS, GREEN, GREEN_EDGE)
        return
    if task.kind == "title":
        canvas.box(x, y, x + CARD_WIDTH, y + PILL_HEIGHT, GREY, GREY_EDGE, radius=PILL_HEIGHT // 2)
        line = wrap(task.name, width_chars, 1)[0] if task.name else ""
        canvas.text(x + (CARD_WIDTH - len(line) * CHAR_W) // 2, y + (PILL_HEIGHT - CHAR_H) // 2 + 2, line, INK)
        return
    fill, edge = (AMBER, AMBER_EDGE) if task.kind == "condition" else (BLUE, BLUE_EDGE)
    canvas.box(x, y, x + CARD_WIDTH, y + CARD_HEIGHT, fill, edge, radius=10)
    lines = wrap(task.name, width_chars, 3 if not task.runs else 2)
    text_y = y + TEXT_PAD
    for line in lines:
        canvas.text(x + TEXT_PAD, text_y, line, INK)
        text_y += CHAR_H + 2
    if task.runs:
        canvas.text(x + TEXT_PAD, y + CARD_HEIGHT - TEXT_PAD - CHAR_H, wrap(task.runs, width_chars, 1)[0], MUTED)


def image_path(playbook_file: Path) -> Path:
    """Where demisto-sdk looks for a playbook's image: <pack>/doc_files/<file name without 'playbook-'>.png."""
    return playbook_file.parents[1] / "doc_files" / playbook_file.name.replace("playbook-", "").replace(".yml", ".png")


def playbook_files(packs: Path | None = None) -> list[Path]:
    """The playbooks that need an image (test playbooks do not)."""
    return sorted((packs or PACKS).glob("*/Playbooks/*.yml"))


def render_file(playbook_file: Path) -> bytes:
    return render(yaml.safe_load(playbook_file.read_text(encoding="utf-8")))


def decode(png: bytes) -> tuple[bytes, bytes, bytes]:
    """(IHDR, PLTE, decompressed IDAT) of a PNG: what it shows, whatever zlib build compressed it."""
    if not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("not a PNG file")
    chunks: dict[bytes, bytes] = {}
    offset = 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        chunks[kind] = chunks.get(kind, b"") + png[offset + 8 : offset + 8 + length]
        offset += 12 + length
    return chunks.get(b"IHDR", b""), chunks.get(b"PLTE", b""), zlib.decompress(chunks.get(b"IDAT", b""))


def is_current(target: Path, image: bytes) -> bool:
    """Whether the image at ``target`` shows exactly the pixels of ``image``."""
    if not target.is_file():
        return False
    try:
        return decode(target.read_bytes()) == decode(image)
    except (ValueError, zlib.error, struct.error):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when an image is missing or stale")
    args = parser.parse_args(argv)
    stale = []
    for playbook_file in playbook_files():
        target = image_path(playbook_file)
        image = render_file(playbook_file)
        if is_current(target, image):
            continue
        if args.check:
            stale.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(image)
        print(f"wrote {target.relative_to(REPO)}")
    for target in stale:
        print(f"{target.relative_to(REPO)} is missing or does not match its playbook: run `make playbook-images`")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())

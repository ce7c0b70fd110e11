#!/usr/bin/env python3
"""Renders a terminal dump with ANSI colours (`tmux capture-pane -e -p`) to a PNG.

Usage: ansi2png.py DUMP.ansi OUT.png [--cols N] [--rows N] [--font-size PX]

Each character cell is drawn with DejaVu Sans Mono (Debian fonts-dejavu-core) on a dark
background with the xterm palette; SGR bold, dim, reverse, 8/16/256-colour and true-colour
foregrounds and backgrounds are honoured, other escape sequences are skipped. Needs Pillow
(Debian python3-pil).
"""
import argparse
import re
import sys

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
BG, FG = (24, 24, 28), (208, 208, 208)
BASE = [(0, 0, 0), (205, 49, 49), (13, 188, 121), (229, 229, 16), (36, 114, 200),
        (188, 63, 188), (17, 168, 205), (229, 229, 229), (102, 102, 102), (241, 76, 76),
        (35, 209, 139), (245, 245, 67), (59, 142, 234), (214, 112, 214), (41, 184, 219),
        (255, 255, 255)]


def xterm256(n):
    if n < 16:
        return BASE[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return steps[n // 36], steps[n // 6 % 6], steps[n % 6]
    v = 8 + (n - 232) * 10
    return v, v, v


class Pen:
    def __init__(self):
        self.reset()

    def reset(self):
        self.fg, self.bg, self.bold, self.dim, self.reverse = None, None, False, False, False

    def apply(self, params):
        codes = [int(p) if p else 0 for p in params.split(";")] if params else [0]
        i = 0
        while i < len(codes):
            c = codes[i]
            if c == 0:
                self.reset()
            elif c == 1:
                self.bold = True
            elif c == 2:
                self.dim = True
            elif c == 22:
                self.bold = self.dim = False
            elif c == 7:
                self.reverse = True
            elif c == 27:
                self.reverse = False
            elif 30 <= c <= 37 or 90 <= c <= 97:
                self.fg = BASE[c - 30 if c < 90 else c - 90 + 8]
            elif 40 <= c <= 47 or 100 <= c <= 107:
                self.bg = BASE[c - 40 if c < 100 else c - 100 + 8]
            elif c == 39:
                self.fg = None
            elif c == 49:
                self.bg = None
            elif c in (38, 48) and i + 1 < len(codes):
                if codes[i + 1] == 5 and i + 2 < len(codes):
                    colour, i = xterm256(codes[i + 2]), i + 2
                elif codes[i + 1] == 2 and i + 4 < len(codes):
                    colour, i = tuple(codes[i + 2:i + 5]), i + 4
                else:
                    colour = None
                if c == 38:
                    self.fg = colour
                else:
                    self.bg = colour
            i += 1

    def colours(self):
        fg, bg = self.fg or FG, self.bg or BG
        if self.dim:
            fg = tuple(v * 2 // 3 for v in fg)
        if self.reverse:
            fg, bg = bg, fg
        return fg, bg


# Box-drawing characters as the cell edges they join (left, right, up, down), drawn as
# lines so borders stay unbroken whatever the font's line height.
BOX = {"─": "lr", "│": "ud", "┌": "rd", "┐": "ld", "└": "ru", "┘": "lu", "├": "rud",
       "┤": "lud", "┬": "lrd", "┴": "lru", "┼": "lrud"}
# Block elements (sparklines) as the filled lower part of the cell, in eighths.
BLOCKS = {ch: i + 1 for i, ch in enumerate("▁▂▃▄▅▆▇█")}


def draw_cell(d, c, px, py, cw, ch, fg, font):
    if c in BOX:
        cx, cy = px + cw // 2, py + ch // 2
        ends = {"l": (px, cy), "r": (px + cw - 1, cy), "u": (cx, py), "d": (cx, py + ch - 1)}
        for e in BOX[c]:
            d.line([(cx, cy), ends[e]], fill=fg, width=1)
    elif c in BLOCKS:
        top = py + ch - ch * BLOCKS[c] // 8
        d.rectangle([px, top, px + cw - 1, py + ch - 1], fill=fg)
    elif c.strip():
        d.text((px, py), c, font=font, fill=fg)


ESC = re.compile(r"\x1b\[([0-9;?]*)([@-~])|\x1b[()][0-9A-Za-z]|\x1b.")


def cells(text):
    """Rows of (char, fg, bg, bold) cells."""
    pen, rows = Pen(), []
    for line in text.split("\n"):
        row, pos = [], 0
        for m in ESC.finditer(line):
            for ch in line[pos:m.start()]:
                row.append((ch, *pen.colours(), pen.bold))
            if m.group(2) == "m":
                pen.apply(m.group(1))
            pos = m.end()
        for ch in line[pos:]:
            row.append((ch, *pen.colours(), pen.bold))
        rows.append(row)
    while rows and not rows[-1]:
        rows.pop()
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dump")
    ap.add_argument("out")
    ap.add_argument("--cols", type=int)
    ap.add_argument("--rows", type=int)
    ap.add_argument("--font-size", type=int, default=15)
    a = ap.parse_args()
    rows = cells(open(a.dump, encoding="utf-8", errors="replace").read())
    cols = a.cols or max((len(r) for r in rows), default=1)
    nrows = a.rows or len(rows)
    font = ImageFont.truetype(FONT, a.font_size)
    bold = ImageFont.truetype(FONT_BOLD, a.font_size)
    cw = round(font.getlength("M"))
    ascent, descent = font.getmetrics()
    ch = ascent + descent
    pad = 10
    img = Image.new("RGB", (cols * cw + 2 * pad, nrows * ch + 2 * pad), BG)
    d = ImageDraw.Draw(img)
    for y, row in enumerate(rows[:nrows]):
        for x, (c, fg, bg, b) in enumerate(row[:cols]):
            px, py = pad + x * cw, pad + y * ch
            if bg != BG:
                d.rectangle([px, py, px + cw - 1, py + ch - 1], fill=bg)
            draw_cell(d, c, px, py, cw, ch, fg, bold if b else font)
    img.save(a.out, optimize=True)
    print(f"{a.out}: {img.width}x{img.height} ({cols}x{nrows} cells)", file=sys.stderr)


if __name__ == "__main__":
    main()

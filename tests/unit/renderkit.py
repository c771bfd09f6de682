"""Read a report's PDF back the way a person would: render each page to an image and read its text.

pdftoppm (poppler-utils) renders the pages; tesseract (with its Chinese data, chi_sim) reads them. A glyph that the
PDF lacks (a missing CJK font prints as boxes) cannot be read back, so these checks catch what a file-exists check
cannot. pdftotext gives the text layer too, for exact figures.
"""

import shutil
import subprocess
from pathlib import Path

import pytest


def need(tool):
    if shutil.which(tool) is None:
        pytest.fail(
            f"{tool} is missing: run `make bootstrap` as root (poppler-utils, tesseract-ocr, tesseract-ocr-chi-sim)"
        )


def pdf_text(pdf):
    """The PDF's text layer, page by page."""
    need("pdftotext")
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return out.split("\f")


def page_images(pdf, out_dir, dpi=150):
    need("pdftoppm")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(out_dir / "page")], check=True)
    return sorted(out_dir.glob("page*.png"))


def ocr(image):
    """Text tesseract reads on IMAGE (Chinese and English), with spaces between CJK characters removed."""
    need("tesseract")
    out = subprocess.run(
        ["tesseract", str(image), "-", "-l", "chi_sim+eng", "--psm", "3"], capture_output=True, text=True, check=True
    ).stdout
    return _join_cjk(out)


def _join_cjk(text):
    chars = list(text)
    kept = []
    for i, ch in enumerate(chars):
        if ch == " " and 0 < i < len(chars) - 1 and _cjk(chars[i - 1]) and _cjk(chars[i + 1]):
            continue
        kept.append(ch)
    return "".join(kept)


def _cjk(ch):
    return "\u4e00" <= ch <= "\u9fff" or "\u3000" <= ch <= "\u303f" or "\uff00" <= ch <= "\uffef"


def read_pdf(pdf, tmp_path):
    """[(page image, text read from it)] for every page of PDF."""
    return [(image, ocr(image)) for image in page_images(pdf, Path(tmp_path) / (Path(pdf).stem + "-pages"))]

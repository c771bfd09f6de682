"""Read chosen pages of a report's PDF back as a person would (rendered, then OCR), without reading every page:
renderkit.read_pdf reads them all, which takes minutes for a long report on a busy 2-core machine."""

import subprocess
from pathlib import Path

from renderkit import need, ocr


def page_text(pdf, tmp_path, first=1, last=1, dpi=150):
    """Text tesseract reads on pages FIRST..LAST of PDF, joined."""
    need("pdftoppm")
    out = Path(tmp_path) / (Path(pdf).stem + f"-p{first}-{last}")
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-f", str(first), "-l", str(last), "-png", str(pdf), str(out / "page")],
        check=True,
    )
    return " ".join(ocr(image) for image in sorted(out.glob("page*.png")))


def flat_text(pdf):
    """The PDF's text layer in content order (pdftotext -raw) with all white space removed: a figure whose table
    cell wraps still reads as one string, and columns do not interleave as they do in -layout mode."""
    need("pdftotext")
    out = subprocess.run(["pdftotext", "-raw", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return "".join(out.split())

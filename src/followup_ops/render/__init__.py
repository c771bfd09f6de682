"""One rendering stack for every report followup-ops writes: Jinja2 templates to HTML, SVG charts drawn here, and
WeasyPrint to lay the same HTML out as a printable PDF (A4) with Debian's Noto CJK fonts.

Reports speak Chinese first and English second, and are plain to print: black on white, tables with ruled lines,
page numbers, no colour needed to read a status (each status is also written out: 符合 pass, 不符合 fail ...).

    from followup_ops import render
    paths = render.write("upgrade/test_document.html.j2", context, out_dir, "test-document")
    # {"html": Path, "pdf": Path, "html_sha256": ..., "pdf_sha256": ...}

Templates live in src/followup_ops/render/templates/ and extend base.html.j2 (title, subtitle, meta table,
sections, a signature block when the report needs one).
"""

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

from followup_ops.errors import OpsError
from followup_ops.render import charts

TEMPLATES = Path(__file__).resolve().parent / "templates"
FONT_FAMILY = '"Noto Sans CJK SC", "Noto Sans SC", "Noto Sans", sans-serif'

STATUS_LABELS = {
    "pass": ("符合", "pass"),
    "partial": ("部分符合", "partial"),
    "fail": ("不符合", "fail"),
    "na": ("不适用", "not applicable"),
    "manual": ("人工核查", "manual check"),
    "error": ("检查错误", "check error"),
    "warn": ("注意", "warning"),
    "ok": ("正常", "normal"),
    "abnormal": ("异常", "abnormal"),
}


def environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(font_family=FONT_FAMILY, charts=charts, status_label=status_label)
    env.filters["status_label"] = status_label
    env.filters["status_class"] = lambda s: f"st-{s}"
    return env


def status_label(status):
    zh, en = STATUS_LABELS.get(status, (status, status))
    return f"{zh} {en}"


def html(template, context):
    """Render TEMPLATE (a path under templates/) with CONTEXT; `generated_at` is added when missing."""
    context = dict(context)
    context.setdefault("generated_at", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    return environment().get_template(template).render(**context)


def pdf(html_text, path):
    """Lay HTML_TEXT out as a PDF at PATH (A4, page numbers, CJK fonts)."""
    try:
        from weasyprint import HTML
    except ImportError as err:  # pragma: no cover - the virtualenv always has it
        raise OpsError(f"WeasyPrint is missing ({err}): run `make venv`, then retry") from err
    except OSError as err:  # pango missing
        raise OpsError(f"WeasyPrint cannot load its libraries ({err}): run `make bootstrap` as root") from err
    HTML(string=html_text, base_url=str(TEMPLATES)).write_pdf(str(path))
    return Path(path)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _atomic_write_text(path, text):
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write(template, context, out_dir, stem, pdf_too=True):
    """Write <stem>.html (and <stem>.pdf) into OUT_DIR; return their paths and sha256 digests."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = html(template, context)
    html_path = out_dir / f"{stem}.html"
    _atomic_write_text(html_path, text)
    result = {"html": html_path, "html_sha256": sha256(html_path)}
    if pdf_too:
        pdf_path = out_dir / f"{stem}.pdf"
        tmp = pdf_path.with_name(f".{pdf_path.name}.tmp-{os.getpid()}")
        pdf(text, tmp)
        os.replace(tmp, pdf_path)
        result.update(pdf=pdf_path, pdf_sha256=sha256(pdf_path))
    return result

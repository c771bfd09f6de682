"""The HTML and PDF reports, read back: the PDF's text layer and its first page read by OCR (a missing CJK font
would print boxes), failures first with evidence, waived rows as waived, the unreachable host named."""

import pytest
from evidencekit import CATALOGUE
from renderkit import ocr, page_images, pdf_text
from test_compliance_report import scan

from followup_ops import render
from followup_ops.commands import compliance


@pytest.fixture(scope="module")
def context():
    doc = scan()
    doc["trend"] = {
        "runs": [
            {"id": "r0", "ts": "2026-11-01T02:00:00Z", "score": 10.0},
            {"id": doc["run"]["id"], "ts": doc["run"]["started_at"], "score": 20.0},
        ],
        "previous": {"id": "r0", "ts": "2026-11-01", "score": 10.0},
        "score_change": 10.0,
        "new_failures": ["app1/LNX-ACC-03"],
        "fixed": [],
        "still_failing": 1,
    }
    doc["waivers"]["expiring"] = []
    return compliance.html_context(doc, CATALOGUE)


def test_the_html_report_is_chinese_with_an_english_toggle_and_escapes_values(context):
    html = render.html("compliance/report.html.j2", dict(context, pdf=False))
    assert "等保 2.0 第三级 合规检查报告" in html and "show-en" in html and 'class="l-en"' in html
    assert "四、不符合项" in html and "LNX-ACC-03" in html and "postgres (/bin/bash)" in html
    assert "豁免 waived" in html and "lab sudo" in html
    assert "fep1" in html and "ssh: timed out" in html
    assert html.index("四、不符合项") < html.index("八、全部检查结果")
    assert "<svg" in html  # score per host, and the trend


def test_the_pdf_reads_back_chinese_first_with_english_beside(context, tmp_path):
    path = tmp_path / "report.pdf"
    render.pdf(render.html("compliance/report.html.j2", dict(context, pdf=True)), path)
    text = "".join(pdf_text(path))
    assert "合规检查报告" in text and "compliance check report" in text
    assert "不符合" in text and "LNX-ACC-03" in text and "/etc/passwd" in text
    assert "豁免" in text and "检查错误" in text and "第 1 页" in text
    assert "系统账户不可登录" in text and "System accounts" in text  # English beside the Chinese
    first = ocr(page_images(path, tmp_path / "pages")[0])
    assert "合规检查报告" in first, first[:300]
    assert "结论" in first

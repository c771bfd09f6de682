"""The rendering stack: HTML from templates, SVG charts, a PDF whose Chinese text can be read back from its pages."""

import pytest
from renderkit import pdf_text, read_pdf

from followup_ops import render
from followup_ops.render import charts

CONTEXT = {
    "title": "测试报告",
    "subtitle": "Test report",
    "meta": [("系统 System", "人工智能医院随访系统 V1.0"), ("环境 Environment", "lab")],
    "rows": [{"host": "app1", "status": "pass", "count": 12}, {"host": "fep1", "status": "fail", "count": 3}],
    "trend_labels": ["2026Q3", "2026Q4"],
    "trend_values": [72.5, 91],
    "signatures": ["信息科 IT department", "运维工程师 Engineer"],
    "seal": True,
}


def test_html_escapes_values_and_writes_statuses_in_words(tmp_path):
    html = render.html("sample.html.j2", dict(CONTEXT, rows=[{"host": "<script>", "status": "fail", "count": 1}]))
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "不符合 fail" in html and "签字 Signature" in html and "公司公章" in html


def test_a_missing_value_is_an_error_not_an_empty_cell():
    with pytest.raises(Exception, match="rows"):
        render.html("sample.html.j2", {k: v for k, v in CONTEXT.items() if k != "rows"})


def test_charts_write_their_numbers_on_themselves():
    svg = charts.bar_chart(["Q3", "Q4"], [72.5, 91], title="得分", unit="%")
    assert svg.startswith("<svg") and ">72.5<" in svg and ">91<" in svg and ">Q4<" in svg
    line = charts.line_chart(["a", "b", "c"], [1, None, 3])
    assert line.count("<circle") == 2 and "<polyline" in line


def test_the_pdf_reads_back_in_chinese_and_english(tmp_path):
    paths = render.write("sample.html.j2", CONTEXT, tmp_path, "sample")
    assert paths["pdf"].read_bytes().startswith(b"%PDF") and len(paths["pdf_sha256"]) == 64
    text = "".join(pdf_text(paths["pdf"]))
    assert "测试报告" in text and "不符合 fail" in text and "第 1 页" in text
    pages = read_pdf(paths["pdf"], tmp_path)
    seen = " ".join(t for _, t in pages)
    assert "测试报告" in seen, seen[:500]
    assert "Test report" in seen and "检查结果" in seen and "符合" in seen and "签字" in seen

"""The drift report: JSON, PNG and a self-contained HTML page with escaped values."""

from __future__ import annotations

import json

from triage_ml.contract.validation import validate_posts
from triage_ml.monitor.drift import check_drift
from triage_ml.monitor.report import write_drift_report
from triage_ml.synthetic.generator import generate_sample

LABELS = ["complaint", "sales_lead", "product_review", "influencer"]


def test_report_files_and_escaping(monitored_bundle, tmp_path) -> None:
    posts, _ = validate_posts(generate_sample(300, seed=3), label_set=LABELS)
    posts.loc[:80, "channel"] = "<script>alert(1)</script>"
    result = check_drift(monitored_bundle, posts)
    written = write_drift_report(result, tmp_path, data_source="recent & <new>.csv")
    assert set(written) == {"json", "png", "html"}
    assert written["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = written["html"].read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert "recent &amp; &lt;new&gt;.csv" in html
    assert 'src="http' not in html  # self-contained
    payload = json.loads(written["json"].read_text())
    assert "channel" in payload["flagged"]
    for text in posts["text"].head(20):
        assert text not in html

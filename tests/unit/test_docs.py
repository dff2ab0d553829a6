"""docs/annotations.md is generated from the annotation declarations: it must not go stale."""

from __future__ import annotations

import io
from pathlib import Path

from lbctl.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_annotations_page_is_generated_from_the_declarations() -> None:
    out = io.StringIO()
    assert main(["annotations", "--markdown"], out=out) == 0
    expected = (DOCS / "annotations.header.md").read_text() + out.getvalue()
    assert (DOCS / "annotations.md").read_text() == expected, "run `make docs`"


def test_every_annotation_is_listed_with_its_doc() -> None:
    from providers.aws.annotations import ANNOTATIONS

    page = (DOCS / "annotations.md").read_text()
    for ann in ANNOTATIONS.annotations:
        assert f"`{ann.key}`" in page
        assert ann.doc.replace("|", "\\|") in page

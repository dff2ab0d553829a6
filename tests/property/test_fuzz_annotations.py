"""Annotation parsing over random text, for every annotation every installed provider declares.

`AnnotationSet.parse_all` must never raise: a value that does not parse becomes one
FieldError naming that annotation with the raw value and why, and then reads as the
annotation's default. A map of many annotations gives exactly the errors its values give
one by one (one bad value never hides or causes another's error).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbctl.annotations import Annotation, AnnotationSet
from lbctl.errors import FieldError, InvalidInput
from lbctl.provider import ProviderConfig, available, load_provider
from tests.property.strategies import GARBAGE_TEXT, annotation_value, examples

SETS: dict[str, AnnotationSet] = {
    name: load_provider(name, ProviderConfig(cluster_id="fuzz", offline=True)).annotations
    for name in available()
}
DECLARED: list[tuple[str, Annotation[Any]]] = [
    (name, ann) for name, aset in SETS.items() for ann in aset.annotations
]

TEXT = st.one_of(
    GARBAGE_TEXT,
    st.text(max_size=200),
    st.text(alphabet="0123456789+- ,=*", max_size=40),
    st.integers().map(str),
    st.just("9" * 5000),  # past Python's int() digit limit
)


def value_for(ann: Annotation[Any]) -> st.SearchStrategy[str]:
    return st.one_of(annotation_value(ann.key), TEXT)


def test_every_provider_declares_annotations() -> None:
    assert {"aws", "gce"} <= set(SETS), f"installed providers: {sorted(SETS)}"
    assert all(aset.annotations for aset in SETS.values())


@pytest.mark.parametrize(("provider", "ann"), DECLARED, ids=[f"{p}:{a.key}" for p, a in DECLARED])
@examples(8)
@given(data=st.data())
def test_parse_all_names_the_annotation_and_its_value(
    provider: str, ann: Annotation[Any], data: st.DataObject
) -> None:
    aset = SETS[provider]
    raw = data.draw(value_for(ann), label="value")
    parsed, errors = aset.parse_all({ann.key: raw})
    assert parsed.present(ann)
    assert parsed.raw == {ann.key: raw}
    if errors:
        (error,) = errors
        assert isinstance(error, FieldError)
        assert error.annotation == ann.key
        assert error.field is None
        assert error.value == raw
        assert isinstance(error.message, str) and error.message.strip()
        assert parsed[ann] == ann.default, "a value that does not parse reads as the default"
        with pytest.raises(InvalidInput) as caught:
            aset.parse({ann.key: raw})
        assert caught.value.errors == errors
    else:
        value = ann.parse(raw)  # the declared parser accepts it on its own too
        assert parsed[ann] == value
        assert aset.parse({ann.key: raw})[ann] == value


@st.composite
def annotation_map(draw: st.DrawFn, provider: str) -> dict[str, str]:
    chosen = draw(st.lists(st.sampled_from(SETS[provider].annotations), unique_by=lambda a: a.key))
    out = {a.key: draw(value_for(a)) for a in chosen}
    out.update(draw(st.dictionaries(GARBAGE_TEXT, GARBAGE_TEXT, max_size=3)))
    return out


@examples(100)
@given(data=st.data(), provider=st.sampled_from(sorted(SETS)))
def test_parse_all_of_a_map_is_the_parse_of_each_value(provider: str, data: st.DataObject) -> None:
    aset = SETS[provider]
    raw = data.draw(annotation_map(provider), label="annotations")
    parsed, errors = aset.parse_all(raw)
    declared = {a.key for a in aset.annotations}
    assert parsed.raw == {k: v for k, v in raw.items() if k in declared}
    expected: dict[str, FieldError] = {}
    for ann in aset.annotations:
        if ann.key in raw:
            _, alone = aset.parse_all({ann.key: raw[ann.key]})
            expected.update({e.annotation or "": e for e in alone})
    assert {e.annotation: e for e in errors} == expected
    assert len(errors) == len(expected), "one error per bad annotation"

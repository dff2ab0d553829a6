"""A Service's name and UID are checked before anything is named after them."""

from __future__ import annotations

import pytest

from lbctl.errors import InvalidInput
from lbctl.flow import check_identity
from lbctl.model import ServiceView


def view(uid: str, name: str = "web") -> ServiceView:
    return ServiceView.from_dict(
        {"metadata": {"name": name, "namespace": "default", "uid": uid}, "spec": {}}
    )


@pytest.mark.parametrize(
    "uid", ["6a3c1f7e-1111-2222-3333-444455556666", "6a3c1f7e11112222", "abc", "a-b"]
)
def test_api_server_uids_are_accepted(uid: str) -> None:
    check_identity(view(uid))


@pytest.mark.parametrize("uid", ["UID-WITH-CAPS", "-", "a--b", "-abc", "abc-", "a_b", "a b", "é"])
def test_a_uid_no_cloud_can_name_a_balancer_after_is_rejected(uid: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_identity(view(uid))
    [error] = caught.value.errors
    assert error.field == "metadata.uid"
    assert error.value == uid
    assert "lowercase letters, digits and '-'" in str(error)


def test_missing_name_and_uid_are_both_reported() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_identity(view("", name=""))
    assert [e.field for e in caught.value.errors] == ["metadata.name", "metadata.uid"]

"""Version ranges and the table of version-dependent API server answers."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.expectations import (
    NOT_APPLICABLE,
    REQUESTS,
    TABLE,
    VersionRange,
    checks,
    expected,
    not_applicable,
    not_applicable_rows,
)
from harness.kubeversion import KubeVersion


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        (">=1.16", [(1, 16), (1, 34), (2, 0)], [(1, 15), (0, 99)]),
        ("<1.16", [(1, 15), (1, 0)], [(1, 16), (1, 20)]),
        (">=1.16,<1.20", [(1, 16), (1, 19)], [(1, 15), (1, 20)]),
        (">1.16, <=1.18", [(1, 17), (1, 18)], [(1, 16), (1, 19)]),
        ("1.22", [(1, 22)], [(1, 21), (1, 23)]),
        ("==1.22", [(1, 22)], [(1, 2), (1, 220)]),
        ("*", [(1, 0), (1, 99)], []),
    ],
)
def test_version_range_contains(text: str, inside: list[tuple[int, int]], outside: list[tuple[int, int]]) -> None:
    r = VersionRange.parse(text)
    assert all(r.contains(*v) for v in inside)
    assert not any(r.contains(*v) for v in outside)


def test_version_range_prints_normalised() -> None:
    assert str(VersionRange.parse(" >=1.16 , <1.20 ")) == ">=1.16,<1.20"
    assert str(VersionRange.parse("1.22")) == "==1.22"
    assert str(VersionRange.parse("")) == "*"


@pytest.mark.parametrize("bad", [">=1", "1.16-", "~1.16", ">=1.16;<1.20", "latest"])
def test_version_range_rejects_nonsense(bad: str) -> None:
    with pytest.raises(ConfigError, match="bad version range"):
        VersionRange.parse(bad)


def test_a_range_compares_minors_and_refuses_a_patch() -> None:
    with pytest.raises(ConfigError, match=r"bad version range '>=1.16.3': cannot read '>=1.16.3'"):
        VersionRange.parse(">=1.16.3")


def test_the_table_takes_a_version_as_text_pair_or_kube_version() -> None:
    by_text = expected("rollback-apps-v1beta1", "v1.34.4")
    assert (
        by_text
        == expected("rollback-apps-v1beta1", (1, 34))
        == expected("rollback-apps-v1beta1", KubeVersion(1, 34, 4))
    )


@pytest.mark.parametrize(
    ("check", "version", "status", "body"),
    [
        ("rollback-apps-v1beta1", "1.15", 201, "rollback request for deployment"),
        ("rollback-apps-v1beta1", "1.16", 404, None),
        ("rollback-apps-v1beta1", "v1.34.0", 404, None),
        ("rollback-extensions-v1beta1", "1.16", 404, None),
        ("rollback-extensions-v1beta1", "1.14", 201, "rollback request for deployment"),
        ("json-patch-with-object", "1.34", 400, "json"),
        ("patch-unsupported-content-type", "1.12", 415, "unknown format"),
        ("apply-without-field-manager", "1.18", 422, "fieldManager"),
        ("apply-conflict-without-force", "1.30", 409, "conflict"),
        ("strategic-merge-patch-custom-resource", "1.34", 415, "merge-patch"),
    ],
)
def test_recorded_facts(check: str, version: str, status: int, body: str | None) -> None:
    e = expected(check, version)
    assert (e.check, e.status, e.body) == (check, status, body)


def test_no_expectation_outside_recorded_ranges() -> None:
    with pytest.raises(ConfigError, match="no expectation for 'apply-without-field-manager' on 1.17"):
        expected("apply-without-field-manager", "1.17")


def test_unknown_check_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown check 'nope'.*rollback-apps-v1beta1"):
        expected("nope", "1.30")


def test_ranges_of_a_check_never_overlap() -> None:
    for check in checks():
        rows = [e for e in TABLE if e.check == check]
        for minor in range(0, 60):
            assert sum(e.versions.contains(1, minor) for e in rows) <= 1, (check, minor)


def test_every_check_says_what_it_sends() -> None:
    assert set(REQUESTS) == set(checks())


def test_matches_status_and_body_fragment() -> None:
    e = expected("json-patch-with-object", "1.34")
    body = "json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp"
    assert e.matches(400, body)
    assert e.matches(400, body.upper())
    assert not e.matches(400, "something else")
    assert not e.matches(422, body)
    assert expected("rollback-apps-v1beta1", "1.34").matches(404)


def test_describe_a_mismatch() -> None:
    assert expected("rollback-apps-v1beta1", "1.34").describe("v1.34.1", 200) == "1.34: expected 404, observed 200"
    text = expected("json-patch-with-object", "1.30").describe("1.30", 400, "nope")
    assert text == "1.30: expected 400 with body containing 'json', observed 400 (body: 'nope')"


@pytest.mark.parametrize(
    ("version", "missing"),
    [
        ("1.15", ["server-side-apply", "daemonset-max-surge"]),
        ("1.21", ["daemonset-max-surge"]),
        ("1.22", []),
        ("v1.37.2", []),
    ],
)
def test_not_applicable_rows_name_what_a_scenario_lacks(version: str, missing: list[str]) -> None:
    rows = not_applicable_rows(["server-side-apply", "daemonset-max-surge"], version)
    assert [r.check for r in rows] == missing
    assert all(not r.applicable and r.why for r in rows)


def test_the_legacy_rollback_scenarios_apply_on_complementary_versions() -> None:
    for minor in (14, 15, 16, 37):
        removed = not_applicable("legacy-rollback-removed", (1, minor)) is None
        served = not_applicable("legacy-rollback-served", (1, minor)) is None
        assert removed != served and removed == (minor >= 16)


def test_a_not_applicable_row_never_matches_an_answer() -> None:
    row = expected("server-side-apply", "1.15")
    assert row.status is NOT_APPLICABLE and not row.matches(415, "Unsupported Media Type")
    assert "expected no such request" in row.describe("1.15", 415)


def test_walkthrough_rows_before_and_after_1_16() -> None:
    assert expected("walkthrough-rollback", "1.15").status == 201
    assert expected("walkthrough-patch-json-patch", "1.15").status == 400
    for check in (
        "walkthrough-patch-strategic-merge",
        "walkthrough-patch-merge",
        "walkthrough-patch-json-patch",
        "walkthrough-rollback",
    ):
        assert expected(check, "1.16").status == 404 and expected(check, "1.37").status == 404

"""The built-in compliance framework mappings: the YAML files in apps/reports/frameworks/.

These read files only; no database is needed.
"""
from __future__ import annotations

import pytest

from apps.events.query import validate_query
from apps.reports.frameworks_data import FrameworkFileError, _check, builtin_frameworks

EXPECTED_CONTROLS = {
    "soc2_type2": ["CC6.1", "CC6.2", "CC6.3", "CC7.2", "CC7.3", "CC8.1"],
    "iso27001_2022": ["A.5.15", "A.5.18", "A.8.2", "A.8.15", "A.8.16"],
    "hipaa": ["164.308(a)(1)(ii)(D)", "164.312(b)", "164.308(a)(5)(ii)(C)"],
    "pci_dss_4": ["10.2.1.1", "10.2.1.2", "10.2.1.3", "10.2.1.4", "10.2.1.5", "10.2.1.6", "10.2.1.7",
                  "10.2.2", "10.3", "10.4.1", "10.5.1", "10.7"],
    "gdpr": ["Art. 30", "Art. 32", "Art. 33"],
    "nist_800_53": ["AU-2", "AU-3", "AU-6", "AU-9", "AU-11", "AU-12"],
    "fedramp_moderate": ["AU-2", "AU-3", "AU-3(1)", "AU-6", "AU-6(1)", "AU-9", "AU-9(4)", "AU-11", "AU-12"],
}

# Controls about the log's own integrity and retention draw on the console's own audit trail.
SELF_EVIDENCED = {
    "pci_dss_4": ["10.3", "10.5.1"],
    "nist_800_53": ["AU-9", "AU-11"],
    "fedramp_moderate": ["AU-9", "AU-11"],
}


def _frameworks() -> dict[str, dict]:
    return {data["key"]: data for data in builtin_frameworks()}


def _control(key: str, ref: str) -> dict:
    return next(control for control in _frameworks()[key]["controls"] if control["ref"] == ref)


def _all_evidence():
    for data in builtin_frameworks():
        for control in data["controls"]:
            for item in control["evidence"]:
                yield pytest.param(item, id=f"{data['key']}-{control['ref']}-{item['title']}")


@pytest.mark.parametrize("key", sorted(EXPECTED_CONTROLS))
def test_every_builtin_framework_file_loads_with_every_control_the_issue_lists(key):
    frameworks = _frameworks()
    assert key in frameworks
    refs = [control["ref"] for control in frameworks[key]["controls"]]
    assert all(isinstance(ref, str) for ref in refs)
    assert set(EXPECTED_CONTROLS[key]) <= set(refs)


def test_the_pci_hipaa_iso_gdpr_and_nist_files_list_exactly_the_controls_the_issue_names():
    frameworks = _frameworks()
    for key in ("iso27001_2022", "hipaa", "pci_dss_4", "gdpr", "nist_800_53"):
        assert [control["ref"] for control in frameworks[key]["controls"]] == EXPECTED_CONTROLS[key]


def test_frameworks_come_in_the_order_of_their_positions_with_soc2_first():
    keys = [data["key"] for data in builtin_frameworks()]
    assert keys[:7] == ["soc2_type2", "iso27001_2022", "hipaa", "pci_dss_4", "gdpr", "nist_800_53",
                        "fedramp_moderate"]
    positions = [data["position"] for data in builtin_frameworks()]
    assert len(set(positions)) == len(positions)


@pytest.mark.parametrize("item", list(_all_evidence()))
def test_every_evidence_query_parses(item):
    validate_query(item["query"])


def test_every_control_has_a_title_a_description_and_one_to_three_evidence_items():
    for data in builtin_frameworks():
        for control in data["controls"]:
            assert control["title"].strip(), (data["key"], control["ref"])
            assert control.get("description", "").strip(), (data["key"], control["ref"])
            assert 1 <= len(control["evidence"]) <= 3, (data["key"], control["ref"])


def test_every_evidence_item_has_a_title_and_says_what_it_shows_in_a_sentence():
    for data in builtin_frameworks():
        for control in data["controls"]:
            for item in control["evidence"]:
                assert item["title"].strip()
                assert item["shows"].strip().endswith("."), (data["key"], control["ref"], item["title"])


def test_fedramp_names_nist_800_53_as_its_basis():
    frameworks = _frameworks()
    assert frameworks["fedramp_moderate"]["based_on"] == "nist_800_53"
    assert "nist_800_53" in frameworks


def test_fedramp_covers_every_nist_au_control_of_the_mapping():
    frameworks = _frameworks()
    nist = {control["ref"] for control in frameworks["nist_800_53"]["controls"]}
    fedramp = {control["ref"] for control in frameworks["fedramp_moderate"]["controls"]}
    assert nist <= fedramp


def test_fedramp_states_its_own_parameter_values():
    assert "weekly" in _control("fedramp_moderate", "AU-6")["description"]
    assert "90 days" in _control("fedramp_moderate", "AU-11")["description"]
    assert "M-21-31" in _control("fedramp_moderate", "AU-11")["description"]


@pytest.mark.parametrize("key,ref", [(key, ref) for key, refs in SELF_EVIDENCED.items() for ref in refs])
def test_controls_about_the_logs_own_integrity_and_retention_draw_on_the_console_audit_trail(key, ref):
    control = _control(key, ref)
    assert any("category:audit" in item["query"] for item in control["evidence"])
    assert any("hash-chain verification" in item["shows"] for item in control["evidence"])


def test_a_framework_file_with_an_invalid_query_is_refused():
    data = {"key": "broken", "name": "Broken", "controls": [
        {"ref": "X-1", "title": "Bad", "evidence": [{"title": "t", "query": "nosuchfield:1", "shows": "s."}]},
    ]}
    with pytest.raises(FrameworkFileError, match="X-1"):
        _check("broken.yaml", data)


def test_a_framework_file_listing_a_control_twice_is_refused():
    evidence = [{"title": "t", "query": "action:auth.login", "shows": "s."}]
    data = {"key": "twice", "name": "Twice", "controls": [
        {"ref": "X-1", "title": "One", "evidence": evidence},
        {"ref": "X-1", "title": "Again", "evidence": evidence},
    ]}
    with pytest.raises(FrameworkFileError, match="appears twice"):
        _check("twice.yaml", data)

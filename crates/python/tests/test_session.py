"""chipscope.Session.open on a session file, its text and its link, and on damaged ones."""

import json

import pytest

import chipscope
from conftest import cli_error, run_cli


def check_fixture(session, original):
    assert session.version == original["version"] == 4
    assert session.source == original["source"] == {"kind": "example", "size": 512, "seed": 1}
    assert session.images == []
    names = [c["name"] for c in session.classes]
    assert names == [c["name"] for c in original["classes"]]
    for mine, theirs in zip(session.classes, original["classes"]):
        assert mine["colour"] == theirs["colour"]
        assert mine["supports"] == theirs["supports"]
        assert mine["elsewhere"] == theirs.get("elsewhere", [])
    assert json.loads(session.to_json())["source"] == original["source"]


def test_open_file(fixture_session):
    original = json.loads(fixture_session.read_text())
    check_fixture(chipscope.Session.open(fixture_session), original)
    check_fixture(chipscope.Session.open(str(fixture_session)), original)


def test_open_text(fixture_session):
    text = fixture_session.read_text()
    check_fixture(chipscope.Session.open(text), json.loads(text))


def test_open_link(fixture_session):
    _, link, _ = run_cli("link", fixture_session)
    link = link.strip()
    assert "#session=" in link
    session = chipscope.Session.open(link)
    check_fixture(session, json.loads(fixture_session.read_text()))
    assert "Session" in repr(session)


def test_round_trip(fixture_session):
    session = chipscope.Session.open(fixture_session)
    again = chipscope.Session.open(session.to_json())
    assert again.to_json() == session.to_json()


def test_wrong_format(fixture_session, tmp_path):
    tampered = tmp_path / "wrong.json"
    original = json.loads(fixture_session.read_text())
    original["format"] = "other"
    tampered.write_text(json.dumps(original))
    with pytest.raises(chipscope.ChipscopeError) as caught:
        chipscope.Session.open(tampered)
    assert str(caught.value) == 'not a Chipscope session file (its format field is "other")'
    assert cli_error("link", tampered) == f"error: cannot use session {tampered}: {caught.value}"
    with pytest.raises(chipscope.ChipscopeError):
        chipscope.Session.open(tampered.read_text())


def test_truncated(fixture_session, tmp_path):
    truncated = tmp_path / "truncated.json"
    truncated.write_text(fixture_session.read_text()[:200])
    with pytest.raises(chipscope.ChipscopeError) as caught:
        chipscope.Session.open(truncated)
    assert str(caught.value).startswith("the session file is damaged or not JSON (")
    assert cli_error("link", truncated).endswith(str(caught.value))


def test_damaged_field(fixture_session):
    original = json.loads(fixture_session.read_text())
    original["grid"]["chip_size"] = "big"
    with pytest.raises(chipscope.ChipscopeError) as caught:
        chipscope.Session.open(json.dumps(original))
    assert str(caught.value).startswith("the session file is damaged: ")


def test_cut_link(fixture_session):
    _, link, _ = run_cli("link", fixture_session)
    cut = link.strip()[:60]
    with pytest.raises(chipscope.ChipscopeError) as caught:
        chipscope.Session.open(cut)
    message = str(caught.value)
    assert message.startswith("the link is damaged")
    assert cli_error("link", cut) == f"error: cannot use the session link: {message}"


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        chipscope.Session.open(tmp_path / "missing.json")

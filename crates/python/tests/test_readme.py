"""The README's notebook example runs as written, on the files it says to make."""

import re
import shutil

from conftest import REPO, run_cli


def notebook_block() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("\nIn a notebook") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs(tmp_path, monkeypatch, fixture_session_path):
    run_cli("simulate", "--out", tmp_path / "scan.tif", "--seed", 7)
    shutil.copy(fixture_session_path, tmp_path / "session.json")
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(notebook_block(), "README.md", "exec"), scope)
    assert scope["result"].labels.shape == (8, 8)
    assert (tmp_path / "results" / "scan-summary.json").is_file()

"""The provenance block: where a result file's numbers came from."""

import pytest


def test_a_checkout_without_git_takes_its_commit_from_the_environment(benchmark_script, monkeypatch, tmp_path):
    provenance = benchmark_script("provenance")
    monkeypatch.setattr(provenance, "ROOT", tmp_path)  # no .git here, as on a machine the tree was copied to
    monkeypatch.setenv("BENCHMARK_COMMIT", "abc1234")
    block = provenance.provenance(seed=3)
    assert (block["git_commit"], block["git_dirty"], block["seed"]) == ("abc1234", None, 3)


def test_the_repository_commit_wins_over_the_environment(benchmark_script, monkeypatch):
    provenance = benchmark_script("provenance")
    if not (provenance.ROOT / ".git").exists():
        pytest.skip("this checkout has no .git")
    monkeypatch.setenv("BENCHMARK_COMMIT", "abc1234")
    commit = provenance.provenance(seed=None)["git_commit"]
    assert commit is not None and len(commit) == 40 and commit != "abc1234"

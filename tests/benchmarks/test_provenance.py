"""The provenance block: where a result file's numbers came from."""


def test_a_copied_tree_takes_its_commit_from_the_environment(benchmark_script, monkeypatch):
    provenance = benchmark_script("provenance")
    monkeypatch.setenv("BENCHMARK_COMMIT", "abc1234")
    block = provenance.provenance(seed=3)
    assert (block["git_commit"], block["git_dirty"], block["seed"]) == ("abc1234", None, 3)


def test_without_it_a_tree_outside_git_has_no_commit(benchmark_script, monkeypatch, tmp_path):
    provenance = benchmark_script("provenance")
    monkeypatch.delenv("BENCHMARK_COMMIT", raising=False)
    monkeypatch.setattr(provenance, "ROOT", tmp_path)  # no repository here
    block = provenance.provenance(seed=None)
    assert (block["git_commit"], block["git_dirty"]) == (None, None)

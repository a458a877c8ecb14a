"""benchmarks/peer_pairs.py: a peer row meets the ours run it was sized from, whatever file holds it."""

import json

import pytest


def ours(seed, run, learnables, test):
    return {"row": "ours", "seed": seed, "command": f"-m taylorprune prune --seed {seed} --out {run} --quiet",
            "learnables": [1000, learnables], "learnables_reduction": 1 - learnables / 1000, "test_accuracy": test}


def peer(seed, run, learnables, test, target):
    return {"row": "modelopt-budget", "seed": seed, "command": f"modelopt_fastnas.py --like {run} --seed {seed}",
            "learnables": [1000, learnables], "learnables_reduction": 1 - learnables / 1000, "test_accuracy": test,
            "target_learnables": target}


def write(path, rows):
    path.write_text(json.dumps({"provenance": {}, "rows": rows}))
    return path


@pytest.fixture
def files(tmp_path):
    return [write(tmp_path / "a.json", [ours(0, "/r/a0", 400, 86.0), ours(1, "/r/a1", 380, 85.5)]),
            write(tmp_path / "b.json", [ours(0, "/r/b0", 420, 86.4),
                                        peer(0, "/r/b0", 400, 86.0, 420), {"row": "matlab-published"}]),
            write(tmp_path / "c.json", [peer(0, "/r/a0", 390, 85.8, 400), peer(1, "/r/a1", 370, 85.9, 380)])]


def test_each_peer_row_is_paired_with_the_run_its_command_names(benchmark_script, files):
    found = benchmark_script("peer_pairs").pairs(files, "modelopt-budget")
    assert [(p["peer_file"], p["ours_file"], p["run"]) for p in found] == [
        ("b.json", "b.json", "/r/b0"), ("c.json", "a.json", "/r/a0"), ("c.json", "a.json", "/r/a1")]
    assert [round(p["difference"], 6) for p in found] == [0.4, 0.2, -0.4]


def test_a_peer_sized_from_another_run_in_that_folder_is_refused(benchmark_script, tmp_path):
    later = write(tmp_path / "d.json", [ours(0, "/r/a0", 450, 86.0)])  # ran later into a0's folder
    sized = write(tmp_path / "e.json", [peer(0, "/r/a0", 390, 85.8, 400)])  # from the run before it
    with pytest.raises(SystemExit, match="aimed at 400 learnables"):
        benchmark_script("peer_pairs").pairs([later, sized], "modelopt-budget")


def test_two_ours_runs_in_one_folder_are_refused_rather_than_guessed_between(benchmark_script, files, tmp_path):
    again = write(tmp_path / "d.json", [ours(1, "/r/a1", 380, 85.9)])  # a rerun into a1's folder, same size
    with pytest.raises(SystemExit, match="a.json and d.json both ran into /r/a1"):
        benchmark_script("peer_pairs").pairs([*files, again], "modelopt-budget")


def test_the_summary_moves_the_peer_along_its_own_line(benchmark_script):
    script = benchmark_script("peer_pairs")
    # The peer loses 0.1 points per point of reduction and always lands 2 points smaller than ours,
    # so at ours' size it would score 0.2 more than it did: ours' 0.3 lead shrinks to 0.1 there.
    found = [{"ours_reduction": r, "ours_test": 90 - 0.1 * (r + 2) + 0.3 + noise, "peer_reduction": r + 2,
              "peer_test": 90 - 0.1 * (r + 2) + noise, "difference": 0.3}
             for r, noise in [(50, 0.0), (55, 0.0), (60, 0.0), (65, 0.0)]]
    s = script.summary(found)
    assert s["peer_line"]["slope"] == pytest.approx(-0.1)
    assert s["size_adjusted_difference"]["mean"] == pytest.approx(0.1)
    assert s["fewer_learnables_at_equal_accuracy"]["mean"] == pytest.approx(1.0)  # the 0.1 lead at 0.1 per point
    assert s["peer_more_pruned_by"]["mean"] == pytest.approx(2.0)
    assert (s["ours_ahead"], s["ours_ahead_by_a_point"]) == (4, 0)

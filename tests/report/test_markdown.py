from taylorprune.prune import PruningInfo, PruningRecord, StopReason
from taylorprune.report.markdown import pruning_report


def _info(latency: bool) -> PruningInfo:
    ms = (10.0, 6.0) if latency else (0.0, 0.0)
    return PruningInfo(
        pruning_history=[PruningRecord(0, 1000, 0.0, 90.0, True, 2000, ms[0]),
                         PruningRecord(1, 600, 0.4, 86.5, True, 1000, ms[1])],
        stop_reason=StopReason.THRESHOLD, original_learnables=1000, original_macs=2000, learnables=600)


def test_the_iteration_table_has_macs_and_latency_only_when_recorded():
    plain = pruning_report(_info(latency=False), 1000, 85.0, 85.0)
    assert "| iteration | learnables | reduction | MACs | validation accuracy | meets threshold |" in plain
    assert "| 1 | 600 | 40.0% | 0.500× | 86.5 | yes |" in plain and "latency" not in plain
    timed = pruning_report(_info(latency=True), 1000, 85.0, 85.0)
    assert "| 1 | 600 | 40.0% | 0.500× | 6.00 ms (0.600×) | 86.5 | yes |" in timed
    assert all(line.count("|") == 8 for line in timed.splitlines() if line.startswith("| 0 |"))


def test_the_report_gives_the_validation_interval_the_test_figure_and_the_budget():
    info = _info(latency=False)
    info.pruning_history[1].validation_low, info.pruning_history[1].validation_high = 85.41, 87.52
    info.acceptance = {"images": 4000, "confidence": 0.95, "decision_confidence": 0.99, "max_failed_steps": 4,
                       "selection_images": 1000}
    info.time_budget_s, info.elapsed_s = 900.0, 880.4
    info.time_split = {"fine_tuning": 700.2, "scoring": 40.0, "acceptance": 12.0, "other": 0.1}
    report = pruning_report(info, 1000, 85.9, 85.0)
    assert "one-sided 99% lower bound (Wilson) of its accuracy on 4,000 acceptance examples met 85 (the search's " \
           "95% shared out over the 5 sequences of decisions its 4 allowed failed steps may start)" in report
    assert "validation accuracy 86.5% on the acceptance examples, 99% bounds 85.41-87.52%" in report
    assert "Test accuracy of the returned network: 85.9%. The test data was never used for a decision." in report
    assert "Wall time: 880 s of a 900 s budget (fine_tuning 700 s, scoring 40 s, acceptance 12 s)." in report
    assert "| 1 | 600 | 40.0% | 0.500× | 86.5 | 85.41 | yes |" in report


def test_matlabs_rule_reports_the_plain_figure():
    report = pruning_report(_info(latency=False), 1000, 85.9, 85.0)
    assert "the plain validation figure against 85 (MATLAB's rule)" in report and "bound" not in report


def test_a_ceiling_is_named_with_its_metric():
    info = PruningInfo(
        pruning_history=[PruningRecord(0, 1000, 0.0, 3.6, True, 2000), PruningRecord(1, 600, 0.4, 5.1, True, 1000)],
        stop_reason=StopReason.THRESHOLD, original_learnables=1000, original_macs=2000, learnables=600,
        objective_metric="rmse", higher_is_better=False)
    report = pruning_report(info, 1000, 5.3, 6.0)
    assert "| validation rmse | 3.6 | 5.1 |" in report
    assert "Test rmse of the returned network: 5.3. The test data was never used for a decision." in report
    assert "Validation threshold: 6, a ceiling on rmse (lower is better)." in report

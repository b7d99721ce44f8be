from harness.kubectl import HistoryRow, parse_rollout_history


def test_rollout_history_rows_and_missing_causes() -> None:
    text = (
        "deployment.apps/deployment-demo \n"
        "REVISION  CHANGE-CAUSE\n"
        "2         update deployment-demo to v0.2\n"
        "3         <none>\n"
        "\n"
    )
    assert parse_rollout_history(text) == [HistoryRow(2, "update deployment-demo to v0.2"), HistoryRow(3, None)]


def test_rollout_history_of_nothing_is_empty() -> None:
    assert parse_rollout_history("No rollout history found.\n") == []

import os

from tl_suite import demo


def test_main_job_trains_evaluates_and_writes_tensorboard_logs(tmp_path, capsys):
    log_dir = tmp_path / "logs"
    result = demo.main(["--train-size", "200", "--test-size", "100", "--epochs", "1",
                        "--log-dir", str(log_dir)])
    printed = capsys.readouterr().out
    assert "Test set classification report" in printed and "ankle boot" in printed
    assert f"TensorBoard logs: {log_dir}" in printed
    assert result["confusion_matrix"].sum() == 100
    assert result["metrics"]["accuracy"] > 0.2  # real pretrained features beat chance after one epoch
    assert os.listdir(log_dir / "train") and os.listdir(log_dir / "evaluation")

import os

from tl_suite import demo


def test_main_job_trains_evaluates_and_writes_tensorboard_logs(tmp_path, capsys):
    log_dir = tmp_path / "logs"
    results = demo.main(["--train-size", "200", "--test-size", "100", "--epochs", "5",
                         "--text-examples", "120", "--text-epochs", "25", "--log-dir", str(log_dir)])
    printed = capsys.readouterr().out
    assert "Image test set classification report" in printed and "ankle boot" in printed
    assert "Text test set classification report" in printed and "politics" in printed
    assert f"TensorBoard logs: {log_dir}" in printed
    # Each trained model is saved, reloaded and asked for labels on raw inputs.
    assert printed.count("reloaded it") == 2 and "true    ankle boot" in printed
    assert os.path.exists(log_dir / "image" / "model.keras")
    assert results["image"]["confusion_matrix"].sum() == 100
    assert results["text"]["confusion_matrix"].sum() == 24
    # Real pretrained features beat chance (0.1 / 0.2) after a very short training (the head
    # trains on cached features: epochs take milliseconds).
    assert results["image"]["metrics"]["accuracy"] > 0.2
    assert results["text"]["metrics"]["accuracy"] > 0.4
    for kind in ("image", "text"):
        assert os.listdir(log_dir / kind / "run-001" / "train")
        assert os.listdir(log_dir / kind / "evaluation")

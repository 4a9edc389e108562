"""`python -m utilities.finetune.compare_runs`: groups of 3a runs read back from their event files."""
from __future__ import annotations

import tensorflow as tf
from PIL import Image

from utilities.finetune.compare_runs import main, read_run


def write_run(logdir, name, accuracies, losses, *, steps_per_epoch=5):
    writer = tf.summary.create_file_writer(str(logdir / name / "validation"))
    with writer.as_default():
        for epoch, (accuracy, loss) in enumerate(zip(accuracies, losses, strict=True), start=1):
            tf.summary.scalar("accuracy", accuracy, step=epoch * steps_per_epoch)
            tf.summary.scalar("cross_entropy", loss, step=epoch * steps_per_epoch)
    writer.close()


def test_table_and_figure_from_event_files(tmp_path, capsys):
    logs = tmp_path / "logs"
    write_run(logs, "fm_pretrained_s0", [0.5, 0.7, 0.8], [1.5, 1.0, 0.7])
    write_run(logs, "fm_pretrained_s1", [0.4, 0.6, 0.6], [1.6, 1.1, 0.9])
    write_run(logs, "fm_random_s0", [0.1, 0.1, 0.1], [2.3, 2.3, 2.3])
    run = read_run(logs / "fm_pretrained_s0")
    assert run.steps.tolist() == [5, 10, 15] and run.accuracy.round(3).tolist() == [0.5, 0.7, 0.8]
    out = tmp_path / "fig" / "curves.png"
    assert main([str(logs), "--group", "pretrained=fm_pretrained_s*", "--group", "random=fm_random_s*",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| pretrained | 2 | 3 | 0.700 | 0.800, 0.600 | 0.700 | 0.800 |" in text
    assert "| random | 1 | 3 | 0.100 | 0.100 | 0.100 | 2.300 |" in text
    assert Image.open(out).size == (900, 340)


def test_errors_are_one_line(tmp_path, capsys):
    write_run(tmp_path, "a", [0.5], [1.0])
    (tmp_path / "empty" / "validation").mkdir(parents=True)
    for argv, message in (([str(tmp_path), "--group", "x=b*"], "--group x=b*: no run folder under"),
                          ([str(tmp_path / "none"), "--group", "x=a"], "LOGDIR"),
                          ([str(tmp_path), "--group", "x=empty"], "no 'accuracy' curve")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err

"""features_svm --reduce (004's "going further", issue 23): PCA, whitened PCA and random projection
fitted on the training features only, their dims, and their limits checked before any extraction."""
from __future__ import annotations

import argparse
import re

import numpy as np
import pytest
from sklearn.decomposition import PCA

import features_svm
import models
from tests.features_svm_data import write_digits_lists
from utilities.features_svm import classifiers, experiment
from utilities.features_svm import reduce as reductions
from utilities.features_svm.errors import FeaturesSvmError


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return write_digits_lists(tmp_path_factory.mktemp("digits_reduce"), train=100, test=60, size=12)


def test_parse_reduction():
    assert reductions.parse_reduction("none") is reductions.NONE
    for text, kind, dim, label in (("pca:64", "pca", 64, "pca64"), ("pca-whiten:8", "pca-whiten", 8, "pca-whiten8"),
                                   ("random:300", "random", 300, "random300")):
        r = reductions.parse_reduction(text)
        assert (r.kind, r.dim, r.spec, r.label) == (kind, dim, text, label)
    for bad in ("pca", "pca:0", "pca:-3", "svd:4", "pca:4.5", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="use none, pca:N, pca-whiten:N or random:N"):
            reductions.parse_reduction(bad)
    args = features_svm.build_parser().parse_args(["--reduce", "none", "pca:16", "random:32"])
    assert [r.spec for r in args.reduce] == ["none", "pca:16", "random:32"]
    assert features_svm.build_parser().parse_args([]).reduce == ["none"]


def test_reductions_are_fitted_on_the_training_features_only():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(50, 20)) * np.linspace(5, 0.1, 20)
    test = rng.normal(size=(30, 20)) + 3
    for spec in ("pca:5", "pca-whiten:5", "random:7"):
        r = reductions.parse_reduction(spec)
        a_train, a_test = reductions.fit(r, train, test, seed=0)
        assert a_train.shape == (50, r.dim) and a_test.shape == (30, r.dim)
        np.testing.assert_allclose(np.linalg.norm(a_test, axis=1), 1, rtol=1e-5)   # L2-normalised again
        b_train, b_test = reductions.fit(r, train, test * 10 - 7, seed=0)           # other test rows ...
        np.testing.assert_allclose(b_train, a_train, rtol=1e-6)                       # ... change nothing fitted
    pca = PCA(5).fit(train)
    expected = pca.transform(test)
    _, ours = reductions.fit(reductions.parse_reduction("pca:5"), train, test)
    np.testing.assert_allclose(np.abs(ours), np.abs(expected / np.linalg.norm(expected, axis=1, keepdims=True)),
                               rtol=1e-4, atol=1e-6)
    whitened, _ = reductions.fit(reductions.parse_reduction("pca-whiten:5"), train, test)
    assert reductions.fit(reductions.NONE, train, test) == (train, test)
    assert whitened.shape == (50, 5)


def test_cross_validation_refits_the_reduction_on_each_fold():
    seen = []

    def spy(train, held_out):
        seen.append((len(train), len(held_out)))
        return reductions.fit(reductions.parse_reduction("pca:3"), train, held_out)

    x = np.random.default_rng(0).normal(size=(40, 6))
    y = np.repeat(np.arange(4), 10)
    scores = classifiers.cross_validate("linear-svm", [0.1, 1.0], x, y, folds=4, transform=spy)
    assert seen == [(30, 10)] * 4          # fitted on each fold's training part, once per fold for every C
    assert set(scores) == {0.1, 1.0}
    assert classifiers.smallest_fold(4, y) == 30 and classifiers.smallest_fold(3, y) == 26


def test_a_run_with_reductions_reports_dims_accuracy_and_times(digits, tmp_path):
    train, test = digits
    result = experiment.run(experiment.Config(train_list=train, test_list=test, model="pixels", image_size=12,
                                              reduce=["none", "pca:8", "pca-whiten:8", "random:32"], C=[0.1, 1],
                                              cv_folds=3, output_dir=tmp_path, progress=False))
    rows = {(r.reduction, r.C): r for r in result.rows}
    assert {k: r.classifier_dim for k, r in rows.items() if k[1] == 1} == {
        ("none", 1): 432, ("pca:8", 1): 8, ("pca-whiten:8", 1): 8, ("random:32", 1): 32}
    assert all(r.dim == 432 and r.cv_accuracy is not None and r.fit_seconds > 0 for r in result.rows)
    assert rows[("pca:8", 1)].test_accuracy > 0.5, rows      # 8 components of the raw digits still separate them
    assert [r.layer for r in result.results] == ["pixels", "pixels_pca8", "pixels_pca-whiten8", "pixels_random32"]
    csv = (tmp_path / "sweep.csv").read_text().splitlines()
    assert csv[0].endswith("chosen,reduction,classifier_dim,reduce_seconds,fit_seconds,predict_seconds")
    assert len(csv) == 9 and any(",pca-whiten:8,8," in line for line in csv)
    assert (tmp_path / "confusion_pixels_random32.png").is_file()
    assert "pca-whiten:8" in (tmp_path / "report.txt").read_text()


@pytest.mark.parametrize(("argv", "message"), [
    (["--reduce", "pca:500"], r"--reduce pca:500: PCA fitted on 100 training rows has at most 100 components"),
    (["--reduce", "pca:90", "--C", "1", "10"], r"--reduce pca:90: PCA fitted on 80 training rows"),   # a CV fold's
    (["--reduce", "random:2000"], r"--reduce random:2000: the features have only 432 values; give N <= 432"),
])
def test_impossible_reductions_are_refused_before_extraction(argv, message, digits, tmp_path, capsys, monkeypatch):
    from utilities.features_svm.extract import FeatureExtractor

    monkeypatch.setattr(FeatureExtractor, "extract", lambda *a, **k: pytest.fail("extracted before the check"))
    monkeypatch.setattr(models, "build_model", lambda *a, **k: pytest.fail("built before the check"))
    train, test = digits
    code = features_svm.main(["--train-list", str(train), "--test-list", str(test), "--model", "pixels",
                              "--image-size", "12", "--output-dir", str(tmp_path), "--no-progress", *argv])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert re.search(message, err), err


def test_reduce_bad_spec_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as info:
        features_svm.main(["--reduce", "svd:4"])
    assert info.value.code == 2
    assert "argument --reduce: 'svd:4': use none, pca:N, pca-whiten:N or random:N" in capsys.readouterr().err


def test_config_rejects_a_bad_reduction_string():
    with pytest.raises(FeaturesSvmError, match=r"--reduce 'pca:x'"):
        experiment.check_config(experiment.Config(reduce=["pca:x"], weights="random"))

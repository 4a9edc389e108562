"""The autoencoder's parts without training: builder symmetry and shapes, noisy inputs, the CAE-vs-PCA scores, flags."""
from __future__ import annotations

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import autoencoder as cli
from models.autoencoder import ArchitectureError, build_autoencoder, check_architecture, symmetry_problems
from utilities.autoencoder import AutoencoderConfig, UsageError
from utilities.autoencoder.comparison import (
    binary_cross_entropy,
    compare_with_pca,
    fit_pca,
    format_scores,
    pca_reconstruct,
    write_scores,
)
from utilities.autoencoder.data import add_noise, evaluation_subset, one_per_class, steps_per_epoch, training_pairs
from utilities.autoencoder.grids import tile_rows


@pytest.mark.parametrize(("filters", "pools", "maps"), [
    ((4,), 0, [(28, 28, 4)]),
    ((4, 8), None, [(28, 28, 4), (14, 14, 4), (14, 14, 8)]),
    ((4, 8, 16), None, [(28, 28, 4), (14, 14, 4), (14, 14, 8), (7, 7, 8), (7, 7, 16)]),
    ((4, 8, 16, 32), 2, [(28, 28, 4), (14, 14, 4), (14, 14, 8), (7, 7, 8), (7, 7, 16), (7, 7, 32)]),
    ((4, 8), 2, [(28, 28, 4), (14, 14, 4), (14, 14, 8), (7, 7, 8)]),
])
def test_builder_is_symmetric_for_several_depths(filters, pools, maps):
    net = build_autoencoder((28, 28, 1), filters, latent_dim=2, pools=pools)
    assert symmetry_problems(net.encoder, net.decoder) == []
    encoder_maps = [tuple(layer.output.shape[1:]) for layer in net.encoder.layers
                    if isinstance(layer, keras.layers.Conv2D | keras.layers.MaxPooling2D)]
    assert encoder_maps == maps
    # the decoder runs the same sizes backwards: each conv's map (width w_i) at the size the encoder had it
    decoder_convs = [(layer.output.shape[1], layer.filters) for layer in net.decoder.layers
                     if isinstance(layer, keras.layers.Conv2D) and layer.name != "reconstruction"]
    encoder_convs = [(layer.output.shape[1], layer.filters) for layer in net.encoder.layers
                     if isinstance(layer, keras.layers.Conv2D)]
    assert decoder_convs == encoder_convs[::-1]
    x = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    codes = np.asarray(net.encoder(x))
    out = np.asarray(net.autoencoder(x))
    assert codes.shape == (3, 2) and out.shape == x.shape
    assert 0.0 < out.min() and out.max() < 1.0  # sigmoid output
    np.testing.assert_allclose(np.asarray(net.decoder(codes)), out, atol=1e-6)  # the layers are shared
    assert {w.path for w in net.autoencoder.weights} == {w.path for w in net.encoder.weights + net.decoder.weights}


def test_handout_layout_relu_everywhere_but_the_sigmoid_output():
    net = build_autoencoder()
    assert net.encoder.output.shape[-1] == 2 and net.encoder.get_layer("enc_flatten").output.shape[-1] == 7 * 7 * 128
    convs = [layer for model in (net.encoder, net.decoder) for layer in model.layers
             if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [32, 64, 128, 128, 64, 32, 1]
    assert all(c.activation is keras.activations.relu for c in convs[:-1])
    assert convs[-1].activation is keras.activations.sigmoid
    assert net.decoder.get_layer("dec_dense").activation is keras.activations.relu
    assert net.encoder.get_layer("code").activation is keras.activations.linear
    relu_code = build_autoencoder(filters=(4, 8), code_activation="relu")
    assert relu_code.encoder.get_layer("code").activation is keras.activations.relu


def test_symmetry_check_catches_a_mismatched_decoder():
    net = build_autoencoder((28, 28, 1), (4, 8), 2)
    other = build_autoencoder((28, 28, 1), (4, 16), 2)
    problems = symmetry_problems(net.encoder, other.decoder)
    assert problems and "differ" in problems[0] and "Dense" in problems[1]
    three_d = build_autoencoder((28, 28, 1), (4, 8), 3)
    assert any("code of 2" in p for p in symmetry_problems(net.encoder, three_d.decoder))


@pytest.mark.parametrize(("filters", "pools", "latent", "message"), [
    ((), None, 2, "at least one width"),
    ((32, 0), None, 2, "positive integers"),
    ((32, 64), None, 0, "at least one unit"),
    ((8, 16, 32, 64), None, 2, "28 is not divisible by 8.*at most 2 poolings"),
    ((8, 16), 3, 2, "between 0 and 2"),
])
def test_architecture_errors(filters, pools, latent, message):
    with pytest.raises(ArchitectureError, match=message):
        check_architecture(28, filters, pools, latent)
    with pytest.raises(ArchitectureError, match=message):
        build_autoencoder((28, 28, 1), filters, latent, pools)


def test_other_input_sizes_follow_the_same_rule():
    assert check_architecture(32, (4, 8, 16), 3, 2) == 3
    net = build_autoencoder((32, 32, 3), (4, 8, 16), 5, pools=3)
    assert net.autoencoder.output.shape[1:] == (32, 32, 3) and net.encoder.output.shape[-1] == 5
    with pytest.raises(ArchitectureError, match="30 is not divisible by 4"):
        check_architecture(30, (4, 8, 16), None, 2)


def test_noise_has_the_asked_std_and_clipping_is_optional():
    x = np.full((200, 28, 28, 1), 0.5, np.float32)
    noisy = add_noise(x, 1.0, clip=False, seed=0)
    assert abs(float(np.std(noisy - x)) - 1.0) < 0.01 and abs(float(np.mean(noisy - x))) < 0.01
    assert noisy.min() < -2 and noisy.max() > 3 and noisy.dtype == np.float32
    np.testing.assert_array_equal(noisy, add_noise(x, 1.0, clip=False, seed=0))
    assert abs(float(np.std(add_noise(x, 0.25, False, 1) - x)) - 0.25) < 0.005
    clipped = add_noise(x, 1.0, clip=True, seed=0)
    assert clipped.min() == 0.0 and clipped.max() == 1.0
    np.testing.assert_array_equal(clipped, np.clip(noisy, 0, 1))


def _epochs(ds, steps: int) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    batches = [(i.numpy(), t.numpy()) for i, t in ds]
    return [batches[e:e + steps] for e in range(0, len(batches), steps)]


def test_training_pairs_noisy_inputs_clean_targets_fresh_every_epoch():
    x = np.random.default_rng(0).random((50, 28, 28, 1), dtype=np.float32)
    steps = steps_per_epoch(50, 16)
    first, second = _epochs(training_pairs(x, 16, seed=3, noise_std=0.5, epochs=2), steps)
    assert steps == 4 and [int(i.shape[0]) for i, _ in first] == [16, 16, 16, 2]
    for inputs, targets in first:
        diff = inputs - targets
        assert 0.4 < diff.std() < 0.6
        assert any(np.allclose(t, x[k]) for t in targets[:1] for k in range(50))  # clean images
    for epoch in (first, second):
        targets = np.concatenate([t for _, t in epoch])
        np.testing.assert_allclose(np.sort(targets.ravel()), np.sort(x.ravel()))  # each image once per epoch
    assert not np.allclose(first[0][0], second[0][0])  # new order and noise next epoch
    again = _epochs(training_pairs(x, 16, seed=3, noise_std=0.5, epochs=2), steps)
    resumed = _epochs(training_pairs(x, 16, seed=3, noise_std=0.5, first_epoch=1, epochs=1), steps)
    for (a, b), (c, d) in zip(first + second, again[0] + again[1], strict=True):   # a rerun: the same batches
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    for (a, b), (c, d) in zip(second, resumed[0], strict=True):   # resumed after epoch 1: epoch 2's batches
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    endless = training_pairs(x, 16, seed=3, noise_std=0.5).take(3 * steps)   # epochs=None: no end
    assert sum(1 for _ in endless) == 3 * steps
    clipped = np.concatenate([i for i, _ in _epochs(training_pairs(x, 16, 3, noise_std=2.0, clip=True, epochs=1),
                                                    steps)[0]])
    assert clipped.min() == 0.0 and clipped.max() == 1.0
    plain = _epochs(training_pairs(x, 16, seed=3, epochs=1), steps)[0]
    for inputs, targets in plain:
        np.testing.assert_array_equal(inputs, targets)


def test_evaluation_subset_and_examples():
    labels = np.repeat(np.arange(10), 30)
    pick = evaluation_subset(100, labels, seed=0)
    assert len(pick) == 100 == len(set(pick)) and np.all(np.diff(pick) > 0)
    np.testing.assert_array_equal(pick, evaluation_subset(100, labels, seed=0))
    assert len(evaluation_subset(1000, labels, seed=0)) == 300
    examples = one_per_class(labels)
    np.testing.assert_array_equal(labels[examples], np.arange(10))


def test_binary_cross_entropy_matches_keras():
    rng = np.random.default_rng(0)
    t, p = rng.random((4, 28, 28, 1)), rng.random((4, 28, 28, 1))
    p[0, 0, 0, 0] = 0.0
    expected = float(keras.losses.BinaryCrossentropy()(tf.constant(t, tf.float32), tf.constant(p, tf.float32)))
    assert binary_cross_entropy(t, p) == pytest.approx(expected, rel=1e-4)


def _clusters(n_per_class=40, seed=0):
    """Images that are one of three bright squares plus noise: classes a 2-D map can separate."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c in range(3):
        base = np.zeros((28, 28, 1), np.float32)
        base[4 + 7 * c:11 + 7 * c, 4 + 7 * c:11 + 7 * c] = 1.0
        images.append(np.clip(base + 0.05 * rng.standard_normal((n_per_class, 28, 28, 1)), 0, 1))
        labels.append(np.full(n_per_class, c))
    return np.concatenate(images).astype(np.float32), np.concatenate(labels)


def test_comparison_scores_pca_and_a_given_map(tmp_path):
    x, y = _clusters()
    pca = fit_pca(x, 2)
    # a "CAE" that encodes with PCA itself must score exactly like PCA
    results = compare_with_pca(lambda im: pca.transform(im.reshape(len(im), -1)),
                               lambda z: np.clip(pca.inverse_transform(z), 0, 1).reshape(-1, 28, 28, 1), pca,
                               x, y, x, y, {"clean": x, "noisy": add_noise(x, 0.3, True, 0)})
    assert set(results) == {("CAE", "clean"), ("PCA", "clean"), ("CAE", "noisy"), ("PCA", "noisy")}
    for kind in ("clean", "noisy"):
        cae, ref = results["CAE", kind].scores, results["PCA", kind].scores
        assert (cae.bce, cae.mse, cae.knn_accuracy, cae.silhouette) == pytest.approx(
            (ref.bce, ref.mse, ref.knn_accuracy, ref.silhouette))
    clean = results["PCA", "clean"].scores
    assert clean.knn_accuracy == 1.0 and clean.silhouette > 0.8 and clean.latent_dim == 2
    assert results["PCA", "noisy"].scores.mse > clean.mse
    # a map that scrambles the classes scores at chance
    scrambled = compare_with_pca(lambda im: np.random.default_rng(len(im)).normal(size=(len(im), 2)),
                                 lambda z: np.full((len(z), 28, 28, 1), 0.5), pca, x, y, x, y, {"clean": x})
    bad = scrambled["CAE", "clean"].scores
    assert bad.knn_accuracy < 0.6 and abs(bad.silhouette) < 0.1 and bad.bce == pytest.approx(np.log(2), rel=1e-6)
    rows = [r.scores for r in results.values()]
    path = write_scores(rows, tmp_path / "comparison.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "method,latent_dim,inputs,bce,mse,knn_accuracy,silhouette,fitted_on" and len(lines) == 5
    assert all(line.endswith(",train") for line in lines[1:])
    assert "k-NN acc" in format_scores(rows) and "fitted on" in format_scores(rows)
    np.testing.assert_allclose(pca_reconstruct(pca, x), results["PCA", "clean"].reconstructions)
    np.testing.assert_allclose(pca_reconstruct(pca, x), results["PCA", "clean"].reconstructions)


def test_pca_fitted_on_the_evaluated_images_says_so_and_fits_them_better():
    """--pca-fit test: PCA of the evaluated points themselves (the handout's fit_transform) is marked in the
    table, and on the points it was fitted on its squared error can only be lower than a PCA fitted elsewhere."""
    x, y = _clusters(seed=0)
    other, _ = _clusters(seed=1)
    other = np.clip(other + 0.2 * np.random.default_rng(2).random(other.shape, dtype=np.float32), 0, 1)
    def encode(images):   # a stand-in CAE
        return images.reshape(len(images), -1)[:, 100:102]

    def decode(codes):
        return np.full((len(codes), 28, 28, 1), 0.5, np.float32)

    by_test = compare_with_pca(encode, decode, fit_pca(x, 2), other, y, x, y, {"clean": x}, pca_fitted_on="test")
    by_train = compare_with_pca(encode, decode, fit_pca(other, 2), other, y, x, y, {"clean": x})
    assert by_test["PCA", "clean"].scores.fitted_on == "test" and by_test["CAE", "clean"].scores.fitted_on == "train"
    assert by_train["PCA", "clean"].scores.fitted_on == "train"
    assert by_test["PCA", "clean"].scores.mse < by_train["PCA", "clean"].scores.mse


def test_tile_rows_clips_and_lays_out():
    rows = [np.zeros((3, 5, 5, 1)), np.full((3, 5, 5, 1), 2.0)]
    grid = tile_rows(rows, gap=1)
    assert grid.shape == (11, 17) and grid[:5, :5].max() == 0.0 and grid[6:, :5].min() == 1.0


def test_config_names_and_defaults():
    c = AutoencoderConfig()
    assert (c.dataset, c.filters, c.latent_dim, c.samples, c.noise_std) == ("fashion_mnist", "32,64,128", 2, 1000, 0)
    assert c.name == "cae_fashion_mnist" and c.total_epochs == 20
    assert AutoencoderConfig(denoise=1.0, dataset="digits", latent_dim=8).name == "dcae_digits_z8"
    assert AutoencoderConfig(run_name="x").run_dir.name == "x"
    assert AutoencoderConfig(filters="8, 16").widths == (8, 16)


@pytest.mark.parametrize(("argv", "message"), [
    (["--filters", "32,abc"], "--filters '32,abc': give comma-separated positive integers"),
    (["--filters", "32,-64"], "--filters '32,-64': every width must be at least 1"),
    (["--filters", "8,16,32,64"], "--filters 8,16,32,64 --pools default: 3 poolings on a 28x28 input: 28 is not "
                                  "divisible by 8"),
    (["--pools", "3"], "28 is not divisible by 8.*use at most 2 poolings"),
    (["--latent-dim", "0"], "--latent-dim 0: the code needs at least one unit"),
    (["--denoise", "-1"], "--denoise -1.0: the noise std must be positive"),
    (["--epochs", "0"], "--epochs 0: must be at least 1"),
    (["--samples", "5"], "--samples 5: at least 20"),
    (["--run-name", "a/b"], "--run-name 'a/b'"),
])
def test_bad_flags_one_line_exit_2(argv, message, capsys, tmp_path):
    code = cli.main(["--dataset", "digits", "--results-dir", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("autoencoder.py: ") and re.search(message, err), err
    assert not any(tmp_path.iterdir())  # nothing written


def test_denoise_flag_default_is_the_handouts_std():
    args = cli.build_parser().parse_args(["--denoise"])
    assert args.denoise == 1.0 and not args.clip
    assert cli.build_parser().parse_args(["--denoise", "0.5", "--clip"]).denoise == 0.5
    assert cli.build_parser().parse_args([]).denoise is None


def test_config_validate_raises_usage_error():
    with pytest.raises(UsageError, match="--dataset 'cifar'"):
        AutoencoderConfig(dataset="cifar").validate()

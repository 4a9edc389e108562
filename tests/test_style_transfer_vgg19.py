"""VGG19 for `style_transfer.py --model vgg19`: layers as keras.applications, weights through the one loader."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

import models
from models import pretrained, vgg19
from tests.loopback_server import Route, serve
from tests.synthetic_weights import random_arrays, write_legacy_keras_h5, write_pickled_npy


def _caffe_shapes() -> dict[str, tuple[int, ...]]:
    shapes, channels = {}, 3
    for block, convs, filters in vgg19.BLOCKS:
        for i in range(1, convs + 1):
            shapes[f"conv{block}_{i}"] = (3, 3, channels, filters)
            channels = filters
    return {**shapes, "fc6": (25088, 4096), "fc7": (4096, 4096), "fc8": (4096, 1000)}


VGG19_CAFFE_SHAPES = _caffe_shapes()


def test_vgg19_shapes_and_names_are_keras_applications():
    import keras

    reference = keras.applications.VGG19(weights=None, include_top=False)
    convs = [layer for layer in reference.layers if isinstance(layer, keras.layers.Conv2D)]
    assert tuple(layer.name for layer in convs) == models.get_spec("vgg19").conv_layers
    assert [tuple(layer.kernel.shape) for layer in convs] == [VGG19_CAFFE_SHAPES[k] for k in vgg19.CAFFE_TO_KERAS
                                                              if k.startswith("conv")]
    x = np.random.default_rng(0).uniform(0, 255, (2, 5, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(models.get_spec("vgg19").preprocess(x),
                               keras.applications.vgg19.preprocess_input(x.copy()), atol=1e-4)


def test_vgg19_imagenet_download_is_hash_checked_and_offline_says_where(tmp_path):
    payload = b"vgg19" * 50_000
    with serve({"/vgg19.h5": Route(payload)}) as (base, hits):
        path = pretrained.vgg19_weights(url=f"{base}/vgg19.h5", file_hash=hashlib.md5(payload).hexdigest(),
                                        cache_dir=tmp_path / "models")
        assert path.read_bytes() == payload and path.name == pretrained.VGG19_FILE
        with pytest.raises(models.WeightsError, match="VGG19 .*by hand"):
            pretrained.vgg19_weights(url=f"{base}/vgg19.h5", file_hash="0" * 32, cache_dir=tmp_path / "other")
        with pytest.raises(models.WeightsError) as info:
            pretrained.vgg19_weights(url=f"{base}/missing.h5", cache_dir=tmp_path / "offline")
    assert str(tmp_path / "offline" / pretrained.VGG19_FILE) in str(info.value)
    assert not (tmp_path / "other" / pretrained.VGG19_FILE).exists()
    assert pretrained.VGG19_MD5 == "cbe5617147190e668d6c5d5026f83318"  # keras.applications.vgg19's hash


@pytest.mark.slow
def test_vgg19_synthetic_h5_and_npy_load_like_keras_applications(tmp_path):
    """A seeded VGG19 in Keras' own h5 layout (the ImageNet file's) and in machrisaa's vgg19.npy layout."""
    import keras

    from utilities.style_transfer.features import feature_network_from_model

    caffe = random_arrays(VGG19_CAFFE_SHAPES, seed=3)
    caffe["conv1_1"][0] *= np.float32(0.01)
    keras_named = {vgg19.CAFFE_TO_KERAS[k]: v for k, v in caffe.items()}
    reference = keras.applications.VGG19(weights=None, classifier_activation=None)
    order = [layer.name for layer in reference.layers]
    h5 = write_legacy_keras_h5(tmp_path / pretrained.VGG19_FILE, keras_named, order)
    reference.load_weights(h5)
    x = np.random.default_rng(1).uniform(0, 255, (1, 224, 224, 3)).astype(np.float32)
    preprocessed = models.get_spec("vgg19").preprocess(x)
    expected_logits = reference(preprocessed).numpy()
    expected_conv = keras.Model(reference.inputs, reference.get_layer("block5_conv4").output)([preprocessed]).numpy()
    del reference
    for path in (h5, write_pickled_npy(tmp_path / "vgg19.npy", caffe)):
        model = models.build_model("vgg19", weights=path)
        np.testing.assert_allclose(model(preprocessed).numpy(), expected_logits, rtol=1e-4,
                                   atol=1e-4 * np.abs(expected_logits).max())
        network = feature_network_from_model(model, models.get_spec("vgg19").preprocess, "block4_conv2",
                                             ["block1_conv1", "block5_conv4"])
        np.testing.assert_allclose(network(x)["block5_conv4"].numpy(), expected_conv, rtol=1e-4,
                                   atol=1e-4 * np.abs(expected_conv).max())
        del model, network

"""Any Keras model (issue 28, models side): keras.applications networks by name, and a user's own
`.keras` file read safely, with logits, its preprocessing, its class-map layer and class names.

Random weights, small inputs (64 px for the named networks, 75 for InceptionV3, 32 px for files): no download,
no network (the ImageNet download is exercised against a loopback server).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

import models
from models import keras_applications, keras_files, pretrained
from models.keras_applications import APPLICATIONS
from models.keras_graph import calls_of, last_spatial_layer, trace
from tests.loopback_server import Route, serve
from utilities.explain.gradcam import GradCAM

SIZE = 64          # small inputs: tracing, not pixels, is what costs; InceptionV3 needs 75
FILE_SIZE = 32


def _side(name: str) -> int:
    return max(SIZE, APPLICATIONS[name].min_size)


def _images(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def networks():
    """Each listed network once, seeded random weights, small input."""
    built = {}

    def get(name):
        if name not in built:
            keras.utils.set_random_seed(0)
            built[name] = models.build_model(name, "random", input_size=_side(name))
        return built[name]
    return get


# ------------------------------------------------------------------ keras.applications by name

def test_names_keep_the_project_networks_first():
    assert models.MODEL_NAMES == ("alexnet", "vgg16", "vgg19", "squeezenet")
    assert set(models.KERAS_APPLICATION_NAMES) >= {"resnet50", "mobilenet_v2", "efficientnet_b0", "densenet121",
                                                   "inception_v3", "convnext_tiny"}
    assert models.ALL_MODEL_NAMES == models.MODEL_NAMES + models.KERAS_APPLICATION_NAMES
    with pytest.raises(ValueError, match="resnet50") as info:
        models.get_spec("resnet5")
    assert "\n" not in str(info.value)


def _with_classifier_input(model: keras.Model, fc) -> keras.Model:
    """model -> [input of the classifier layer, output] (re-run: ConvNeXt's head layers have two call sites)."""
    captured = []

    def replace(path, operation):
        if operation is not fc:
            return None

        def call(x, **kwargs):
            captured.append(x)
            return operation(x, **kwargs)
        return call

    rerun = trace(model, inline=False, replace=replace)[0]
    return keras.Model(rerun.input, [captured[0], rerun.output])


@pytest.mark.parametrize("name", list(APPLICATIONS))
def test_network_spec_and_logits(networks, name):
    spec, model, side = models.get_spec(name), networks(name), _side(name)
    app = APPLICATIONS[name]
    assert spec.input_size == app.input_size and spec.preprocessing == app.preprocessing
    assert model.input_shape == (None, side, side, 3) and model.output_shape == (None, 1000)
    # The preprocessing is keras.applications' own (which may modify a numpy input in place: a copy).
    images = _images(2, side, seed=1)
    expected = np.asarray(keras_applications.keras_preprocess_input(name)(images.copy()), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(spec.preprocess(images)), expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(spec.preprocess(tf.constant(images)).numpy(), expected, rtol=1e-5, atol=1e-4)
    # The class-map layer is the last layer with a 4-D output; the stage outputs exist, coarser and coarser,
    # and each can be read next to the logits (what Grad-CAM and feature extraction need).
    assert last_spatial_layer(calls_of(model))[0] == spec.gradcam_layer == spec.conv_layers[-1]
    shapes = [model.get_layer(layer).output.shape for layer in spec.conv_layers]
    assert all(len(shape) == 4 for shape in shapes)
    sides = [shape[1] for shape in shapes]
    assert sides == sorted(sides, reverse=True) and sides[0] > sides[-1]
    keras.Model(model.input, [model.get_layer(spec.gradcam_layer).output, model.output])
    # Logits: the output is the classifier's affine map of its input, no activation after it.
    fc = model.get_layer(spec.fc_layers[-1])
    assert fc.get_config()["activation"] == "linear" and fc.dtype_policy.compute_dtype == "float32"
    features, logits = _with_classifier_input(model, fc)(spec.preprocess(images))
    np.testing.assert_allclose(logits.numpy(), features.numpy() @ fc.kernel.numpy() + fc.bias.numpy(),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(APPLICATIONS))
def test_network_explained_once(networks, name):
    """Grad-CAM (utilities/explain) at the default layer: that layer's resolution, finite, not all zero."""
    spec, model = models.get_spec(name), networks(name)
    images = _images(1, _side(name), seed=2)
    explanation = GradCAM(model, spec.gradcam_layer, preprocess=spec.preprocess).explain(images, top_k=1)
    side = model.get_layer(spec.gradcam_layer).output.shape[1]
    assert explanation.maps.shape == (1, 1, side, side) and np.isfinite(explanation.maps).all()
    assert explanation.logits.shape == (1, 1000)


def test_convnext_named_stages_change_nothing(networks):
    """Keras' own ConvNeXt with its softmax, same weights: softmax(our logits) is its output (the identity
    layers naming the stage outputs, and the logits, change nothing else)."""
    name = "convnext_tiny"
    ours = networks(name)
    app = APPLICATIONS[name]
    theirs = getattr(keras.applications, app.constructor)(weights=None, input_shape=(_side(name),) * 2 + (3,),
                                                          classifier_activation="softmax")
    for layer in theirs.layers:
        if layer.weights:
            layer.set_weights(ours.get_layer(layer.name).get_weights())
    x = models.get_spec(name).preprocess(_images(2, _side(name), seed=2))
    probabilities = theirs(x).numpy()
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-4)
    np.testing.assert_allclose(tf.nn.softmax(ours(x)).numpy(), probabilities, atol=1e-6)


def test_remove_fc_any_size_and_train_layers():
    keras.utils.set_random_seed(0)
    model = models.build_model("mobilenet_v2", "random", remove_fc=1, num_classes=5, input_size=None)
    assert model.layers[-1].name == models.CLASSIFIER and model.input_shape == (None, None, None, 3)
    for side in (64, 80):
        assert model(np.zeros((1, side, side, 3), np.float32)).shape == (1, 5)
    assert models.get_spec("mobilenet_v2").gradcam_layer in [layer.name for layer in model.layers]
    assert models.default_train_layers("mobilenet_v2", 1) == [models.CLASSIFIER]
    assert models.default_train_layers("mobilenet_v2", 0) == ["predictions"]
    with pytest.raises(ValueError, match="single fully connected layer"):
        models.build_model("mobilenet_v2", "random", remove_fc=2, num_classes=5)
    with pytest.raises(ValueError, match="num_classes is required"):
        models.build_model("mobilenet_v2", "random", remove_fc=1)
    with pytest.raises(ValueError, match="remove_fc=1"):
        models.build_model("mobilenet_v2", "random", num_classes=5)
    with pytest.raises(ValueError, match="at least 75"):
        models.build_model("inception_v3", "random", input_size=64)


def test_fine_tuned_weights_file_round_trip(tmp_path):
    keras.utils.set_random_seed(0)
    model = models.build_model("mobilenet_v2", "random", remove_fc=1, num_classes=3, input_size=SIZE)
    path = tmp_path / "model.weights.h5"
    model.save_weights(path)
    keras.utils.set_random_seed(1)
    again = models.build_model("mobilenet_v2", path, remove_fc=1, num_classes=3, input_size=SIZE)
    x = _images(1, SIZE)
    np.testing.assert_array_equal(again(x).numpy(), model(x).numpy())
    with pytest.raises(models.WeightsError, match="does not fit mobilenet_v2") as info:
        models.build_model("mobilenet_v2", path, input_size=SIZE)      # a 3-way head into the 1000-way network
    assert "\n" not in str(info.value)
    with pytest.raises(models.WeightsError, match="no such weights file"):
        models.build_model("mobilenet_v2", tmp_path / "missing.h5", input_size=SIZE)


def test_torchvision_weights_refused():
    with pytest.raises(models.WeightsError, match="torchvision weights"):
        models.get_spec("resnet50", "imagenet-torch")


# ------------------------------------------------------------------ ImageNet weights through Keras' download

def test_weight_table_matches_keras(monkeypatch):
    """The URL, file name and hash of each network are the ones Keras' own builder asks get_file for:
    read from Keras' module constants and source (cheap), and asked for by one builder (intercepted)."""
    import inspect

    from keras.src.applications import convnext, densenet, efficientnet, inception_v3, mobilenet_v2, resnet
    modules = {"resnet50": resnet, "mobilenet_v2": mobilenet_v2, "efficientnet_b0": efficientnet,
               "densenet121": densenet, "inception_v3": inception_v3, "convnext_tiny": convnext}
    assert set(modules) == set(APPLICATIONS)
    for name, module in modules.items():
        app, source = APPLICATIONS[name], inspect.getsource(modules[name])
        assert app.weights_hash is None or f'"{app.weights_hash}"' in source, name
        assert app.weights_url.startswith(getattr(module, "BASE_WEIGHTS_PATH", None) or getattr(
            module, "BASE_WEIGHT_PATH", None) or app.weights_url), name
    assert resnet.WEIGHTS_HASHES["resnet50"][0] == APPLICATIONS["resnet50"].weights_hash
    assert efficientnet.WEIGHTS_HASHES["b0"][0] == APPLICATIONS["efficientnet_b0"].weights_hash
    assert convnext.WEIGHTS_HASHES["convnext_tiny"][0] == APPLICATIONS["convnext_tiny"].weights_hash
    assert densenet.DENSENET121_WEIGHT_PATH == APPLICATIONS["densenet121"].weights_url
    assert inception_v3.WEIGHTS_PATH == APPLICATIONS["inception_v3"].weights_url
    from keras.src.utils import file_utils
    asked = {}

    class Stop(Exception):
        pass

    def record(fname, origin, *args, file_hash=None, **kwargs):
        asked.update(fname=fname, origin=origin, file_hash=file_hash)
        raise Stop

    monkeypatch.setattr(file_utils, "get_file", record)
    with pytest.raises(Stop):
        keras.applications.MobileNetV2(weights="imagenet")
    app = APPLICATIONS["mobilenet_v2"]
    assert asked == {"fname": app.weights_file, "origin": app.weights_url, "file_hash": app.weights_hash}


def test_offline_message_is_vggs(monkeypatch, tmp_path):
    """Offline: one line with the URL and where to put the file, as for VGG16 (a refused loopback port
    here; the real get_file)."""
    with serve({}) as (base, _):
        dead = base
    resnet = pytest.raises(pretrained.WeightsUnreachable)
    with resnet as info:
        pretrained.keras_application_weights("resnet50", url=f"{dead}/r.h5", cache_dir=tmp_path)
    with pytest.raises(pretrained.WeightsUnreachable) as vgg:
        pretrained.vgg16_weights(url=f"{dead}/v.h5", cache_dir=tmp_path)
    message, reference = str(info.value), str(vgg.value)
    assert "\n" not in message
    assert message.startswith("ResNet50 ImageNet weights unavailable (")
    assert f"download {dead}/r.h5 by hand and save it as {tmp_path / APPLICATIONS['resnet50'].weights_file}" in message
    assert message.split(" (", 1)[0].replace("ResNet50", "VGG16") == reference.split(" (", 1)[0]
    assert ", or pass --weights PATH (" in message and ", or pass --weights PATH (" in reference
    # Through build_model, with Keras' cache where $KERAS_HOME says and the real URL in the message.
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))

    def offline(fname, origin, **kwargs):
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(pretrained.WeightsUnreachable) as built:
        models.build_model("convnext_tiny", "imagenet")
    text = str(built.value)
    assert "\n" not in text and APPLICATIONS["convnext_tiny"].weights_url in text
    assert str(tmp_path / "home" / "models" / "convnext_tiny.h5") in text


def test_imagenet_download_loads_into_the_network(monkeypatch, tmp_path):
    """A legacy Keras h5 (the keras.applications layout) served on loopback: downloaded once, hash
    checked, loaded; a file with another hash is refused and not kept."""
    from keras.src.legacy.saving import legacy_h5_format

    keras.utils.set_random_seed(3)
    source = keras.applications.MobileNetV2(weights=None, input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    h5 = tmp_path / "served.h5"
    with h5py.File(h5, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, source)
    body = h5.read_bytes()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    app = APPLICATIONS["mobilenet_v2"]
    with serve({f"/{app.weights_file}": Route(body), f"/bad/{app.weights_file}": Route(body + b"x")}) as (base, hits):
        good = dataclasses.replace(app, weights_url=f"{base}/{app.weights_file}",
                                   weights_hash=hashlib.md5(body).hexdigest())
        monkeypatch.setitem(APPLICATIONS, "mobilenet_v2", good)
        x = _images(1, SIZE)
        for _ in range(2):
            model = models.build_model("mobilenet_v2", "imagenet", input_size=SIZE)
            np.testing.assert_allclose(model(x).numpy(), source(x).numpy(), atol=1e-5)
        assert hits == {f"/{app.weights_file}": 1}
        (tmp_path / "home" / "models" / app.weights_file).unlink()
        bad = dataclasses.replace(good, weights_url=f"{base}/bad/{app.weights_file}")
        monkeypatch.setitem(APPLICATIONS, "mobilenet_v2", bad)
        with pytest.raises(models.WeightsError) as info:
            models.build_model("mobilenet_v2", "imagenet", input_size=SIZE)
    assert not isinstance(info.value, pretrained.WeightsUnreachable) and "\n" not in str(info.value)
    assert not (tmp_path / "home" / "models" / app.weights_file).exists()


# ------------------------------------------------------------------ a user's .keras file

def _small_cnn(ending: str = "dense", rescale: bool = True) -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((FILE_SIZE, FILE_SIZE, 3))
    x = keras.layers.Rescaling(1 / 255, name="scale")(inputs) if rescale else inputs
    x = keras.layers.Conv2D(6, 3, activation="relu", name="c1")(x)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if ending == "dense":
        out = keras.layers.Dense(4, activation="softmax", name="head")(x)
    elif ending == "none":
        out = keras.layers.Dense(4, name="head")(x)
    else:
        x = keras.layers.Dense(4, name="head")(x)
        out = (keras.layers.Activation("softmax", name="probs") if ending == "activation"
               else keras.layers.Softmax(name="probs"))(x)
    return keras.Model(inputs, out, name="small")


def _head_logits(model: keras.Model, x) -> np.ndarray:
    """The formula: GAP features times the head's kernel plus its bias."""
    head = model.get_layer("head")
    features = keras.Model(model.input, model.get_layer("gap").output)(x).numpy()
    return features @ head.kernel.numpy() + head.bias.numpy()


def _grad_cam_formula(activation_model, head_model, x, class_index: int) -> np.ndarray:
    """Grad-CAM by hand on a two-model split: A = part1(x); alpha = mean dy/dA; ReLU(sum alpha A)."""
    activations = activation_model(x)
    with tf.GradientTape() as tape:
        tape.watch(activations)
        score = head_model(activations)[:, class_index]
    gradients = tape.gradient(score, activations)
    weights = tf.reduce_mean(gradients, axis=(1, 2))
    return tf.nn.relu(tf.einsum("nhwc,nc->nhw", activations, weights)).numpy()


@pytest.mark.parametrize("ending", ["dense", "activation", "softmax_layer", "none"])
def test_saved_cnn_round_trip(tmp_path, ending):
    original = _small_cnn(ending)
    path = tmp_path / "model.keras"
    original.save(path)
    loaded = models.load_keras_model(path)
    assert loaded.spec.input_size == FILE_SIZE and loaded.preprocessing == "none"
    assert "Rescaling" in loaded.preprocessing_reason
    assert loaded.layer == loaded.spec.gradcam_layer == "c2" and "last layer with a 4-D" in loaded.layer_reason
    assert loaded.class_names == ("class 0", "class 1", "class 2", "class 3")
    x = _images(3, FILE_SIZE)
    logits = loaded.model(loaded.spec.preprocess(x)).numpy()
    np.testing.assert_allclose(logits, _head_logits(original, x), rtol=1e-5, atol=1e-5)
    if ending == "none":
        assert "no final softmax" in loaded.logits_note
    else:
        assert "split off" in loaded.logits_note
        np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), original(x).numpy(), atol=1e-6)
    assert all("\n" not in note for note in loaded.notes) and len(loaded.notes) == 3


def test_saved_cnn_grad_cam_equals_the_formula(tmp_path):
    original = _small_cnn("dense")
    original.save(tmp_path / "model.keras")
    loaded = models.load_keras_model(tmp_path / "model.keras")
    x = _images(2, FILE_SIZE, seed=4)
    maps = GradCAM(loaded.model, loaded.layer, preprocess=loaded.spec.preprocess).explain(x, classes=[[1], [2]]).maps
    part1 = keras.Model(original.input, original.get_layer("c2").output)
    head = original.get_layer("head")

    def logits_of(activations):
        return original.get_layer("gap")(activations) @ head.kernel + head.bias

    for i, class_index in enumerate((1, 2)):
        expected = _grad_cam_formula(part1, logits_of, x[i:i + 1], class_index)
        np.testing.assert_allclose(maps[i, 0], expected[0], rtol=1e-4, atol=1e-6)
        assert expected.max() > 0


def _feature_base() -> keras.Model:
    """A small functional base (the role a keras.applications base plays in a user's model)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((FILE_SIZE, FILE_SIZE, 3))
    x = keras.layers.Conv2D(6, 3, strides=2, activation="relu", name="stem")(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="block_out")(x)
    return keras.Model(inputs, x, name="feature_base")


@pytest.mark.parametrize("wrapper", ["sequential", "functional"])
def test_nested_base_is_flattened_and_reachable(tmp_path, wrapper):
    base = _feature_base()
    if wrapper == "sequential":
        original = keras.Sequential([keras.Input((FILE_SIZE, FILE_SIZE, 3)), base,
                                     keras.layers.GlobalAveragePooling2D(name="pool"),
                                     keras.layers.Dense(5, activation="softmax", name="head")])
    else:
        inputs = keras.Input((FILE_SIZE, FILE_SIZE, 3))
        x = keras.layers.GlobalAveragePooling2D(name="pool")(base(inputs, training=False))
        original = keras.Model(inputs, keras.layers.Dense(5, activation="softmax", name="head")(x))
    path = tmp_path / "nested.keras"
    original.save(path)
    loaded = models.load_keras_model(path, preprocessing="unit")
    assert loaded.flattened and loaded.layer == "block_out" and "split off" in loaded.logits_note
    assert not any(isinstance(layer, keras.Model) for layer in loaded.model.layers)
    x = _images(2, FILE_SIZE, seed=5)
    model_input = loaded.spec.preprocess(x)
    np.testing.assert_allclose(tf.nn.softmax(loaded.model(model_input)).numpy(), original(model_input).numpy(),
                               atol=1e-6)
    # Grad-CAM on the layer inside the base equals the formula on a two-model split: base, then head.
    maps = GradCAM(loaded.model, loaded.layer).explain(model_input, classes=[[3], [3]]).maps
    head = original.get_layer("head")

    def logits_of(activations):
        return original.get_layer("pool")(activations) @ head.kernel + head.bias

    expected = _grad_cam_formula(base, logits_of, model_input, 3)
    assert expected.max() > 0
    np.testing.assert_allclose(maps[:, 0], expected, rtol=1e-4, atol=1e-6)
    # A layer named by its path in the file resolves to the flat model's layer.
    stem = models.load_keras_model(path, preprocessing="unit", layer="feature_base/stem")
    assert stem.layer == "stem" and "--layer feature_base/stem" in stem.layer_reason


def test_keras_application_base_tells_its_preprocessing(tmp_path):
    """MobileNetV2 as the base of a user's classifier: flattened, its out_relu found, 'tf' from its name."""
    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV2(include_top=False, weights=None, alpha=0.35,
                                          input_shape=(FILE_SIZE, FILE_SIZE, 3))
    original = keras.Sequential([keras.Input((FILE_SIZE, FILE_SIZE, 3)), base,
                                 keras.layers.GlobalAveragePooling2D(name="pool"),
                                 keras.layers.Dense(5, activation="softmax", name="head")])
    original.save(tmp_path / "nested.keras")
    loaded = models.load_keras_model(tmp_path / "nested.keras")
    assert loaded.flattened and loaded.layer == "out_relu"
    assert loaded.preprocessing == "tf" and base.name in loaded.preprocessing_reason
    x = loaded.spec.preprocess(_images(1, FILE_SIZE, seed=6))
    np.testing.assert_allclose(tf.nn.softmax(loaded.model(x)).numpy(), original(x).numpy(), atol=1e-6)


def test_nested_with_clashing_names_stays_nested(tmp_path):
    inner_in = keras.Input((FILE_SIZE, FILE_SIZE, 3))
    inner = keras.Model(inner_in, keras.layers.Conv2D(4, 3, activation="relu", name="feat")(
        keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inner_in)), name="base")
    inputs = keras.Input((FILE_SIZE, FILE_SIZE, 3))
    x = keras.layers.Conv2D(4, 1, activation="relu", name="conv")(inner(inputs))
    x = keras.layers.GlobalAveragePooling2D()(x)
    original = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="head")(x))
    original.save(tmp_path / "clash.keras")
    loaded = models.load_keras_model(tmp_path / "clash.keras", preprocessing="unit", layer="base/feat")
    assert not loaded.flattened and loaded.layer == "base/feat" and "split off" in loaded.logits_note
    x = _images(1, FILE_SIZE)
    maps = GradCAM(loaded.model, loaded.layer, preprocess=loaded.spec.preprocess).explain(x).maps
    assert maps.shape == (1, 1, FILE_SIZE - 4, FILE_SIZE - 4)
    with pytest.raises(models.ModelFileError, match="ambiguous"):
        models.load_keras_model(tmp_path / "clash.keras", preprocessing="unit", layer="conv")


def test_lambda_file_refused_without_running_it(tmp_path):
    inputs = keras.Input((FILE_SIZE, FILE_SIZE, 3))
    x = keras.layers.Lambda(lambda t: t * 2.0, name="double")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(x))
    keras.Model(inputs, x).save(tmp_path / "lambda.keras")
    with pytest.raises(models.ModelFileError) as info:
        models.load_keras_model(tmp_path / "lambda.keras", preprocessing="none")
    message = str(info.value)
    assert "\n" not in message and "'double'" in message and "run" in message and "safe mode" in message


def test_keras_safe_mode_refusal_is_one_line(tmp_path, monkeypatch):
    """Keras' own safe-mode refusal (behind the config scan) also comes out as one line."""
    inputs = keras.Input((FILE_SIZE, FILE_SIZE, 3))
    x = keras.layers.Lambda(lambda t: t + 1.0, name="plus")(inputs)
    keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(x))).save(
        tmp_path / "lambda.keras")
    monkeypatch.setattr(keras_files, "_lambda_layers", lambda config: [])
    with pytest.raises(models.ModelFileError) as info:
        models.load_keras_model(tmp_path / "lambda.keras", preprocessing="none")
    assert "\n" not in str(info.value) and "would run" in str(info.value)


def _save(model: keras.Model, path):
    model.save(path)
    return path


def _flat_dense(tmp_path):
    inputs = keras.Input((8, 8, 3))
    return _save(keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs))), tmp_path / "dense.keras")


def _vector_input(tmp_path):
    inputs = keras.Input((784,))
    return _save(keras.Model(inputs, keras.layers.Dense(10)(inputs)), tmp_path / "vector.keras")


def _two_outputs(tmp_path):
    inputs = keras.Input((FILE_SIZE, FILE_SIZE, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    return _save(keras.Model(inputs, [keras.layers.Dense(3)(x), keras.layers.Dense(2)(x)]), tmp_path / "two.keras")


def _two_inputs(tmp_path):
    a, b = keras.Input((FILE_SIZE, FILE_SIZE, 3)), keras.Input((FILE_SIZE, FILE_SIZE, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([a, b]))
    return _save(keras.Model([a, b], keras.layers.Dense(3)(x)), tmp_path / "inputs.keras")


def _map_output(tmp_path):
    inputs = keras.Input((FILE_SIZE, FILE_SIZE, 3))
    return _save(keras.Model(inputs, keras.layers.Conv2D(3, 1)(inputs)), tmp_path / "segment.keras")


def _not_square(tmp_path):
    inputs = keras.Input((32, 48, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    return _save(keras.Model(inputs, keras.layers.Dense(3)(x)), tmp_path / "wide.keras")


def _text_file(tmp_path):
    (tmp_path / "notes.keras").write_text("not a model")
    return tmp_path / "notes.keras"


def _h5_file(tmp_path):
    model = _small_cnn()
    model.save_weights(tmp_path / "small.weights.h5")
    return tmp_path / "small.weights.h5"


def _zip_without_config(tmp_path):
    with zipfile.ZipFile(tmp_path / "other.keras", "w") as archive:
        archive.writestr("readme.txt", "hello")
    return tmp_path / "other.keras"


def _unknown_class(tmp_path):
    path = _save(_small_cnn(), tmp_path / "good.keras")
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"][2]["class_name"] = "Conv9D"
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "custom.keras", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return tmp_path / "custom.keras"


@pytest.mark.parametrize("make, expected", [
    (_flat_dense, "no layer has a 4-D output"),
    (_vector_input, "input has shape (None, 784)"),
    (_two_outputs, "has 2 outputs"),
    (_two_inputs, "has 2 inputs"),
    (_map_output, "not class scores"),
    (_not_square, "not square"),
    (_text_file, "not a .keras model file"),
    (_h5_file, "HDF5 file"),
    (_zip_without_config, "without config.json"),
    (_unknown_class, "Conv9D', which is not part of Keras"),
    (lambda tmp_path: tmp_path / "missing.keras", "no such file"),
])
def test_does_not_fit_errors_are_one_line(tmp_path, make, expected):
    path = make(tmp_path)
    with pytest.raises(models.ModelFileError) as info:
        models.load_keras_model(path, preprocessing="none")
    message = str(info.value)
    assert expected in message and str(path) in message and "\n" not in message
    assert isinstance(info.value, models.WeightsError)     # the programs' existing `except WeightsError`


def test_preprocessing_required_when_unknown(tmp_path):
    path = _save(_small_cnn(rescale=False), tmp_path / "plain.keras")
    with pytest.raises(models.ModelFileError) as info:
        models.load_keras_model(path)
    assert "--preprocess {caffe,torch,tf,unit,none}" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(models.ModelFileError, match="unknown"):
        models.load_keras_model(path, preprocessing="bgr")
    loaded = models.load_keras_model(path, preprocessing="caffe")
    assert loaded.preprocessing == "caffe" and "--preprocess caffe" in loaded.preprocessing_reason
    x = _images(1, FILE_SIZE)
    np.testing.assert_allclose(loaded.spec.preprocess(x), keras.applications.resnet50.preprocess_input(x.copy()),
                               atol=1e-4)


def test_keras_application_saved_whole_tells_its_preprocessing(tmp_path):
    keras.utils.set_random_seed(0)
    network = keras.applications.MobileNetV2(weights=None, alpha=0.35, input_shape=(32, 32, 3))   # ends in softmax
    path = _save(network, tmp_path / "mobilenet.keras")
    loaded = models.load_keras_model(path)
    assert loaded.preprocessing == "tf" and network.name in loaded.preprocessing_reason
    assert loaded.layer == "out_relu" and "split off" in loaded.logits_note
    assert len(loaded.class_names) == 1000 and loaded.class_names[130] == "flamingo"


def test_class_names_file(tmp_path):
    path = _save(_small_cnn(), tmp_path / "m.keras")
    names = tmp_path / "names.txt"
    names.write_text("cat\ndog\n\nbird\nfish\n", encoding="utf-8")
    assert models.load_keras_model(path, class_names=names).class_names == ("cat", "dog", "bird", "fish")
    names.write_text("cat\ndog\n", encoding="utf-8")
    with pytest.raises(models.ModelFileError, match="has 2 names; the model has 4 outputs"):
        models.load_keras_model(path, class_names=names)
    with pytest.raises(models.ModelFileError, match="no such file"):
        models.load_keras_model(path, class_names=tmp_path / "absent.txt")


def test_one_channel_model_gets_gray(tmp_path):
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, name="c")(inputs))
    path = _save(keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x)), tmp_path / "digits.keras")
    loaded = models.load_keras_model(path, preprocessing="unit")
    rgb = _images(1, 28)
    gray = loaded.spec.preprocess(rgb)
    expected = (rgb @ np.array([0.299, 0.587, 0.114], np.float32))[..., None] / 255
    np.testing.assert_allclose(gray, expected, rtol=1e-6)
    np.testing.assert_allclose(loaded.spec.preprocess(tf.constant(rgb)).numpy(), expected, rtol=1e-5)
    assert loaded.model(gray).shape == (1, 10)
    with pytest.raises(models.ModelFileError, match="one-channel"):
        models.load_keras_model(path, preprocessing="caffe")


def test_any_size_input_is_fed_at_a_stated_size(tmp_path):
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, name="c")(keras.layers.Rescaling(1 / 255)(inputs))
    x = keras.layers.GlobalAveragePooling2D()(x)
    path = _save(keras.Model(inputs, keras.layers.Dense(3)(x)), tmp_path / "fcn.keras")
    loaded = models.load_keras_model(path)
    assert loaded.spec.input_size == 224 and any("any input size" in note for note in loaded.notes)
    assert models.load_keras_model(path, input_size=64).spec.input_size == 64


# ------------------------------------------------------------------ open_model: what --model names

def test_open_model_named_and_file(tmp_path):
    opened = models.open_model("mobilenet_v2", "random", input_size=SIZE, layer="block_6_expand_relu",
                               preprocessing="none")
    assert opened.spec.gradcam_layer == opened.layer == "block_6_expand_relu" and opened.num_classes == 1000
    assert opened.spec.input_size == SIZE and opened.model.input_shape == (None, SIZE, SIZE, 3)
    assert opened.spec.preprocess(np.ones(3)).tolist() == [1] * 3
    assert "mobilenet_v2's own is tf" in opened.preprocessing_reason and len(opened.notes) == 2
    opened = models.open_model("squeezenet", "random")
    assert opened.layer == "fire9_concat" and opened.preprocessing == "caffe"
    with pytest.raises(models.ModelFileError, match="--layer pool10: its output is not a 4-D"):
        models.open_model("squeezenet", "random", layer="pool10")
    with pytest.raises(models.ModelFileError, match="not found"):
        models.open_model("squeezenet", "random", layer="fire99")
    with pytest.raises(ValueError, match="input_size does not apply"):
        models.open_model("alexnet", "random", input_size=64)
    path = _save(_small_cnn(), tmp_path / "m.keras")
    assert models.is_model_file(path) and models.is_model_file("m.keras") and not models.is_model_file("resnet50")
    assert models.open_model(str(path)).layer == "c2"
    with pytest.raises(models.ModelFileError, match="holds its own weights"):
        models.open_model(path, "imagenet")
    with pytest.raises(models.ModelFileError, match="--remove-fc"):
        models.open_model(path, remove_fc=1)
    with pytest.raises(models.ModelFileError, match="--num-classes 3"):
        models.open_model(path, num_classes=3)


def test_class_map_default_looks_before_a_trailing_pool_and_model_is_untouched():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((FILE_SIZE, FILE_SIZE, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Dropout(0.5, name="drop")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="head")(keras.layers.Flatten()(x)))
    loaded = models.prepare_model(model, preprocessing="none")
    assert loaded.layer == "conv" and "before 'drop'" in loaded.layer_reason
    assert models.prepare_model(model, preprocessing="none", layer="pool").layer == "pool"
    x = _images(1, FILE_SIZE)
    assert np.allclose(model(x).numpy().sum(), 1, atol=1e-5)          # the user's model keeps its softmax
    assert model.get_layer("head").get_config()["activation"] == "softmax"
    np.testing.assert_allclose(tf.nn.softmax(loaded.model(x)).numpy(), model(x).numpy(), atol=1e-6)


@pytest.mark.slow
def test_user_model_trained_on_real_fashion_mnist(tmp_path):
    """A CNN trained on real Fashion-MNIST (/255 inputs), saved, read with preprocessing 'unit' and fed
    the programs' RGB 0..255: the accuracy Keras itself gives; a wrong preprocessing and an untrained
    network are far below (measured 0.772, 0.353 and 0.141: tests/keras_fashion_model.py)."""
    from tests.keras_fashion_model import run
    from tests.real_datasets import real_fashion_mnist

    scores = run(real_fashion_mnist(), tmp_path)
    assert abs(scores.trained_unit - scores.keras_accuracy) <= 0.001
    assert scores.trained_unit > 0.65
    assert scores.trained_wrong < scores.trained_unit - 0.2
    assert scores.untrained_unit < 0.3
    assert any("split off" in note for note in scores.loaded_notes)

"""Class model visualisation and fooling images on the shipped shapes CNN."""
import keras
import numpy as np
import pytest

from tests.shapes_task import correctly_classified, trained_shapes
from utilities.explain.synthesis.class_visualisation import (
    ClassVisualiser,
    initial_images,
    save_class_visualisation,
    visualise_classes,
)
from utilities.explain.synthesis.fooling import fgsm, fool_iterative, pgd, save_fooling_figure


def test_class_visualisation_raises_the_target_logit_on_average(tmp_path):
    model = trained_shapes()[0]
    result = visualise_classes(model, [0, 1, 2], init="noise", iterations=60, learning_rate=0.02,
                               l2_weight=1e-3, blur_every=10, blur_sigma=0.5, jitter=2,
                               value_range=(0.0, 1.0), strip_every=20, seed=1)
    assert result.images.shape == (3, 40, 40, 3) and result.scores.shape == (61, 3)
    assert result.images.min() >= 0 and result.images.max() <= 1
    np.testing.assert_array_equal(result.strip_steps, [0, 20, 40, 60])
    np.testing.assert_array_equal(result.strip[-1], result.images)
    quarters = result.scores[1:].reshape(4, 15, 3).mean(axis=1)       # (4 quarters, 3 classes)
    # the ascent raises each target logit: the last quarter beats the first by a clear margin
    # (not a strict monotony of every quarter: blur and jitter make the path noisy)
    assert (quarters[-1] > quarters[0] + 0.5).all(), quarters
    assert (result.scores[-1] > result.scores[0] + 1).all(), result.scores[[0, -1]]
    final_logits = model.predict(result.images, verbose=0)
    np.testing.assert_allclose(final_logits[np.arange(3), [0, 1, 2]], result.scores[-1], rtol=1e-4, atol=1e-4)
    written = save_class_visualisation(result, tmp_path, names=["square", "disk", "cross"])
    assert sorted(p.name for p in written) == sorted(
        [f"class_{i}.png" for i in range(3)] + [f"class_{i}_strip.png" for i in range(3)])
    assert all(p.stat().st_size > 0 for p in written)


def test_class_visualisation_is_seeded_and_does_not_touch_the_model():
    model = trained_shapes()[0]
    weights = [w.copy() for w in model.get_weights()]
    visualiser = ClassVisualiser(model, iterations=5, learning_rate=0.02, jitter=3, value_range=(0, 1))
    a = visualiser.visualise([1], init="noise", seed=3)
    b = visualiser.visualise([1], init="noise", seed=3)
    np.testing.assert_array_equal(a.images, b.images)
    for old, new in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


def test_initial_images_and_bad_arguments():
    start = np.full((4, 4, 3), 0.5, np.float32)
    np.testing.assert_array_equal(initial_images(start, 2, (4, 4, 3), None, 0), np.stack([start, start]))
    assert initial_images("zeros", 2, (4, 4, 3), (0.2, 1), 0).min() == pytest.approx(0.2)
    noise = initial_images("noise", 2, (4, 4, 3), (0, 1), 0)
    assert 0 <= noise.min() and noise.max() <= 1 and noise.std() > 0.1
    with pytest.raises(ValueError, match="init"):
        initial_images("grey", 1, (4, 4, 3), None, 0)
    with pytest.raises(ValueError, match="shape"):
        initial_images(np.zeros((5, 5, 3)), 1, (4, 4, 3), None, 0)
    with pytest.raises(ValueError, match="learning_rate"):
        ClassVisualiser(trained_shapes()[0], learning_rate=0)


def test_fooling_loop_reaches_the_target_class(tmp_path):
    model = trained_shapes()[0]
    images, labels, _ = correctly_classified(6)
    targets = (labels + 1) % 3
    result = fool_iterative(model, images, targets, learning_rate=0.05, max_steps=200, value_range=(0, 1))
    np.testing.assert_array_equal(result.original_classes, labels)
    assert result.success.all(), result.summary(int(np.argmin(result.success)))
    np.testing.assert_array_equal(model.predict(result.fooled, verbose=0).argmax(axis=1), targets)
    assert (result.steps >= 1).all() and (result.steps < 200).all()
    change = (result.fooled - images).reshape(6, -1)
    np.testing.assert_allclose(result.linf, np.abs(change).max(axis=1), rtol=1e-6)
    np.testing.assert_allclose(result.l2, np.linalg.norm(change, axis=1), rtol=1e-5)
    assert (result.l2 <= 0.05 * result.steps + 1e-4).all()           # each step moves at most lr in L2
    # it stopped as soon as the target won: one step fewer would not have been enough
    again = fool_iterative(model, images, targets, learning_rate=0.05, max_steps=int(result.steps.min()) - 1,
                           value_range=(0, 1))
    assert not again.success[np.argmin(result.steps)]
    path = save_fooling_figure(result, tmp_path / "fooled.png", i=0, names=["square", "disk", "cross"])
    assert path.stat().st_size > 0


def test_pgd_and_fgsm_stay_in_the_epsilon_ball():
    model = trained_shapes()[0]
    images, labels, _ = correctly_classified(6)
    targets = (labels + 2) % 3
    result = pgd(model, images, targets, epsilon=0.15, step_size=0.02, max_steps=60, value_range=(0, 1))
    assert (result.linf <= 0.15 + 1e-6).all()
    assert result.success.mean() >= 0.5, result.success
    assert (result.final_classes[result.success] == targets[result.success]).all()
    assert (result.steps[result.success] < 60).all()
    one_step = fgsm(model, images, epsilon=0.05, value_range=(0, 1))
    assert (one_step.linf <= 0.05 + 1e-6).all() and (one_step.steps <= 1).all()
    np.testing.assert_array_equal(one_step.targets, -1)
    np.testing.assert_array_equal(one_step.success, one_step.final_classes != labels)


def test_attacks_leave_the_model_alone_and_reject_bad_arguments():
    model = trained_shapes()[0]
    weights = [w.copy() for w in model.get_weights()]
    images, labels, _ = correctly_classified(2)
    fool_iterative(model, images, (labels + 1) % 3, learning_rate=0.05, max_steps=3)
    for old, new in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    with pytest.raises(ValueError, match="target"):
        fool_iterative(model, images, None)
    with pytest.raises(ValueError, match="epsilon"):
        pgd(model, images, epsilon=0)
    assert isinstance(model, keras.Model)


@pytest.mark.slow
def test_command_lines_write_their_figures_and_reject_bad_input(tmp_path, capsys):
    """The fooling and class-visualisation command lines on AlexNet (random weights)."""
    import cv2

    from utilities.explain.synthesis import class_visualisation, fooling
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.random.default_rng(0).integers(0, 255, (60, 80, 3), np.uint8))
    common = ["--model", "alexnet", "--weights", "random", "--output-dir", str(tmp_path / "out")]
    assert fooling.main([str(photo), "7", "--max-steps", "30", *common]) == 0
    assert (tmp_path / "out" / "photo_to_7_iterative.png").stat().st_size > 0
    assert " -> 7 cock (p " in capsys.readouterr().out
    assert class_visualisation.main(["3", "--iterations", "2", "--strip-every", "1", *common]) == 0
    assert {"class_3.png", "class_3_strip.png"} <= {p.name for p in (tmp_path / "out").iterdir()}
    assert fooling.main([str(photo), "1000", *common]) == 2
    assert fooling.main([str(tmp_path / "missing.png"), "1", *common]) == 2
    assert "error:" in capsys.readouterr().err
    # a second run of the same image / target / attack or class is refused before any work, in one line
    written = {p: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    assert fooling.main([str(photo), "cock", "--max-steps", "30", *common]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {tmp_path / 'out' / 'photo_to_7_iterative.png'} exists already: add --overwrite to "
                   "replace it, or choose another --output-dir")
    assert class_visualisation.main(["5", "3", "--iterations", "2", *common]) == 2
    assert "class_3.png exists already: add --overwrite" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in (tmp_path / "out").iterdir()} == written
    assert fooling.main([str(photo), "7", "--max-steps", "30", "--overwrite", *common]) == 0
    assert class_visualisation.main(["3", "--iterations", "1", "--strip-every", "1", "--overwrite", *common]) == 0

"""utilities.common.tb_images: the same summary tf.summary.image writes, encoded by OpenCV."""
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.compat.proto import event_pb2

from utilities.common.tb_images import image_summary


def test_tensorboard_reads_the_image_back_exactly(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default(step=7):
        assert image_summary("strip", pixels, description="what it shows")
        tf.summary.image("reference", pixels[None])
    writer.close()
    written = {}
    for path in tmp_path.iterdir():
        for record in tf.data.TFRecordDataset(str(path)):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                written[value.tag] = (event.step, value.metadata.plugin_data.plugin_name,
                                      tf.make_ndarray(value.tensor))
    assert set(written) == {"strip", "reference"}
    for tag in written:
        step, plugin, (width, height, png) = written[tag]
        assert (step, plugin, int(width), int(height)) == (7, "images", 53, 37), tag
        assert np.array_equal(tf.io.decode_png(png).numpy(), pixels), tag


def test_without_a_writer_nothing_is_written_and_bad_arrays_are_refused():
    with tf.summary.create_noop_writer().as_default():   # whatever writer an earlier test left as default
        assert not image_summary("x", np.zeros((4, 4, 3), np.uint8), step=0)
    with pytest.raises(ValueError, match="uint8 RGB"):
        image_summary("x", np.zeros((4, 4), np.float32), step=0)

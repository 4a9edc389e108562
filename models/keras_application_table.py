"""The keras.applications networks the project offers by name: Keras' constructor, preprocessing,
class-map and stage layers, and the ImageNet weight file (URL and hash, as Keras' own builders use).

Data only, so that models/pretrained.py (downloads) and models/keras_applications.py (builders)
both read it without importing each other.
"""
from __future__ import annotations

from dataclasses import dataclass

GCS = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class Application:
    """What the registry needs to know about one keras.applications network."""

    name: str                    # our name, as --model takes it
    constructor: str             # keras.applications.<constructor>
    module: str                  # keras.applications.<module>.preprocess_input
    input_size: int              # Keras' default input side
    min_size: int                # smallest side Keras accepts
    preprocessing: str           # key of models.preprocessing.PREPROCESSING_MODES
    class_map_layer: str         # default Grad-CAM layer: last 4-D layer before the pooling
    fc_layer: str                # the classifier (Dense) layer
    feature_layers: tuple[str, ...]   # stage outputs, input to output (the last is class_map_layer)
    weights_url: str
    weights_hash: str | None     # as keras.applications passes it to get_file (None: none published)

    @property
    def weights_file(self) -> str:
        return self.weights_url.rsplit("/", 1)[-1]

    @property
    def label(self) -> str:
        return self.constructor


CONVNEXT_STAGES = 4
APPLICATIONS = {app.name: app for app in (
    Application("resnet50", "ResNet50", "resnet50", 224, 32, "caffe", "conv5_block3_out", "predictions",
                ("conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"),
                GCS + "resnet/resnet50_weights_tf_dim_ordering_tf_kernels.h5",
                "2cb95161c43110f7111970584f804107"),
    Application("mobilenet_v2", "MobileNetV2", "mobilenet_v2", 224, 32, "tf", "out_relu", "predictions",
                ("block_3_expand_relu", "block_6_expand_relu", "block_13_expand_relu", "out_relu"),
                GCS + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5", None),
    Application("efficientnet_b0", "EfficientNetB0", "efficientnet", 224, 32, "none", "top_activation",
                "predictions", ("block2b_add", "block3b_add", "block5c_add", "top_activation"),
                "https://storage.googleapis.com/keras-applications/efficientnetb0.h5",
                "902e53a9f72be733fc0bcb005b3ebbac"),
    Application("densenet121", "DenseNet121", "densenet", 224, 32, "torch", "relu", "predictions",
                ("conv2_block6_concat", "conv3_block12_concat", "conv4_block24_concat", "relu"),
                GCS + "densenet/densenet121_weights_tf_dim_ordering_tf_kernels.h5",
                "9d60b8095a5708f2dcce2bca79d332c7"),
    Application("inception_v3", "InceptionV3", "inception_v3", 299, 75, "tf", "mixed10", "predictions",
                ("mixed2", "mixed5", "mixed7", "mixed10"),
                GCS + "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
                "9a0d58056eeedaa3f26cb7ebd46da564"),
    Application("convnext_tiny", "ConvNeXtTiny", "convnext", 224, 32, "none", "convnext_tiny_stage_3_output",
                "convnext_tiny_head_dense",
                tuple(f"convnext_tiny_stage_{k}_output" for k in range(CONVNEXT_STAGES)),
                GCS + "convnext/convnext_tiny.h5",
                "8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff"),
)}
APPLICATION_NAMES = tuple(APPLICATIONS)


def get_application(name: str) -> Application:
    try:
        return APPLICATIONS[name]
    except KeyError:
        raise ValueError(f"unknown keras.applications network {name!r}; choose one of "
                         f"{', '.join(APPLICATION_NAMES)}") from None

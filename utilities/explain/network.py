"""The network spec an explanation program feeds: input size and preprocessing follow the weights."""
from __future__ import annotations


def network_spec(name: str, weights):
    """`models.get_spec(name, weights)`: torchvision weights ('imagenet-torch', a .pth/.pt file) bring
    torchvision's preprocessing and input 224; every other source the model's own (caffe) spec."""
    import models
    from models.torchvision_weights import is_torch_weights

    return models.get_spec(name, weights) if is_torch_weights(weights) else models.get_spec(name)

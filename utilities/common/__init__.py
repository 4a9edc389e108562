"""Shared by every program (and by models/): atomic writes, figure writing, downloads,
a quiet TensorFlow import and the ImageNet class names. Imports nothing else of the project."""

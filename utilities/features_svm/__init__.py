"""Transfer learning by feature extraction (RDFIA 3-a): frozen-network features + linear classifiers.

`experiment.run(Config(...))` is what `features_svm.py` calls. The pieces, one per module:
`scene15` (15 Scene download, verification, 100-per-class split), `image_sets` (the real 28x28
sets, Fashion-MNIST and mnist5k, written as lists under the same protocol), `sources` (which lists),
`layers` (layer names / the handout's negative indices -> a model stopping there), `extract`
(tf.data batches -> L2-normalised descriptors), `cache` (content-keyed .npz files), `classifiers`
(LinearSVC, LogisticRegression, a Keras dense head; C by cross-validation), `reduce` (PCA,
whitened PCA, random projection before the classifier, fitted on training features), `report`
(tables, figures), `compare` (several runs' accuracy per layer in one figure), `model_facts`
(parameter counts, conv1 activation maps).
"""

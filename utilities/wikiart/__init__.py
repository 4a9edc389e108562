"""The WikiArt style data of assignment 3a: the CSV, the downloader, the style names and the
tf.data image pipeline that decodes, resizes, flips and preprocesses the listed images."""

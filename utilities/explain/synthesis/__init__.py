"""Images made by gradient ascent on the input: class model visualisation and fooling images."""

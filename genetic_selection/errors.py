"""The one error type of feature selection, at the bottom so every selector module can raise it."""


class SelectionError(ValueError):
    """Bad input to a selector: wrong width, unfitted, bad parameter, unusable labels, bad file."""

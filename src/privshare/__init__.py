"""privshare: synthetic data shared between data owners through privGAN."""

__version__ = "0.1.0"

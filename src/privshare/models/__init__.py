"""Generators, discriminators and the central discriminator, batched over classes."""

from privshare.models.ensemble import EnsembleLinear, EnsembleMLP
from privshare.models.networks import (
    CentralDiscriminator,
    Discriminator,
    Generator,
    build_central_discriminator,
    build_discriminator,
    build_generator,
)

__all__ = [
    "CentralDiscriminator",
    "Discriminator",
    "EnsembleLinear",
    "EnsembleMLP",
    "Generator",
    "build_central_discriminator",
    "build_discriminator",
    "build_generator",
]

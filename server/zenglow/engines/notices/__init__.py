"""Licence notices of the bundled chat models, shipped with the package."""

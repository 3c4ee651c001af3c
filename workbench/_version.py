"""The version, at the ground floor so that any wing can read it."""

__version__ = "0.1.0"

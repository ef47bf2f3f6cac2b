"""fiscal_core: the processing core of a cloud fiscal register service (Russian 54-FZ)."""

__version__ = "0.1.0"

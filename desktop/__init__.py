"""Pigeonhole: sort a folder of photos with an image classifier you train yourself, offline."""

__version__ = "0.1.0"
APP_NAME = "Pigeonhole"

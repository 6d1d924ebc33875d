"""Regression-based functional classification of zebrafish tectal neurons."""

__version__ = "0.1.0"

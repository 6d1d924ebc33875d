"""Regression-based functional classification of zebrafish tectal neurons."""

__version__ = "0.2.0"

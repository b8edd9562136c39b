"""Shared fixtures for the unit tests."""
import matplotlib

matplotlib.use("Agg")

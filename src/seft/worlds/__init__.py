"""Worlds beyond the testbed."""

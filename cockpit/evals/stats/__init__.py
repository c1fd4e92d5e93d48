"""Eval statistics in numpy alone: intervals, slices, calibration, paired comparison."""

"""Calibration on the statistic the consumer tests: the peak running mean of each session."""

from __future__ import annotations

import numpy as np
import pytest

from clickguard.model.calibration import calibrate, peak_running_mean


def test_peak_running_mean_per_session_from_min_events():
    # A: 8, 1, 1, 1 -> running means 8, 4.5, 3.33, 2.75; B: 1, 1 (too short); C: 1, 1, 10 -> 1, 1, 4
    # (whole micro-bits, rounded down, as the consumer's state keeps them)
    ub = np.array([8, 1, 1, 1, 1, 1, 1, 1, 10], dtype=np.int64)
    starts = np.array([1, 0, 0, 0, 1, 0, 1, 0, 0], dtype=bool)
    peak = peak_running_mean(ub, starts, 3)
    assert peak.tolist() == [3, -1, 4]
    assert peak_running_mean(ub, starts, 1).tolist() == [8, 1, 4]


def test_calibrate_uses_the_peak_when_given():
    transitions = np.array([5] * 100)
    total = np.full(100, 5_000_000)  # every whole-session mean is 1 bit
    peak = np.arange(1, 101) * 1_000_000.0  # but the running means peaked at 1..100 bits
    flat = calibrate(transitions, total, 3, 0.9, 0.9)
    peaked = calibrate(transitions, total, 3, 0.9, 0.9, peak_mean_ubits=peak)
    assert flat.mean_bits == 1.0
    assert peaked.mean_bits == pytest.approx(np.quantile(np.arange(1, 101), 0.9))
    assert peaked.mean_flag_rate == pytest.approx(0.1)

"""Linking detections into tracks."""

from __future__ import annotations

import numpy as np
import pytest

from moderation.faces.detection import Detection
from moderation.faces.tracking import TrackerConfig, box_iou, link_tracks


def face(x, y, side=100, score=0.99):
    return Detection(np.float32([x, y, x + side, y + side]), score)


def test_a_moving_face_is_one_track():
    frames = [[face(100 + 40 * i, 200)] for i in range(10)]
    tracks, labels = link_tracks(frames, [0.3 * i for i in range(10)])
    assert len(tracks) == 1 and labels == [[0]] * 10
    assert (tracks[0].start, tracks[0].end) == (0.0, 0.3 * 9)


def test_two_people_stay_apart_even_when_listed_in_another_order():
    frames = [[face(100, 100), face(800, 120)], [face(810, 125), face(110, 100)],
              [face(120, 105), face(820, 130)]]
    tracks, labels = link_tracks(frames, [0.0, 0.3, 0.6])
    assert len(tracks) == 2 and labels == [[0, 1], [1, 0], [0, 1]]


def test_short_gaps_are_bridged_long_ones_start_a_new_track():
    config = TrackerConfig(max_gap=2)
    short = [[face(100, 100)], [], [], [face(105, 100)]]
    assert len(link_tracks(short, [0, 1, 2, 3], config=config)[0]) == 1
    long = [[face(100, 100)], [], [], [], [face(105, 100)]]
    assert len(link_tracks(long, [0, 1, 2, 3, 4], config=config)[0]) == 2


def test_a_different_size_or_a_far_jump_is_someone_else():
    assert len(link_tracks([[face(100, 100)], [face(100, 100, side=300)]], [0, 1])[0]) == 2
    assert len(link_tracks([[face(100, 100)], [face(600, 100)]], [0, 1])[0]) == 2


def test_appearance_breaks_ties():
    red, blue = np.float32([1, 0]), np.float32([0, 1])
    frames = [[face(100, 100), face(230, 100)], [face(165, 100)]]
    _, labels = link_tracks(frames, [0, 1], signatures=[[red, blue], [blue]])
    assert labels[1] == [1]
    _, labels = link_tracks(frames, [0, 1], signatures=[[red, blue], [red]])
    assert labels[1] == [0]


def test_iou():
    assert box_iou(np.float32([0, 0, 10, 10]), np.float32([5, 0, 15, 10])) == pytest.approx(1 / 3)
    assert box_iou(np.float32([0, 0, 10, 10]), np.float32([20, 20, 30, 30])) == 0.0

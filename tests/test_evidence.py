"""Which samples of a track are kept as evidence frames."""

from moderation.pipeline import evidence_indices


def test_the_best_frames_and_a_strip_over_the_flagged_range():
    scores = [0.1, 0.2, 0.995, 0.999, 0.996, 0.3, 0.997, 0.998, 0.9991, 0.2, 0.995, 0.1]
    chosen = evidence_indices(scores, 0.99, best=3, strip=4)
    flagged = [i for i, s in enumerate(scores) if s >= 0.99]
    assert chosen == sorted(chosen)
    assert {3, 8, 7} <= set(chosen)  # the three best
    assert flagged[0] in chosen and flagged[-1] in chosen  # both ends of the flagged range
    assert len(chosen) <= 3 + 4


def test_without_a_flagged_sample_only_the_best_are_kept():
    assert evidence_indices([0.1, 0.5, 0.3], 0.99, best=2) == [1, 2]
    assert evidence_indices([0.1, 0.5], 0.99, best=0) == []

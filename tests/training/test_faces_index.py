"""The face index's split by person, on an index of made-up people saved to a temporary file: no
one is on both sides, the sides are the same in every process and for any subset or order of
the rows, and the validation share of people is about the one asked for."""

from __future__ import annotations

import numpy as np
import pytest

from moderation.training.faces_index import FaceIndex

PEOPLE = 400


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> FaceIndex:
    """PEOPLE people of one photo source with one to four photos each, in shuffled rows, loaded
    back from the file the index is saved as (the split needs no photo or measurement)."""
    rng = np.random.default_rng(0)
    people = [f"person_{i}" for i in range(PEOPLE) for _ in range(rng.integers(1, 5))]
    rows = rng.permutation(len(people))
    keys = np.array([f"{people[row]}/{row:04d}.jpg" for row in rows])
    made = FaceIndex({"photos": tmp_path_factory.mktemp("photos")}, keys,
                     np.array([f"photos/{people[row]}" for row in rows]),
                     np.full(len(rows), "photos"), np.zeros((len(rows), 68, 2), np.float32),
                     np.zeros((len(rows), 4), np.float32))
    path = tmp_path_factory.mktemp("index") / "index.npz"
    made.save(path)
    return FaceIndex.load(path)


def _people(index: FaceIndex, rows: np.ndarray) -> set[str]:
    return set(index.people[rows].tolist())


@pytest.mark.parametrize("share", [0.1, 0.25, 0.5])
def test_every_photo_is_on_one_side_and_no_person_on_both(index, share):
    training, validation = index.split(share)
    assert np.array_equal(np.sort(np.concatenate([training, validation])),
                          np.arange(len(index)))
    assert not _people(index, training) & _people(index, validation)
    assert abs(len(_people(index, validation)) / PEOPLE - share) < 0.05


def test_the_split_depends_on_the_names_alone(index):
    """The same people fall on the same side for a subset of the rows in another order and in
    every process: the names below are fixed (Python's salted ``hash()`` would move them)."""
    _, validation = index.split(0.25)
    rows = np.random.default_rng(1).permutation(len(index))[: len(index) // 3]
    subset = FaceIndex(index.roots, *(getattr(index, field)[rows] for field in
                                      ("keys", "people", "sources", "landmarks", "boxes")))
    assert _people(subset, subset.split(0.25)[1]) == _people(index, validation) & set(
        subset.people.tolist())
    first_forty = {f"photos/person_{i}" for i in range(40)}
    assert _people(index, validation) & first_forty == {
        f"photos/person_{i}" for i in (5, 10, 11, 13, 16, 21, 22, 26, 32, 34, 36, 37)}


def test_a_larger_share_only_adds_people_to_validation(index):
    smaller, larger = (_people(index, index.split(share)[1]) for share in (0.1, 0.25))
    assert smaller < larger
    assert len(index.split(0.0)[1]) == 0 and len(index.split(1.0)[0]) == 0

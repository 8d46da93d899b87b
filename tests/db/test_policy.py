"""The publish policy: block protected swaps, review other swaps, allow the rest."""

from __future__ import annotations

from moderation.policy.decide import TrackFinding, decide

VERSION = "mobilenet_v2-test"


def test_a_protected_person_swapped_in_without_consent_is_blocked():
    findings = [TrackFinding(0, 1.0, 9.5, 0.999, "p1", "Ann Example"),
                TrackFinding(1, 0.0, 9.9, 0.1)]
    decision = decide(findings, 0.99, VERSION)
    assert decision.decision == "block"
    reason = decision.reasons[0]
    assert reason["code"] == "portrait_rights_swap" and reason["person"] == "Ann Example"
    assert (reason["start"], reason["end"], reason["detector_version"]) == (1.0, 9.5, VERSION)
    assert "Ann Example" in reason["message"] and "1.0 s to 9.5 s" in reason["message"]


def test_consent_allows_the_swap():
    findings = [TrackFinding(0, 1.0, 9.5, 0.999, "p1", "Ann Example", consented=True)]
    decision = decide(findings, 0.99, VERSION)
    assert decision.decision == "allow"
    assert [r["code"] for r in decision.reasons] == ["consented_swap", "only_consented_swaps"]
    # The reasons agree with each other: none says that no swap was found.
    assert not any("No swapped face" in r["message"] for r in decision.reasons)


def test_a_face_that_only_resembles_a_protected_person_goes_to_review_naming_them():
    loose = TrackFinding(0, 2.0, 8.0, 0.999, "p1", "Ann Example", distance=0.48, certain=False)
    decision = decide([loose], 0.99, VERSION)
    assert decision.decision == "review"
    (reason,) = decision.reasons
    assert reason["code"] == "possible_portrait_rights_swap"
    assert reason["person"] == "Ann Example" and reason["distance"] == 0.48
    assert "resembles Ann Example" in reason["message"] and "0.480" in reason["message"]
    # Never less strict than a swap of nobody protected; a certain match still blocks.
    assert decide([loose], 0.99, VERSION, no_match_action="block").decision == "block"
    assert decide([loose], 0.99, VERSION, no_match_action="allow").decision == "review"
    certain = TrackFinding(1, 0.0, 9.0, 0.999, "p2", "Bo Example", distance=0.2)
    assert decide([loose, certain], 0.99, VERSION).decision == "block"


def test_a_swap_without_a_protected_match_goes_to_the_configured_action():
    findings = [TrackFinding(0, 0.0, 5.0, 0.995)]
    assert decide(findings, 0.99, VERSION).decision == "review"
    assert decide(findings, 0.99, VERSION, no_match_action="block").decision == "block"
    assert decide(findings, 0.99, VERSION, no_match_action="allow").decision == "allow"


def test_scores_below_the_threshold_or_background_tracks_allow():
    assert decide([TrackFinding(0, 0, 5, 0.98, "p1", "Ann")], 0.99, VERSION).decision == "allow"
    background = TrackFinding(0, 0, 1, 0.999, "p1", "Ann", decisive=False)
    assert decide([background], 0.99, VERSION).decision == "allow"
    assert decide([], 0.99, VERSION).reasons[0]["code"] == "no_face"


def test_messages_keep_a_threshold_near_one_readable():
    decision = decide([TrackFinding(0, 0, 5, 0.9951)], 0.9966, VERSION)
    assert decision.decision == "allow"
    # at two decimals both would read "1.00", and the score would seem to reach the threshold
    assert "highest score 0.9951, threshold 0.9966" in decision.reasons[-1]["message"]


def test_a_protected_persons_own_face_and_head_go_to_review_never_block():
    own = TrackFinding(0, 0.0, 9.0, 0.999, "p1", "Ann Example", distance=0.31,
                       context_agrees=True, whole_distance=0.33)
    for action in ("review", "block"):
        decision = decide([own], 0.99, VERSION, no_match_action=action)
        assert decision.decision == "review"
        reason = decision.reasons[0]
        assert reason["code"] == "protected_person_own_appearance"
        assert (reason["person"], reason["distance"], reason["whole_distance"]) == (
            "Ann Example", 0.31, 0.33)
        assert "own video" in reason["message"]


def test_an_inner_face_on_another_head_is_blocked_and_consent_still_allows():
    swapped = TrackFinding(0, 0.0, 9.0, 0.999, "p1", "Ann Example", distance=0.40,
                           context_agrees=False, whole_distance=0.52)
    decision = decide([swapped], 0.99, VERSION)
    assert decision.decision == "block"
    assert decision.reasons[0]["code"] == "portrait_rights_swap"
    assert decision.reasons[0]["whole_distance"] == 0.52
    consented = TrackFinding(0, 0.0, 9.0, 0.999, "p1", "Ann Example", consented=True,
                             distance=0.31, context_agrees=True, whole_distance=0.33)
    assert decide([consented], 0.99, VERSION).decision == "allow"
    # A swap of someone else beside an own appearance still takes the configured action.
    other = TrackFinding(1, 0.0, 9.0, 0.999)
    own = TrackFinding(0, 0.0, 9.0, 0.999, "p1", "Ann Example", distance=0.31,
                       context_agrees=True, whole_distance=0.33)
    assert decide([own, other], 0.99, VERSION, no_match_action="block").decision == "block"

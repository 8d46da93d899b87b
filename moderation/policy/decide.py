"""The publish policy.

- A track that is a swap (score at or above the detector's threshold) and whose face matches a
  protected person who has not consented to this uploader: **block**, `portrait_rights_swap`.
- A swap whose face only resembles a protected person (``Match.certain`` false: under the
  candidate threshold, not under the naming one): **review** (block when swaps of nobody
  protected block), `possible_portrait_rights_swap`, naming the person and the distance for
  the reviewer. A block names someone; it needs a certain match. Consent needs one too.
- A certain match whose whole face (head, hair, jaw) agrees with the person as well as the
  inner face does (``Match.context_agrees``): their own face, on which the detector fired, not
  their inner face on someone else's head: **review**, never block,
  `protected_person_own_appearance`.
- A swap without such a match: the configured action (review by default), `swap_detected`.
- A swap of a protected person who consented to this uploader: **allow**, `consented_swap`
  (with `only_consented_swaps` when nothing else is swapped).
- Otherwise **allow**, `no_swap_detected` (or `no_face`).

Only tracks that may decide the video (large and persistent, see ``detector.aggregate``) count.
Reasons carry a code, the person, the time range, the score, the detector version and a
sentence a user can read.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrackFinding:
    track: int
    start: float
    end: float
    score: float
    person_id: str | None = None
    person_name: str | None = None
    consented: bool = False
    decisive: bool = True
    distance: float | None = None
    certain: bool = True  # False: the face only resembles the person (``Match.certain``)
    # True: the whole face agrees with the person as well as the inner face does
    # (``Match.context_agrees``): their own face and head. None: not judged (enrolled without
    # inner faces).
    context_agrees: bool | None = None
    whole_distance: float | None = None


@dataclass(frozen=True)
class Decision:
    decision: str  # allow | block | review
    reasons: list[dict]


def decide(findings: list[TrackFinding], threshold: float, detector_version: str,
           no_match_action: str = "review") -> Decision:
    swaps = [f for f in findings if f.decisive and f.score >= threshold]
    reasons = []
    for finding in swaps:
        if finding.person_id is not None and not finding.certain:
            reasons.append(_reason("possible_portrait_rights_swap", finding, detector_version,
                                   f"A face appears swapped in from {finding.start:.1f} s to "
                                   f"{finding.end:.1f} s (score {_probability(finding.score)});"
                                   f" it resembles {finding.person_name}, who is protected "
                                   f"(distance {finding.distance:.3f}), too loosely to name "
                                   "them: a reviewer decides."))
        elif finding.person_id is not None and finding.context_agrees and not finding.consented:
            reasons.append(_reason("protected_person_own_appearance", finding, detector_version,
                                   f"A face scored as swapped from {finding.start:.1f} s to "
                                   f"{finding.end:.1f} s (score {_probability(finding.score)}) "
                                   f"is {finding.person_name}, who is protected, and the face "
                                   f"around it is theirs too (inner face "
                                   f"{finding.distance:.3f}, whole face "
                                   f"{finding.whole_distance:.3f}): this looks like their own "
                                   "video, which is not blocked; a reviewer decides."))
        elif finding.person_id is not None and not finding.consented:
            reasons.append(_reason("portrait_rights_swap", finding, detector_version,
                                   f"The face of {finding.person_name}, who is protected and has "
                                   f"not consented, appears swapped in from "
                                   f"{finding.start:.1f} s to {finding.end:.1f} s "
                                   f"(score {_probability(finding.score)})."))
        elif finding.person_id is not None:
            reasons.append(_reason("consented_swap", finding, detector_version,
                                   f"A face swap of {finding.person_name}, who consented to this "
                                   f"uploader, from {finding.start:.1f} s to "
                                   f"{finding.end:.1f} s."))
        else:
            reasons.append(_reason("swap_detected", finding, detector_version,
                                   f"A face appears swapped in from {finding.start:.1f} s to "
                                   f"{finding.end:.1f} s (score {_probability(finding.score)});"
                                   " it matches no protected person."))
    codes = {reason["code"] for reason in reasons}
    if "portrait_rights_swap" in codes:
        return Decision("block", [r for r in reasons if r["code"] == "portrait_rights_swap"]
                        + [r for r in reasons if r["code"] != "portrait_rights_swap"])
    if "possible_portrait_rights_swap" in codes:
        # Never less strict than a swap of nobody protected.
        return Decision("block" if no_match_action == "block" else "review", reasons)
    if "swap_detected" in codes:
        return Decision(no_match_action, reasons)
    if "protected_person_own_appearance" in codes:
        # Never blocked, whatever swaps of nobody get: a protected person's own video.
        return Decision("review", reasons)
    if not findings:
        return Decision("allow", [{"code": "no_face", "detector_version": detector_version,
                                   "message": "No face was found in the sampled frames."}])
    if reasons:
        # Only consented swaps: saying "no swapped face was found" beside them would
        # contradict them.
        return Decision("allow", reasons + [{
            "code": "only_consented_swaps", "detector_version": detector_version,
            "message": "Every swapped face is of a protected person who consented to this "
                       "uploader; no other face appears swapped."}])
    best = max(findings, key=lambda f: f.score)
    return Decision("allow", reasons + [{
        "code": "no_swap_detected", "detector_version": detector_version,
        "score": round(best.score, 4),
        "message": "No swapped face was found (highest score "
                   f"{_probability(best.score)}, threshold {_probability(threshold)})."}])


def _probability(value: float) -> str:
    """Four decimals: operating thresholds sit near 1 (0.9966 would read "1.00" at two)."""
    return f"{value:.4f}"


def unprocessable(code: str, message: str, detector_version: str) -> Decision:
    return Decision("unprocessable", [{"code": code, "detector_version": detector_version,
                                       "message": message}])


def _reason(code: str, finding: TrackFinding, detector_version: str, message: str) -> dict:
    reason = {"code": code, "person": finding.person_name, "person_id": finding.person_id,
              "track": finding.track, "start": round(finding.start, 2),
              "end": round(finding.end, 2), "score": round(finding.score, 4),
              "detector_version": detector_version, "message": message}
    if finding.distance is not None:
        reason["distance"] = round(finding.distance, 4)
    if finding.whole_distance is not None:
        reason["whole_distance"] = round(finding.whole_distance, 4)
    return reason

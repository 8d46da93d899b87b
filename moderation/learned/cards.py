"""Model cards written from the checkpoints' own config, so the numbers never drift.

    python -m moderation.learned.cards   # rewrite both cards from the shipped weights
"""

from __future__ import annotations

from pathlib import Path

from moderation.weights import load_weights

WEIGHTS = Path(__file__).resolve().parent / "weights"

_DATA = ("LFW (`shared/data/faces/lfw`, read in place), 250 px photos cropped around the centred "
         "face (56-80% of the side, small shift, random mirror) and resized to 128 px. "
         "Identity-disjoint split: a person is in validation when CRC32(folder name) % 100 < 10 "
         "({train} training images; {val} seeded validation samples made from held-out people).")

OCCLUSION = """# occlusion-unet-v1 (`occlusion.pt`)

Marks the pixels of a face covered by something else (1 = occluded), for the generator's
occlusion step (`FakeGenerator(occlusion_model=OcclusionNet())`).

- **Architecture**: U-Net, 4 levels, widths {widths}, {parameters:,} parameters, weights stored
  in float16 ({size_kb:.0f} KB). Input: BGR face resized to {input_size} px, `(x/255 - 0.5)/0.25`;
  output: sigmoid map resized back to the input size; threshold {threshold} for masks.
- **Data**: {data} Occluders pasted on the fly with exact labels (`occluders.py`): random
  polygons and ellipses (solid colour, noise or stripes), rectangles cut from other LFW photos,
  hand-like blobs (skin-coloured palm with finger strokes, rotated), random colour, blur and
  placement over the face region, 1-3 per face; {clean_share:.0%} of the faces left clean, and
  {shading_p:.0%} of all lit unevenly afterwards (a smooth gain field, label unchanged) so that
  shadows on skin are not taken for a skin-coloured hand.
- **Training**: from scratch, AdamW lr 3e-3 with cosine decay over wall time, BCE + Dice, batch
  {batch_size}, {steps} steps in {seconds} s on one CPU thread, seed {seed}.
- **Validation IoU** (pooled over {val_samples} held-out samples, threshold {threshold}):
  **{val_iou:.3f}**; mean per-face IoU on occluded faces {val_mean_face_iou:.3f}. (2026-11-26: on
  the first weights' validation set, one face in eight clean and no shading, these weights
  score 0.689 where the first, 7-minute ones scored 0.481.)

## On real clips (no labels: looked at)
`python -m moderation.learned.on_clips ../shared/data/videos/real_*.mp4` runs the net on every
face the worker crops from the six real clips and saves a picture. Share of crop pixels marked
occluded with these weights (2026-11-26; the first, 7-minute weights in brackets): 0.0% (2.8%),
0.1% (10.1%) and 0.3% (0.2%) on three studio presenters, 2.8% (2.5%) on the 640x360 crowd clip,
3.1% (19.6%) on the 1080p street clip and 6.7% (5.5%) on the DFDC webcam clip. Looking at the
picture: a hand raised to a face in the crowd clip is marked; the hand-held microphone in front
of a mouth is missed; the rosy cheeks of the webcam clip's speaker are a false alarm.

## Limits
- A small model trained 20 minutes on one CPU thread. It misses thin or face-coloured
  occluders (microphones) and can take flushed or rosy skin for a hand (see above).
- Trained only on synthetic occluders; real hands, glasses, microphones and hair were never
  labelled, so there is no IoU on real occlusions.
- LFW is mostly frontal, well-lit celebrities; other poses, ages and skin tones are less covered.
"""

FUSION = """# fusion/learned (`fusion.pt`)

Harmonises face A (already colour-adjusted) into target B inside the soft mask; registered as
the generator operation `fusion/learned` when `moderation.learned.fusion` is imported (not in
the default pipeline).

- **Architecture**: U-Net, 4 levels, widths {widths}, {parameters:,} parameters, float16 weights
  ({size_kb:.0f} KB). Input: 7 channels at {input_size} px: A and B normalised
  `(x/255 - 0.5)/0.25`, and the mask. Output: a correction of A, upsampled to the box and added
  to A at full resolution; the op returns `mask * (A + correction) + (1 - mask) * B`, so the fake
  is B bit for bit outside the mask.
- **Data**: {data}
- **Self-supervision**: A is the photo with random per-channel gain, brightness, contrast,
  gamma, a linear lighting ramp and sometimes blur; B is the same photo with the mask's support
  replaced by another person's face (nothing to copy inside); the mask is a random ellipse or the
  central face area, soft edges (sigma 1-8 px). Target: the alpha blend of the unchanged photo
  into B, i.e. the original photo wherever the mask is 0 or 1.
- **Training**: from scratch, last layer zero-initialised (starts as alpha blending), AdamW lr
  3e-3 with cosine decay over wall time, L1 inside the mask's support, batch {batch_size},
  {steps} steps in {seconds} s on one CPU thread, seed {seed}.
- **Validation L1** (0-255, pixels inside the mask's support, {val_samples} held-out samples):
  **{val_l1:.2f}** vs **{val_alpha_l1:.2f}** for plain alpha blending of the same A, B and mask.

## Limits
- Only global, smooth appearance mismatches were simulated; the geometry and identity of A
  never differ from the truth in training, unlike real swaps.
- Its effect on the detector, measured once (fine-tunes of the base detector on one budget and
  seed, 51k samples, `make finetune`; `bench/checkpoints.py`): with it in a fifth of the fakes
  against the classical blends alone, swap AUC on the shared clips 0.833 vs 0.867 (video),
  0.823 vs 0.815 (frame), DFDC crops 0.777 vs 0.785, swaps caught 4/5 vs 3/5, shortcut check
  4.3% vs 5.7%. Paired bootstrap over the clips (5-95%): video -0.034 [-0.133, +0.000],
  frame +0.008 [-0.033, +0.046]. Within noise on 11 clips: no measurable gain or harm. It is
  not in the default recipe.
- A few minutes of CPU training; LFW's lighting and demographics bound what it has seen.
"""


def write_card(kind: str) -> Path:
    """Rewrite ``weights/{KIND}_MODEL_CARD.md`` from ``weights/{kind}.pt``'s config."""
    path = WEIGHTS / f"{kind}.pt"
    config = load_weights(path, "checkpoint")["config"]
    training = config["training"]
    data = _DATA.format(train=training["train_images"], val=training["val_samples"])
    template = {"occlusion": OCCLUSION, "fusion": FUSION}[kind]
    text = template.format(**{**config, **training}, data=data,
                           size_kb=path.stat().st_size / 1024)
    card = WEIGHTS / f"{kind.upper()}_MODEL_CARD.md"
    card.write_text(text)
    return card


if __name__ == "__main__":
    for kind in ("occlusion", "fusion"):
        print(write_card(kind))

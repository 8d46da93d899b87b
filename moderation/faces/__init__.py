"""Faces in video frames: detection, landmarks, crops, tracks and identities."""

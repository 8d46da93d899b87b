"""Small networks trained by this project: an occlusion segmenter and a learned fusion.

Both are compact U-Nets trained on the fly from real LFW faces (no labelled data set): the
weights and the preprocessing they need ship together in ``weights/`` with a model card each.
"""

"""Synthetic test inputs made from real handwriting: hard cases for robustness figures
(:mod:`~htr.synth.stress`) and test pages with truth boxes (:mod:`~htr.synth.pages`)."""

"""Loops, the loyalty points: tiers, earning and converting."""

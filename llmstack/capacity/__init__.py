"""Capacity model: memory, speed, validity and the planner. Pure functions."""

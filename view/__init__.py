"""Reads recaps and renders them for people: terminal tables and an HTML report (dev-time)."""

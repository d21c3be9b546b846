"""Jinja2 templates for azsqlctl scaffold (package data)."""

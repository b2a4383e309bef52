"""Jinja2 templates for incident reports (HTML, Markdown), read by connectors/report_render.py."""

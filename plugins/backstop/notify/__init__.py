"""Notifications: Slack failure alerts and summaries."""
